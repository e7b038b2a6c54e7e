"""Benchmark: the spreadsheet importer, a province's registry in one file (issue 12).

Generates an N-row facility spreadsheet (default 50,000 rows; CSV and XLSX) with its own
generator, then for each database (SQLite always; PostgreSQL when it answers, in a database
made and dropped here) and each format, in a fresh database with the reference data
(``seed.load`` without samples), times ``importer.import_file`` end to end (reading the
file, checking every row, writing, committing):

- the first import: every row a new facility;
- the same file again with every name changed: every row an update.

Then checks that every row arrived and the audit chain verifies. Target: 5,000 rows/s or
better for each import; the script exits 1 when one is slower (the figures are printed
either way; the tests never time anything). Each line also gives the CPU seconds the
importing process spent and the machine's load average: on a shared machine the wall
clock says more about the neighbours than about the importer.

    .venv/bin/python bench/importer.py [--rows 50000] [--formats csv xlsx] [--no-postgres]
"""

import argparse
import csv
import os
import random
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import date, timedelta
from pathlib import Path

import shapely
from openpyxl import Workbook
from sqlalchemy import func, select, text
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app import migrate, seed
from app.audit import chain
from app.config import DEFAULT_COUNTY_BOUNDARY, SEED_DIR, Settings
from app.db import make_engine
from app.facilities import importer
from app.geo.outline import load_outline
from app.models import AuditEntry, Facility

POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-long-enough-for-hs256"
TARGET = 5_000  # rows per second
HEADER = [
    *("编号", "名称", "类型", "保护级别", "状态", "乡镇", "村", "地址", "经度", "纬度"),
    *("坐标系", "烈士", "管护人", "管护人电话", "建成年份", "简介", "登记日期"),
]
KINDS = ["烈士墓", "烈士墓", "烈士墓", "纪念碑", "烈士陵园", "纪念亭", "碑刻"]
TIERS = ["未定级"] * 6 + ["县级"] * 3 + ["市级", "省级", "国家级"]


def generate(rows: int, *, seed_value: int = 12, rename: bool = False) -> list[list[object]]:
    """``rows`` facility rows as a county clerk fills them in: township by code or by name,
    coordinates inside the county, martyrs, dates written several ways.
    With ``rename``, the same rows with every name changed (an update of each)."""
    rng = random.Random(seed_value)
    county = load_outline(DEFAULT_COUNTY_BOUNDARY)
    min_lon, min_lat, max_lon, max_lat = county.bbox
    points: list[tuple[float, float]] = []
    while len(points) < rows:  # random points of the box, those inside the outline kept
        lons = [rng.uniform(min_lon, max_lon) for _ in range(rows)]
        lats = [rng.uniform(min_lat, max_lat) for _ in range(rows)]
        inside = shapely.contains_xy(county.geometry, lons, lats).tolist()
        points += [(x, y) for x, y, yes in zip(lons, lats, inside, strict=True) if yes]
    with (SEED_DIR / "townships.csv").open(encoding="utf-8") as handle:
        townships = [(row["code"], row["name"]) for row in csv.DictReader(handle)]
    today = date.today()
    table: list[list[object]] = []
    for n in range(1, rows + 1):
        lon, lat = points[n - 1]
        code, name = rng.choice(townships)
        registered = today - timedelta(days=rng.randint(30, 5000))
        written = (
            registered.isoformat(),
            registered.strftime("%Y/%m/%d"),
            f"{registered.year}年{registered.month}月{registered.day}日",
        )[n % 3]
        martyrs = "；".join(f"烈士{n}-{i}（排长）" for i in range(n % 3))
        table.append(
            [
                f"P-{n:07d}",
                f"{'改名' if rename else ''}纪念设施{n}",
                rng.choice(KINDS),
                rng.choice(TIERS),
                "正常",
                code if n % 4 else name,
                f"村{n % 97}",
                f"{name}村{n % 97}号",
                f"{lon:.6f}",
                f"{lat:.6f}",
                "" if n % 5 else "WGS84",
                martyrs,
                f"管护人{n % 1000}",
                f"138{n:08d}",
                1900 + n % 120,
                "",
                written,
            ]
        )
    return table


