"""Scale bench: a country's registry on PostgreSQL, every page timed at two sizes.

For each size (default 100,000 and 1,000,000 facilities) build a fresh PostgreSQL database
``mp_scale_<size>``, bring it to the head revision with ``memorial migrate``, and load with
COPY (psycopg 3, text format, rows written by this script):

- 2,800 counties with realistic 6-digit codes: 31 provinces, each split into cities of
  about ten counties; province 14 holds 120 of them, among them Jincheng (1405) with its
  six (140502, 140521 Qinshui, 140522, 140524, 140525, 140581). Each county is a cell of a
  grid laid over its province's cell of a grid over China (no outline: ``outline`` NULL);
- 15 townships per county (42,000), 9-digit codes under the county;
- users: an admin (division ''), a province user (14), a city user (1405), a county user
  (140521), a township user (140521100), and one inspector per township;
- ``size`` facilities, dealt round-robin over the townships (so a county's sites are
  spread over the whole table, not stored together), at random positions in their county's
  cell; 10 inspections each over the last two years (the last within 45 days), in rounds
  so that ids grow with time, review statuses mixed (rejected ones never the last), and
  ``last_inspected_at`` / ``last_inspected_on`` / ``last_condition`` / ``next_due_on`` set
  by the generator from the same visits;
- maintenance orders (one per 50 sites, every status) with the ledger entries and fund
  accounts their states imply, one allocation per township and year, and an audit log of
  one entry per 10 sites with a valid hash chain.

The load runs with ``session_replication_role = replica`` (no foreign-key or audit
triggers fire per row; the data is consistent by construction) and with the secondary
indexes and unique constraints of ``facilities`` and ``inspections`` dropped during COPY
and rebuilt after it, then ``VACUUM ANALYZE``: what a bulk load plus autovacuum leave.

Then ``memorial serve`` (``--workers``, default 1) runs against it and each endpoint is
timed over HTTP (httpx, keep-alive; ``--warmups`` then ``--runs`` requests; median and
p95), signed in through ``POST /api/v1/auth/token``, as the province user and as the admin
(the annual report as the county user and the province user): the first page of every
list and a deep page (the ``next`` cursor of the page at offset ``min(50,000, total - 50)``
when the list offers cursors, else that offset), the overdue list, stats, a campaign's
progress (the campaign made through the API) and its missing list if the API has one, the
annual report, the clusters for the whole country (zoom 4) and one county (zoom 11), and a
page of the GeoJSON feed for one county's box. Map requests move the box by a few metres
each time so that every answer is built, not served from the ETag cache. An endpoint
slower than 2 s on its first timed request is measured ``--slow-runs`` times only, and
none is timed further once its samples add up to a minute. ``GET /me`` is timed too, as
the floor the machine's load sets under every figure; and beside the wall times, the CPU
time per request of the server process and its database backends (/proc/PID/stat), which
a busy machine does not inflate the way it inflates latency.

Last, the biggest CSV export is streamed as the admin, reading and discarding it; the
server's memory growth is its peak RSS (VmHWM, reset through /proc/PID/clear_refs) minus
its RSS before the download.

Targets (issue 12) on this 2-core machine: every paged answer at most 100 ms p95 and
within 2x between the two sizes (median); a county's annual report at most 1 s and the
province's at most 10 s (p95); the export's memory flat (growth at the larger size at most
1.5x the smaller's, or under 32 MB). Prints a table per size and the comparison, marks each
miss, and exits 1 on any miss (2 if the bench itself failed).

    .venv/bin/python bench/scale.py [--sizes 100000,1000000] [--runs 30] [--keep]
        [--reuse] [--workers 1] [--only facilities,overdue,...]
"""

import argparse
import contextlib
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import httpx
import psycopg

from app.audit.chain import entry_hash
from app.models import DEFAULT_INTERVAL_DAYS, Tier
from app.security import hash_password

PG_SERVER = "postgresql://postgres@127.0.0.1:5432/postgres"
MEMORIAL = Path(sys.executable).with_name("memorial")
SECRET = "bench-secret-key-long-enough-for-hs256"
PASSWORD = "Scale-bench-2026!"

INSPECTIONS_PER_FACILITY = 10
TOWNSHIPS_PER_COUNTY = 15
COUNTIES = 2800
PROVINCE = "14"
PROVINCE_COUNTIES = 120
CITY = "1405"
COUNTY = "140521"
TOWNSHIP = "140521100"
JINCHENG = ["140502", "140521", "140522", "140524", "140525", "140581"]
PROVINCES = [
    "11",
    "12",
    "13",
    "14",
    "15",
    "21",
    "22",
    "23",
    "31",
    "32",
    "33",
    "34",
    "35",
    "36",
    "37",
    "41",
    "42",
    "43",
    "44",
    "45",
    "46",
    "50",
    "51",
    "52",
    "53",
    "54",
    "61",
    "62",
    "63",
    "64",
    "65",
]
#: the county-level suffixes a city's codes use: districts, counties, county-level cities
SUFFIXES = [f"{n:02d}" for n in (*range(2, 12), *range(21, 35), *range(81, 86))]
COUNTRY_BOX = (73.0, 18.0, 135.0, 54.0)
TIERS = [Tier.unrated] * 6 + [Tier.county] * 3 + [Tier.municipal, Tier.provincial, Tier.national]
KINDS = ["grave"] * 7 + ["cemetery", "monument", "tablet", "pavilion", "memorial_hall"]
CONDITIONS = ["good"] * 14 + ["minor_issues"] * 3 + ["needs_repair", "severely_damaged"]
REVIEWS = ("rejected", "submitted", "accepted")
TZ = timedelta(hours=8)
DAY = 86_400
YEARS_BACK = 730  # visits over two years

USERS = {
    "admin": ("scale-admin", "admin", ""),
    "province": ("scale-province", "county", PROVINCE),
    "city": ("scale-city", "county", CITY),
    "county": ("scale-county", "county", COUNTY),
    "township": ("scale-township", "township", TOWNSHIP),
}

PAGE_P95_MS = 100.0
RATIO = 2.0
COUNTY_REPORT_S = 1.0
PROVINCE_REPORT_S = 10.0
MEMORY_FLAT_RATIO = 1.5
MEMORY_FLOOR_MB = 32.0
#: an endpoint stops being timed once its samples add up to this (at least one is taken)
SLOW_BUDGET_S = 60.0


# --- geography ---------------------------------------------------------------------------


@dataclass
class County:
    id: int
    code: str
    box: tuple[float, float, float, float]  # min lon, min lat, max lon, max lat


