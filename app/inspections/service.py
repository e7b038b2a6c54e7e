"""Patrol reports: submit (idempotent by the phone's ``client_id``), judge the position,
review, and keep each facility's schedule in step in the same transaction."""

import base64
import hashlib
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload
from sqlmodel import Session

from app import access, listing
from app.audit import service as audit
from app.clock import local_date
from app.config import Settings
from app.counties import service as counties
from app.db import dialect_insert
from app.errors import AppError, Conflict, InvalidInput, NotFound
from app.facilities import service as facilities
from app.geo.crs import gcj02_to_wgs84, to_wgs84
from app.geo.distance import haversine_m
from app.inspections.schemas import InspectionCreate, InspectionRead, PositionRead, ReviewCreate
from app.models import Crs, Facility, FacilityStatus, Inspection, ReviewStatus, User
from app.models.base import utcnow
from app.photos.schemas import PhotoRead
from app.plates import codes as plate_codes
from app.schedule import service as schedule
from app.schemas import UserRef

MAX_FUTURE = timedelta(minutes=10)
MAX_AGE = timedelta(days=60)
#: a WGS-84 position this far off may really be a GCJ-02 one (the shift here is ~570 m)
GCJ02_SUSPECT_RANGE_M = (300.0, 700.0)


#: letters easily misheard or misread are never used: I and L read as 1, O as 0, U as 5
_RECEIPT_LOOKALIKES = str.maketrans("ILOU", "1105")


def receipt_for(client_id: uuid.UUID) -> str:
    """An 8-character code from the id's hash (base32 without I, L, O, U), e.g. ``K7Q2-9XMD``."""
    digest = hashlib.sha256(client_id.bytes).digest()[:5]
    code = base64.b32encode(digest).decode().translate(_RECEIPT_LOOKALIKES)
    return f"{code[:4]}-{code[4:]}"


def normalize_receipt(text: str) -> str:
    """A receipt as someone typed it back (any case, with or without the dash, O for 0)."""
    code = "".join(c for c in text.upper() if c.isalnum()).translate(_RECEIPT_LOOKALIKES)
    return f"{code[:4]}-{code[4:]}" if len(code) == 8 else code


