"""Every page of every list is an index range on PostgreSQL: the plans, read (issue 12).

A database of its own (created, migrated and dropped here) holds a province-like spread:
196 counties (six of them in Jincheng, city 1405), 980 townships, 20,000 facilities and
100,000 reports, with orders, allocations, ledger and audit entries, loaded with
``generate_series`` and analysed (and vacuumed, as autovacuum would have, so counts can
read their indexes alone).

Then each list is asked for as the app asks for it, by its service function, as each kind
of caller (the whole country, a city, a county, a township) with every sort and every
filter the route offers, for a first page (with its count) and for the page its ``next``
cursor leads to. Every statement the service sends is captured and explained, and no plan
may scan the inspections or the facilities table from end to end (``Seq Scan``).

The one exception is the facility search ``q`` (a substring of name, code, village or a
martyr's name): no B-tree index serves ``LIKE '%...%'``, and without a trigram index it
reads every facility the caller sees. It is checked for township users (a few dozen
sites, read by the township index) and left out for wider callers, as the README says.

PostgreSQL only: SQLite has no planner statistics worth asserting on.
"""

import json
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, event, text
from sqlalchemy.engine import make_url
from sqlmodel import Session, select

from app import listing, migrate
from app.audit import service as audit
from app.config import BBox
from app.db import make_engine
from app.facilities import service as facilities
from app.facilities.schemas import FacilitySort
from app.funds import service as funds
from app.inspections import service as inspections
from app.maintenance import service as maintenance
from app.models import (
    ChecklistItem,
    FacilityKind,
    FacilityStatus,
    MaintenanceCategory,
    OrderStatus,
    ReviewStatus,
    Role,
    Tier,
    Township,
    User,
)
from app.schedule import service as schedule
from tests.conftest import POSTGRES_URL, make_settings

#: the tables no page may read end to end
BIG_TABLES = {"inspections", "facilities"}
TODAY = date(2026, 6, 1)

CITY = "1405"
COUNTY = "140521"
#: Jincheng's six counties; the other 190 are spread over ten other cities of the province
JINCHENG = ("140502", "140521", "140522", "140524", "140525", "140581")
OTHER_COUNTIES = tuple(
    f"{city}{n:02d}" for city in range(1401, 1412) if city != 1405 for n in range(1, 20)
)

