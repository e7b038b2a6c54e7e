"""Load bench: 50 users submitting reports and reading lists against uvicorn with 2 workers.

For each database (SQLite always; PostgreSQL when it answers), build a fresh database of
N facilities (20 inspections each) with a county user and one inspector per township,
start ``memorial serve --workers 2`` on loopback, and measure over HTTP/1.1 keep-alive:

1. **CPU per request**, one endpoint at a time (``GET /healthz``, ``POST
   /api/v1/inspections``, ``GET /api/v1/facilities`` with 50 rows, ``GET
   /api/v1/overdue`` with 50 rows): the server processes' CPU time (utime + stime from
   ``/proc/PID/stat`` of the supervisor and its workers, before and after) divided by
   the requests answered, beside the rate and p50/p99;
2. **the mix**: 50 users for 60 s, each a loop of mostly reports with list reads between
   (8 reports : 1 facilities page : 1 overdue page by default): requests/s, p50/p99 and
   errors per endpoint, and CPU ms per request for the whole mix;
3. **``/healthz`` during the feed**: two clients download the whole map feed
   (``/api/v1/map/facilities.geojson``, gzip) back to back, every other download after a
   facility edit so that the feed is rebuilt, not served from its cache, while a prober
   asks ``/healthz`` every 20 ms: its p50/p99.

Targets (issue #11) on this 2-core machine: at least 300 reports/s, p99 at most 100 ms
and no errors in the mix; ``/healthz`` p99 under 20 ms during the feed download; a report
and a list page each under 5 ms of server CPU. Prints figures; asserts nothing.

The load generator. Locust was the issue's suggestion; its users run on gevent with
``requests`` (or ``geventhttpclient`` for FastHttpUser), and cost about a millisecond of
CPU per request — on a 2-core machine shared with the server that is a large part of
what is measured, and it is one more heavy dependency for a bench run by hand. This bench
instead drives each user as an asyncio task speaking minimal HTTP/1.1 over its own
keep-alive connection (request line and headers written by hand, ``Content-Length`` or
chunked bodies read back), which costs a small fraction of that. It still runs on the
same two cores as the server: its own CPU time (``resource.getrusage``) is measured and
printed per request beside the server's, so the reader sees how much of the machine it
took. Latencies include any time the client waited for the CPU.

    .venv/bin/python bench/load.py [--size 5000] [--seconds 60] [--cpu-seconds 10]
        [--feed-seconds 20] [--users 50] [--workers 2] [--no-postgres] [--no-sqlite]
        [--only cpu,mix,feed]
"""

import argparse
import asyncio
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from sqlalchemy import insert, text

from app.config import Settings
from app.db import make_engine
from app.models import Role, User
from app.security import create_access_token, hash_password

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feed import FEED, free_port
from overdue import SECRET, database, populate, postgres_available

MEMORIAL = Path(sys.executable).with_name("memorial")
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")

REPORT = "POST /api/v1/inspections"
FACILITIES = "GET /api/v1/facilities"
OVERDUE = "GET /api/v1/overdue"
HEALTHZ = "GET /healthz"
ENDPOINTS = (HEALTHZ, REPORT, FACILITIES, OVERDUE)

TARGET_REPORTS_PER_S = 300
TARGET_P99_MS = 100
TARGET_HEALTHZ_P99_MS = 20
TARGET_CPU_MS = 5


# --- a minimal HTTP/1.1 keep-alive client -------------------------------------------------


class HttpError(Exception):
    pass


