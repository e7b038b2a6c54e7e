"""Benchmark: the annual report by SQL aggregate, at 2,000 and 20,000 facilities.

For each database (SQLite always; PostgreSQL when it answers) and each size, build a fresh
database: two counties of one city (Qinshui 140521 and Yangcheng 140522, seven townships
each), N facilities dealt over the fourteen townships, 20 inspections each over the last
~400 days (a tenth with a checklist problem or damage), and time, in process:

- the annual report of the latest year for a county user (140521) and a city user (1405),
  median of several runs (``app.reports.annual.annual_report``);
- for comparison, what the report did before issue 12: pull every counted inspection of
  the year (its facility, condition and checklist) into Python to find the problems.

Issue 12 measured the old report at 0.7 s (2,000) and 7.6 s (20,000) on SQLite; its
targets at a million sites are a county's report at most 1 s and a province's at most 10 s
(``bench/scale.py`` measures those). Prints figures; asserts nothing.

    .venv/bin/python bench/annual.py [--sizes 2000 20000] [--runs 5] [--no-postgres]
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from app import migrate
from app.config import Settings
from app.db import make_engine
from app.models import (
    ChecklistAnswer,
    Condition,
    County,
    Facility,
    Inspection,
    ReviewStatus,
    Role,
    Tier,
    Township,
    User,
)
from app.reports import annual

POSTGRES_SERVER = os.environ.get(
    "MEMORIAL_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)
SECRET = "bench-secret-key-long-enough-for-hs256"
INSPECTIONS_PER_FACILITY = 20
TZ_OFFSET = timedelta(hours=8)
COUNTIES = (("140521", "沁水县"), ("140522", "阳城县"))
DAMAGED = (Condition.needs_repair, Condition.severely_damaged, Condition.missing)


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


def populate(url: str, size: int, rng: random.Random) -> None:
    migrate.upgrade(Settings(database_url=url, secret_key=SECRET))
    engine = make_engine(url)
    now = datetime.now(UTC)
    started = time.perf_counter()
    with engine.begin() as connection:
        stamps = {"created_at": now, "updated_at": now}
        connection.execute(
            insert(County),
            [
                {"code": c, "name": n, "timezone": "Asia/Shanghai"} | stamps for c, n in COUNTIES
            ],  # fmt: skip
        )
        county_ids = dict(connection.execute(select(County.code, County.id)).all())
        connection.execute(
            insert(Township),
            [
                {"code": f"{code}{100 + i:03d}", "name": f"乡镇{code[-2:]}{i}",
                 "county_id": county_ids[code]} | stamps
                for code, _ in COUNTIES
                for i in range(7)
            ],
        )  # fmt: skip
        township_ids = [r[0] for r in connection.execute(select(Township.id).order_by(Township.id))]
        connection.execute(
            insert(User),
            [
                {"username": username, "full_name": "压测", "role": Role.county,
                 "division_code": division, "password_hash": "-", "is_active": True,
                 "tokens_valid_after": now - timedelta(days=1)} | stamps
                for username, division in (("county", "140521"), ("city", "1405"))
            ],
        )  # fmt: skip
        user_id = connection.execute(select(User.id).limit(1)).scalar_one()
        facilities: list[dict] = []
        inspections: list[dict] = []
        for n in range(1, size + 1):
            tier = rng.choice(list(Tier))
            township_id = township_ids[n % len(township_ids)]
            lon, lat = 112.2 + rng.uniform(0, 0.3), 35.6 + rng.uniform(0, 0.3)
            visits = sorted(
                now - timedelta(days=rng.uniform(0, 400)) for _ in range(INSPECTIONS_PER_FACILITY)
            )
            last_on = (visits[-1] + TZ_OFFSET).date()
            facilities.append(
                {"id": n, "code": f"B-{n:07d}", "name": f"压测设施{n}", "kind": "grave",
                 "tier": tier, "status": "active" if n % 50 else "archived",
                 "township_id": township_id, "longitude": lon, "latitude": lat,
                 "source_crs": "wgs84", "source_longitude": lon, "source_latitude": lat,
                 "martyrs": [], "martyr_names": "",
                 "registered_on": now.date() - timedelta(days=rng.randint(30, 3000)),
                 "last_inspected_at": visits[-1], "last_inspected_on": last_on,
                 "last_condition": "good", "next_due_on": last_on + timedelta(days=90)} | stamps
            )  # fmt: skip
            for visit in visits:
                problem = rng.random() < 0.1
                on_site = rng.random() < 0.9
                inspections.append(
                    {"client_id": uuid.UUID(int=rng.getrandbits(128)), "facility_id": n,
                     "township_id": township_id, "inspector_id": user_id,
                     "inspected_at": visit, "inspected_on": (visit + TZ_OFFSET).date(),
                     "received_at": visit,
                     "condition": rng.choice(DAMAGED) if problem and rng.random() < 0.5 else "good",
                     "checklist": {"marker_sign": "ok",
                                   "headstone": ChecklistAnswer.problem.value if problem else "ok"},
                     "longitude": lon, "latitude": lat, "accuracy_m": 8.0, "source_crs": "wgs84",
                     "source_longitude": lon, "source_latitude": lat,
                     "distance_m": 3.0 if on_site else 900.0, "on_site": on_site, "flags": [],
                     "review_status": rng.choice(["accepted"] * 8 + ["submitted", "rejected"]),
                     "receipt": "BNCH-0000", "payload_sha256": "0" * 64}
                )  # fmt: skip
            if len(inspections) >= 50_000:
                connection.execute(insert(Facility), facilities)
                connection.execute(insert(Inspection), inspections)
                facilities, inspections = [], []
        if facilities:
            connection.execute(insert(Facility), facilities)
            connection.execute(insert(Inspection), inspections)
    vacuum = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(vacuum))
    engine.dispose()
    print(f"    populated in {time.perf_counter() - started:.0f} s", flush=True)


def old_problem_loop(session: Session, year: int) -> int:
    """Before issue 12: every counted report of the year into Python, to find problems."""
    rows = session.execute(
        select(Inspection.facility_id, Inspection.condition, Inspection.checklist).where(
            Inspection.review_status != ReviewStatus.rejected,
            Inspection.inspected_on.between(date(year, 1, 1), date(year, 12, 31)),
        )
    ).all()
    return len(
        [f for f, c, checklist in rows if c in DAMAGED or "problem" in (checklist or {}).values()]
    )


def timed(runs: int, work: Callable[[], object]) -> tuple[float, object]:
    samples, result = [], None
    for _ in range(runs):
        started = time.perf_counter()
        result = work()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000, result


def measure(url: str, runs: int) -> None:
    engine = make_engine(url)
    year = datetime.now(UTC).year
    with Session(engine) as session:
        users = {u.username: u for u in session.execute(select(User)).scalars()}
        for who in ("county", "city"):
            user = users[who]
            ms, report = timed(
                runs,
                lambda user=user: annual.annual_report(session=session, user=user, year=year),
            )
            print(
                f"    annual report, {who} ({users[who].division_code}): {ms:8.1f} ms median"
                f"  ({report.patrols.total:,} patrols, {report.problems.reports_with_problems:,}"  # type: ignore[attr-defined]
                " with problems)",
                flush=True,
            )
        ms, problems = timed(runs, lambda: old_problem_loop(session, year))
        print(
            f"    before: the year's reports into Python (problems only): {ms:8.1f} ms", flush=True
        )
    engine.dispose()


def postgres_available() -> bool:
    try:
        engine = make_engine(POSTGRES_SERVER)
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:  # no server: SQLite only
        return False


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 20000])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()
    kinds = ["sqlite"] + ([] if args.no_postgres or not postgres_available() else ["postgresql"])
    for kind in kinds:
        for size in args.sizes:
            print(
                f"{kind}, {size:,} facilities, {size * INSPECTIONS_PER_FACILITY:,} reports",
                flush=True,
            )
            with database(kind) as url:
                populate(url, size, random.Random(size))
                measure(url, args.runs)


if __name__ == "__main__":
    main()