LOAD = [
    # counties and townships: five townships a county (codes county + 101..105)
    "INSERT INTO counties (code, name, timezone, created_at, updated_at) "
    "SELECT code, 'County ' || code, 'Asia/Shanghai', timestamptz '2026-06-01 00:00+00', timestamptz '2026-06-01 00:00+00' FROM unnest(CAST(:codes AS text[])) AS code",
    "INSERT INTO townships (code, name, county_id, created_at, updated_at) "
    "SELECT c.code || (100 + n)::text, 'Township ' || c.code || n, c.id, timestamptz '2026-06-01 00:00+00', timestamptz '2026-06-01 00:00+00' "
    "FROM counties c CROSS JOIN generate_series(1, 5) AS n ORDER BY c.code, n",
    # a township user in every township; the wider callers are made by ``callers``
    "INSERT INTO users (username, full_name, role, township_id, division_code, password_hash,"
    " is_active, tokens_valid_after, created_at, updated_at) "
    "SELECT 'u' || t.code, 'Inspector ' || t.code, 'township', t.id, t.code, 'x', true,"
    " timestamptz '2026-06-01 00:00+00', timestamptz '2026-06-01 00:00+00', timestamptz '2026-06-01 00:00+00' FROM townships t",
    # 20,000 facilities, spread evenly over the townships, registered over four years
    "INSERT INTO facilities (code, name, kind, tier, status, township_id, village, longitude,"
    " latitude, source_crs, source_longitude, source_latitude, martyrs, martyr_names, address,"
    " description, custodian_name, custodian_phone, registered_on, last_inspected_at, last_inspected_on, next_due_on, created_at, updated_at) "
    "SELECT 'F' || lpad(g::text, 6, '0'), 'Site ' || (g * 7919 % 20000),"
    " (ARRAY['grave','cemetery','monument','tablet','pavilion','memorial_hall','other'])[g % 7 + 1],"
    " (ARRAY['national','provincial','municipal','county','unrated'])[g % 5 + 1],"
    " CASE WHEN g % 50 = 0 THEN 'archived' WHEN g % 97 = 0 THEN 'relocated' ELSE 'active' END,"
    " (SELECT min(id) FROM townships) + g % (SELECT count(*) FROM townships),"
    " 'Village ' || g % 300, 110 + (g % 1000) / 100.0, 30 + (g / 20) % 1000 / 100.0, 'wgs84',"
    " 110 + (g % 1000) / 100.0, 30 + (g / 20) % 1000 / 100.0,"
    " json_build_array(json_build_object('name', 'Martyr ' || g, 'note', repeat('事迹', 20))),"
    " 'Martyr ' || g, 'Address ' || g, repeat('说明', 60), 'Custodian', '13800000000',"
    " date '2022-01-01' + g % 1400, NULL, NULL, date '2026-01-01' + g % 365, timestamptz '2026-06-01 00:00+00',"
    " timestamptz '2026-01-01' + g * interval '17 minutes' "
    "FROM generate_series(1, 20000) AS g",
    # 100,000 reports, five a facility, over two years; most accepted and on site
    "INSERT INTO inspections (client_id, facility_id, township_id, inspector_id, inspected_at,"
    " inspected_on, received_at, condition, checklist, notes, longitude, latitude, source_crs,"
    " source_longitude, source_latitude, distance_m, on_site, flags, review_status, receipt,"
    " payload_sha256) "
    "SELECT gen_random_uuid(), f.id, f.township_id, u.id, at, (at AT TIME ZONE 'Asia/Shanghai')::date,"
    " at, 'good', :checklist, CASE WHEN g % 3 = 0 THEN repeat('记录', 30) END, p.lon, p.lat, p.crs, p.lon, p.lat, p.dist, p.on_site, '[]',"
    " CASE WHEN g % 50 = 0 THEN 'rejected' WHEN g % 12 = 0 THEN 'submitted' ELSE 'accepted' END,"
    " upper(substr(md5(g::text), 1, 4) || '-' || substr(md5(g::text), 5, 4)), md5(g::text) "
    "FROM generate_series(1, 100000) AS g "
    "JOIN facilities f ON f.id = (SELECT min(id) FROM facilities) + g % 20000 "
    "JOIN users u ON u.township_id = f.township_id AND u.role = 'township' "
    "CROSS JOIN LATERAL (SELECT timestamptz '2024-06-01' + g * interval '631 seconds' AS at) t "
    "CROSS JOIN LATERAL (SELECT CASE WHEN g % 20 = 0 THEN NULL ELSE f.longitude END AS lon,"
    " CASE WHEN g % 20 = 0 THEN NULL ELSE f.latitude END AS lat,"
    " CASE WHEN g % 20 = 0 THEN NULL ELSE 'wgs84' END AS crs,"
    " CASE WHEN g % 20 = 0 THEN NULL WHEN g % 9 = 0 THEN 900.0 ELSE 20.0 END AS dist,"
    " CASE WHEN g % 20 = 0 THEN NULL ELSE g % 9 <> 0 END AS on_site) p",
    # 3,000 maintenance orders
    "INSERT INTO maintenance_orders (facility_id, township_id, category, title,"
    " planned_cost_fen, due_on, status, year, created_at, updated_at) "
    "SELECT f.id, f.township_id,"
    " (ARRAY['repair','equipment','environment','exhibition','commemoration','routine_care'])"
    "[g % 6 + 1], 'Order ' || g, 10000 + g, date '2025-01-01' + g % 700,"
    " (ARRAY['planned','approved','in_progress','completed','cancelled'])[g % 5 + 1],"
    " 2024 + g % 3, timestamptz '2024-01-01' + g * interval '3 hours', timestamptz '2026-06-01 00:00+00' "
    "FROM generate_series(1, 3000) AS g "
    "JOIN facilities f ON f.id = (SELECT min(id) FROM facilities) + (g * 7) % 20000",
    # allocations and ledger entries: two years of every township
    "INSERT INTO fund_allocations (township_id, year, amount_fen, source, document_no,"
    " allocated_on, created_at) "
    "SELECT t.id, y, 100000, 'county', 'Doc ' || t.code || y, make_date(y, 3, 1), timestamptz '2026-06-01 00:00+00' "
    "FROM townships t CROSS JOIN generate_series(2025, 2026) AS y",
    "INSERT INTO ledger_entries (township_id, year, kind, amount_fen, allocation_id, at) "
    "SELECT township_id, year, 'allocation', amount_fen, id, created_at FROM fund_allocations",
    # 20,000 audit entries (the chain's hashes are not checked here)
    "INSERT INTO audit_log (at, action, object_type, object_id, prev_hash, entry_hash) "
    "SELECT timestamptz '2025-01-01' + g * interval '23 minutes',"
    " (ARRAY['facility.update','inspection.review','maintenance.approve'])[g % 3 + 1],"
    " (ARRAY['facility','inspection','maintenance_order'])[g % 3 + 1], (g % 5000)::text,"
    " md5(g::text), md5((g + 1)::text) FROM generate_series(1, 20000) AS g",
]


