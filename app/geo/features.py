"""The map's features: every facility in the caller's scope as a GeoJSON Feature.

Built from plain rows of ONE query (facility, with the last counted report's condition
kept on it, + township + open orders), not from ORM objects and Pydantic models, so the whole county
(tens of thousands of sites) encodes in a fraction of a second with ``orjson``. The
GeoJSON feed (``/api/v1/map``) and the OGC API (``/ogc``) both read from here.

The ETag (``feed_tag``) comes from a handful of aggregates over what the features show,
never from the body: see its docstring for the formula.
"""

import hashlib
from dataclasses import astuple, dataclass
from datetime import UTC, date, datetime
from typing import Any

import orjson
from sqlalchemy import (
    Float,
    Numeric,
    String,
    cast,
    exists,
    func,
    or_,
    select,
    type_coerce,
)
from sqlmodel import Session

from app import access, collector
from app.config import BBox
from app.facilities import service as facilities
from app.maintenance.service import OPEN
from app.models import (
    CountyPatrolPolicy,
    Facility,
    FacilityKind,
    FacilityStatus,
    Inspection,
    MaintenanceOrder,
    PatrolPolicy,
    Tier,
    Township,
    User,
)

#: what every signed-in caller sees of a facility, in this order
PROPERTIES = (
    "code",
    "name",
    "kind",
    "tier",
    "status",
    "township_code",
    "township_name",
    "village",
    "last_inspected_at",
    "next_due_on",
    "overdue",
    "days_overdue",
    "last_condition",
    "open_maintenance",
)
ACTIVE = FacilityStatus.active.value
#: what the public map (no sign-in) carries: no custodian, inspector, notes or schedule
PUBLIC_PROPERTIES = ("code", "name", "kind", "tier", "status", "township_name")

#: RFC 3339 times with "Z", like the rest of the API; dates as YYYY-MM-DD
_ORJSON_OPTIONS = orjson.OPT_UTC_Z


@dataclass(frozen=True)
class FeatureFilters:
    """What a map client may narrow the features by (all optional, combined with AND)."""

    bbox: BBox | None = None
    township_id: int | None = None
    township_code: str | None = None
    tier: Tier | None = None
    kind: FacilityKind | None = None
    status: FacilityStatus | None = None
    overdue: bool | None = None
    #: changed at or after: the facility, its township, or any of its reports or orders
    updated_since: datetime | None = None
    #: ``last_inspected_at`` within [from, to] (OGC ``datetime``); None ends are open
    inspected_from: datetime | None = None
    inspected_to: datetime | None = None
    #: set: the ``datetime`` filter is on (so never-inspected sites drop out)
    by_inspection_time: bool = False
    facility_id: int | None = None


def _rounded(column: Any) -> Any:
    """A coordinate rounded to 6 decimals (about 0.1 m) by the database: Python's own
    ``round`` on 100,000 floats costs more than encoding the whole feed."""
    return cast(func.round(cast(column, Numeric), 6), Float)


def _text(column: Any) -> Any:
    """``column`` read as the plain text it is stored as (no enum conversion)."""
    return type_coerce(column, String())


def _open_orders() -> Any:
    return (
        select(func.count(MaintenanceOrder.id))
        .where(MaintenanceOrder.facility_id == Facility.id, MaintenanceOrder.status.in_(OPEN))
        .correlate(Facility)
        .scalar_subquery()
    )


def _changed_since(since: datetime) -> Any:
    """The facility, its township, or one of its reports (received or reviewed) or orders
    changed at or after ``since``. Reports and orders follow the facility's township now."""
    report = exists().where(
        Inspection.facility_id == Facility.id,
        or_(Inspection.received_at >= since, Inspection.reviewed_at >= since),
    )
    order = exists().where(
        MaintenanceOrder.facility_id == Facility.id, MaintenanceOrder.updated_at >= since
    )
    return or_(Facility.updated_at >= since, Township.updated_at >= since, report, order)


