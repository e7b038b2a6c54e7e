"""Benchmark: the overdue exports (CSV and XLSX) stream in constant memory, whatever the size.

For each size (default 20,000 and 200,000 facilities, every one of them overdue, so the
export holds them all), build a fresh database (PostgreSQL; SQLite with ``--sqlite``),
start `memorial serve` on loopback, warm it with a one-township export, then fetch
`GET /api/v1/exports/overdue.csv` and `.xlsx` over HTTP, reading the body as it comes and
keeping none of it. For each it prints the wall time, the size and the server's peak
memory growth: its VmHWM after the download less its VmRSS before (the peak is reset
before each download by writing 5 to /proc/PID/clear_refs).

Target (issue 12): the export's memory flat. Exits 1 if the larger size's growth is more
than twice the smaller's (growth under 16 MiB counts as 16 MiB: below that it is noise
of the allocator, not rows held).

    .venv/bin/python bench/exports.py [--sizes 20000 200000] [--sqlite]
"""

import argparse
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, select, text

from app import migrate
from app.config import Settings
from app.db import make_engine
from app.models import County, Facility, Role, Tier, Township, User
from app.security import create_access_token, hash_password

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feed import MEMORIAL, free_port, memory_kib
from overdue import SECRET, database, postgres_available

EXPORTS = ("/api/v1/exports/overdue.csv", "/api/v1/exports/overdue.xlsx")
COUNTY_CODE = "140521"
TOWNSHIPS = 14
#: growth below this is the allocator's noise, not rows held (see the docstring)
NOISE_FLOOR_KIB = 16 * 1024
TIERS = [Tier.unrated] * 6 + [Tier.county] * 3 + [Tier.municipal, Tier.provincial, Tier.national]
BATCH = 10_000


def populate(url: str, size: int, rng: random.Random) -> int:
    """One county, its townships, a county clerk and ``size`` overdue facilities; returns
    the first township's id."""
    migrate.upgrade(Settings(database_url=url, secret_key=SECRET))
    engine = make_engine(url)
    now = datetime.now(UTC)
    today = now.date()
    started = time.perf_counter()
    with engine.begin() as connection:
        county_id = connection.execute(
            select(County.id).where(County.code == COUNTY_CODE)
        ).scalar_one_or_none()
        if county_id is None:
            county_id = connection.execute(
                insert(County).returning(County.id),
                {"code": COUNTY_CODE, "name": "沁水县", "created_at": now, "updated_at": now},
            ).scalar_one()
        connection.execute(
            insert(Township),
            [
                {
                    "code": f"{COUNTY_CODE}{100 + i:03d}",
                    "name": f"乡镇{i}",
                    "county_id": county_id,
                    "created_at": now,
                    "updated_at": now,
                }
                for i in range(TOWNSHIPS)
            ],
        )
        township_ids = list(connection.execute(select(Township.id).order_by(Township.id)).scalars())
        connection.execute(
            insert(User),
            {
                "username": "bench",
                "full_name": "压测",
                "role": Role.county,
                "division_code": COUNTY_CODE,
                "password_hash": hash_password("bench-password"),
                "is_active": True,
                "tokens_valid_after": now - timedelta(days=1),
                "created_at": now,
                "updated_at": now,
            },
        )
        rows = []
        for n in range(1, size + 1):
            last = now - timedelta(days=rng.uniform(100, 800), minutes=rng.randint(0, 600))
            lon, lat = 112.0 + rng.random() * 0.6, 35.5 + rng.random() * 0.5
            rows.append(
                {
                    "code": f"E-{n:07d}",
                    "name": f"压测烈士墓{n}",
                    "kind": "grave",
                    "tier": rng.choice(TIERS),
                    "status": "active",
                    "township_id": township_ids[n % TOWNSHIPS],
                    "village": f"第{n % 300}村",
                    "longitude": lon,
                    "latitude": lat,
                    "source_crs": "wgs84",
                    "source_longitude": lon,
                    "source_latitude": lat,
                    "martyrs": [],
                    "martyr_names": "",
                    "custodian_name": f"管护人{n % 1000}",
                    "custodian_phone": f"138{n:08d}",
                    "registered_on": today - timedelta(days=3000),
                    "last_inspected_at": last,
                    "last_inspected_on": last.date(),
                    "last_condition": "good",
                    "next_due_on": today - timedelta(days=rng.randint(1, 400)),
                    "created_at": now,
                    "updated_at": now,
                }
            )
            if len(rows) == BATCH:
                connection.execute(insert(Facility), rows)
                rows = []
        if rows:
            connection.execute(insert(Facility), rows)
    analyze = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(text(analyze))
    engine.dispose()
    print(f"    populated in {time.perf_counter() - started:.0f} s", flush=True)
    return township_ids[0]