#: a report's checklist, every item answered (the width of a real row)
CHECKLIST = {item.value: "ok" for item in ChecklistItem}


def _parameters_of(statement: str) -> dict[str, Any]:
    given = {"codes": list(JINCHENG + OTHER_COUNTIES), "checklist": json.dumps(CHECKLIST)}
    return {name: value for name, value in given.items() if f":{name}" in statement}


#: the big tables' indexes that no constraint owns, with their definitions
_SECONDARY_INDEXES = text(
    "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
    " JOIN pg_class t ON t.oid = i.indrelid WHERE t.relname IN ('facilities', 'inspections')"
    " AND NOT EXISTS (SELECT FROM pg_constraint c WHERE c.conindid = i.indexrelid)"
)


def load(engine: Engine) -> None:
    """``LOAD`` into the migrated database: the big tables' secondary indexes are dropped
    first and made again after (several times faster than growing them row by row)."""
    with engine.begin() as connection:
        indexes = connection.execute(_SECONDARY_INDEXES).all()
        for name, _definition in indexes:
            connection.execute(text(f"DROP INDEX {name}"))
        # no triggers (the audit chain, the ledger's append-only guard) while loading
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        for statement in LOAD:
            connection.execute(text(statement), _parameters_of(statement))
        for _name, definition in indexes:
            connection.execute(text(definition))


@pytest.fixture(scope="module")
def province() -> Iterator[Engine]:
    """A database of its own with the province loaded and analysed; dropped at the end."""
    if not POSTGRES_URL:
        pytest.skip("reads PostgreSQL's query plans; MEMORIAL_TEST_POSTGRES_URL is not set")
    base = make_url(POSTGRES_URL)
    name = f"{base.database}_plans_{os.environ.get('PYTEST_XDIST_WORKER', 'main')}"
    url = base.set(database=name).render_as_string(hide_password=False)
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    engine = make_engine(url)
    try:
        migrate.upgrade(make_settings(Path("."), url))
        load(engine)
        with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
            connection.execute(text("VACUUM ANALYZE"))
        yield engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@dataclass(frozen=True)
class Caller:
    label: str
    user: User
    #: a township this caller sees (for ?township_id=)
    township_id: int


@pytest.fixture(scope="module")
def callers(province: Engine) -> list[Caller]:
    """The whole country (an admin, ''), a city (1405), a county (140521), a township."""
    with Session(province) as session:
        township = session.exec(select(Township).where(Township.code == f"{COUNTY}103")).one()
        inspector = session.exec(
            select(User).where(User.township_id == township.id, User.role == Role.township)
        ).one()
        wider = [
            ("country", User(username="a", full_name="A", role=Role.admin, division_code="")),
            ("city", User(username="c", full_name="C", role=Role.county, division_code=CITY)),
            ("county", User(username="k", full_name="K", role=Role.county, division_code=COUNTY)),
        ]
        callers = [Caller(label, user, township.id) for label, user in wider]
        session.expunge(inspector)
        return [*callers, Caller("township", inspector, township.id)]