def _conditions(filters: FeatureFilters, *, today: date) -> list[Any]:
    """The registry's own filters (``facilities.service.conditions_for``) and the map's."""
    conditions = facilities.conditions_for(
        facilities.FacilityFilters(
            township_id=filters.township_id,
            tier=filters.tier,
            kind=filters.kind,
            status=filters.status,
            bbox=filters.bbox,
            overdue=filters.overdue,
        ),
        today=today,
    )
    if filters.facility_id is not None:
        conditions.append(Facility.id == filters.facility_id)
    if filters.township_code is not None:
        conditions.append(Township.code == filters.township_code)
    if filters.updated_since is not None:
        conditions.append(_changed_since(filters.updated_since))
    if filters.by_inspection_time:
        conditions.append(Facility.last_inspected_at.is_not(None))
        if filters.inspected_from is not None:
            conditions.append(Facility.last_inspected_at >= filters.inspected_from)
        if filters.inspected_to is not None:
            conditions.append(Facility.last_inspected_at <= filters.inspected_to)
    return conditions


def _scoped(statement: Any, user: User | None) -> Any:
    """The facilities ``user`` may see; the public map (``None``) sees every township."""
    return statement if user is None else access.scope(statement, user, Facility.township_id)


def _ensure_township_visible(session: Session, user: User | None, filters: FeatureFilters) -> None:
    if user is not None and filters.township_id is not None:
        access.ensure_visible(session, user, filters.township_id, f"Township {filters.township_id}")


def _query(
    session: Session,
    user: User | None,
    filters: FeatureFilters,
    today: date,
    limit: int | None,
    offset: int,
) -> tuple[Any, list[Any]]:
    """The SELECT of the features ``user`` may see through ``filters``, and its conditions."""
    _ensure_township_visible(session, user, filters)
    conditions = _conditions(filters, today=today)
    # Enumerations come back as their stored text (what the JSON shows anyway): turning
    # 200,000 values into enum members and back costs more than the whole encoding.
    columns: list[Any] = [
        Facility.id,
        _rounded(Facility.longitude),
        _rounded(Facility.latitude),
        Facility.code,
        Facility.name,
        _text(Facility.kind),
        _text(Facility.tier),
        _text(Facility.status),
        Township.name,
    ]
    if user is not None:
        columns += [
            Township.code,
            Facility.village,
            _text(Facility.last_inspected_at),
            _text(Facility.next_due_on),
            _text(Facility.last_condition),
            _open_orders(),
        ]
    query = (
        _scoped(select(*columns).join(Township, Township.id == Facility.township_id), user)
        .where(*conditions)
        .order_by(Facility.id)
        .offset(offset)
    )
    return (query if limit is None else query.limit(limit)), conditions


def _builder(user: User | None, today: date) -> Any:
    if user is None:
        return _public_feature
    return lambda row: _feature(row, today)


def features(
    *,
    session: Session,
    user: User | None,
    filters: FeatureFilters,
    today: date,
    limit: int | None = None,
    offset: int = 0,
) -> tuple[list[dict[str, Any]], int]:
    """The features ``user`` may see (``None``: the public map, public properties only),
    ordered by facility id, and how many match in all."""
    query, conditions = _query(session, user, filters, today, limit, offset)
    build = _builder(user, today)
    # Core execution (plain rows, without the ORM's per-row loading machinery), and tens of
    # thousands of rows and small dicts, none of them in a cycle
    with collector.paused():
        rows = session.connection().execute(query).all()
        built = [build(row) for row in rows]
    if (limit is None or len(rows) < limit) and (rows or offset == 0):
        total = offset + len(rows)  # the last page: no second query needed
    else:
        count = select(func.count()).select_from(Facility)
        count = count.join(Township, Township.id == Facility.township_id)
        total = session.execute(_scoped(count, user).where(*conditions)).scalar_one()
    return built, total


#: rows fetched, built and encoded at a time by ``collection_bytes``
CHUNK_ROWS = 2_000