class Connection:
    """One keep-alive connection; ``request`` answers (status, body bytes)."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(
            self.host, self.port, limit=1 << 20
        )

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, headers: dict[str, str], body: bytes = b""
    ) -> tuple[int, bytes]:
        if self.writer is None:
            await self._open()
        assert self.reader is not None and self.writer is not None
        lines = [f"{method} {path} HTTP/1.1", f"Host: {self.host}:{self.port}"]
        lines += [f"{k}: {v}" for k, v in headers.items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        try:
            head = await self.reader.readuntil(b"\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError) as error:
            self.close()
            raise HttpError(f"connection lost: {error!r}") from error
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        status = int(status_line.split(" ", 2)[1])
        length, chunked, close = None, False, False
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value.lower():
                chunked = True
            elif name == "connection" and value.strip().lower() == "close":
                close = True
        if chunked:
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                parts.append(await self.reader.readexactly(size + 2))
                if size == 0:
                    break
            payload = b"".join(p[:-2] for p in parts)
        else:
            payload = await self.reader.readexactly(length or 0)
        if close:
            self.close()
        return status, payload


# --- measuring ---------------------------------------------------------------------------


def descendants(pid: int) -> list[int]:
    """``pid`` and every process below it (uvicorn's supervisor and its workers)."""
    children: dict[int, list[int]] = defaultdict(list)
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children[ppid].append(int(entry))
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo += children.get(current, [])
    return found


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


def own_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def percentile(samples: list[float], share: float) -> float:
    if not samples:
        return float("nan")
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@dataclass
class Tally:
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    errors: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    examples: dict[str, str] = field(default_factory=dict)

    def add(self, endpoint: str, seconds: float, ok: bool, what: str = "") -> None:
        if ok:
            self.latencies[endpoint].append(seconds)
        else:
            self.errors[endpoint] += 1
            self.examples.setdefault(endpoint, what[:200])

    def count(self, endpoint: str | None = None) -> int:
        names = [endpoint] if endpoint else list(self.latencies.keys() | self.errors.keys())
        return sum(len(self.latencies[n]) + self.errors[n] for n in names)


# --- the world the users act in ----------------------------------------------------------


@dataclass
class World:
    base_host: str
    port: int
    county_token: str
    #: per township: (inspector token, facility ids that take reports, with their points)
    townships: list[tuple[str, list[tuple[int, float, float]]]]


def add_users(url: str) -> dict[int, int]:
    """One inspector per township; answers {township id: user id}."""
    engine = make_engine(url)
    now = datetime.now(UTC)
    password = hash_password("bench-password")
    with engine.begin() as connection:
        township_ids = [r[0] for r in connection.execute(text("SELECT id FROM townships"))]
        connection.execute(
            insert(User),
            [
                {
                    "username": f"inspector{t}",
                    "full_name": f"巡查员{t}",
                    "role": Role.township,
                    "township_id": t,
                    "password_hash": password,
                    "is_active": True,
                    "tokens_valid_after": now - timedelta(days=1),
                    "created_at": now,
                    "updated_at": now,
                }
                for t in township_ids
            ],
        )
        rows = connection.execute(text("SELECT township_id, id FROM users WHERE township_id > 0"))
        users = {t: u for t, u in rows}
    engine.dispose()
    return users


def build_world(url: str, port: int, settings: Settings) -> World:
    inspectors = add_users(url)
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(
            text(
                "SELECT id, township_id, longitude, latitude FROM facilities"
                " WHERE status = 'active' ORDER BY id"
            )
        ).all()
    engine.dispose()
    sites: dict[int, list[tuple[int, float, float]]] = defaultdict(list)
    for facility_id, township_id, lon, lat in rows:
        sites[township_id].append((facility_id, lon, lat))
    key = settings.signing_key()

    def token(user_id: int) -> str:
        return create_access_token(user_id=user_id, key=key, ttl=timedelta(hours=3))

    return World(
        base_host="127.0.0.1",
        port=port,
        county_token=token(1),
        townships=[(token(u), sites[t]) for t, u in sorted(inspectors.items())],
    )


def report_body(site: tuple[int, float, float], rng: random.Random) -> bytes:
    facility_id, lon, lat = site
    return json.dumps(
        {
            "client_id": str(uuid.uuid4()),
            "facility_id": facility_id,
            "inspected_at": datetime.now(UTC).isoformat(),
            "condition": "good",
            "checklist": {"marker_sign": "ok", "headstone": "ok"},
            "notes": "例行巡查",
            "position": {
                "longitude": lon + rng.uniform(-0.0001, 0.0001),
                "latitude": lat + rng.uniform(-0.0001, 0.0001),
                "accuracy_m": 8,
            },
        }
    ).encode()


# --- the users ---------------------------------------------------------------------------


async def call(
    connection: Connection,
    tally: Tally,
    endpoint: str,
    path: str,
    headers: dict[str, str],
    body: bytes = b"",
    expect: int = 200,
) -> None:
    method = endpoint.split(" ", 1)[0]
    started = time.perf_counter()
    try:
        status, payload = await asyncio.wait_for(
            connection.request(method, path, headers, body), timeout=30
        )
    except (HttpError, OSError, TimeoutError) as error:
        connection.close()
        tally.add(endpoint, time.perf_counter() - started, False, repr(error))
        return
    elapsed = time.perf_counter() - started
    tally.add(endpoint, elapsed, status == expect, f"{status} {payload[:150]!r}")


async def user(
    number: int,
    world: World,
    tally: Tally,
    deadline: float,
    plan: list[str],
) -> None:
    """One user: walks ``plan`` (endpoints) round and round until ``deadline``."""
    rng = random.Random(number)
    token, sites = world.townships[number % len(world.townships)]
    headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}
    post = headers | {"Content-Type": "application/json"}
    connection = Connection(world.base_host, world.port)
    step = number  # users start at different places of the plan
    try:
        while time.perf_counter() < deadline:
            endpoint = plan[step % len(plan)]
            step += 1
            if endpoint == REPORT:
                body = report_body(rng.choice(sites), rng)
                await call(connection, tally, REPORT, "/api/v1/inspections", post, body, 201)
            elif endpoint == FACILITIES:
                offset = rng.randrange(0, max(1, len(sites) - 50))
                path = f"/api/v1/facilities?limit=50&offset={offset}"
                await call(connection, tally, FACILITIES, path, headers)
            elif endpoint == OVERDUE:
                await call(connection, tally, OVERDUE, "/api/v1/overdue?limit=50", headers)
            else:
                await call(connection, tally, HEALTHZ, "/healthz", {})
    finally:
        connection.close()