class Plans:
    """Captures the statements a service sends, and explains them."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.sent: list[tuple[str, Any]] = []

    def capture(self, conn: Any, cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            self.sent.append((statement, parameters))

    def scans(self, call: Callable[..., Any]) -> tuple[Any, list[str]]:
        """What ``call`` returns, and the sequential scans of the big tables its
        statements' plans hold (each named with its statement)."""
        self.sent.clear()
        event.listen(self.engine, "before_cursor_execute", self.capture)
        try:
            with Session(self.engine) as session:
                result = call(session=session)
        finally:
            event.remove(self.engine, "before_cursor_execute", self.capture)
        found = []
        with self.engine.connect() as connection:
            for statement, parameters in self.sent:
                plan = connection.exec_driver_sql(
                    f"EXPLAIN (FORMAT JSON) {statement}", parameters
                ).scalar_one()
                plan = plan if isinstance(plan, list) else json.loads(plan)
                for node in _nodes(plan[0]["Plan"]):
                    if node["Node Type"] == "Seq Scan" and node["Relation Name"] in BIG_TABLES:
                        found.append(f"Seq Scan on {node['Relation Name']} in: {statement}")
        return result, found


def _nodes(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
    yield node
    for child in node.get("Plans", []):
        yield from _nodes(child)


@pytest.fixture(scope="module")
def plans(province: Engine) -> Plans:
    return Plans(province)


def scans_of(
    plans: Plans, list_page: Callable[..., Any], *, limit: int, **arguments: Any
) -> list[str]:
    """The scans of a first page of ``limit`` rows (with its exact count) and of the page its
    cursor leads to, of ``list_page(session=..., window=..., **arguments)``; each named with
    ``arguments``."""

    def scans(window: listing.Window) -> tuple[Any, list[str]]:
        return plans.scans(lambda session: list_page(session=session, window=window, **arguments))

    first, found = scans(listing.Window(limit=limit))
    if first.next is not None:
        found += scans(listing.Window(limit=limit, cursor=first.next))[1]
    named = {
        k: f"division {v.division_code!r}" if isinstance(v, User) else v
        for k, v in arguments.items()
    }
    return [f"{named}: {scan}" for scan in found]


FACILITY_SORTS: tuple[FacilitySort, ...] = (
    "code",
    "-code",
    "name",
    "-name",
    "next_due_on",
    "-next_due_on",
    "registered_on",
    "-registered_on",
    "updated_at",
    "-updated_at",
)


def _facility_filters(caller: Caller) -> list[facilities.FacilityFilters]:
    filters = [
        facilities.FacilityFilters(),
        facilities.FacilityFilters(township_id=caller.township_id),
        facilities.FacilityFilters(tier=Tier.national),
        facilities.FacilityFilters(kind=FacilityKind.pavilion),
        facilities.FacilityFilters(status=FacilityStatus.archived),
        facilities.FacilityFilters(status=FacilityStatus.active),
        facilities.FacilityFilters(bbox=BBox((112.0, 31.0, 112.5, 31.5))),
        facilities.FacilityFilters(overdue=True),
        facilities.FacilityFilters(overdue=False),
    ]
    if caller.label == "township":  # the search: see the module's docstring
        filters.append(facilities.FacilityFilters(q="Site 1"))
    return filters


def test_facility_pages_read_indexes(plans: Plans, callers: list[Caller]) -> None:
    """Every sort unfiltered, and every filter under two sorts (a unique key ascending and
    a timestamp descending), for every kind of caller."""
    scans = []
    for caller in callers:
        chosen = [(sort, facilities.FacilityFilters()) for sort in FACILITY_SORTS]
        chosen += [
            (sort, filters)
            for filters in _facility_filters(caller)[1:]
            for sort in ("code", "-updated_at")
        ]
        for sort, filters in chosen:
            scans += scans_of(
                plans,
                facilities.list_facility_reads,
                user=caller.user,
                filters=filters,
                sort=sort,
                limit=50,
                today=TODAY,
            )
    assert scans == [], "\n".join(scans)


@pytest.fixture(scope="module")
def samples(province: Engine, callers: list[Caller]) -> dict[str, Any]:
    """A facility, an inspector and a receipt of the township every caller sees."""
    township_id = callers[-1].township_id
    with province.connect() as connection:
        facility_id, receipt = connection.execute(
            text(
                "SELECT f.id, i.receipt FROM facilities f JOIN inspections i"
                " ON i.facility_id = f.id WHERE f.township_id = :t ORDER BY f.id LIMIT 1"
            ),
            {"t": township_id},
        ).one()
    return {"facility_id": facility_id, "inspector_id": callers[-1].user.id, "receipt": receipt}


def _inspection_filters(caller: Caller, samples: dict[str, Any]) -> list[Any]:
    filters = inspections.InspectionFilters
    return [
        filters(),
        filters(facility_id=samples["facility_id"]),
        filters(township_id=caller.township_id),
        filters(inspector_id=samples["inspector_id"]),
        *(filters(review_status=status) for status in ReviewStatus),
        filters(on_site=True),
        filters(on_site=False),
        filters(since=date(2025, 3, 1)),
        filters(until=date(2024, 9, 1)),
        filters(since=date(2025, 3, 1), until=date(2025, 3, 31)),
        filters(receipt=samples["receipt"]),
    ]


def test_report_pages_read_indexes(
    plans: Plans, callers: list[Caller], samples: dict[str, Any]
) -> None:
    scans = []
    for caller in callers:
        for oldest_first in (False, True):  # the list, and the review queue
            for filters in _inspection_filters(caller, samples):
                scans += scans_of(
                    plans,
                    inspections.list_inspections,
                    user=caller.user,
                    filters=filters,
                    limit=50,
                    oldest_first=oldest_first,
                )
    assert scans == [], "\n".join(scans)


def test_order_pages_read_indexes(
    plans: Plans, callers: list[Caller], samples: dict[str, Any]
) -> None:
    filters = maintenance.OrderFilters
    scans = []
    for caller in callers:
        for chosen in (
            filters(),
            filters(facility_id=samples["facility_id"]),
            filters(township_id=caller.township_id),
            *(filters(status=status) for status in OrderStatus),
            filters(category=MaintenanceCategory.repair),
            filters(year=2025),
            filters(overdue=True),
            filters(overdue=False),
        ):
            scans += scans_of(
                plans,
                maintenance.list_orders,
                user=caller.user,
                filters=chosen,
                today=TODAY,
                limit=50,
            )
    assert scans == [], "\n".join(scans)


def test_money_and_audit_pages_read_indexes(plans: Plans, callers: list[Caller]) -> None:
    scans = []
    for caller in callers:
        for township_id in (None, caller.township_id):
            for year in (None, 2025):
                for newest_first in (False, True):
                    scans += scans_of(
                        plans,
                        funds.ledger,
                        user=caller.user,
                        township_id=township_id,
                        year=year,
                        limit=50,
                        newest_first=newest_first,
                    )
                scans += scans_of(
                    plans,
                    funds.list_allocations,
                    user=caller.user,
                    township_id=township_id,
                    year=year,
                    limit=50,
                )
    for chosen in (
        {},
        {"object_type": "facility", "object_id": "12"},
        {"action": "facility.update"},
        {"since": datetime(2025, 3, 1, tzinfo=UTC)},
        {"until": datetime(2025, 2, 1, tzinfo=UTC)},
    ):
        arguments = dict.fromkeys(
            ("object_type", "object_id", "actor_id", "action", "since", "until")
        )
        scans += scans_of(plans, audit.list_entries, limit=50, **{**arguments, **chosen})
    assert scans == [], "\n".join(scans)


def test_overdue_pages_read_indexes(plans: Plans, callers: list[Caller]) -> None:
    scans = []
    for caller in callers:
        for township_id in (None, caller.township_id):
            for tier in (None, Tier.national):
                _, found = plans.scans(
                    partial(
                        schedule.overdue_facilities,
                        user=caller.user,
                        as_of=TODAY,
                        township_id=township_id,
                        tier=tier,
                        window=listing.Window(limit=50, offset=100),
                    )
                )
                scans += [f"{caller.label} {township_id} {tier}: {scan}" for scan in found]
    assert scans == [], "\n".join(scans)
