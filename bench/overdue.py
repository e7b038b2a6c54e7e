"""Benchmark: the overdue list and one patrol report, at 10,000 and 100,000 facilities.

For each database (SQLite always; PostgreSQL when it answers) and each size, build a fresh
database with N facilities and 20 inspections each, then time, through the real app:

- GET /api/v1/overdue (first page of 50), median of several runs;
- POST /api/v1/inspections (one new report), median of several runs.

Targets (issue #3): overdue at 100k within 2x of 10k and at most 50 ms median on SQLite;
one report at most 20 ms median. Prints figures; asserts nothing (the machine is shared).

    .venv/bin/python bench/overdue.py [--sizes 10000 100000] [--runs 40] [--no-postgres]
"""

import argparse
import random
import statistics
import tempfile
import time
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text
from sqlalchemy.engine import make_url

from app import migrate
from app.config import DEFAULT_COUNTY_BOUNDARY, Settings
from app.db import make_engine
from app.geo.outline import load_outline
from app.main import create_app
from app.models import (
    DEFAULT_INTERVAL_DAYS,
    Facility,
    Inspection,
    Role,
    Tier,
    Township,
    User,
)
from app.security import create_access_token, hash_password

POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
INSPECTIONS_PER_FACILITY = 20
TIERS = [Tier.unrated] * 6 + [Tier.county] * 3 + [Tier.municipal, Tier.provincial, Tier.national]
TZ_OFFSET = timedelta(hours=8)
SECRET = "bench-secret-key-long-enough-for-hs256"


@contextmanager
def database(kind: str) -> Iterator[str]:
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/bench.db"
        return
    name = f"memorial_bench_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_SERVER).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def point_in_county(rng: random.Random) -> tuple[float, float]:
    """A random point inside the county's outline (the service refuses others)."""
    county = load_outline(DEFAULT_COUNTY_BOUNDARY)
    min_lon, min_lat, max_lon, max_lat = county.bbox
    while True:
        lon, lat = rng.uniform(min_lon, max_lon), rng.uniform(min_lat, max_lat)
        if county.contains(lon, lat):
            return lon, lat