def reset_peak(pid: int) -> None:
    """VmHWM back to the current VmRSS (Linux 4.0+)."""
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def download(client: httpx.Client, path: str, params: dict[str, object]) -> tuple[float, int]:
    """Seconds and bytes of one export, read as it comes and thrown away."""
    started = time.perf_counter()
    size = 0
    with client.stream("GET", path, params=params) as response:
        response.raise_for_status()
        for chunk in response.iter_raw():
            size += len(chunk)
    return time.perf_counter() - started, size


def measure(url: str, township_id: int) -> dict[str, tuple[float, int, int]]:
    """Per export: seconds, bytes and the server's peak memory growth in KiB."""
    data_dir = Path(tempfile.mkdtemp())
    env = os.environ | {
        "MEMORIAL_DATABASE_URL": url,
        "MEMORIAL_SECRET_KEY": SECRET,
        "MEMORIAL_DATA_DIR": str(data_dir),
        "MEMORIAL_ENV": "development",
    }
    settings = Settings(database_url=url, secret_key=SECRET, data_dir=data_dir)
    token = create_access_token(user_id=1, key=settings.signing_key(), ttl=timedelta(hours=2))
    port = free_port()
    log = data_dir / "server.log"
    server = subprocess.Popen(
        [str(MEMORIAL), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=log.open("wb"),
    )
    results = {}
    try:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{port}",
            headers={"Authorization": f"Bearer {token}"},
            timeout=600,
        ) as client:
            deadline = time.monotonic() + 120  # a loaded machine starts it slowly
            while True:
                if server.poll() is not None:
                    sys.exit(f"memorial serve stopped:\n{log.read_text()[-3000:]}")
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.2)
            client.get("/api/v1/me").raise_for_status()
            for path in EXPORTS:  # load every module and warm the pool: one township, one tier
                download(client, path, {"township_id": township_id, "tier": "national"})
            for path in EXPORTS:
                before = memory_kib(server.pid, "VmRSS")
                reset_peak(server.pid)
                seconds, size = download(client, path, {})
                growth = memory_kib(server.pid, "VmHWM") - before
                results[path.rsplit(".", 1)[1]] = (seconds, size, growth)
    finally:
        server.terminate()
        server.wait(30)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs=2, default=[20_000, 200_000])
    parser.add_argument("--sqlite", action="store_true", help="SQLite instead of PostgreSQL")
    args = parser.parse_args()
    kind = "sqlite" if args.sqlite else "postgresql"
    if kind == "postgresql" and not postgres_available():
        sys.exit("PostgreSQL does not answer on 127.0.0.1:5432 (or run with --sqlite)")

    print(f"Memorial Patrol export bench, {date.today().isoformat()}, {kind}")
    results = {}
    for size in args.sizes:
        print(f"  {size:,} overdue facilities", flush=True)
        with database(kind) as url:
            township_id = populate(url, size, random.Random(size))
            results[size] = measure(url, township_id)

    print()
    print(f"{'export':<7} {'facilities':>10} {'time':>9} {'size':>9} {'peak memory growth':>19}")
    for size, by_format in results.items():
        for fmt, (seconds, nbytes, growth) in by_format.items():
            print(
                f"{fmt:<7} {size:>10,} {seconds:>7.2f} s {nbytes / 2**20:>6.1f} MB"
                f" {growth / 1024:>16.1f} MB"
            )
    print()
    small, large = args.sizes
    flat = True
    for fmt in results[small]:
        before, after = results[small][fmt][2], results[large][fmt][2]
        ratio = max(after, NOISE_FLOOR_KIB) / max(before, NOISE_FLOOR_KIB)
        ok = ratio <= 2
        flat = flat and ok
        print(
            f"{kind} {fmt}: memory growth {after / 1024:.1f} MB at {large:,} vs"
            f" {before / 1024:.1f} MB at {small:,} ({ratio:.2f}x with a 16 MB floor):"
            f" {'flat' if ok else 'GROWS'}"
        )
    sys.exit(0 if flat else 1)


if __name__ == "__main__":
    main()
