"""Attach a photo to a report or an order, and find it again for serving.

The image is checked and re-encoded outside any database transaction (it can take a
moment, and SQLite holds its write lock for the whole of one); the files are written
to the store before the row commits, so a committed row always has its files.
"""

import hashlib
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, select

from app import access
from app.config import Settings
from app.db import Database
from app.errors import Conflict, NotFound, PayloadTooLarge
from app.models import Facility, Photo, PhotoStage, User
from app.photos import processing
from app.photos.gate import DecodeGate
from app.photos.store import PhotoStore


@dataclass(frozen=True)
class PhotoOwner:
    """What a photo belongs to: its column on ``photos``, its row, its facility, and
    (maintenance photos) the stage; the 8-photo limit counts per owner and stage."""

    column: str
    id: int
    facility_id: int
    model: Any
    label: str
    stage: PhotoStage | None = None

    def condition(self) -> Any:
        return getattr(Photo, self.column) == self.id


def _existing(session: Session, owner: PhotoOwner, digest: str) -> Photo | None:
    return session.exec(select(Photo).where(owner.condition(), Photo.sha256 == digest)).first()


def _count(session: Session, owner: PhotoOwner) -> int:
    query = select(func.count()).select_from(Photo).where(owner.condition())
    if owner.stage is not None:
        query = query.where(Photo.stage == owner.stage)
    return session.exec(query).one()


def _check_room(session: Session, owner: PhotoOwner) -> None:
    if _count(session, owner) >= processing.MAX_PHOTOS:
        raise Conflict(
            f"{owner.label} already has {processing.MAX_PHOTOS} photos, the most it can hold"
        )


def attach(
    *,
    db: Database,
    store: PhotoStore,
    settings: Settings,
    user: User,
    owner: PhotoOwner,
    data: bytes,
    gate: DecodeGate | None = None,
) -> tuple[Photo, bool]:
    """Store ``data`` as a photo of ``owner``; the same bytes again return the same photo.
    ``gate`` bounds the decodes running at once and the memory they take together."""
    if len(data) > processing.MAX_BYTES:
        raise PayloadTooLarge(
            f"The photo is {len(data):,} bytes; at most {processing.MAX_BYTES:,}"
            f" ({processing.MAX_BYTES // 1024 // 1024} MiB) are accepted"
        )
    digest = hashlib.sha256(data).hexdigest()
    with db.session(write=False) as session:
        if (found := _existing(session, owner, digest)) is not None:
            return found, False
        _check_room(session, owner)

    photo = processing.process(data, local_tz=settings.tz, gate=gate)
    stored_key = store.put(photo.image, suffix=photo.suffix)
    thumbnail_key = store.put(photo.thumbnail, suffix=".jpg")

    with db.session() as session:
        # Lock the owner so two uploads cannot both take the last free place.
        session.exec(select(owner.model).where(owner.model.id == owner.id).with_for_update()).one()
        if (found := _existing(session, owner, digest)) is not None:
            return found, False
        _check_room(session, owner)
        row = Photo(
            **{owner.column: owner.id},
            stage=owner.stage,
            facility_id=owner.facility_id,
            sha256=digest,
            stored_key=stored_key,
            thumbnail_key=thumbnail_key,
            content_type=photo.content_type,
            width=photo.width,
            height=photo.height,
            size_bytes=len(photo.image),
            taken_at=photo.taken_at,
            exif_longitude=photo.exif_longitude,
            exif_latitude=photo.exif_latitude,
            uploaded_by_id=user.id,
        )
        session.add(row)
        session.commit()
        return row, True


def get_photo(*, session: Session, user: User, photo_id: int) -> Photo:
    found = session.execute(
        select(Photo, Facility.township_id)
        .join(Facility, Facility.id == Photo.facility_id)
        .where(Photo.id == photo_id)
    ).first()
    if found is None:
        raise NotFound(f"Photo {photo_id} not found")
    photo, township_id = found
    access.ensure_visible(session, user, township_id, f"Photo {photo_id}")
    return photo
