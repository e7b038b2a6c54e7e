"""The facility registry: list, read, register, change and archive facilities."""

from dataclasses import dataclass
from datetime import date
from functools import cache
from typing import Any

from sqlalchemy import Select, and_, case, func, or_
from sqlalchemy.orm import selectinload
from sqlmodel import Session, select

from app import access, listing
from app.audit import service as audit
from app.clock import local_today
from app.config import BBox, Settings
from app.counties import service as counties
from app.errors import (
    AppError,
    Conflict,
    Forbidden,
    InvalidInput,
    NotFound,
    conflict_on_duplicate,
)
from app.facilities import completeness
from app.facilities.schemas import (
    TOWNSHIP_EDITABLE,
    FacilityCreate,
    FacilityRead,
    FacilitySort,
    FacilityUpdate,
    TownshipCompleteness,
)
from app.geo.crs import to_wgs84
from app.geo.outline import CountyOutline
from app.models import (
    Crs,
    Facility,
    FacilityKind,
    FacilityStatus,
    Photo,
    Tier,
    Township,
    User,
)
from app.plates import codes
from app.schedule import service as schedule
from app.schemas import TownshipRef
from app.townships import service as townships

_AUDIT_EXCLUDE = ("martyr_names", "last_inspected_on")


@dataclass(frozen=True)
class FacilityFilters:
    township_id: int | None = None
    tier: Tier | None = None
    kind: FacilityKind | None = None
    status: FacilityStatus | None = None
    q: str | None = None
    bbox: BBox | None = None
    overdue: bool | None = None


def to_read(facility: Facility, *, today: date) -> FacilityRead:
    """The API shape of a facility, with ``overdue`` as of ``today`` (county time)."""
    days = (today - facility.next_due_on).days
    overdue = facility.status is FacilityStatus.active and days > 0
    return FacilityRead.model_validate(
        {
            **facility.model_dump(),
            "township": TownshipRef.model_validate(facility.township),
            "overdue": overdue,
            "days_overdue": days if overdue else 0,
            "plate_code": codes.encode(facility.id),  # type: ignore[arg-type]
            "completeness": completeness.as_read(completeness.of_facility(facility)),
        }
    )


def conditions_for(filters: FacilityFilters, *, today: date) -> list[Any]:
    """The WHERE conditions of ``filters`` on facilities (the JSON API and the map feeds)."""
    conditions: list[Any] = []
    if filters.township_id is not None:
        conditions.append(Facility.township_id == filters.township_id)
    if filters.tier is not None:
        conditions.append(Facility.tier == filters.tier)
    if filters.kind is not None:
        conditions.append(Facility.kind == filters.kind)
    if filters.status is not None:
        conditions.append(Facility.status == filters.status)
    if filters.q:
        conditions.append(
            or_(
                *(
                    column.icontains(filters.q, autoescape=True)
                    for column in (
                        Facility.name,
                        Facility.code,
                        Facility.village,
                        Facility.martyr_names,
                    )
                )
            )
        )
    if filters.bbox is not None:
        box = filters.bbox
        conditions += [
            Facility.longitude.between(box.min_lon, box.max_lon),
            Facility.latitude.between(box.min_lat, box.max_lat),
        ]
    if filters.overdue is True:
        conditions.append(schedule.overdue_condition(today))
    elif filters.overdue is False:
        conditions.append(~schedule.overdue_condition(today))
    return conditions


def sort_keys(sort: FacilitySort) -> tuple[listing.Key, ...]:
    """The keys of a ``sort``: its column, then the id, both in its direction (one index
    range on ``(column, id)`` for every page, app.listing)."""
    descending = sort.startswith("-")
    column = getattr(Facility, sort.lstrip("-"))
    return listing.Key(column, descending), listing.Key(Facility.id, descending)


def _filtered(
    *, session: Session, user: User, filters: FacilityFilters, today: date
) -> Select[Any]:
    """The facilities ``filters`` select among those ``user`` sees."""
    if filters.township_id is not None:
        access.ensure_visible(session, user, filters.township_id, f"Township {filters.township_id}")
    query = access.scope_by_ids(session, select(Facility), user, Facility.township_id)
    return query.where(*conditions_for(filters, today=today))