def county_codes() -> list[str]:
    """2,800 county codes: PROVINCE_COUNTIES in province 14 (Jincheng's real six among
    them), the rest shared by the other 30 provinces; about ten counties per city."""
    others = [p for p in PROVINCES if p != PROVINCE]
    share, extra = divmod(COUNTIES - PROVINCE_COUNTIES, len(others))
    codes: list[str] = []
    for province in PROVINCES:
        if province == PROVINCE:
            codes += JINCHENG
            rest = PROVINCE_COUNTIES - len(JINCHENG)
            cities = [f"{province}{c:02d}" for c in range(1, 12) if f"{province}{c:02d}" != CITY]
        else:
            rest = share + (1 if others.index(province) < extra else 0)
            cities = [f"{province}{c:02d}" for c in range(1, math.ceil(rest / 10) + 1)]
        per_city, spare = divmod(rest, len(cities))
        for number, city in enumerate(cities):
            count = per_city + (1 if number < spare else 0)
            codes += [city + suffix for suffix in SUFFIXES[:count]]
    assert len(codes) == COUNTIES and len(set(codes)) == COUNTIES, len(codes)
    return codes


def layout(codes: list[str]) -> list[County]:
    """Each province a cell of an 8 x 4 grid over China; its counties a grid inside it."""
    min_lon, min_lat, max_lon, max_lat = COUNTRY_BOX
    width, height = (max_lon - min_lon) / 8, (max_lat - min_lat) / 4
    by_province: dict[str, list[str]] = {}
    for code in codes:
        by_province.setdefault(code[:2], []).append(code)
    counties = []
    for p_index, province in enumerate(PROVINCES):
        px, py = min_lon + (p_index % 8) * width, min_lat + (p_index // 8) * height
        members = by_province[province]
        side = math.ceil(math.sqrt(len(members)))
        cw, ch = width / side, height / side
        for c_index, code in enumerate(members):
            x, y = px + (c_index % side) * cw, py + (c_index // side) * ch
            counties.append(County(0, code, (x, y, x + cw, y + ch)))
    counties.sort(key=lambda c: c.code)
    for number, county in enumerate(counties, start=1):
        county.id = number
    return counties


# --- COPY ------------------------------------------------------------------------------


class Clock:
    """Fast text timestamps and local dates for epoch seconds (cached per day)."""

    def __init__(self) -> None:
        self.days: dict[int, str] = {}

    def day(self, number: int) -> str:
        text = self.days.get(number)
        if text is None:
            text = self.days[number] = (date(1970, 1, 1) + timedelta(days=number)).isoformat()
        return text

    def stamp(self, seconds: int) -> str:
        number, rest = divmod(seconds, DAY)
        hours, rest = divmod(rest, 3600)
        return f"{self.day(number)} {hours:02d}:{rest // 60:02d}:{rest % 60:02d}+00"

    def local_date(self, seconds: int) -> str:
        return self.day((seconds + int(TZ.total_seconds())) // DAY)


def table_columns(connection: psycopg.Connection, table: str) -> dict[str, bool]:
    """column -> whether it must be given (NOT NULL, no default, not an identity)."""
    rows = connection.execute(
        "SELECT column_name, is_nullable = 'NO' AND column_default IS NULL"
        " AND is_identity = 'NO' FROM information_schema.columns WHERE table_name = %s",
        (table,),
    ).fetchall()
    return dict(rows)


def copy_rows(
    connection: psycopg.Connection, table: str, columns: tuple[str, ...], rows: Iterable[tuple]
) -> int:
    """COPY ``rows`` (tuples of text fields, ``\\N`` for NULL) into ``table``; the columns
    the table no longer has are left out, a required column this bench does not fill fails
    loudly."""
    present = table_columns(connection, table)
    missing = [c for c, required in present.items() if required and c not in columns]
    if missing:
        raise SystemExit(f"bench/scale.py does not fill {table}.{', '.join(missing)}: update it")
    keep = [i for i, c in enumerate(columns) if c in present]
    project = len(keep) != len(columns)
    names = ", ".join(columns[i] for i in keep)
    count = 0
    with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({names}) FROM STDIN") as copy:
        chunk: list[str] = []
        for row in rows:
            if project:
                row = tuple(row[i] for i in keep)
            chunk.append("\t".join(row))
            count += 1
            if len(chunk) >= 20_000:
                copy.write("\n".join(chunk) + "\n")
                chunk = []
        if chunk:
            copy.write("\n".join(chunk) + "\n")
    return count


@contextlib.contextmanager
def indexes_dropped(connection: psycopg.Connection, tables: list[str]) -> Iterator[None]:
    """Drop the secondary indexes and unique constraints of ``tables``; rebuild them after."""
    constraints = connection.execute(
        "SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) FROM pg_constraint"
        " WHERE conrelid = ANY(%s::regclass[]) AND contype IN ('u', 'x')",
        (tables,),
    ).fetchall()
    indexes = connection.execute(
        "SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i"
        " WHERE i.indrelid = ANY(%s::regclass[]) AND NOT i.indisprimary AND NOT EXISTS"
        " (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)",
        (tables,),
    ).fetchall()
    for table, name, _ in constraints:
        connection.execute(f'ALTER TABLE {table} DROP CONSTRAINT "{name}"')
    for name, _ in indexes:
        connection.execute(f"DROP INDEX {name}")
    connection.commit()
    yield
    started = time.perf_counter()
    for _, definition in indexes:
        connection.execute(definition)
        connection.commit()
    for table, name, definition in constraints:
        connection.execute(f'ALTER TABLE {table} ADD CONSTRAINT "{name}" {definition}')
        connection.commit()
    print(
        f"    {len(indexes)} indexes and {len(constraints)} unique constraints rebuilt"
        f" in {time.perf_counter() - started:.0f} s",
        flush=True,
    )


def pg_url(name: str) -> str:
    return PG_SERVER.rsplit("/", 1)[0] + "/" + name


def sqlalchemy_url(name: str) -> str:
    return pg_url(name).replace("postgresql://", "postgresql+psycopg://", 1)


def nul(value: Any) -> str:
    return "\\N" if value is None else str(value)


@dataclass
class World:
    size: int
    counties: list[County]
    township_codes: list[str]  # index = township id - 1
    township_county: list[int]  # index = township id - 1 -> county index
    now: int
    facilities_in: dict[str, int] = field(default_factory=dict)
    load_s: float = 0.0


def populate(name: str, size: int, seed: int, inspections_by: str = "sql") -> World:
    started = time.perf_counter()
    rng = random.Random(seed)
    clock = Clock()
    now = int(time.time())
    now_text = clock.stamp(now)
    counties = layout(county_codes())
    township_codes, township_county = [], []
    for index, county in enumerate(counties):
        for j in range(TOWNSHIPS_PER_COUNTY):
            township_codes.append(f"{county.code}{100 + j:03d}")
            township_county.append(index)
    townships = len(township_codes)
    world = World(size, counties, township_codes, township_county, now)
    for t in range(townships):  # dealt round-robin: size // townships each, the rest first
        code = township_codes[t]
        count = size // townships + (t < size % townships)
        for prefix in (code[:2], code[:4], code[:6]):
            world.facilities_in[prefix] = world.facilities_in.get(prefix, 0) + count
    admin_id = 1
    inspector_base = len(USERS)  # inspector of township t is user inspector_base + t

    with psycopg.connect(pg_url(name)) as connection:
        connection.execute("SET session_replication_role = replica")
        connection.execute("SET synchronous_commit = off")
        connection.execute("SET maintenance_work_mem = '1GB'")

        def step(what: str, rows: int, since: float) -> None:
            print(f"    {what}: {rows:,} rows in {time.perf_counter() - since:.0f} s", flush=True)

        since = time.perf_counter()
        n = copy_rows(
            connection,
            "counties",
            ("id", "code", "name", "timezone", "outline", "created_at", "updated_at"),
            (
                (
                    str(c.id),
                    c.code,
                    f"压测县{c.code}",
                    "Asia/Urumqi" if c.code.startswith("65") else "Asia/Shanghai",
                    "\\N",
                    now_text,
                    now_text,
                )
                for c in counties
            ),
        )
        n += copy_rows(
            connection,
            "townships",
            ("id", "code", "name", "county_id", "created_at", "updated_at"),
            (
                (
                    str(t + 1),
                    code,
                    f"压测乡镇{code}",
                    str(counties[township_county[t]].id),
                    now_text,
                    now_text,
                )
                for t, code in enumerate(township_codes)
            ),
        )
        secret = hash_password(PASSWORD)
        yesterday = clock.stamp(now - DAY)
        township_id_of = {code: t + 1 for t, code in enumerate(township_codes)}

        def users() -> Iterator[tuple]:
            for number, (username, role, division) in enumerate(USERS.values(), start=1):
                township = township_id_of[division] if role == "township" else None
                yield (
                    str(number),
                    username,
                    username,
                    "\\N",
                    role,
                    nul(township),
                    division,
                    secret,
                    "t",
                    yesterday,
                    now_text,
                    now_text,
                )
            for t, code in enumerate(township_codes, start=1):
                yield (
                    str(inspector_base + t),
                    f"x{code}",
                    f"巡查员{code}",
                    "\\N",
                    "township",
                    str(t),
                    code,
                    secret,
                    "t",
                    yesterday,
                    now_text,
                    now_text,
                )

        n += copy_rows(
            connection,
            "users",
            (
                "id",
                "username",
                "full_name",
                "phone",
                "role",
                "township_id",
                "division_code",
                "password_hash",
                "is_active",
                "tokens_valid_after",
                "created_at",
                "updated_at",
            ),
            users(),
        )
        connection.commit()
        step("counties, townships, users", n, since)

        # Pass 1: each facility's ten visits (seconds before now, oldest first) and its row
        # (with --inspections-by sql only the last visit: the database makes the others).
        by_copy = inspections_by == "copy"
        visits = array("i", bytes(4 * size * INSPECTIONS_PER_FACILITY if by_copy else 0))
        last_condition = bytearray(size)
        positions = array("d", bytes(8 * 2 * size))
        facility_township = array("i", bytes(4 * size))
        today_local = (now + int(TZ.total_seconds())) // DAY

        def facilities() -> Iterator[tuple]:
            for f in range(size):
                t = f % townships
                county = counties[township_county[t]]
                code = county.code
                facility_township[f] = t + 1
                x0, y0, x1, y1 = county.box
                lon = x0 + (x1 - x0) * (0.02 + 0.96 * rng.random())
                lat = y0 + (y1 - y0) * (0.02 + 0.96 * rng.random())
                positions[2 * f], positions[2 * f + 1] = lon, lat
                last = rng.randrange(45 * DAY)
                if by_copy:
                    earlier = sorted(
                        (rng.randrange(last + 1, YEARS_BACK * DAY) for _ in range(9)),
                        reverse=True,
                    )
                    base = f * INSPECTIONS_PER_FACILITY
                    for k, ago in enumerate(earlier):
                        visits[base + k] = ago
                    visits[base + 9] = last
                condition = rng.randrange(len(CONDITIONS))
                last_condition[f] = condition
                tier = TIERS[rng.randrange(len(TIERS))]
                last_at = now - last
                last_on = (last_at + int(TZ.total_seconds())) // DAY
                roll = rng.random()
                status = "archived" if roll < 0.02 else "relocated" if roll < 0.03 else "active"
                martyr = f"烈士{rng.randrange(50_000):05d}"
                yield (
                    str(f + 1),
                    f"S{f + 1:07d}",
                    f"压测设施{f + 1}",
                    KINDS[rng.randrange(len(KINDS))],
                    tier.value,
                    status,
                    str(t + 1),
                    f"{code}村{f % 97}",
                    "\\N",
                    f"{lon:.6f}",
                    f"{lat:.6f}",
                    "wgs84",
                    f"{lon:.6f}",
                    f"{lat:.6f}",
                    f'[{{"name": "{martyr}", "note": ""}}]',
                    martyr,
                    "\\N",
                    "\\N",
                    "\\N",
                    "\\N",
                    clock.day(today_local - 400 - rng.randrange(2600)),
                    clock.stamp(last_at),
                    clock.day(last_on),
                    CONDITIONS[condition],
                    clock.day(last_on + DEFAULT_INTERVAL_DAYS[tier]),
                    now_text,
                    now_text,
                )

        inspection_columns = (
            "id",
            "client_id",
            "facility_id",
            "township_id",
            "inspector_id",
            "inspected_at",
            "inspected_on",
            "received_at",
            "condition",
            "checklist",
            "notes",
            "longitude",
            "latitude",
            "accuracy_m",
            "source_crs",
            "source_longitude",
            "source_latitude",
            "distance_m",
            "on_site",
            "flags",
            "review_status",
            "reviewed_by_id",
            "reviewed_at",
            "review_comment",
            "receipt",
            "payload_sha256",
        )

        def inspections() -> Iterator[tuple]:
            number = 0
            getrandbits = rng.getrandbits
            for k in range(INSPECTIONS_PER_FACILITY):  # rounds: ids grow with time
                for f in range(size):
                    number += 1
                    at = now - visits[f * INSPECTIONS_PER_FACILITY + k]
                    t = facility_township[f]
                    lon, lat = positions[2 * f], positions[2 * f + 1]
                    if k == INSPECTIONS_PER_FACILITY - 1:
                        condition = CONDITIONS[last_condition[f]]
                        review = "submitted" if now - at < 3 * DAY else "accepted"
                    else:
                        condition = CONDITIONS[getrandbits(16) % len(CONDITIONS)]
                        roll = getrandbits(7)
                        review = (
                            "rejected" if roll < 6 else "submitted" if roll < 10 else "accepted"
                        )
                    reviewed = review != "submitted"
                    hexed = f"{getrandbits(128):032x}"
                    yield (
                        str(number),
                        f"{hexed[:8]}-{hexed[8:12]}-4{hexed[13:16]}-a{hexed[17:20]}-{hexed[20:]}",
                        str(f + 1),
                        str(t),
                        str(inspector_base + t),
                        clock.stamp(at),
                        clock.local_date(at),
                        clock.stamp(at + 30),
                        condition,
                        "{}",
                        "\\N",
                        f"{lon:.6f}",
                        f"{lat:.6f}",
                        "8.0",
                        "wgs84",
                        f"{lon:.6f}",
                        f"{lat:.6f}",
                        "3.0",
                        "t",
                        "[]",
                        review,
                        "1" if reviewed else "\\N",
                        clock.stamp(at + 3600) if reviewed else "\\N",
                        "退回: 照片不清" if review == "rejected" else "\\N",
                        f"{number % 0xFFFF:04X}-{number // 0xFFFF % 0xFFFF:04X}",
                        f"{number:064x}",
                    )

        with indexes_dropped(connection, ["facilities", "inspections"]):
            since = time.perf_counter()
            n = copy_rows(
                connection,
                "facilities",
                (
                    "id",
                    "code",
                    "name",
                    "kind",
                    "tier",
                    "status",
                    "township_id",
                    "village",
                    "address",
                    "longitude",
                    "latitude",
                    "source_crs",
                    "source_longitude",
                    "source_latitude",
                    "martyrs",
                    "martyr_names",
                    "custodian_name",
                    "custodian_phone",
                    "year_built",
                    "description",
                    "registered_on",
                    "last_inspected_at",
                    "last_inspected_on",
                    "last_condition",
                    "next_due_on",
                    "created_at",
                    "updated_at",
                ),
                facilities(),
            )
            connection.commit()
            step("facilities", n, since)
            since = time.perf_counter()
            if by_copy:
                n = copy_rows(connection, "inspections", inspection_columns, inspections())
            else:
                n = generate_inspections(connection, size, now, inspector_base)
            connection.commit()
            step(f"inspections (by {inspections_by})", n, since)

        since = time.perf_counter()
        n = load_funds(connection, world, rng, clock, facility_township, admin_id)
        n += load_audit(connection, world, clock, admin_id)
        for table in (
            "counties",
            "townships",
            "users",
            "facilities",
            "inspections",
            "maintenance_orders",
            "fund_allocations",
            "ledger_entries",
            "audit_log",
        ):
            connection.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'),"
                f" (SELECT coalesce(max(id), 0) + 1 FROM {table}), false)"
            )
        connection.commit()
        step("orders, funds, audit", n, since)

    since = time.perf_counter()
    with psycopg.connect(pg_url(name), autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE")
    print(f"    VACUUM ANALYZE in {time.perf_counter() - since:.0f} s", flush=True)
    world.load_s = time.perf_counter() - started
    return world


def generate_inspections(
    connection: psycopg.Connection, size: int, now: int, inspector_base: int
) -> int:
    """Ten inspections per facility made by the database (INSERT ... SELECT), one round
    (statement) at a time so that ids grow with time: the tenth is the facility's
    ``last_inspected_at`` with its ``last_condition`` (submitted within 3 days, else
    accepted); the nine before spread over the two years before it, oldest first, with
    mixed conditions and review statuses."""
    conditions = "ARRAY[" + ",".join(f"'{c}'" for c in CONDITIONS) + "]"
    total = 0
    for k in range(INSPECTIONS_PER_FACILITY):
        last = k == INSPECTIONS_PER_FACILITY - 1
        back = (INSPECTIONS_PER_FACILITY - 1 - k) / (INSPECTIONS_PER_FACILITY - 1)
        at = (
            "f.last_inspected_at"
            if last
            else f"f.last_inspected_at - (f.last_inspected_at - (%(now)s - interval"
            f" '{YEARS_BACK} days')) * ({back} * (0.85 + 0.15 * random()))"
        )
        condition = (
            "f.last_condition"
            if last
            else f"({conditions})[1 + floor(random() * {len(CONDITIONS)})::int]"
        )
        review = (
            "CASE WHEN %(now)s - f.last_inspected_at < interval '3 days' THEN 'submitted'"
            " ELSE 'accepted' END"
            if last
            else "CASE WHEN r < 6 / 128.0 THEN 'rejected' WHEN r < 10 / 128.0 THEN 'submitted'"
            " ELSE 'accepted' END"
        )
        cursor = connection.execute(
            f"""
            INSERT INTO inspections (id, client_id, facility_id, township_id, inspector_id,
                inspected_at, inspected_on, received_at, condition, checklist, notes,
                longitude, latitude, accuracy_m, source_crs, source_longitude, source_latitude,
                distance_m, on_site, flags, review_status, reviewed_by_id, reviewed_at,
                review_comment, receipt, payload_sha256)
            SELECT v.id, gen_random_uuid(), v.fid, v.tid, %(base)s + v.tid,
                v.at, (v.at AT TIME ZONE 'Asia/Shanghai')::date, v.at + interval '30 seconds',
                v.condition, '{{}}', NULL, v.lon, v.lat, 8.0, 'wgs84', v.lon, v.lat, 3.0, true,
                '[]', v.review,
                CASE WHEN v.review <> 'submitted' THEN 1 END,
                CASE WHEN v.review <> 'submitted' THEN v.at + interval '1 hour' END,
                CASE WHEN v.review = 'rejected' THEN '退回: 照片不清' END,
                lpad(upper(to_hex(v.id %% 65535)), 4, '0') || '-'
                    || lpad(upper(to_hex(v.id / 65535 %% 65535)), 4, '0'),
                lpad(to_hex(v.id), 64, '0')
            FROM (
                SELECT {k} * %(size)s::bigint + f.id AS id, f.id AS fid, f.township_id AS tid,
                    f.longitude AS lon, f.latitude AS lat, {at} AS at,
                    {condition} AS condition, {review} AS review
                FROM (SELECT *, random() AS r FROM facilities) AS f
            ) AS v
            """,
            {"now": datetime.fromtimestamp(now, UTC), "size": size, "base": inspector_base},
        )
        total += cursor.rowcount
    return total


def load_funds(
    connection: psycopg.Connection,
    world: World,
    rng: random.Random,
    clock: Clock,
    facility_township: array,
    admin_id: int,
) -> int:
    """One allocation per township and year, orders on one site in 50 with the ledger
    entries their states imply, and fund accounts that add up to the ledger."""
    now = world.now
    this_year = datetime.fromtimestamp(now, UTC).year
    years = (this_year - 1, this_year)
    accounts: dict[tuple[int, int], list[int]] = {}  # allocated, committed, spent
    allocations, entries = [], []
    allocation_fen = 20_000_000
    for t in range(1, len(world.township_codes) + 1):
        for year in years:
            number = len(allocations) + 1
            at = min(now - DAY, int(datetime(year, 3, 1, tzinfo=UTC).timestamp()))
            allocations.append(
                (
                    str(number),
                    "\\N",
                    str(t),
                    str(year),
                    str(allocation_fen),
                    "provincial",
                    f"晋财社〔{year}〕{number}号",
                    clock.local_date(at),
                    "\\N",
                    str(admin_id),
                    clock.stamp(at),
                    "\\N",
                )
            )
            entries.append((t, year, "allocation", allocation_fen, None, number, at))
            accounts[(t, year)] = [allocation_fen, 0, 0]
    orders = []
    statuses = ["planned"] * 6 + ["approved"] * 5 + ["in_progress"] * 3 + ["completed"] * 5
    statuses += ["cancelled"]
    for f in range(0, world.size, 50):
        number = len(orders) + 1
        t = facility_township[f]
        year = years[number % 2]
        status = statuses[rng.randrange(len(statuses))]
        planned = rng.randrange(1, 500) * 10_000
        created = min(now - DAY, int(datetime(year, 4, 1, tzinfo=UTC).timestamp()))
        created += rng.randrange(200) * DAY if year != years[-1] else 0
        created = min(created, now - DAY)
        actual = planned - planned * rng.randrange(10) // 100 if status == "completed" else None
        account = accounts[(t, year)]
        if status in ("approved", "in_progress", "completed"):
            entries.append((t, year, "commitment", -planned, number, None, created + 600))
            account[1] += planned
        if status == "completed":
            assert actual is not None
            entries.append((t, year, "release", planned, number, None, created + 7200))
            entries.append((t, year, "expenditure", -actual, number, None, created + 7200))
            account[1] -= planned
            account[2] += actual
        approved = status in ("approved", "in_progress", "completed")
        orders.append(
            (
                str(number),
                "\\N",
                str(f + 1),
                str(t),
                "\\N",
                ["repair", "routine_care", "environment", "equipment"][number % 4],
                f"压测维护{number}",
                "\\N",
                str(planned),
                clock.local_date(created + 60 * DAY),
                "\\N",
                nul(actual),
                clock.local_date(created + 7200) if status == "completed" else "\\N",
                "压测施工队" if status == "completed" else "\\N",
                f"INV{number}" if status == "completed" else "\\N",
                status,
                str(year),
                "不再需要" if status == "cancelled" else "\\N",
                str(admin_id),
                str(admin_id) if approved else "\\N",
                clock.stamp(created + 600) if approved else "\\N",
                clock.stamp(created),
                clock.stamp(created + 7200),
            )
        )
    n = copy_rows(
        connection,
        "fund_allocations",
        (
            "id",
            "client_id",
            "township_id",
            "year",
            "amount_fen",
            "source",
            "document_no",
            "allocated_on",
            "note",
            "created_by_id",
            "created_at",
            "reversed_at",
        ),
        allocations,
    )
    n += copy_rows(
        connection,
        "maintenance_orders",
        (
            "id",
            "client_id",
            "facility_id",
            "township_id",
            "inspection_id",
            "category",
            "title",
            "description",
            "planned_cost_fen",
            "due_on",
            "assignee",
            "actual_cost_fen",
            "completed_on",
            "payee",
            "invoice_no",
            "status",
            "year",
            "cancel_reason",
            "created_by_id",
            "approved_by_id",
            "approved_at",
            "created_at",
            "updated_at",
        ),
        orders,
    )
    entries.sort(key=lambda e: e[6])
    n += copy_rows(
        connection,
        "ledger_entries",
        (
            "id",
            "township_id",
            "year",
            "kind",
            "amount_fen",
            "order_id",
            "allocation_id",
            "actor_id",
            "at",
            "reason",
            "override_reason",
        ),
        (
            (
                str(number),
                str(t),
                str(year),
                kind,
                str(amount),
                nul(order),
                nul(allocation),
                str(admin_id),
                clock.stamp(at),
                "\\N",
                "\\N",
            )
            for number, (t, year, kind, amount, order, allocation, at) in enumerate(
                entries, start=1
            )
        ),
    )
    n += copy_rows(
        connection,
        "fund_accounts",
        ("township_id", "year", "allocated_fen", "committed_fen", "spent_fen"),
        (
            (str(t), str(year), str(a), str(c), str(s))
            for (t, year), (a, c, s) in sorted(accounts.items())
        ),
    )
    return n


def load_audit(connection: psycopg.Connection, world: World, clock: Clock, admin_id: int) -> int:
    """One ``facility.create`` entry per ten sites, chained as the app chains them; the
    chain head moved to its end (the per-row trigger is off during the load)."""
    prev = connection.execute("SELECT last_hash FROM audit_chain_head WHERE id = 1").fetchone()
    prev_hash = prev[0] if prev else "0" * 64
    length = connection.execute("SELECT count(*) FROM audit_log").fetchone()[0]  # type: ignore[index]
    start = world.now - 400 * DAY
    rows = []
    for number, f in enumerate(range(1, world.size + 1, 10), start=1):
        at = datetime.fromtimestamp(start + number * 30, UTC)
        entry = SimpleNamespace(
            at=at,
            actor_id=admin_id,
            actor_username=USERS["admin"][0],
            action="facility.create",
            object_type="facility",
            object_id=str(f),
            before=None,
            after={"code": f"S{f:07d}", "name": f"压测设施{f}"},
        )
        digest = entry_hash(entry, prev_hash=prev_hash)
        rows.append(
            (
                str(length + number),
                clock.stamp(int(at.timestamp())),
                str(admin_id),
                entry.actor_username,
                entry.action,
                entry.object_type,
                entry.object_id,
                "\\N",
                json.dumps(entry.after, ensure_ascii=False),
                prev_hash,
                digest,
            )
        )
        prev_hash = digest
    n = copy_rows(
        connection,
        "audit_log",
        (
            "id",
            "at",
            "actor_id",
            "actor_username",
            "action",
            "object_type",
            "object_id",
            "before",
            "after",
            "prev_hash",
            "entry_hash",
        ),
        rows,
    )
    connection.execute(
        "UPDATE audit_chain_head SET last_hash = %s, length = %s WHERE id = 1",
        (prev_hash, length + n),
    )
    return n


# --- the database --------------------------------------------------------------------------


def create_database(name: str) -> None:
    with psycopg.connect(PG_SERVER, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        connection.execute(f'CREATE DATABASE "{name}"')


def drop_database(name: str) -> None:
    with psycopg.connect(PG_SERVER, autocommit=True) as connection:
        connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def database_exists(name: str) -> bool:
    with psycopg.connect(PG_SERVER, autocommit=True) as connection:
        return bool(
            connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        )


def server_env(name: str, data_dir: Path) -> dict[str, str]:
    return os.environ | {
        "MEMORIAL_DATABASE_URL": sqlalchemy_url(name),
        "MEMORIAL_SECRET_KEY": SECRET,
        "MEMORIAL_DATA_DIR": str(data_dir),
        "MEMORIAL_ENV": "development",
    }


def migrate(name: str, data_dir: Path) -> None:
    done = subprocess.run(
        [str(MEMORIAL), "migrate"],
        env=server_env(name, data_dir),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode:
        raise SystemExit(f"memorial migrate failed:\n{done.stdout}\n{done.stderr}")
    print(f"    {done.stdout.strip()}", flush=True)


def rebuild_world(name: str, size: int) -> World:
    """The World of a kept database (``--reuse``), read back from it."""
    counties = layout(county_codes())
    township_codes, township_county = [], []
    for index, county in enumerate(counties):
        for j in range(TOWNSHIPS_PER_COUNTY):
            township_codes.append(f"{county.code}{100 + j:03d}")
            township_county.append(index)
    world = World(size, counties, township_codes, township_county, int(time.time()))
    with psycopg.connect(pg_url(name)) as connection:
        found = connection.execute("SELECT count(*) FROM facilities").fetchone()[0]  # type: ignore[index]
        if found != size:
            raise SystemExit(f"{name} holds {found:,} facilities, not {size:,}: drop it")
        for prefix in (PROVINCE, CITY, COUNTY):
            world.facilities_in[prefix] = connection.execute(
                "SELECT count(*) FROM facilities f JOIN townships t ON t.id = f.township_id"
                " WHERE t.code LIKE %s",
                (prefix + "%",),
            ).fetchone()[0]  # type: ignore[index]
    return world


# --- measuring ---------------------------------------------------------------------------


def memory_kib(pid: int, name: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(name + ":"):
            return int(line.split()[1])
    raise LookupError(name)


def descendants(pid: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            children.setdefault(int(stat.rsplit(")", 1)[1].split()[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Result:
    label: str
    kind: str  # page, aggregate, county-report, province-report, info
    samples: list[float] = field(default_factory=list)
    note: str = ""
    status: int = 0
    error: str = ""
    memory_mb: float = math.nan
    #: CPU seconds of the server and its database backends per timed request, in ms
    cpu_ms: float = math.nan

    @property
    def median_ms(self) -> float:
        return statistics.median(self.samples) * 1000 if self.samples else math.nan

    @property
    def p95_ms(self) -> float:
        if not self.samples:
            return math.nan
        ordered = sorted(self.samples)
        return ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)] * 1000


class Bench:
    def __init__(
        self, base: str, world: World, runs: int, warmups: int, slow_runs: int, only: set[str]
    ) -> None:
        self.base = base
        self.world = world
        self.runs, self.warmups, self.slow_runs = runs, warmups, slow_runs
        self.only = only
        self.results: list[Result] = []
        self.clients: dict[str, httpx.Client] = {}
        self.spec: dict[str, Any] = {}
        self.rng = random.Random(1)
        #: the processes whose CPU a request costs: the server's, and its database backends
        self.cpu_pids: Callable[[], list[int]] = list

    def client(self, who: str) -> httpx.Client:
        if who not in self.clients:
            client = httpx.Client(base_url=self.base, timeout=600)
            response = client.post(
                "/api/v1/auth/token", data={"username": USERS[who][0], "password": PASSWORD}
            )
            response.raise_for_status()
            client.headers["Authorization"] = f"Bearer {response.json()['access_token']}"
            self.clients[who] = client
        return self.clients[who]

    def close(self) -> None:
        for client in self.clients.values():
            client.close()

    def params_of(self, path: str) -> set[str]:
        operation = self.spec.get("paths", {}).get(path, {}).get("get")
        if operation is None:
            return set()
        return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}

    def has(self, path: str) -> bool:
        return "get" in self.spec.get("paths", {}).get(path, {})

    def wanted(self, key: str) -> bool:
        return not self.only or any(key.startswith(o) for o in self.only)

    def time(
        self,
        label: str,
        kind: str,
        who: str,
        request: Callable[[httpx.Client], httpx.Response],
        note: str = "",
    ) -> Result:
        result = Result(f"{label} [{who}]", kind, note=note)
        self.results.append(result)
        client = self.client(who)
        try:
            for _ in range(self.warmups):
                started = time.perf_counter()
                response = request(client)
                result.status = response.status_code
                if response.status_code == 403:
                    result.kind, result.note = "info", "403: not this user's (as designed)"
                    return result
                if response.status_code >= 400:
                    result.error = f"{response.status_code} {response.text[:120]}"
                    return result
                took = time.perf_counter() - started
                if took > SLOW_BUDGET_S:  # the warm-up is the one sample there is time for
                    result.samples.append(took)
                    result.note = (result.note + "; 1 cold run (slower than a minute)").lstrip("; ")
                    return result
                if took > 2.0:
                    break  # a slow answer: one warm-up is enough
            runs = self.runs
            pids = self.cpu_pids()
            cpu_before = cpu_seconds(pids)
            for number in range(runs):
                started = time.perf_counter()
                response = request(client)
                result.samples.append(time.perf_counter() - started)
                result.status = response.status_code
                if response.status_code >= 400:
                    result.error = f"{response.status_code} {response.text[:120]}"
                    return result
                if number == 0 and result.samples[0] > 2.0:
                    runs = self.slow_runs
                if number + 1 >= runs or sum(result.samples) > SLOW_BUDGET_S:
                    break
            if result.samples:
                result.cpu_ms = (cpu_seconds(pids) - cpu_before) / len(result.samples) * 1000
        except httpx.HTTPError as error:
            result.error = f"{type(error).__name__}: {error}"
        if len(result.samples) < self.runs and not result.error:
            result.note = (result.note + f"; {len(result.samples)} runs (slow)").lstrip("; ")
        return result

    # --- the endpoints --------------------------------------------------------------

    def list_pages(self, who: str) -> None:
        lists = [
            ("/api/v1/facilities", "facilities", {}),
            ("/api/v1/inspections", "inspections", {}),
            ("/api/v1/overdue", "overdue", {}),
            ("/api/v1/maintenance", "maintenance", {}),
            ("/api/v1/maintenance-orders", "maintenance", {}),
            ("/api/v1/funds/ledger", "ledger", {}),
            ("/api/v1/fund-allocations", "allocations", {}),
            ("/api/v1/audit", "audit", {}),
            ("/api/v1/townships", "townships", {}),
            ("/api/v1/users", "users", {}),
            ("/api/v1/campaigns", "campaigns", {}),
        ]
        for path, key, extra in lists:
            if not self.has(path) or not self.wanted(key):
                continue
            params = {"limit": 50, **extra}
            first = self.time(
                f"GET {path.removeprefix('/api/v1')} page 1",
                "page",
                who,
                lambda c, path=path, params=params: c.get(path, params=params),
            )
            if first.error:
                continue
            # the exact total (a first page stops counting at MEMORIAL_COUNT_LIMIT)
            body = self.client(who).get(path, params={**params, "count": "exact"}).json()
            total = body.get("total")
            if not isinstance(total, int) or total <= 1000:
                continue
            offset = min(50_000, total - 100)  # a page with a next one
            deep = self.client(who).get(path, params={**params, "offset": offset}).json()
            cursor = deep.get("next") if isinstance(deep, dict) else None
            if cursor and "cursor" in self.params_of(path):
                self.time(
                    f"GET {path.removeprefix('/api/v1')} deep (cursor)",
                    "page",
                    who,
                    lambda c, path=path, params=params, cursor=cursor: c.get(
                        path, params={**params, "cursor": cursor}
                    ),
                    note=f"the next cursor of offset {offset:,} of {total:,}",
                )
            else:
                self.time(
                    f"GET {path.removeprefix('/api/v1')} deep (offset)",
                    "page",
                    who,
                    lambda c, path=path, params=params, offset=offset: c.get(
                        path, params={**params, "offset": offset}
                    ),
                    note=f"offset {offset:,} of {total:,}",
                )

    def stats(self, who: str) -> None:
        if self.wanted("stats") and self.has("/api/v1/stats"):
            self.time("GET /stats", "aggregate", who, lambda c: c.get("/api/v1/stats"))

    def campaign(self, who: str, campaign_id: int | None) -> None:
        if campaign_id is None or not self.wanted("campaign"):
            return
        path = f"/api/v1/campaigns/{campaign_id}/progress"
        self.time("GET campaign progress", "aggregate", who, lambda c: c.get(path))
        for template in (
            "/api/v1/campaigns/{campaign_id}/missing",
            "/api/v1/campaigns/{campaign_id}/progress/missing",
        ):
            if self.has(template):
                missing = template.format(campaign_id=campaign_id)
                self.time(
                    "GET campaign missing page 1",
                    "page",
                    who,
                    lambda c, missing=missing: c.get(missing, params={"limit": 50}),
                )

    def make_campaign(self) -> int | None:
        if not self.wanted("campaign"):
            return None
        today = datetime.now(UTC).date()
        response = self.client("admin").post(
            "/api/v1/campaigns",
            json={
                "name": "压测集中巡查",
                "starts_on": (today - timedelta(days=30)).isoformat(),
                "ends_on": (today + timedelta(days=10)).isoformat(),
            },
        )
        if response.status_code != 201:
            print(f"    campaign not created: {response.status_code} {response.text[:200]}")
            return None
        return response.json()["id"]

    def annual(self) -> None:
        if not self.wanted("annual") or not self.has("/api/v1/reports/annual"):
            return
        year = datetime.now(UTC).year
        params = self.params_of("/api/v1/reports/annual")
        for who, kind, label in (
            ("county", "county-report", f"annual report {COUNTY}"),
            ("province", "province-report", f"annual report {PROVINCE}"),
        ):
            self.time(
                f"GET {label}",
                kind,
                who,
                lambda c: c.get("/api/v1/reports/annual", params={"year": year}),
            )
        if "division" in params:
            for division, kind in ((COUNTY, "county-report"), (PROVINCE, "province-report")):
                self.time(
                    f"GET annual report division={division}",
                    kind,
                    "admin",
                    lambda c, division=division: c.get(
                        "/api/v1/reports/annual", params={"year": year, "division": division}
                    ),
                )

    def jitter(self, box: tuple[float, float, float, float]) -> str:
        dx = self.rng.uniform(-1e-4, 1e-4)
        dy = self.rng.uniform(-1e-4, 1e-4)
        return ",".join(f"{v:.6f}" for v in (box[0] + dx, box[1] + dy, box[2] + dx, box[3] + dy))

    def maps(self, who: str) -> None:
        county = next(c for c in self.world.counties if c.code == COUNTY)
        if self.wanted("clusters"):
            if self.has("/api/v1/map/clusters"):
                for label, box, zoom in (
                    ("country", COUNTRY_BOX, 4),
                    (COUNTY, county.box, 11),
                ):
                    self.time(
                        f"GET clusters {label} z{zoom}",
                        "page",
                        who,
                        lambda c, box=box, zoom=zoom: c.get(
                            "/api/v1/map/clusters", params={"bbox": self.jitter(box), "zoom": zoom}
                        ),
                        note="box moved each request (no ETag cache)",
                    )
            else:
                print("    (no /api/v1/map/clusters: clusters skipped)")
        if self.wanted("feed") and self.has("/api/v1/map/facilities.geojson"):
            self.time(
                f"GET feed bbox {COUNTY}",
                "page",
                who,
                lambda c: c.get(
                    "/api/v1/map/facilities.geojson",
                    params={"bbox": self.jitter(county.box), "limit": 500},
                ),
                note="box moved each request",
            )

    def export_memory(self, pid: int) -> Result:
        """Stream the biggest CSV export as the admin; the server's peak RSS growth."""
        result = Result("export memory [admin]", "info")
        self.results.append(result)
        paths = [p for p in self.spec.get("paths", {}) if p.startswith("/api/v1/exports/")]
        csvs = [p for p in paths if p.endswith(".csv") and "{" not in p]
        if not csvs:
            result.error = "no CSV export"
            return result
        client = self.client("admin")
        best = None
        for path in csvs:
            pids = descendants(pid)
            clear = all(_clear_refs(p) for p in pids)
            before = sum(memory_kib(p, "VmRSS") for p in pids)
            started = time.perf_counter()
            size = 0
            with client.stream("GET", path) as response:
                for chunk in response.iter_raw():
                    size += len(chunk)
            seconds = time.perf_counter() - started
            peak = sum(memory_kib(p, "VmHWM") for p in descendants(pid))
            growth_mb = (peak - before) / 1024
            print(
                f"    {path}: {response.status_code}, {size / 2**20:.1f} MB on the wire"
                f" in {seconds:.1f} s, server memory +{growth_mb:.0f} MB"
                f"{'' if clear else ' (peak since start: clear_refs refused)'}",
                flush=True,
            )
            if response.status_code == 200 and (best is None or size > best[1]):
                best = (path, size, seconds, growth_mb)
        if best is None:
            result.error = "no export answered 200"
            return result
        path, size, seconds, growth_mb = best
        result.label = f"export {path.removeprefix('/api/v1/exports/')} [admin]"
        result.samples = [seconds]
        result.note = f"{size / 2**20:.1f} MB; memory +{growth_mb:.0f} MB"
        result.status = 200
        result.memory_mb = growth_mb
        return result


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pids: list[int]) -> float:
    """utime + stime of ``pids`` (fields 14 and 15 of /proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / CLOCK_TICKS


def backends(name: str) -> list[int]:
    """The client backends connected to database ``name`` (the server's pool)."""
    with psycopg.connect(PG_SERVER, autocommit=True) as connection:
        rows = connection.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s"
            " AND backend_type = 'client backend'",
            (name,),
        ).fetchall()
    return [pid for (pid,) in rows]


def _clear_refs(pid: int) -> bool:
    """Reset the process's peak RSS (VmHWM) to its current RSS (Linux 4.0+)."""
    try:
        Path(f"/proc/{pid}/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def measure(name: str, world: World, args: argparse.Namespace) -> tuple[list[Result], float]:
    data_dir = Path(tempfile.mkdtemp(prefix="mp_scale_"))
    port = free_port()
    server = subprocess.Popen(
        [
            str(MEMORIAL),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(args.workers),
        ],
        env=server_env(name, data_dir),
        stdout=subprocess.DEVNULL,
        stderr=open(data_dir / "server.log", "w"),  # noqa: SIM115
    )
    base = f"http://127.0.0.1:{port}"
    bench = Bench(base, world, args.runs, args.warmups, args.slow_runs, set(args.only or ()))
    bench.cpu_pids = lambda: descendants(server.pid) + backends(name)
    memory = math.nan
    try:
        with httpx.Client(base_url=base, timeout=300) as probe:
            for _ in range(600):
                try:
                    if probe.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                time.sleep(0.1)
            else:
                raise SystemExit("the server did not start: see " + str(data_dir / "server.log"))
            bench.spec = probe.get("/openapi.json").json()
        if bench.wanted("export"):
            export = bench.export_memory(server.pid)
            memory = export.memory_mb
        campaign_id = bench.make_campaign()
        if bench.wanted("me"):
            bench.time(
                "GET /me (floor: the machine's noise)",
                "info",
                "admin",
                lambda c: c.get("/api/v1/me"),
            )
        for who in ("province", "admin"):
            print(f"    timing as the {who} user", flush=True)
            bench.list_pages(who)
            bench.stats(who)
            bench.campaign(who, campaign_id)
            bench.maps(who)
        print("    timing the annual reports", flush=True)
        bench.annual()
    finally:
        bench.close()
        server.terminate()
        try:
            server.wait(30)
        except subprocess.TimeoutExpired:
            server.kill()
    return bench.results, memory


# --- printing and verdicts ---------------------------------------------------------------


def verdict(result: Result) -> str:
    if result.error:
        return "ERROR"
    if result.kind == "page":
        return "ok" if result.p95_ms <= PAGE_P95_MS else "MISS"
    if result.kind == "county-report":
        return "ok" if result.p95_ms <= COUNTY_REPORT_S * 1000 else "MISS"
    if result.kind == "province-report":
        return "ok" if result.p95_ms <= PROVINCE_REPORT_S * 1000 else "MISS"
    return ""


def print_table(size: int, world: World, results: list[Result]) -> int:
    misses = 0
    print()
    print(
        f"{size:,} facilities, {size * INSPECTIONS_PER_FACILITY:,} inspections; province"
        f" {PROVINCE}: {world.facilities_in.get(PROVINCE, 0):,} sites, county {COUNTY}:"
        f" {world.facilities_in.get(COUNTY, 0):,}; "
        + (f"loaded in {world.load_s:.0f} s" if world.load_s else "a kept database")
    )
    print(f"{'endpoint':<52} {'median':>10} {'p95':>10} {'n':>3} {'CPU/req':>10}  verdict  note")
    for r in results:
        mark = verdict(r)
        misses += mark in ("MISS", "ERROR")
        if r.error or not r.samples:
            print(
                f"{r.label:<52} {'':>10} {'':>10} {'':>3} {'':>10}  {mark:<7}  {r.error or r.note}"
            )
            continue
        cpu = "" if math.isnan(r.cpu_ms) else f"{r.cpu_ms:7.1f} ms"
        print(
            f"{r.label:<52} {r.median_ms:>7.1f} ms {r.p95_ms:>7.1f} ms {len(r.samples):>3}"
            f" {cpu:>10}  {mark:<7}  {r.note}"
        )
    return misses


def compare(small: int, large: int, runs: dict[int, list[Result]], memory: dict[int, float]) -> int:
    misses = 0
    print()
    print(f"{large:,} against {small:,} (median ratio; target {RATIO:g}x for paged answers)")
    before = {r.label: r for r in runs[small]}
    for r in runs[large]:
        old = before.get(r.label)
        if old is None or r.error or old.error or not old.samples or not r.samples:
            continue
        if r.kind == "info":
            continue
        ratio = r.median_ms / old.median_ms
        mark = ""
        if r.kind == "page":
            mark = "ok" if ratio <= RATIO else "MISS"
            misses += mark == "MISS"
        cpu = r.cpu_ms / old.cpu_ms if old.cpu_ms > 0 else math.nan
        print(
            f"{r.label:<52} {old.median_ms:>8.1f} -> {r.median_ms:>8.1f} ms"
            f" {ratio:>6.2f}x  p95 {old.p95_ms:>7.1f} -> {r.p95_ms:>7.1f}"
            f"  CPU {old.cpu_ms:>7.1f} -> {r.cpu_ms:>7.1f} ({cpu:.2f}x)  {mark}"
        )
    if not math.isnan(memory.get(small, math.nan)) and not math.isnan(memory.get(large, math.nan)):
        flat = memory[large] <= max(MEMORY_FLOOR_MB, MEMORY_FLAT_RATIO * memory[small])
        misses += not flat
        print(
            f"{'export memory growth':<52} {memory[small]:>8.0f} -> {memory[large]:>8.0f} MB"
            f"  {'flat' if flat else 'MISS (not flat)'}"
        )
    return misses


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(s) for s in text.split(",")],
        default=[100_000, 1_000_000],
        help="comma-separated facility counts",
    )
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmups", type=int, default=3)
    parser.add_argument("--slow-runs", type=int, default=5, help="runs of an answer over 2 s")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument(
        "--inspections-by",
        choices=("sql", "copy"),
        default="sql",
        help="make the inspections in the database (INSERT ... SELECT) or COPY them from here",
    )
    parser.add_argument("--keep", action="store_true", help="keep the databases")
    parser.add_argument(
        "--reuse", action="store_true", help="measure a kept database instead of loading anew"
    )
    parser.add_argument(
        "--load-only", action="store_true", help="load and keep the databases; measure nothing"
    )
    parser.add_argument(
        "--results",
        type=Path,
        default=Path(tempfile.gettempdir()),
        help="folder for each size's figures (mp_scale_SIZE.json); a size measured by an"
        " earlier run is compared from there when this run measures only the other",
    )
    parser.add_argument(
        "--only",
        type=lambda text: text.split(","),
        help="only these (prefixes): facilities, inspections, overdue, maintenance, ledger,"
        " allocations, audit, townships, users, campaign, stats, annual, clusters, feed, export",
    )
    args = parser.parse_args()

    print(
        f"Memorial Patrol scale bench, {date.today().isoformat()}, PostgreSQL,"
        f" {args.runs} runs after {args.warmups} warm-ups (median, p95), {args.workers} worker(s)",
        flush=True,
    )
    runs: dict[int, list[Result]] = {}
    memory: dict[int, float] = {}
    misses = 0
    for size in args.sizes:
        name = f"mp_scale_{size}"
        print(f"  {size:,} facilities in {name}", flush=True)
        data_dir = Path(tempfile.mkdtemp(prefix="mp_scale_"))
        try:
            if args.reuse and database_exists(name):
                migrate(name, data_dir)
                world = rebuild_world(name, size)
                print("    reusing the kept database", flush=True)
            else:
                create_database(name)
                migrate(name, data_dir)
                world = populate(name, size, seed=size, inspections_by=args.inspections_by)
                print(f"    loaded in {world.load_s:.0f} s", flush=True)
            if args.load_only:
                continue
            migrate(name, data_dir)  # whatever revision landed while it loaded
            runs[size], memory[size] = measure(name, world, args)
        finally:
            if not args.keep and not args.load_only:
                drop_database(name)
        misses += print_table(size, world, runs[size])
        saved = args.results / f"mp_scale_{size}.json"
        saved.write_text(
            json.dumps(
                {
                    "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    "memory_mb": memory[size],
                    "results": [asdict(r) for r in runs[size]],
                }
            )
        )
        print(f"  figures saved to {saved}")
    if args.load_only:
        return
    for size in (100_000, 1_000_000):  # the other size, from an earlier run
        saved = args.results / f"mp_scale_{size}.json"
        if size not in runs and len(runs) == 1 and saved.exists():
            data = json.loads(saved.read_text())
            runs[size] = [Result(**r) for r in data["results"]]
            memory[size] = data["memory_mb"]
            print(f"  {size:,}: figures of {data['measured_at']} from {saved}")
    if len(runs) >= 2:
        misses += compare(min(runs), max(runs), runs, memory)
    print()
    print(f"{misses} miss(es)" if misses else "every target met")
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
