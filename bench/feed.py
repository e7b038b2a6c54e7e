"""Benchmark: the map feed at 50,000 facilities, served by the real app under uvicorn.

For each database (SQLite always; PostgreSQL when it answers), build a fresh database of
N facilities spread over the county (every tier and status, 20 inspections each, a share
with open maintenance orders), start `memorial serve` on loopback, and measure over HTTP
with keep-alive and `Accept-Encoding: gzip`, as QGIS or a browser asks:

- the whole feed `GET /api/v1/map/facilities.geojson`, first request after a change (a
  facility edited just before) and again unchanged: median wall time, bytes on the wire
  and decoded;
- a revalidation with `If-None-Match` (304): median wall time;
- the first OGC API items page of 10,000 (`/ogc/collections/facilities/items`), after a
  change, so built rather than served from the feed's cache;
- the server's peak memory growth (VmHWM after the runs less VmRSS before the first feed).

Targets (issue #8) on this 2-core machine: whole feed at most 0.5 s median, a 304 at most
10 ms, memory growth at most 3x the payload. Prints figures; asserts nothing.

    .venv/bin/python bench/feed.py [--size 50000] [--runs 7] [--no-postgres]
"""

import argparse
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import insert, text

from app.config import Settings
from app.db import make_engine
from app.models import FacilityStatus, MaintenanceOrder
from app.security import create_access_token

sys.path.insert(0, str(Path(__file__).resolve().parent))
from overdue import SECRET, database, populate, postgres_available

FEED = "/api/v1/map/facilities.geojson"
ITEMS = "/ogc/collections/facilities/items"
MEMORIAL = Path(sys.executable).with_name("memorial")
#: one facility in 40 relocated, merged or archived; one in 8 with an open order
STATUSES = [FacilityStatus.relocated, FacilityStatus.merged, FacilityStatus.archived]


def vary(url: str, size: int, rng: random.Random) -> int:
    """Every status, and open maintenance orders; returns how many orders were opened."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    orders = []
    with engine.begin() as connection:
        for n, status in enumerate(STATUSES):
            connection.execute(
                text("UPDATE facilities SET status = :status WHERE id % 40 = :n"),
                {"status": status.value, "n": n + 1},
            )
        township_of = dict(connection.execute(text("SELECT id, township_id FROM facilities")).all())
        for facility_id in range(1, size + 1, 8):
            orders.append(
                {
                    "facility_id": facility_id,
                    "township_id": township_of[facility_id],
                    "category": "repair",
                    "title": f"修缮{facility_id}",
                    "planned_cost_fen": rng.randint(1, 50) * 10_000,
                    "status": rng.choice(["planned", "approved", "in_progress"]),
                    "year": now.year,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        connection.execute(insert(MaintenanceOrder), orders)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        analyze = "VACUUM ANALYZE" if engine.dialect.name == "postgresql" else "ANALYZE"
        connection.execute(text(analyze))
    engine.dispose()
    return len(orders)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memory_kib(pid: int, field: str) -> int:
    """A field of /proc/PID/status (VmRSS, VmHWM) in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


def median_s(samples: list[float]) -> float:
    return statistics.median(samples)


def measure(url: str, runs: int) -> dict[str, float]:
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
    server = subprocess.Popen(
        [str(MEMORIAL), "serve", "--host", "127.0.0.1", "--port", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    headers = {"Authorization": f"Bearer {token}", "Accept-Encoding": "gzip"}
    try:
        with httpx.Client(base_url=base, headers=headers, timeout=120) as client:
            for _ in range(300):
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.1)
            client.get("/api/v1/me").raise_for_status()
            rss_before = memory_kib(server.pid, "VmRSS")

            changed, unchanged, wire, decoded = [], [], 0, 0
            etag = ""
            for run in range(runs + 1):
                edit = client.patch(
                    f"/api/v1/facilities/{run + 1}", json={"description": f"压测修改 {run}"}
                )
                edit.raise_for_status()
                for samples in (changed, unchanged):
                    started = time.perf_counter()
                    with client.stream("GET", FEED) as response:
                        raw = b"".join(response.iter_raw())
                    samples.append(time.perf_counter() - started)
                    response.raise_for_status()
                    wire, etag = len(raw), response.headers["etag"]
                    decoded = len(httpx.Response(200, headers=response.headers, content=raw).read())
            changed, unchanged = changed[1:], unchanged[1:]  # the first warms the caches

            revalidations = []
            for _ in range(max(runs, 20)):
                started = time.perf_counter()
                response = client.get(FEED, headers={"If-None-Match": etag})
                revalidations.append(time.perf_counter() - started)
                assert response.status_code == 304, response.status_code

            pages = []  # each after a change, so each page is built, not served from cache
            for run in range(runs):
                client.patch(
                    f"/api/v1/facilities/{run + 1}", json={"description": f"压测 OGC {run}"}
                ).raise_for_status()
                started = time.perf_counter()
                response = client.get(ITEMS, params={"limit": 10_000})
                pages.append(time.perf_counter() - started)
                response.raise_for_status()
            returned = response.json()["numberReturned"]
            peak = memory_kib(server.pid, "VmHWM")
    finally:
        server.terminate()
        server.wait(30)
    return {
        "changed_s": median_s(changed),
        "unchanged_s": median_s(unchanged),
        "wire_bytes": wire,
        "decoded_bytes": decoded,
        "not_modified_ms": median_s(revalidations) * 1000,
        "items_s": median_s(pages),
        "items_returned": returned,
        "memory_growth_bytes": (peak - rss_before) * 1024,
    }


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=50_000)
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--no-postgres", action="store_true")
    args = parser.parse_args()

    kinds = ["sqlite"] + (["postgresql"] if not args.no_postgres and postgres_available() else [])
    print(f"Memorial Patrol feed bench, {date.today().isoformat()}, medians of {args.runs} runs")
    results = {}
    for kind in kinds:
        print(f"  {kind}, {args.size:,} facilities", flush=True)
        rng = random.Random(args.size)
        with database(kind) as url:
            populate(url, args.size, rng)
            orders = vary(url, args.size, rng)
            print(f"    {orders:,} open orders", flush=True)
            results[kind] = measure(url, args.runs)

    print()
    print(
        f"{'database':<11} {'feed, changed':>14} {'unchanged':>10} {'gzip':>9} {'json':>9}"
        f" {'304':>8} {'OGC 10k':>8} {'memory':>8}"
    )
    for kind, r in results.items():
        print(
            f"{kind:<11} {r['changed_s']:>12.3f} s {r['unchanged_s']:>8.3f} s"
            f" {r['wire_bytes'] / 2**20:>6.1f} MB {r['decoded_bytes'] / 2**20:>6.1f} MB"
            f" {r['not_modified_ms']:>5.1f} ms {r['items_s']:>6.3f} s"
            f" {r['memory_growth_bytes'] / 2**20:>5.0f} MB"
        )
    print()
    for kind, r in results.items():
        slowest = max(r["changed_s"], r["unchanged_s"])
        ratio = r["memory_growth_bytes"] / r["decoded_bytes"]
        for what, ok in (
            (f"whole feed {slowest:.3f} s (target 0.5 s)", slowest <= 0.5),
            (f"304 {r['not_modified_ms']:.1f} ms (target 10 ms)", r["not_modified_ms"] <= 10),
            (f"memory growth {ratio:.1f}x the payload (target 3x)", ratio <= 3),
        ):
            print(f"{kind}: {what}: {'meets' if ok else 'MISSES'}")


if __name__ == "__main__":
    main()