def list_facilities(
    *,
    session: Session,
    user: User,
    filters: FacilityFilters,
    sort: FacilitySort,
    window: listing.Window,
    today: date,
) -> listing.Listed[Facility]:
    return listing.page(
        session,
        _filtered(session=session, user=user, filters=filters, today=today),
        sort=sort_keys(sort),
        window=window,
        read=lambda paged: session.exec(paged.options(selectinload(Facility.township))).all(),
    )


def list_facility_reads(
    *,
    session: Session,
    user: User,
    filters: FacilityFilters,
    sort: FacilitySort,
    window: listing.Window,
    today: date,
) -> listing.Listed[FacilityRead]:
    """``list_facilities`` in the API shape, read as plain rows (see ``reads_of``)."""
    return listing.page(
        session,
        _filtered(session=session, user=user, filters=filters, today=today),
        sort=sort_keys(sort),
        window=window,
        read=lambda paged: reads_of(session, paged, today=today),
    )


#: the township fields of a facility's API shape, labelled apart from the facility's own
_TOWNSHIP_LABELS = {name: f"township__{name}" for name in TownshipRef.model_fields}


@cache
def _read_columns() -> tuple[Any, ...]:
    facility = Facility.__table__.c  # type: ignore[attr-defined]
    township = Township.__table__.c  # type: ignore[attr-defined]
    own = [facility[name] for name in FacilityRead.model_fields if name in facility]
    return (*own, *(township[name].label(label) for name, label in _TOWNSHIP_LABELS.items()))


def reads_of(session: Session, query: Select[Any], *, today: date) -> list[FacilityRead]:
    """The facilities ``query`` selects (filtered, ordered, paged), in the API shape.

    Lists read plain columns with their township joined: building, tracking and then
    dumping an ORM object per row cost more CPU than the whole rest of such a request.
    """
    rows = session.execute(
        query.with_only_columns(*_read_columns(), maintain_column_froms=False).join_from(
            Facility, Township, Township.id == Facility.township_id
        )
    ).mappings()
    reads = []
    for row in rows:
        values = dict(row)
        values["township"] = {name: values.pop(label) for name, label in _TOWNSHIP_LABELS.items()}
        days = (today - values["next_due_on"]).days
        overdue = values["status"] == FacilityStatus.active and days > 0
        values["overdue"] = overdue
        values["days_overdue"] = days if overdue else 0
        values["plate_code"] = codes.encode(values["id"])
        values["completeness"] = completeness.as_read(completeness.of_values(values))
        reads.append(FacilityRead.model_validate(values))
    return reads


def township_completeness(*, session: Session, user: User) -> list[TownshipCompleteness]:
    """Per township ``user`` sees (a township user: their own), how much of the national
    collection's record its facilities hold: ACTIVE facilities only (an archived, merged
    or relocated site is not reported to the collection), counted by
    ``completeness.filled_count`` in one aggregate. A township without active facilities
    is listed with zeros. Ordered by township code."""
    total = len(completeness.COLLECTION_FIELDS)
    filled = completeness.filled_count()
    active = and_(Facility.township_id == Township.id, Facility.status == FacilityStatus.active)
    query = (
        select(  # type: ignore[call-overload]
            Township.id,
            Township.code,
            Township.name,
            func.count(Facility.id),
            func.coalesce(func.sum(case((filled == total, 1), else_=0)), 0),
            func.coalesce(func.sum(filled), 0),
        )
        .select_from(Township)
        .outerjoin(Facility, active)
        .group_by(Township.id, Township.code, Township.name)
        .order_by(Township.code)
    )
    rows = session.execute(access.scope(query, user, Township.id)).all()
    result = []
    for township_id, code, name, facilities, complete, filled_sum in rows:
        possible = facilities * total
        result.append(
            TownshipCompleteness(
                township=TownshipRef(id=township_id, code=code, name=name),
                facilities=facilities,
                complete=int(complete),
                filled=int(filled_sum),
                possible=possible,
                percent=100 * int(filled_sum) // possible if possible else 0,
            )
        )
    return result


