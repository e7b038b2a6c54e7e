"""Plain factory functions for tests: rows straight into the database, tokens for users."""

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from itertools import count
from math import hypot
from typing import Any
from zoneinfo import ZoneInfo

from shapely.geometry import Point
from sqlmodel import Session

from app.config import DEFAULT_COUNTY_BOUNDARY, Settings
from app.db import Database
from app.geo.outline import CountyOutline, load_outline
from app.models import (
    Condition,
    Crs,
    Facility,
    FacilityKind,
    FacilityStatus,
    Inspection,
    ReviewStatus,
    Role,
    Tier,
    Township,
    User,
)
from app.security import create_access_token, hash_password

PASSWORD = "correct horse battery"
_PASSWORD_HASH = hash_password(PASSWORD)  # argon2 is slow by design: hash once per run
_serial = count(1)

#: a point well inside Qinshui County (about 6 km from its outline)
LON, LAT = 112.19, 35.69
COUNTY_TZ = ZoneInfo("Asia/Shanghai")


def county() -> CountyOutline:
    """The shipped outline of Qinshui County, as the default settings load it."""
    return load_outline(DEFAULT_COUNTY_BOUNDARY)


def off_the_edge(metres: float, *, facing: tuple[float, float] = (0.0, 0.0)) -> tuple[float, float]:
    """A WGS-84 point ``metres`` straight out from the middle of an edge of the county's
    outline (negative: inside), on an edge where no other part of the outline is nearer;
    of those, the edge whose outward normal points most along ``facing`` (east, north),
    then the longest."""
    outline = county()
    polygon = outline.frame.to_metres(outline.geometry)
    parts = getattr(polygon, "geoms", [polygon])
    best: tuple[float, float, Point] | None = None
    for part in parts:
        ring = list(part.exterior.coords)
        for (x1, y1), (x2, y2) in zip(ring, ring[1:], strict=False):
            length = hypot(x2 - x1, y2 - y1)
            nx, ny = (y2 - y1) / length, -(x2 - x1) / length
            mx, my = (x1 + x2) / 2, (y1 + y2) / 2
            if polygon.covers(Point(mx + nx, my + ny)):
                nx, ny = -nx, -ny  # make the normal point outward
            point = Point(mx + nx * metres, my + ny * metres)
            if abs(polygon.boundary.distance(point) - abs(metres)) > 0.5:
                continue
            score = (nx * facing[0] + ny * facing[1], length)
            if best is None or score > best[:2]:
                best = (*score, point)
    assert best is not None, f"no edge of the county stands {metres} m clear"
    lon, lat = outline.frame.to_degrees(best[2]).coords[0]
    return lon, lat


def home_outline_geometry() -> str:
    """The seed's outline of Qinshui as GeoJSON geometry text (what ``counties.outline`` holds)."""
    data = json.loads(DEFAULT_COUNTY_BOUNDARY.read_text(encoding="utf-8"))
    if data.get("type") == "FeatureCollection":
        data = data["features"][0]
    if data.get("type") == "Feature":
        data = data["geometry"]
    return json.dumps(data, ensure_ascii=False)


def county_today() -> date:
    """Today in county time, as the service computes it (not the host's UTC date)."""
    return datetime.now(COUNTY_TZ).date()


def make_township(
    session: Session, *, code: str | None = None, name: str | None = None
) -> Township:
    n = next(_serial)
    township = Township(code=code or f"1405213{n % 100:02d}", name=name or f"测试乡{n}")
    session.add(township)
    session.flush()
    return township


def make_user(
    session: Session,
    *,
    role: Role = Role.county,
    township: Township | None = None,
    username: str | None = None,
    is_active: bool = True,
) -> User:
    user = User(
        username=username or f"user{next(_serial)}",
        full_name="测试用户",
        role=role,
        township_id=township.id if township else None,
        division_code=township.code if township else "",
        password_hash=_PASSWORD_HASH,
        is_active=is_active,
    )
    session.add(user)
    session.flush()
    return user