def collection_bytes(
    *,
    session: Session,
    user: User | None,
    filters: FeatureFilters,
    today: date,
    limit: int | None = None,
    offset: int = 0,
) -> bytes:
    """The FeatureCollection of ``features`` as JSON bytes, built a chunk of rows at a time:
    only the encoded text of the whole county is held at once, never its rows and dicts
    (which take several times its size in Python objects)."""
    query, _conditions = _query(session, user, filters, today, limit, offset)
    build = _builder(user, today)
    parts = [b'{"type":"FeatureCollection","features":[']
    with collector.paused():
        # a server-side cursor for this statement only (PostgreSQL), read a chunk at a time
        result = session.connection().execute(query.execution_options(stream_results=True))
        for rows in result.partitions(CHUNK_ROWS):
            chunk = orjson.dumps([build(row) for row in rows], option=_ORJSON_OPTIONS)
            if len(parts) > 1:
                parts.append(b",")
            parts.append(chunk[1:-1])
    parts.append(b"]}")
    return b"".join(parts)


def _utc_text(stored: str) -> str:
    """A UTC time as SQLite keeps it (``2025-04-01 02:30:00.000000``) written as the API
    writes times (``2025-04-01T02:30:00Z``), without parsing it."""
    text = stored.replace(" ", "T", 1).removesuffix(".000000")
    return text if text.endswith("Z") else text + "Z"


def _point(lon: float, lat: float) -> dict[str, Any]:
    """A GeoJSON Point of coordinates already rounded (``_rounded``)."""
    return {"type": "Point", "coordinates": [lon, lat]}


def _public_feature(row: Any) -> dict[str, Any]:
    fid, lon, lat, code, name, kind, tier, status, township_name = row
    return {
        "type": "Feature",
        "id": fid,
        "geometry": _point(lon, lat),
        "properties": {
            "code": code,
            "name": name,
            "kind": kind,
            "tier": tier,
            "status": status,
            "township_name": township_name,
        },
    }


def _feature(row: Any, today: date) -> dict[str, Any]:
    (
        fid,
        lon,
        lat,
        code,
        name,
        kind,
        tier,
        status,
        township_name,
        township_code,
        village,
        last_inspected_at,
        next_due_on,
        last_condition,
        open_maintenance,
    ) = row
    if isinstance(next_due_on, str):  # SQLite hands dates and times over as text
        next_due_on = date.fromisoformat(next_due_on)
    if isinstance(last_inspected_at, str):
        last_inspected_at = _utc_text(last_inspected_at)
    elif last_inspected_at is not None:  # PostgreSQL: in the session's zone; write UTC
        last_inspected_at = last_inspected_at.astimezone(UTC)
    # as the JSON API's facilities (facilities/service.py to_read): active and due before today
    days = (today - next_due_on).days
    overdue = status == ACTIVE and days > 0
    return {
        "type": "Feature",
        "id": fid,
        "geometry": _point(lon, lat),
        "properties": {
            "code": code,
            "name": name,
            "kind": kind,
            "tier": tier,
            "status": status,
            "township_code": township_code,
            "township_name": township_name,
            "village": village,
            "last_inspected_at": last_inspected_at,
            "next_due_on": next_due_on,
            "overdue": overdue,
            "days_overdue": days if overdue else 0,
            "last_condition": last_condition,
            "open_maintenance": open_maintenance,
        },
    }


def encode(document: dict[str, Any]) -> bytes:
    """JSON bytes of a GeoJSON document (enums as their values, times in UTC with Z)."""
    return orjson.dumps(document, option=_ORJSON_OPTIONS)


def feature_collection(items: list[dict[str, Any]], **members: Any) -> dict[str, Any]:
    return {"type": "FeatureCollection", "features": items, **members}