@dataclass
class Run:
    seconds: float
    tally: Tally
    server_cpu_s: float
    client_cpu_s: float


async def run_users(
    world: World, server_pids: list[int], users: int, seconds: float, plan: list[str]
) -> Run:
    tally = Tally()
    cpu_before, own_before = cpu_seconds(server_pids), own_cpu_seconds()
    started = time.perf_counter()
    deadline = started + seconds
    await asyncio.gather(*(user(n, world, tally, deadline, plan) for n in range(users)))
    elapsed = time.perf_counter() - started
    return Run(
        seconds=elapsed,
        tally=tally,
        server_cpu_s=cpu_seconds(server_pids) - cpu_before,
        client_cpu_s=own_cpu_seconds() - own_before,
    )


async def feed_and_healthz(world: World, seconds: float) -> tuple[Tally, int]:
    """Two clients download the whole feed (half after an edit); a prober asks /healthz."""
    tally = Tally()
    deadline = time.perf_counter() + seconds
    county = {"Authorization": f"Bearer {world.county_token}", "Accept-Encoding": "gzip"}
    edit = county | {"Content-Type": "application/json"}
    downloads = 0

    async def downloader(number: int) -> None:
        nonlocal downloads
        connection = Connection(world.base_host, world.port)
        run = 0
        while time.perf_counter() < deadline:
            if run % 2 == 0:
                facility_id = world.townships[0][1][(number * 1000 + run) % 50][0]
                body = json.dumps({"description": f"压测 {number} {run}"}).encode()
                path = f"/api/v1/facilities/{facility_id}"
                await call(connection, tally, "PATCH /api/v1/facilities/{id}", path, edit, body)
            await call(connection, tally, f"GET {FEED}", FEED, county)
            downloads += 1
            run += 1
        connection.close()

    async def prober() -> None:
        connection = Connection(world.base_host, world.port)
        while time.perf_counter() < deadline:
            await call(connection, tally, HEALTHZ, "/healthz", {})
            await asyncio.sleep(0.02)
        connection.close()

    await asyncio.gather(downloader(0), downloader(1), prober())
    return tally, downloads


# --- the server --------------------------------------------------------------------------