def populate(url: str, size: int, rng: random.Random) -> int:
    """Townships, one inspector, ``size`` facilities with 20 inspections each; returns user id."""
    migrate.upgrade(Settings(database_url=url, secret_key=SECRET))
    engine = make_engine(url)
    today = datetime.now(UTC).date()
    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as connection:
        townships = [
            {
                "code": f"140521{100 + i:03d}",
                "name": f"乡镇{i}",
                "created_at": now,
                "updated_at": now,
            }
            for i in range(14)
        ]
        connection.execute(insert(Township), townships)
        township_ids = [r[0] for r in connection.execute(text("SELECT id FROM townships"))]
        connection.execute(
            insert(User),
            [
                {
                    "username": "bench",
                    "full_name": "压测",
                    "role": Role.county,
                    "password_hash": hash_password("bench-password"),
                    "is_active": True,
                    "tokens_valid_after": now - timedelta(days=1),
                    "created_at": now,
                    "updated_at": now,
                }
            ],
        )
        user_id = connection.execute(text("SELECT id FROM users")).scalar_one()

        facilities, inspections = [], []
        for n in range(1, size + 1):
            tier = rng.choice(TIERS)
            registered = today - timedelta(days=rng.randint(400, 3000))
            # 20 visits over the last ~400 days; the latest decides the due date
            visits = sorted(
                now - timedelta(days=rng.uniform(0, 400), minutes=rng.randint(0, 600))
                for _ in range(INSPECTIONS_PER_FACILITY)
            )
            last = visits[-1]
            last_on = (last + TZ_OFFSET).date()
            lon, lat = point_in_county(rng)
            facilities.append(
                {
                    "id": n,
                    "code": f"B-{n:07d}",
                    "name": f"压测设施{n}",
                    "kind": "grave",
                    "tier": tier,
                    "status": "active" if n % 50 else "archived",
                    "township_id": township_ids[n % len(township_ids)],
                    "longitude": lon,
                    "latitude": lat,
                    "source_crs": "wgs84",
                    "source_longitude": lon,
                    "source_latitude": lat,
                    "martyrs": [],
                    "martyr_names": "",
                    "registered_on": registered,
                    "last_inspected_at": last,
                    "last_inspected_on": last_on,
                    "last_condition": "good",
                    "next_due_on": last_on + timedelta(days=DEFAULT_INTERVAL_DAYS[tier]),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            for visit in visits:
                client_id = uuid.UUID(int=rng.getrandbits(128))
                inspections.append(
                    {
                        "client_id": client_id,
                        "facility_id": n,
                        "township_id": facilities[-1]["township_id"],
                        "inspector_id": user_id,
                        "inspected_at": visit,
                        "inspected_on": (visit + TZ_OFFSET).date(),
                        "received_at": visit,
                        "condition": "good",
                        "checklist": {},
                        # a whole position, as the service stores one (the CHECK
                        # constraint ck_inspections_position_whole refuses less)
                        "longitude": lon,
                        "latitude": lat,
                        "accuracy_m": 8.0,
                        "source_crs": "wgs84",
                        "source_longitude": lon,
                        "source_latitude": lat,
                        "distance_m": 3.0,
                        "on_site": True,
                        "flags": [],
                        "review_status": "accepted",
                        "receipt": "BNCH-0000",
                        "payload_sha256": "0" * 64,
                    }
                )
            if len(inspections) >= 50_000:
                connection.execute(insert(Facility), facilities)
                connection.execute(insert(Inspection), inspections)
                facilities, inspections = [], []
        if facilities:
            connection.execute(insert(Facility), facilities)
            connection.execute(insert(Inspection), inspections)
        if engine.dialect.name == "postgresql":
            connection.execute(
                text("SELECT setval('facilities_id_seq', (SELECT max(id) FROM facilities))")
            )
    # What autovacuum leaves behind after a bulk load: statistics and a visibility map
    # (PostgreSQL counts the overdue rows from the index alone once pages are all-visible).
    vacuum = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(vacuum))
    engine.dispose()
    print(f"    populated in {time.perf_counter() - started:.0f} s", flush=True)
    return user_id


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def measure(url: str, size: int, runs: int, rng: random.Random) -> tuple[float, float, int]:
    with warnings.catch_warnings():  # Starlette nudges toward its httpx fork; httpx works
        warnings.simplefilter("ignore")
        from fastapi.testclient import TestClient

    folder = tempfile.mkdtemp()
    settings = Settings(
        database_url=url,
        data_dir=Path(folder),
        secret_key=SECRET,
    )
    app = create_app(settings)
    token = create_access_token(user_id=1, key=settings.signing_key(), ttl=timedelta(hours=1))
    headers = {"Authorization": f"Bearer {token}"}
    overdue_times, report_times = [], []
    with TestClient(app) as client:
        total = client.get("/api/v1/overdue", headers=headers).json()["total"]
        for _ in range(5):  # warm caches and the connection pool
            client.get("/api/v1/overdue", headers=headers)
        for _ in range(runs):
            started = time.perf_counter()
            response = client.get("/api/v1/overdue", params={"limit": 50}, headers=headers)
            overdue_times.append(time.perf_counter() - started)
            assert response.status_code == 200 and len(response.json()["items"]) == 50
        for _ in range(runs + 5):
            facility_id = rng.randint(1, size)
            while facility_id % 50 == 0:  # archived ones take no reports
                facility_id = rng.randint(1, size)
            body = {
                "client_id": str(uuid.uuid4()),
                "facility_id": facility_id,
                "inspected_at": datetime.now(UTC).isoformat(),
                "condition": "good",
                "checklist": {"marker_sign": "ok", "headstone": "ok"},
                "position": {"longitude": 112.3, "latitude": 35.7, "accuracy_m": 10},
            }
            started = time.perf_counter()
            response = client.post("/api/v1/inspections", json=body, headers=headers)
            report_times.append(time.perf_counter() - started)
            assert response.status_code == 201, response.text
    app.state.db.dispose()
    return median_ms(overdue_times), median_ms(report_times[5:]), total


def postgres_available() -> bool:
    try:
        engine = make_engine(POSTGRES_SERVER)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--runs", type=int, default=40)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    kinds = ["sqlite"]
    if not args.no_postgres and postgres_available():
        kinds.append("postgresql")
    results: dict[tuple[str, int], tuple[float, float, int]] = {}
    print(f"Memorial Patrol bench, {date.today().isoformat()}, {args.runs} runs each (medians)")
    for kind in kinds:
        for size in args.sizes:
            print(
                f"  {kind}, {size:,} facilities × {INSPECTIONS_PER_FACILITY} inspections",
                flush=True,
            )
            rng = random.Random(size)
            with database(kind) as url:
                populate(url, size, rng)
                results[(kind, size)] = measure(url, size, args.runs, rng)

    print()
    columns = ("database", "facilities", "overdue", "GET /overdue", "POST report")
    print("{:<11} {:>10} {:>9} {:>13} {:>12}".format(*columns))
    for (kind, size), (overdue_ms, report_ms, total) in results.items():
        print(f"{kind:<11} {size:>10,} {total:>9,} {overdue_ms:>10.1f} ms {report_ms:>9.1f} ms")
    print()
    small, large = min(args.sizes), max(args.sizes)
    for kind in kinds:
        if (kind, small) in results and (kind, large) in results and small != large:
            ratio = results[(kind, large)][0] / results[(kind, small)][0]
            verdict = "meets" if ratio <= 2 else "MISSES"
            print(f"{kind}: overdue at {large:,} is {ratio:.2f}x of {small:,} ({verdict} 2x)")
    for (kind, size), (overdue_ms, report_ms, _total) in results.items():
        if kind == "sqlite":
            verdict = "meets" if overdue_ms <= 50 else "MISSES"
            print(f"sqlite {size:,}: overdue {overdue_ms:.1f} ms ({verdict} the 50 ms target)")
        verdict = "meets" if report_ms <= 20 else "MISSES"
        print(f"{kind} {size:,}: one report {report_ms:.1f} ms ({verdict} the 20 ms target)")


if __name__ == "__main__":
    main()