def payload_sha256(data: InspectionCreate) -> str:
    """A fingerprint of the report's content: a replay has the same one."""
    content = data.model_dump(mode="json")
    if content.get("plate_code") is None:
        # a report without a plate hashes as it did before plates existed: a replay of a
        # report queued on a phone before the upgrade is still recognised as one
        content.pop("plate_code", None)
    content["inspected_at"] = data.inspected_at.astimezone(UTC).isoformat()
    canonical = json.dumps(content, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def judge_position(
    *, settings: Settings, facility: Facility, data: InspectionCreate
) -> dict[str, Any]:
    """Distance to the facility, on-site verdict and flags (DESIGN.md rule 4).

    Never refuses: a report from afar, or with no position, is stored and flagged.
    """
    position = data.position
    if position is None:
        return {"flags": ["no_position"], "on_site": None, "distance_m": None}
    lon, lat = to_wgs84(position.longitude, position.latitude, position.crs)
    distance = haversine_m(lon, lat, facility.longitude, facility.latitude)
    radius = min(
        settings.onsite_radius_m + (position.accuracy_m or 0.0), settings.onsite_max_radius_m
    )
    on_site = distance <= radius
    flags: list[str] = []
    if not on_site:
        flags.append("off_site")
        low, high = GCJ02_SUSPECT_RANGE_M
        if position.crs is Crs.wgs84 and low <= distance <= high:
            as_gcj = gcj02_to_wgs84(position.longitude, position.latitude)
            if haversine_m(*as_gcj, facility.longitude, facility.latitude) <= radius:
                flags.append("probable_gcj02")
    if position.accuracy_m is not None and position.accuracy_m > settings.onsite_max_radius_m:
        flags.append("low_accuracy")
    return {
        "longitude": round(lon, 7),
        "latitude": round(lat, 7),
        "accuracy_m": position.accuracy_m,
        "source_crs": position.crs,
        "source_longitude": position.longitude,
        "source_latitude": position.latitude,
        "distance_m": round(distance, 1),
        "on_site": on_site,
        "flags": flags,
    }


def _check_plate(facility: Facility, plate_code: str | None) -> list[str]:
    """The flags a scanned plate earns: ``scanned_plate`` when the code is this facility's;
    a code that is not (another site's plate, a mistyped one) is refused, never ignored."""
    if plate_code is None or not plate_code.strip():
        return []
    if plate_codes.decode(plate_code) != facility.id:
        raise InvalidInput(
            ("body", "plate_code"),
            "plate_code is not the plate code of this facility; scan the plate again",
        )
    return ["scanned_plate"]


def _check_time(inspected_at: datetime) -> None:
    now = utcnow()
    if inspected_at > now + MAX_FUTURE:
        raise InvalidInput(
            ("body", "inspected_at"),
            "inspected_at is more than 10 minutes in the future; check the phone's clock",
        )
    if inspected_at < now - MAX_AGE:
        raise InvalidInput(
            ("body", "inspected_at"),
            "inspected_at is more than 60 days ago; reports that old are not accepted",
        )


#: everything a report's read shape shows, loaded in a fixed number of queries
_LOAD = (
    selectinload(Inspection.facility),
    selectinload(Inspection.inspector),
    selectinload(Inspection.reviewed_by),
    selectinload(Inspection.photos),
)


def _load(session: Session, inspection_id: int) -> Inspection | None:
    return session.execute(
        select(Inspection)
        .where(Inspection.id == inspection_id)
        .options(*_LOAD)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def get_inspection(*, session: Session, user: User, inspection_id: int) -> Inspection:
    inspection = _load(session, inspection_id)
    if inspection is None:
        raise NotFound(f"Inspection {inspection_id} not found")
    access.ensure_visible(
        session, user, inspection.facility.township_id, f"Inspection {inspection_id}"
    )
    return inspection


def _replay(session: Session, user: User, data: InspectionCreate, digest: str) -> Inspection | None:
    """The stored report for this ``client_id`` if this is a replay of it; 409 if it differs.

    Another township's report is not the caller's to see: its 409 says only that the id is
    taken (nothing of the report: not its receipt, not whether its content matched).
    """
    taken = (
        f"The client_id {data.client_id} is already taken; give this report a new client_id"
        " and send it again"
    )
    existing_id = access.claimed_by(session, user, Inspection, data.client_id, taken)
    if existing_id is None:
        return None
    existing = _load(session, existing_id)
    assert existing is not None
    if existing.payload_sha256 != digest:
        raise Conflict(
            f"A different report was already submitted with client_id {data.client_id}"
            f" (receipt {existing.receipt}); give a new report a new client_id"
        )
    return existing


def submit(
    *, session: Session, settings: Settings, user: User, data: InspectionCreate
) -> tuple[InspectionRead, bool]:
    """Store a report (True) or return the stored one it replays (False), in the API shape.

    The hot path of the phones: one INSERT (skipped, not failed, when the ``client_id``
    is taken meanwhile) and one UPDATE of the facility's schedule, and the answer is built
    from what was just written rather than read back.
    """
    digest = payload_sha256(data)
    try:
        facility = facilities.get_facility(
            session=session,
            user=user,
            facility_id=data.facility_id,
            for_update=True,
            with_township=False,
        )
        _check_time(data.inspected_at)  # after the 404 for another township's facility
        plate_flags = _check_plate(facility, data.plate_code)
        if facility.status is not FacilityStatus.active:
            raise Conflict(
                f"Facility {facility.id} is {facility.status.value}, not active;"
                " it takes no reports"
            )
    except AppError:
        # A replay is answered as one even when its report could not be made today (too
        # old by now, the facility archived since). Looked for only here: on the common
        # path the INSERT below finds a taken client_id by itself.
        if (existing := _replay(session, user, data, digest)) is not None:
            return to_read(existing), False
        raise
    tz = counties.tz_of_township(session, facility.township_id)  # the county's dates
    values: dict[str, Any] = {
        "client_id": data.client_id,
        "facility_id": facility.id,
        "township_id": facility.township_id,
        "inspector_id": user.id,
        "inspected_at": data.inspected_at.astimezone(UTC),
        "inspected_on": local_date(data.inspected_at, tz),
        "received_at": utcnow(),
        "condition": data.condition,
        "checklist": {item.value: answer.value for item, answer in data.checklist.items()},
        "notes": data.notes or None,
        "review_status": ReviewStatus.submitted,
        "receipt": receipt_for(data.client_id),
        "payload_sha256": digest,
        **dict.fromkeys(_POSITION_COLUMNS),
        **judge_position(settings=settings, facility=facility, data=data),
    }
    values["flags"] = [*values["flags"], *plate_flags]
    inserted_id = session.execute(
        dialect_insert(session, Inspection)
        .values(values)
        .on_conflict_do_nothing(index_elements=[Inspection.client_id])
        .returning(Inspection.id)
    ).scalar_one_or_none()
    if inserted_id is None:
        # The same client_id committed meanwhile (a retry raced the original).
        replayed = _replay(session, user, data, digest)
        assert replayed is not None
        session.commit()
        return to_read(replayed), False
    schedule.note_new_inspection(
        session, facility, inspected_at=data.inspected_at, condition=data.condition, tz=tz
    )
    session.commit()
    return _new_read(values, inspection_id=inserted_id, inspector=user), True


#: the position fields of a report, all NULL when it carried no position
_POSITION_COLUMNS = (
    "longitude",
    "latitude",
    "accuracy_m",
    "source_crs",
    "source_longitude",
    "source_latitude",
)


def _new_read(values: dict[str, Any], *, inspection_id: int, inspector: User) -> InspectionRead:
    """The API shape of a report just inserted with ``values``: not reviewed, no photos."""
    position = None
    if values["longitude"] is not None and values["latitude"] is not None:
        position = PositionRead(
            longitude=values["longitude"],
            latitude=values["latitude"],
            accuracy_m=values["accuracy_m"],
            source_crs=values["source_crs"],
            source_longitude=values["source_longitude"],
            source_latitude=values["source_latitude"],
        )
    return InspectionRead(
        id=inspection_id,
        client_id=values["client_id"],
        facility_id=values["facility_id"],
        township_id=values["township_id"],
        township_id_at_report=values["township_id"],
        inspector=UserRef.model_validate(inspector),
        inspected_at=values["inspected_at"],
        received_at=values["received_at"],
        condition=values["condition"],
        checklist=values["checklist"],
        notes=values["notes"],
        position=position,
        distance_m=values["distance_m"],
        on_site=values["on_site"],
        flags=values["flags"],
        review_status=values["review_status"],
        reviewed_by=None,
        reviewed_at=None,
        review_comment=None,
        receipt=values["receipt"],
        photos=[],
    )


def review(
    *, session: Session, settings: Settings, user: User, inspection_id: int, data: ReviewCreate
) -> Inspection:
    """Accept or reject a report; the facility's schedule follows in the same transaction.
    County work; another township's report is a 404 first."""
    inspection = get_inspection(session=session, user=user, inspection_id=inspection_id)
    access.ensure_staff(user)
    if data.decision == "rejected" and not data.comment:
        raise InvalidInput(("body", "comment"), "Say why the report is rejected (comment)")
    facility = facilities.get_facility(
        session=session, user=user, facility_id=inspection.facility_id, for_update=True
    )
    # Read again under the facility's lock: a review that committed meanwhile is "before".
    inspection = get_inspection(session=session, user=user, inspection_id=inspection_id)
    before = {"review_status": inspection.review_status.value, "comment": inspection.review_comment}
    inspection.review_status = ReviewStatus(data.decision)
    inspection.review_comment = data.comment or None
    inspection.reviewed_by_id = user.id
    inspection.reviewed_at = utcnow()
    session.flush()
    schedule.refresh_last_inspection(
        session, facility, tz=counties.tz_of_township(session, facility.township_id)
    )
    audit.record(
        session=session,
        actor=user,
        action="inspection.review",
        object_type="inspection",
        object_id=inspection.id,
        before=before,
        after={"review_status": data.decision, "comment": inspection.review_comment},
    )
    session.commit()
    return get_inspection(session=session, user=user, inspection_id=inspection_id)


@dataclass(frozen=True)
class InspectionFilters:
    facility_id: int | None = None
    township_id: int | None = None
    inspector_id: int | None = None
    review_status: ReviewStatus | None = None
    on_site: bool | None = None
    since: date | None = None
    until: date | None = None
    receipt: str | None = None


#: the order of the report lists: newest first, or oldest first (the review queue)
NEWEST_FIRST = (listing.desc(Inspection.inspected_at), listing.desc(Inspection.id))
OLDEST_FIRST = (listing.asc(Inspection.inspected_at), listing.asc(Inspection.id))
#: a county's local date lies within a day of the UTC date, whatever its time zone
_ZONE_SLACK = timedelta(days=1)


def list_inspections(
    *,
    session: Session,
    user: User,
    filters: InspectionFilters,
    window: listing.Window,
    oldest_first: bool = False,
) -> listing.Listed[Inspection]:
    """Reports newest first (by inspection time), or oldest first (the review queue)."""
    if filters.township_id is not None:
        access.ensure_visible(session, user, filters.township_id, f"Township {filters.township_id}")
    conditions: list[Any] = []
    if filters.township_id is not None:
        conditions.append(Inspection.facility_id.in_(access.facilities_of(filters.township_id)))
    for column, value in (
        (Inspection.facility_id, filters.facility_id),
        (Inspection.inspector_id, filters.inspector_id),
        (Inspection.review_status, filters.review_status),
        (Inspection.on_site, filters.on_site),
        (Inspection.receipt, filters.receipt),
    ):
        if value is not None:
            conditions.append(column == value)
    # The local dates, and the instants around them: the same rows, and a range of the
    # (inspected_at, id) index that the page is read along.
    if filters.since is not None:
        conditions.append(Inspection.inspected_on >= filters.since)
        midnight = datetime.combine(filters.since, datetime.min.time(), UTC)
        conditions.append(Inspection.inspected_at >= midnight - _ZONE_SLACK)
    if filters.until is not None:
        conditions.append(Inspection.inspected_on <= filters.until)
        midnight = datetime.combine(filters.until + timedelta(days=1), datetime.min.time(), UTC)
        conditions.append(Inspection.inspected_at < midnight + _ZONE_SLACK)
    scoped = access.scope_by_facility_join(select(Inspection), user, Inspection.facility_id)
    return listing.page(
        session,
        scoped.where(*conditions),
        sort=OLDEST_FIRST if oldest_first else NEWEST_FIRST,
        window=window,
        read=lambda paged: session.scalars(paged.options(*_LOAD)).all(),
    )


def to_read(inspection: Inspection) -> InspectionRead:
    position = None
    if inspection.longitude is not None and inspection.latitude is not None:
        position = PositionRead(
            longitude=inspection.longitude,
            latitude=inspection.latitude,
            accuracy_m=inspection.accuracy_m,
            source_crs=inspection.source_crs or Crs.wgs84,
            source_longitude=inspection.source_longitude,  # type: ignore[arg-type]
            source_latitude=inspection.source_latitude,  # type: ignore[arg-type]
        )
    return InspectionRead(
        id=inspection.id,  # type: ignore[arg-type]
        client_id=inspection.client_id,
        facility_id=inspection.facility_id,
        township_id=inspection.facility.township_id,
        township_id_at_report=inspection.township_id,
        inspector=UserRef.model_validate(inspection.inspector),
        inspected_at=inspection.inspected_at,
        received_at=inspection.received_at,
        condition=inspection.condition,
        checklist=inspection.checklist,  # type: ignore[arg-type]
        notes=inspection.notes,
        position=position,
        distance_m=inspection.distance_m,
        on_site=inspection.on_site,
        flags=inspection.flags,
        review_status=inspection.review_status,
        reviewed_by=UserRef.model_validate(inspection.reviewed_by)
        if inspection.reviewed_by
        else None,
        reviewed_at=inspection.reviewed_at,
        review_comment=inspection.review_comment,
        receipt=inspection.receipt,
        photos=[PhotoRead.of(p) for p in inspection.photos],
    )