def start_server(url: str, port: int, workers: int) -> subprocess.Popen[bytes]:
    data_dir = Path(tempfile.mkdtemp())
    env = os.environ | {
        "MEMORIAL_DATABASE_URL": url,
        "MEMORIAL_SECRET_KEY": SECRET,
        "MEMORIAL_DATA_DIR": str(data_dir),
        "MEMORIAL_ENV": "development",
    }
    server = subprocess.Popen(
        [
            str(MEMORIAL),
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return server


async def wait_ready(world: World, workers: int) -> None:
    connection = Connection(world.base_host, world.port)
    for _ in range(600):
        try:
            status, _ = await connection.request("GET", "/healthz", {})
            if status == 200:
                break
        except (HttpError, OSError):
            connection.close()
        await asyncio.sleep(0.1)
    connection.close()
    await asyncio.sleep(1.0 if workers > 1 else 0.2)  # the other workers finish starting


# --- printing ----------------------------------------------------------------------------


def ms(seconds: float) -> str:
    return f"{seconds * 1000:7.1f}"


def print_run(title: str, run: Run, endpoints: list[str]) -> None:
    total = run.tally.count()
    print(f"    {title}: {total:,} requests in {run.seconds:.1f} s ({total / run.seconds:,.0f}/s)")
    for endpoint in endpoints:
        samples = run.tally.latencies[endpoint]
        errors = run.tally.errors[endpoint]
        count = len(samples) + errors
        if not count:
            continue
        print(
            f"      {endpoint:<26} {count / run.seconds:7.1f}/s"
            f"  p50 {ms(percentile(samples, 0.5))} ms"
            f"  p99 {ms(percentile(samples, 0.99))} ms  errors {errors}"
        )
        if errors:
            print(f"        first error: {run.tally.examples[endpoint]}")
    if total:
        print(
            f"      server CPU {run.server_cpu_s * 1000 / total:6.2f} ms/request,"
            f" load generator CPU {run.client_cpu_s * 1000 / total:6.2f} ms/request"
            f" ({run.server_cpu_s / run.seconds:.2f} and {run.client_cpu_s / run.seconds:.2f}"
            " cores)"
        )


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


# --- main --------------------------------------------------------------------------------


def measure(kind: str, args: argparse.Namespace) -> dict[str, object]:
    results: dict[str, object] = {}
    with database(kind) as url:
        populate(url, args.size, random.Random(args.size))
        port = free_port()
        settings = Settings(database_url=url, secret_key=SECRET)
        world = build_world(url, port, settings)
        server = start_server(url, port, args.workers)
        try:
            asyncio.run(wait_ready(world, args.workers))
            pids = descendants(server.pid)
            print(f"    server processes {pids}", flush=True)

            def run(seconds: float, plan: list[str]) -> Run:
                return asyncio.run(run_users(world, pids, args.users, seconds, plan))

            if "cpu" in args.only:
                run(2, [REPORT, FACILITIES, OVERDUE])  # warm up every worker and pool
                for endpoint in ENDPOINTS:
                    result = run(args.cpu_seconds, [endpoint])
                    print_run(f"only {endpoint}", result, [endpoint])
                    results[f"cpu {endpoint}"] = result
            if "mix" in args.only:
                plan = [REPORT] * args.reports + [FACILITIES] * args.lists + [OVERDUE] * args.lists
                result = run(args.seconds, plan)
                print_run(f"mix, {args.users} users", result, [REPORT, FACILITIES, OVERDUE])
                results["mix"] = result
            if "feed" in args.only:
                tally, downloads = asyncio.run(feed_and_healthz(world, args.feed_seconds))
                probes = tally.latencies[HEALTHZ]
                print(
                    f"    feed: {downloads} downloads in {args.feed_seconds:.0f} s,"
                    f" /healthz p50 {ms(percentile(probes, 0.5))} ms"
                    f" p99 {ms(percentile(probes, 0.99))} ms"
                    f" over {len(probes)} probes, errors {sum(tally.errors.values())}",
                    flush=True,
                )
                results["feed"] = tally
        finally:
            server.terminate()
            server.wait(30)
    return results


def summary(kind: str, results: dict[str, object]) -> None:
    for endpoint in (REPORT, FACILITIES, OVERDUE):
        run = results.get(f"cpu {endpoint}")
        if isinstance(run, Run) and run.tally.count():
            cpu = run.server_cpu_s * 1000 / run.tally.count()
            print(
                f"{kind}: {endpoint} {cpu:.2f} ms server CPU"
                f" ({verdict(cpu < TARGET_CPU_MS)} < {TARGET_CPU_MS} ms)"
            )
    mix = results.get("mix")
    if isinstance(mix, Run):
        reports = mix.tally.count(REPORT) / mix.seconds
        worst = max(percentile(s, 0.99) for s in mix.tally.latencies.values()) * 1000
        errors = sum(mix.tally.errors.values())
        print(
            f"{kind}: {reports:.0f} reports/s ({verdict(reports >= TARGET_REPORTS_PER_S)}"
            f" >= {TARGET_REPORTS_PER_S}/s)"
        )
        print(
            f"{kind}: worst p99 {worst:.1f} ms ({verdict(worst <= TARGET_P99_MS)}"
            f" <= {TARGET_P99_MS} ms)"
        )
        print(f"{kind}: {errors} errors ({verdict(errors == 0)} none)")
    feed = results.get("feed")
    if isinstance(feed, Tally):
        p99 = percentile(feed.latencies[HEALTHZ], 0.99) * 1000
        print(
            f"{kind}: /healthz p99 {p99:.1f} ms during the feed"
            f" ({verdict(p99 < TARGET_HEALTHZ_P99_MS)} < {TARGET_HEALTHZ_P99_MS} ms)"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=5_000, help="facilities")
    parser.add_argument("--users", type=int, default=50)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=60, help="the mix")
    parser.add_argument("--cpu-seconds", type=float, default=10, help="each CPU phase")
    parser.add_argument("--feed-seconds", type=float, default=20)
    parser.add_argument("--reports", type=int, default=8, help="reports in a user's loop")
    parser.add_argument("--lists", type=int, default=1, help="of each list in a user's loop")
    parser.add_argument("--only", default="cpu,mix,feed", type=lambda s: set(s.split(",")))
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    args = parser.parse_args()

    kinds = [] if args.no_sqlite else ["sqlite"]
    if not args.no_postgres and postgres_available():
        kinds.append("postgresql")
    print(
        f"Memorial Patrol load bench, {date.today().isoformat()}, {os.cpu_count()} cores,"
        f" {args.workers} workers, {args.users} users, {args.size:,} facilities"
    )
    results = {}
    for kind in kinds:
        print(f"  {kind}", flush=True)
        results[kind] = measure(kind, args)
    print()
    for kind, found in results.items():
        summary(kind, found)


if __name__ == "__main__":
    main()