def make_facility(
    session: Session,
    *,
    township: Township,
    code: str | None = None,
    tier: Tier = Tier.unrated,
    status: FacilityStatus = FacilityStatus.active,
    registered_on: date | None = None,
    next_due_on: date | None = None,
    lon: float = LON,
    lat: float = LAT,
    **fields: Any,
) -> Facility:
    registered = registered_on or county_today() - timedelta(days=10)
    facility = Facility(
        code=code or f"F-{next(_serial):05d}",
        name=fields.pop("name", "测试烈士墓"),
        kind=fields.pop("kind", FacilityKind.grave),
        tier=tier,
        status=status,
        township_id=township.id,  # type: ignore[arg-type]
        longitude=lon,
        latitude=lat,
        source_crs=Crs.wgs84,
        source_longitude=lon,
        source_latitude=lat,
        registered_on=registered,
        next_due_on=next_due_on or registered + timedelta(days=30),
        **fields,
    )
    session.add(facility)
    session.flush()
    return facility


def token(settings: Settings, user: User) -> str:
    return create_access_token(
        user_id=user.id,  # type: ignore[arg-type]
        key=settings.signing_key(),
        ttl=timedelta(hours=1),
    )


def auth(settings: Settings, user: User | None) -> dict[str, str]:
    """Authorization header for ``user`` (none for an anonymous caller)."""
    return {} if user is None else {"Authorization": f"Bearer {token(settings, user)}"}


@dataclass
class World:
    settings: Settings
    township_a: Township
    township_b: Township
    admin: User
    county: User
    township_user: User  # of township A
    other_township_user: User  # of township B
    facility_a: Facility
    facility_b: Facility

    def headers(self, who: str) -> dict[str, str]:
        """Headers for 'admin', 'county', 'township' (A), 'other' (B) or 'anonymous'."""
        users = {
            "admin": self.admin,
            "county": self.county,
            "township": self.township_user,
            "other": self.other_township_user,
            "anonymous": None,
        }
        return auth(self.settings, users[who])


def make_world(db: Database, settings: Settings) -> World:
    with db.begin() as session:
        a = make_township(session, code="140521100", name="龙港镇")
        b = make_township(session, code="140521103", name="端氏镇")
        world = World(
            settings=settings,
            township_a=a,
            township_b=b,
            admin=make_user(session, role=Role.admin, username="admin"),
            county=make_user(session, role=Role.county, username="clerk"),
            township_user=make_user(session, role=Role.township, township=a, username="lg"),
            other_township_user=make_user(session, role=Role.township, township=b, username="ds"),
            facility_a=make_facility(session, township=a, code="A-001"),
            facility_b=make_facility(session, township=b, code="B-001", lon=112.37, lat=35.82),
        )
    return world


def report_body(facility: Facility, **overrides: Any) -> dict[str, Any]:
    """A patrol report as the phone sends it: on site, a few checklist answers."""
    body: dict[str, Any] = {
        "client_id": str(uuid.uuid4()),
        "facility_id": facility.id,
        "inspected_at": (datetime.now(UTC) - timedelta(hours=1)).isoformat(),
        "condition": "good",
        "checklist": {"marker_sign": "ok", "headstone": "ok", "surroundings_tidy": "problem"},
        "notes": "杂草较多，已清理",
        "position": {
            "longitude": facility.longitude,
            "latitude": facility.latitude,
            "accuracy_m": 8,
        },
    }
    return body | overrides


def make_inspection(
    session: Session,
    *,
    facility: Facility,
    inspector: User,
    inspected_at: datetime,
    tz: Any,
    review_status: ReviewStatus = ReviewStatus.submitted,
    on_site: bool | None = True,
) -> Inspection:
    client_id = uuid.uuid4()
    position: dict[str, Any] = {"flags": ["no_position"]}
    if on_site is not None:  # on site: at the facility; off site: about 1.1 km north of it
        latitude = facility.latitude + (0 if on_site else 0.01)
        position = {
            "longitude": facility.longitude,
            "latitude": latitude,
            "accuracy_m": 10.0,
            "source_crs": Crs.wgs84,
            "source_longitude": facility.longitude,
            "source_latitude": latitude,
            "distance_m": 0.0 if on_site else 1112.0,
            "on_site": on_site,
            "flags": [] if on_site else ["off_site"],
        }
    inspection = Inspection(
        client_id=client_id,
        facility_id=facility.id,  # type: ignore[arg-type]
        township_id=facility.township_id,
        inspector_id=inspector.id,  # type: ignore[arg-type]
        inspected_at=inspected_at,
        inspected_on=inspected_at.astimezone(tz).date(),
        condition=Condition.good,
        checklist={},
        review_status=review_status,
        receipt="TEST-0000",
        payload_sha256="0" * 64,
        **position,
    )
    session.add(inspection)
    session.flush()
    return inspection