def get_facility(
    *,
    session: Session,
    user: User,
    facility_id: int,
    for_update: bool = False,
    with_township: bool = True,
) -> Facility:
    """A facility the user may see (404 otherwise), with its township loaded unless the
    caller needs only ``township_id`` (``with_township=False``: one query fewer)."""
    query = select(Facility).where(Facility.id == facility_id)
    if with_township:
        query = query.options(selectinload(Facility.township))
    # populate_existing: fresh after a change of township in this session
    query = query.execution_options(populate_existing=True)
    if for_update:
        query = query.with_for_update(of=Facility)  # type: ignore[arg-type]
    facility = session.exec(query).first()
    if facility is None:
        raise NotFound(f"Facility {facility_id} not found")
    access.ensure_visible(session, user, facility.township_id, f"Facility {facility_id}")
    return facility


def county_outline(session: Session, township_id: int | None) -> CountyOutline | None:
    """The outline a facility of ``township_id`` must lie in: its county's (None: the
    county has none on file, or there is no such township — reported on its own)."""
    if township_id is None or session.get(Township, township_id) is None:
        return None
    return counties.outline_of_township(session, township_id)


def check_location(
    settings: Settings,
    lon: float,
    lat: float,
    crs: Crs,
    county: CountyOutline | None,
) -> tuple[float, float]:
    """The WGS-84 point for coordinates given in ``crs``; 422 if it lies outside ``county``
    (the facility's county's outline; None: no outline, nothing to check)."""
    wgs_lon, wgs_lat = to_wgs84(lon, lat, crs)
    if county is None:
        return wgs_lon, wgs_lat
    margin_m = settings.county_margin_m
    outside_m = county.distance_outside_m(wgs_lon, wgs_lat)
    if outside_m <= margin_m:
        return wgs_lon, wgs_lat
    where = f"({wgs_lon:.6f}, {wgs_lat:.6f}) in WGS-84" + (
        "" if crs is Crs.wgs84 else f", converted from {crs}"
    )
    # name the coordinate that is plainly wrong: latitude when only it leaves the county's span
    min_lon, min_lat, max_lon, max_lat = county.bbox
    latitude_off = min_lon <= wgs_lon <= max_lon and not min_lat <= wgs_lat <= max_lat
    raise InvalidInput(
        ("body", "latitude" if latitude_off else "longitude"),
        f"The point {where} is {_km(outside_m)} outside the county {county.name} (more than the "
        f"{_km(margin_m)} allowed); check the coordinates and their coordinate system (crs)",
        kind="value_error.out_of_county",
    )


def _km(metres: float) -> str:
    """``2 km``, ``2.5 km``, ``539 km``: as precise as a clerk needs."""
    text = f"{metres / 1000:.1f}" if metres < 10_000 else f"{metres / 1000:.0f}"
    return f"{text.removesuffix('.0')} km"


def _location(
    *, settings: Settings, lon: float, lat: float, crs: Crs, county: CountyOutline | None
) -> dict[str, Any]:
    """The stored location fields: WGS-84 (checked against the county) and the input as given."""
    wgs_lon, wgs_lat = check_location(settings, lon, lat, crs, county)
    return {
        "longitude": round(wgs_lon, 7),
        "latitude": round(wgs_lat, 7),
        "source_crs": crs,
        "source_longitude": lon,
        "source_latitude": lat,
    }


def _martyrs(martyrs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"martyrs": martyrs, "martyr_names": " ".join(m["name"] for m in martyrs)}


#: fields every facility has: a change may not clear them
_REQUIRED = frozenset({"code", "name", "kind", "tier", "status", "township_id", "registered_on"})


@dataclass(frozen=True)
class Problem:
    """A rule a facility's values break: the field to fix, and the error the API answers."""

    field: str
    error: AppError

    @property
    def message(self) -> str:
        detail = self.error.detail
        return str(detail[0]["msg"]) if isinstance(detail, list) else str(detail)


