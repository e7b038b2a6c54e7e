"""What the archive pages print, loaded for a whole township in a few queries: the
facilities, their township and county, their "六个一" standings (one query), their last
inspections (one query for all) and their record photos' store keys (one query). The
photos' bytes are read later, one at a time, while each page is drawn."""

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, tzinfo
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app import access, standard
from app.errors import NotFound
from app.facilities import service as facilities
from app.models import County, Facility, FacilityStatus, Inspection, Photo, Township, User
from app.models.base import utcnow
from app.plates import codes

#: the inspections a facility's page lists, newest first
LAST_INSPECTIONS = 5
#: ids per IN list (below both databases' parameter limits)
CHUNK = 900


@dataclass(frozen=True)
class InspectionLine:
    inspected_on: date
    inspector: str
    condition: str
    review_status: str
    receipt: str


@dataclass(frozen=True)
class Record:
    """One facility's page: the facility and everything looked up for it."""

    facility: Facility
    township: str
    county: str
    standing: standard.Standing
    inspections: tuple[InspectionLine, ...]
    #: store key of the record photo (its served image), None when there is none on file
    photo_key: str | None
    plate_code: str
    plate_url: str


@dataclass(frozen=True)
class Book:
    """What a township's book prints: its records in facility code order."""

    county: str
    township: Township
    printed_at: datetime
    records: list[Record]

    @property
    def printed_on(self) -> date:
        return self.printed_at.date()


def _county(session: Session, township: Township) -> County:
    county = session.get(County, township.county_id)
    if county is None:  # the foreign key forbids it
        raise NotFound(f"Township {township.id} not found")
    return county


def last_inspections(
    session: Session, facility_ids: Sequence[int], limit: int = LAST_INSPECTIONS
) -> dict[int, list[InspectionLine]]:
    """Each facility's last ``limit`` reports (newest ``inspected_at``, then highest id)
    with the inspector's name: one query for any number of facilities."""
    found: dict[int, list[InspectionLine]] = {}
    for start in range(0, len(facility_ids), CHUNK):
        chunk = list(facility_ids[start : start + CHUNK])
        ranked = (
            select(
                Inspection.facility_id,
                Inspection.inspected_on,
                Inspection.inspected_at,
                Inspection.id,
                Inspection.inspector_id,
                Inspection.condition,
                Inspection.review_status,
                Inspection.receipt,
                func.row_number()
                .over(
                    partition_by=Inspection.facility_id,
                    order_by=(Inspection.inspected_at.desc(), Inspection.id.desc()),
                )
                .label("rank"),
            )
            .where(Inspection.facility_id.in_(chunk))
            .subquery()
        )
        rows = session.execute(
            select(
                ranked.c.facility_id,
                ranked.c.inspected_on,
                User.full_name,
                ranked.c.condition,
                ranked.c.review_status,
                ranked.c.receipt,
            )
            .join(User, User.id == ranked.c.inspector_id)
            .where(ranked.c.rank <= limit)
            .order_by(ranked.c.facility_id, ranked.c.rank)
        )
        for facility_id, on, inspector, condition, review, receipt in rows:
            found.setdefault(facility_id, []).append(
                InspectionLine(on, inspector or "", condition, review, receipt or "")
            )
    return found


def photo_keys(session: Session, facilities_: Sequence[Facility]) -> dict[int, str]:
    """facility id → the store key of its record photo, for the record photos that are
    photos of that facility (``record_photo_id`` is a plain id: anything else is none)."""
    wanted = {f.record_photo_id: f.id for f in facilities_ if f.record_photo_id is not None}
    ids = list(wanted)
    keys: dict[int, str] = {}
    for start in range(0, len(ids), CHUNK):
        rows = session.execute(
            select(Photo.id, Photo.facility_id, Photo.stored_key).where(
                Photo.id.in_(ids[start : start + CHUNK])
            )
        )
        for photo_id, facility_id, key in rows:
            if wanted.get(photo_id) == facility_id:
                keys[facility_id] = key
    return keys


def records_of(
    session: Session,
    facilities_: Sequence[Facility],
    names: dict[int, tuple[str, str]],
    base_url: str,
) -> list[Record]:
    """The records of ``facilities_`` (in that order); ``names``: township id →
    (township name, county name)."""
    ids = [f.id for f in facilities_ if f.id is not None]
    standings = standard.standings(session, facilities_)
    inspections = last_inspections(session, ids)
    photos = photo_keys(session, facilities_)
    base = base_url.rstrip("/")
    records = []
    for facility in facilities_:
        assert facility.id is not None
        township, county = names[facility.township_id]
        plate = codes.encode(facility.id)
        records.append(
            Record(
                facility=facility,
                township=township,
                county=county,
                standing=standings[facility.id],
                inspections=tuple(inspections.get(facility.id, ())),
                photo_key=photos.get(facility.id),
                plate_code=plate,
                plate_url=f"{base}/f/{plate}",
            )
        )
    return records


def facility_record(
    session: Session, user: User, facility_id: int, base_url: str
) -> tuple[Record, datetime]:
    """One facility's record (404 outside the user's reach) and the moment printed, in
    its county's time."""
    facility = facilities.get_facility(session=session, user=user, facility_id=facility_id)
    county = _county(session, facility.township)
    names = {facility.township_id: (facility.township.name, county.name)}
    record = records_of(session, [facility], names, base_url)[0]
    return record, utcnow().astimezone(_tz(county))


def township_book(session: Session, user: User, township_id: int, base_url: str) -> Book:
    """A township's book: its active facilities in code order (404 for a township outside
    the user's reach or none at all)."""
    access.ensure_visible(session, user, township_id, f"Township {township_id}")
    township = session.get(Township, township_id)
    if township is None:
        raise NotFound(f"Township {township_id} not found")
    county = _county(session, township)
    found = list(
        session.execute(
            select(Facility)
            .where(Facility.township_id == township_id, Facility.status == FacilityStatus.active)
            .order_by(Facility.code, Facility.id)
        ).scalars()
    )
    names = {township_id: (township.name, county.name)}
    records = records_of(session, found, names, base_url)
    return Book(county.name, township, utcnow().astimezone(_tz(county)), records)


def _tz(county: County) -> tzinfo:
    return ZoneInfo(county.timezone)