def write(path: Path, table: list[list[object]]) -> Path:
    if path.suffix == ".csv":
        with path.open("w", encoding="utf-8-sig", newline="") as handle:
            writer = csv.writer(handle)
            writer.writerow(HEADER)
            writer.writerows(table)
    else:
        book = Workbook(write_only=True)
        sheet = book.create_sheet()
        sheet.append(HEADER)
        for row in table:
            sheet.append(row)
        book.save(path)
    return path


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


def postgres_available() -> bool:
    try:
        engine = make_engine(POSTGRES_SERVER)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except Exception:
        return False


def timed_import(settings: Settings, engine: object, path: Path) -> tuple[float, float, object]:
    """Seconds of wall clock and of this process's CPU, and the result."""
    with Session(engine) as session:  # type: ignore[arg-type]
        started, cpu = time.perf_counter(), time.process_time()
        result = importer.import_file(session=session, settings=settings, actor=None, path=path)
        return time.perf_counter() - started, time.process_time() - cpu, result


def run(kind: str, files: dict[str, tuple[Path, Path]], rows: int) -> dict[str, list[float]]:
    """rows/s of the first import and of the update, per format, in fresh databases."""
    figures: dict[str, list[float]] = {}
    for fmt, (first, again) in files.items():
        with database(kind) as url, tempfile.TemporaryDirectory() as folder:
            settings = Settings(database_url=url, secret_key=SECRET, data_dir=Path(folder))
            migrate.upgrade(settings)
            engine = make_engine(url)
            with Session(engine) as session:
                seed.load(session=session, settings=settings, samples=False)
                session.commit()
            speeds = []
            for label, path, expect in (("new", first, "created"), ("update", again, "updated")):
                seconds, cpu, result = timed_import(settings, engine, path)
                count = getattr(result, expect)
                assert result.written and count == rows, (label, result.errors[:5], count)
                speeds.append(rows / seconds)
                print(
                    f"  {kind:<10} {fmt:<4} {label:<6} {rows:>7,} rows in {seconds:6.2f} s:"
                    f" {rows / seconds:>8,.0f} rows/s ({cpu:.2f} s CPU in this process;"
                    f" load average {os.getloadavg()[0]:.1f})",
                    flush=True,
                )
            with engine.connect() as connection:
                stored = connection.execute(select(func.count()).select_from(Facility)).scalar()
                audited = connection.execute(select(func.count()).select_from(AuditEntry)).scalar()
            verified = chain.verify_database(engine)
            assert stored == rows and verified.intact, (stored, verified.broken)
            print(
                f"  {kind:<10} {fmt:<4} {stored:,} facilities, {audited:,} audit entries,"
                " chain intact"
            )
            engine.dispose()
            figures[fmt] = speeds
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=50_000)
    parser.add_argument("--formats", nargs="+", choices=["csv", "xlsx"], default=["csv", "xlsx"])
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    kinds = ["sqlite"]
    if not args.no_postgres and postgres_available():
        kinds.append("postgresql")
    print(f"Memorial Patrol importer bench, {date.today().isoformat()}, {args.rows:,} rows")
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        first, again = generate(args.rows), generate(args.rows, rename=True)
        files = {
            fmt: (
                write(Path(folder) / f"registry.{fmt}", first),
                write(Path(folder) / f"renamed.{fmt}", again),
            )
            for fmt in args.formats
        }
        print(f"  generated in {time.perf_counter() - started:.0f} s", flush=True)
        results = {kind: run(kind, files, args.rows) for kind in kinds}

    print()
    slow = []
    for kind, per_format in results.items():
        for fmt, (new, updated) in per_format.items():
            for label, speed in (("new", new), ("update", updated)):
                verdict = "meets" if speed >= TARGET else "MISSES"
                print(f"{kind} {fmt} {label}: {speed:,.0f} rows/s ({verdict} {TARGET:,} rows/s)")
                if speed < TARGET:
                    slow.append(f"{kind} {fmt} {label}")
    if slow:
        print(f"under {TARGET:,} rows/s: {', '.join(slow)}")
        sys.exit(1)


if __name__ == "__main__":
    main()