def problems(
    *,
    session: Session,
    settings: Settings,
    values: dict[str, Any],
    facility: Facility | None = None,
    user: User | None = None,
) -> list[Problem]:
    """Every rule ``values`` break beyond their schema: a new facility's fields, or the
    changes to ``facility``. Required fields kept, the township exists, the code is free,
    the registration date is not in the future, the point (converted from its ``crs``) lies
    in the county. The API and the spreadsheet importer both run this one check."""
    found: list[Problem] = []
    if facility is not None:
        for name in sorted(name for name in _REQUIRED & set(values) if values[name] is None):
            found.append(Problem(name, InvalidInput(("body", name), f"{name} cannot be empty")))
    if values.get("township_id") is not None:
        try:
            townships.require(session, values["township_id"], user=user)
        except InvalidInput as exc:
            found.append(Problem("township_id", exc))
    if values.get("code") is not None:
        other_than = facility.id if facility is not None else None
        existing = session.exec(select(Facility.id).where(Facility.code == values["code"])).first()
        if existing is not None and existing != other_than:
            message = f"A facility with code '{values['code']}' already exists (id {existing})"
            found.append(Problem("code", Conflict(message)))
    township_id = values.get("township_id") or (facility.township_id if facility else None)
    registered_on = values.get("registered_on")
    if registered_on is not None and registered_on > _today(session, settings, township_id):
        message = f"The registration date {registered_on} is in the future"
        found.append(Problem("registered_on", InvalidInput(("body", "registered_on"), message)))
    rule_on = values.get("management_rule_on")
    if rule_on is not None and rule_on > _today(session, settings, township_id):
        message = f"The management rule's adoption date {rule_on} is in the future"
        found.append(
            Problem("management_rule_on", InvalidInput(("body", "management_rule_on"), message))
        )
    if values.get("record_photo_id") is not None:
        problem = _record_photo_problem(session, values["record_photo_id"], facility)
        if problem is not None:
            found.append(problem)
    county = county_outline(session, township_id)
    point = None
    if values.get("longitude") is not None and values.get("latitude") is not None:
        point = (values["longitude"], values["latitude"], values.get("crs") or Crs.wgs84)
    elif facility is not None and values.get("township_id") not in (None, facility.township_id):
        # moved to another township, perhaps of another county: its point must lie there too
        point = (facility.source_longitude, facility.source_latitude, facility.source_crs)
    if point is not None:
        try:
            check_location(settings, *point, county)
        except InvalidInput as exc:
            found.append(Problem(str(exc.detail[0]["loc"][-1]), exc))
    return found


def _record_photo_problem(
    session: Session, photo_id: int, facility: Facility | None
) -> Problem | None:
    """A record photo must be one of the facility's own photos (``Photo.facility_id``; the
    column has no foreign key, so this is the check). None: it is."""
    owner = session.exec(select(Photo.facility_id).where(Photo.id == photo_id)).first()
    if owner is not None and facility is not None and owner == facility.id:
        return None
    message = f"Photo {photo_id} is not a photo of this facility (record_photo_id)"
    return Problem("record_photo_id", InvalidInput(("body", "record_photo_id"), message))


def _today(session: Session, settings: Settings, township_id: int | None) -> date:
    """Today in the county of ``township_id`` (the deployment's zone without one)."""
    if township_id is None or session.get(Township, township_id) is None:
        return local_today(settings.tz)
    return local_today(counties.tz_of_township(session, township_id))


def validate(
    *,
    session: Session,
    settings: Settings,
    values: dict[str, Any],
    facility: Facility | None = None,
    user: User | None = None,
) -> None:
    """Raise the first of :func:`problems` (409 for a taken code, 422 naming the field);
    ``user``: the township must be one they reach (None: the seed and the CLI)."""
    found = problems(
        session=session, settings=settings, values=values, facility=facility, user=user
    )
    if found:
        raise found[0].error


