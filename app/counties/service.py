"""Counties (issue 12): added by an administrator (``memorial add-county``), seen by whoever
reaches one of their townships, and the source of a township's county (its code's first six
digits), time zone and outline."""

from datetime import date, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlmodel import Session

from app import access
from app.audit import service as audit
from app.clock import local_today
from app.errors import Conflict, InvalidInput, NotFound
from app.geo.outline import CountyOutline, of_county, parse_outline
from app.models import County, Township, User


def check_code(code: str, *, field: tuple[str, ...] = ("body", "code")) -> str:
    if len(code) != 6 or not code.isdigit():
        raise InvalidInput(field, f"A county's division code has 6 digits, not {code!r}")
    return code


def check_timezone(name: str, *, field: tuple[str, ...] = ("body", "timezone")) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InvalidInput(
            field, f"Unknown time zone {name!r} (an IANA name such as Asia/Shanghai)"
        ) from None
    return name


def check_outline(data: Any, *, code: str) -> dict[str, Any]:
    """The outline's geometry (a Polygon or MultiPolygon), from a geometry, a Feature or a
    FeatureCollection of one; 422 naming what is wrong."""
    try:
        parsed = parse_outline(data, where=f"the outline of county {code}", code=code)
    except ValueError as exc:
        raise InvalidInput(("body", "outline"), str(exc)) from None
    from shapely.geometry import mapping  # the outline module has loaded shapely

    return dict(mapping(parsed.geometry))


def code_conditions(prefix: str) -> list[Any]:
    """Conditions for the counties under (or holding) division ``prefix``: the county's code
    starts with it (a region), or it starts with the county's (a county or a township)."""
    if len(prefix) >= 6:
        return [County.code == prefix[:6]]
    bounds = access.code_range(prefix)
    return [] if bounds is None else [County.code >= bounds[0], County.code < bounds[1]]


def _visible(statement: Any, user: User) -> Any:
    """The counties ``user`` reaches one township of."""
    return statement.where(*code_conditions(access.reach(user)))


def visible(session: Session, user: User) -> list[County]:
    """The counties ``user`` reaches, in code order."""
    return list(session.execute(_visible(select(County), user).order_by(County.code)).scalars())


def list_counties(
    *, session: Session, user: User, limit: int, offset: int
) -> tuple[list[County], int]:
    total = session.execute(_visible(select(func.count()).select_from(County), user)).scalar_one()
    rows = session.execute(
        _visible(select(County), user).order_by(County.code).limit(limit).offset(offset)
    ).scalars()
    return list(rows), total


def get_county(*, session: Session, user: User, county_id: int) -> County:
    county = session.get(County, county_id)
    if county is None or not sees_county(user, county):
        raise NotFound(f"County {county_id} not found")
    return county


def sees_county(user: User, county: County) -> bool:
    prefix = access.reach(user)
    return county.code.startswith(prefix) or prefix.startswith(county.code)


def by_code(session: Session, code: str) -> County | None:
    return session.execute(select(County).where(County.code == code)).scalar_one_or_none()


def of_township_code(session: Session, code: str, *, field: str = "code") -> County:
    """The county a 9-digit township code belongs to, or a 422 naming the field."""
    county = by_code(session, code[:6])
    if county is None:
        raise InvalidInput(
            ("body", field),
            f"There is no county with code {code[:6]} (the first six digits of {code}); "
            "an administrator adds it first (memorial add-county)",
        )
    return county


def of_township(session: Session, township_id: int) -> County:
    """The county of a township (the identity map serves repeated calls)."""
    township = session.get(Township, township_id)
    if township is None:
        raise NotFound(f"Township {township_id} not found")
    county = session.get(County, township.county_id)
    assert county is not None  # a foreign key
    return county


def outline_of_township(session: Session, township_id: int) -> CountyOutline | None:
    """The outline a facility of the township must lie in (None: its county has none)."""
    return of_county(of_township(session, township_id))


def tz_of_township(session: Session, township_id: int) -> tzinfo:
    """The time zone of the township's county (one indexed join; ZoneInfo caches zones)."""
    name = session.execute(
        select(County.timezone)
        .join(Township, Township.county_id == County.id)
        .where(Township.id == township_id)
    ).scalar_one_or_none()
    if name is None:
        raise NotFound(f"Township {township_id} not found")
    return ZoneInfo(name)


def today_for(session: Session, user: User, fallback: tzinfo) -> date:
    """Today where ``user`` works: their county's date when they reach one county (or a
    township of it), otherwise the deployment's (``MEMORIAL_TIMEZONE``) — every county of
    China keeps Beijing time, so a region's date is the same in practice."""
    prefix = access.reach(user)
    if len(prefix) >= 6:
        county = by_code(session, prefix[:6])
        if county is not None:
            return local_today(ZoneInfo(county.timezone))
    return local_today(fallback)


def add_county(
    *,
    session: Session,
    actor: User | None,
    code: str,
    name: str,
    outline: Any | None,
    timezone: str = "Asia/Shanghai",
) -> County:
    """Add a county (an administrator's act: the CLI and the seed)."""
    check_code(code)
    name = name.strip()
    if not 1 <= len(name) <= 32:
        raise InvalidInput(("body", "name"), "A county's name has 1 to 32 characters")
    check_timezone(timezone)
    geometry = None if outline is None else check_outline(outline, code=code)
    existing = by_code(session, code)
    if existing is not None:
        raise Conflict(f"A county with code {code} already exists ({existing.name})")
    county = County(code=code, name=name, timezone=timezone, outline=geometry)
    session.add(county)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="county.create",
        object_type="county",
        object_id=county.id,
        after={"code": code, "name": name, "timezone": timezone, "outline": geometry is not None},
    )
    session.commit()
    return county


def counties_named(session: Session, codes: list[str]) -> dict[str, str]:
    """Names of the counties with ``codes`` (for titles of regions)."""
    rows = session.execute(select(County.code, County.name).where(County.code.in_(codes)))
    return dict(rows.tuples().all())


def outline_features(session: Session, user: User | None) -> dict[str, Any]:
    """The outlines of the counties ``user`` reaches (None: every county, the public map),
    as a GeoJSON FeatureCollection (WGS-84); counties without one are left out."""
    query = select(County).where(County.outline.is_not(None)).order_by(County.code)
    if user is not None:
        query = _visible(query, user)
    features = [
        {
            "type": "Feature",
            "id": county.code,
            "geometry": county.outline,
            "properties": {"code": county.code, "name": county.name},
        }
        for county in session.execute(query).scalars()
    ]
    return {"type": "FeatureCollection", "features": features}


def outline_bbox(session: Session, user: User | None) -> tuple[float, float, float, float] | None:
    """``(min_lon, min_lat, max_lon, max_lat)`` around the outlines ``user`` reaches (None:
    no county of theirs has one)."""
    query = select(County).where(County.outline.is_not(None))
    if user is not None:
        query = _visible(query, user)
    boxes = [
        found.bbox
        for county in session.execute(query).scalars()
        if (found := of_county(county)) is not None
    ]
    if not boxes:
        return None
    return (
        min(b[0] for b in boxes),
        min(b[1] for b in boxes),
        max(b[2] for b in boxes),
        max(b[3] for b in boxes),
    )