def extent(*, session: Session, user: User | None) -> tuple[tuple[float, ...] | None, Any, Any]:
    """The bounding box of the facilities in scope (None if there are none), and the first
    and last ``last_inspected_at`` among them."""
    query = _scoped(
        select(
            func.min(Facility.longitude),
            func.min(Facility.latitude),
            func.max(Facility.longitude),
            func.max(Facility.latitude),
            func.min(Facility.last_inspected_at),
            func.max(Facility.last_inspected_at),
        ),
        user,
    )
    min_lon, min_lat, max_lon, max_lat, first, last = session.execute(query).one()
    box = None if min_lon is None else (min_lon, min_lat, max_lon, max_lat)
    return box, first, last


def feed_tag(
    *, session: Session, user: User | None, filters: FeatureFilters, today: date, extra: Any = ()
) -> str:
    """A weak ETag for the features ``user`` sees through ``filters`` on ``today``.

    Formula: SHA-256 over, in the caller's scope (the facilities of their township, or all):
    max(updated_at) of facilities (for a township also their count and the sum of their
    ids, so a site moved in or out moves the tag); max(updated_at) of the townships in scope
    (their names); max(id),
    max(received_at) and max(reviewed_at) of those facilities' reports; max(id) and
    max(updated_at) of their maintenance orders; max(updated_at) of the patrol policies —
    plus the county date, the scope (township id, staff or public), the filters and
    ``extra`` (paging, format). Every change a feature can show moves one of them (a report,
    a review, an order's step, a facility edited or moved, a policy change — which also
    rewrites due dates), and the date moves ``overdue``. Nothing here is ever deleted
    (facilities are archived, reports and orders kept), so maxima see every change without
    counting rows. The public map shows no reports, orders or schedule, so its tag leaves
    them out. Cost: one query of maxima, each an index lookup county- or province-wide
    (migration 0006 indexes the timestamps), a township's rows otherwise; no body is built.
    """
    limit = None if user is None else access.township_limit(user)
    facilities = select(Facility.id).select_from(Facility)
    townships = select(func.max(Township.updated_at))
    aggregates: list[Any] = [facilities.with_only_columns(func.max(Facility.updated_at))]
    if limit is not None:
        # A township's own sites and its own row: a facility moved in or out changes the
        # count and the sum of ids, and nothing of another township moves the tag.
        facilities = facilities.where(Facility.township_id == limit)
        aggregates = [
            facilities.with_only_columns(func.max(Facility.updated_at)),
            facilities.with_only_columns(func.count()),
            facilities.with_only_columns(func.sum(Facility.id)),
        ]
        townships = townships.where(Township.id == limit)
    aggregates.append(townships)
    if user is not None:
        reports = select(Inspection.id).select_from(Inspection)
        orders = select(MaintenanceOrder.id).select_from(MaintenanceOrder)
        if limit is not None:  # reports and orders follow their facility's township now
            reports = reports.where(Inspection.facility_id.in_(access.facilities_of(limit)))
            orders = orders.where(MaintenanceOrder.facility_id.in_(access.facilities_of(limit)))
        aggregates += [
            reports.with_only_columns(func.max(Inspection.id)),
            reports.with_only_columns(func.max(Inspection.received_at)),
            reports.with_only_columns(func.max(Inspection.reviewed_at)),
            orders.with_only_columns(func.max(MaintenanceOrder.id)),
            orders.with_only_columns(func.max(MaintenanceOrder.updated_at)),
            select(func.max(PatrolPolicy.updated_at)),
            select(func.max(CountyPatrolPolicy.updated_at)),
        ]
    values = session.execute(select(*(a.scalar_subquery() for a in aggregates))).one()
    # A division's staff take the maxima of every township: a superset of theirs, which
    # moves whenever one of their features can (a site moved out changes its updated_at).
    scope = "public" if user is None else f"township:{limit or '*'}:{access.reach(user)}"
    key = repr((tuple(values), today.isoformat(), scope, astuple(filters), extra))
    return 'W/"' + hashlib.sha256(key.encode()).hexdigest()[:32] + '"'