def add_facility(
    *, session: Session, settings: Settings, actor: User | None, data: FacilityCreate
) -> Facility:
    """Register a facility in the caller's transaction (no commit)."""
    validate(session=session, settings=settings, values=data.model_dump(), user=actor)
    registered_on = data.registered_on or _today(session, settings, data.township_id)
    county = county_outline(session, data.township_id)
    facility = Facility.model_validate(
        {
            **data.model_dump(exclude={"longitude", "latitude", "crs", "martyrs"}),
            **_location(
                settings=settings,
                lon=data.longitude,
                lat=data.latitude,
                crs=data.crs,
                county=county,
            ),
            **_martyrs([m.model_dump() for m in data.martyrs]),
            "registered_on": registered_on,
            "next_due_on": registered_on,
        }
    )
    schedule.refresh_due(session, facility)
    with conflict_on_duplicate(
        session, f"A facility with code '{data.code}' already exists", key="uq_facilities_code"
    ):
        session.add(facility)
    audit.record(
        session=session,
        actor=actor,
        action="facility.create",
        object_type="facility",
        object_id=facility.id,
        after=audit.snapshot(facility, exclude=_AUDIT_EXCLUDE),
    )
    return facility


def create_facility(
    *, session: Session, settings: Settings, actor: User, data: FacilityCreate
) -> Facility:
    facility = add_facility(session=session, settings=settings, actor=actor, data=data)
    session.commit()
    return get_facility(session=session, user=actor, facility_id=facility.id)  # type: ignore[arg-type]


def apply_update(
    *,
    session: Session,
    settings: Settings,
    actor: User | None,
    facility: Facility,
    changes: dict[str, Any],
) -> bool:
    """Change a facility in the caller's transaction (no commit); True if anything changed."""
    validate(session=session, settings=settings, values=changes, facility=facility, user=actor)
    before = audit.snapshot(facility, exclude=_AUDIT_EXCLUDE)
    changes = dict(changes)
    if "longitude" in changes:
        changes.update(
            _location(
                settings=settings,
                lon=changes.pop("longitude"),
                lat=changes.pop("latitude"),
                crs=changes.pop("crs", None) or Crs.wgs84,
                county=county_outline(session, changes.get("township_id") or facility.township_id),
            )
        )
    if "martyrs" in changes:
        changes.update(_martyrs(changes.pop("martyrs") or []))
    for field, value in changes.items():
        setattr(facility, field, value)
    schedule.refresh_due(session, facility)
    after = audit.snapshot(facility, exclude=_AUDIT_EXCLUDE)
    if after == before:
        return False
    audit.record(
        session=session,
        actor=actor,
        action="facility.update",
        object_type="facility",
        object_id=facility.id,
        before=before,
        after=after,
    )
    return True


def update_facility(
    *,
    session: Session,
    settings: Settings,
    actor: User,
    facility_id: int,
    data: FacilityUpdate,
) -> Facility:
    # 404 for another township's facility before anything is said about the fields
    facility = get_facility(session=session, user=actor, facility_id=facility_id, for_update=True)
    changes = data.model_dump(exclude_unset=True)
    if not access.is_staff(actor):
        refused = sorted(set(changes) - TOWNSHIP_EDITABLE)
        if refused:
            raise Forbidden(
                "Township users may not change " + ", ".join(refused) + "; ask the county bureau"
            )
    apply_update(
        session=session, settings=settings, actor=actor, facility=facility, changes=changes
    )
    session.commit()
    return get_facility(session=session, user=actor, facility_id=facility_id)


def archive_facility(*, session: Session, actor: User, facility_id: int) -> Facility:
    """Mark a facility ``archived``: it leaves the patrol schedule, nothing is removed.
    County work; another township's facility is a 404 first."""
    facility = get_facility(session=session, user=actor, facility_id=facility_id, for_update=True)
    access.ensure_staff(actor)
    if facility.status is not FacilityStatus.archived:
        before = audit.snapshot(facility, exclude=_AUDIT_EXCLUDE)
        facility.status = FacilityStatus.archived
        audit.record(
            session=session,
            actor=actor,
            action="facility.archive",
            object_type="facility",
            object_id=facility.id,
            before=before,
            after=audit.snapshot(facility, exclude=_AUDIT_EXCLUDE),
        )
        session.commit()
    return get_facility(session=session, user=actor, facility_id=facility_id)
