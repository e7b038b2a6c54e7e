"""Crash test: reports, photos and allocations sent while the server is killed (SIGKILL)
every few seconds and started again. Nothing acknowledged may be lost, nothing doubled.

For each database (SQLite, and PostgreSQL when it answers): a fresh database with two
townships and a facility each; `uvicorn app.main:create_app` on loopback, killed with
SIGKILL after every 2–5 s of service and restarted at once. 8 clients send REPORTS
reports between them, each with its own `client_id` and then one photo of its own (a
small JPEG), retrying on any failure (no answer, 5xx) as the phone's outbox does; a ninth
client posts
fund allocations, retrying too, each with its own `client_id` (so a retry after a lost
answer is answered with the stored allocation, not stored again). At the end, with the
server up:

- exactly REPORTS inspections, no `client_id` twice, each with exactly one photo;
- every report and photo a client saw acknowledged is stored (same id, same client_id);
- every photo's uploaded SHA-256 is the one the client computed, and the served file's
  bytes hash to the content address it is stored under;
- per township and year, the ledger's sum equals the account's available balance and
  the allocations' sum its allocated total;
- the allocations stored are exactly those acknowledged (same id, same `client_id`),
  none twice.

Prints the counts; exits 1 on any miss.

    .venv/bin/python bench/crash.py [--reports 2000] [--no-postgres] [--no-sqlite]
"""

import argparse
import faulthandler
import hashlib
import io
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from PIL import Image
from sqlalchemy import text
from sqlalchemy.engine import make_url

from app import migrate
from app.config import Settings
from app.db import Database, make_engine
from app.security import create_access_token

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.factories import make_world, report_body

POSTGRES_SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = "bench-secret-key-long-enough-for-hs256"
CLIENTS = 8


@contextmanager
def database(kind: str, folder: Path) -> Iterator[str]:
    if kind == "sqlite":
        yield f"sqlite:///{folder}/crash.db"
        return
    name = f"memorial_crash_{uuid.uuid4().hex[:10]}"
    admin = make_engine(POSTGRES_SERVER).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_SERVER).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """uvicorn in a subprocess, killed and started again by ``kill_every``."""

    def __init__(self, env: dict[str, str], port: int, log: Path) -> None:
        self.env, self.port, self.log = env, port, log
        self.process: subprocess.Popen | None = None
        self.kills = 0
        self._stop = threading.Event()

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "app.main:create_app",
                "--factory",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--no-access-log",
            ],
            env=self.env,
            stdout=self.log.open("ab"),
            stderr=subprocess.STDOUT,
        )

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 180
        with httpx.Client(timeout=2) as client:
            while time.monotonic() < deadline:
                try:
                    if client.get(f"http://127.0.0.1:{self.port}/readyz").status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.1)
        raise RuntimeError(f"the server did not start: {self.log.read_text()[-2000:]}")

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait()
            self.kills += 1

    def kill_every(self, low: float, high: float, rng: random.Random) -> None:
        """Kill after ``low``–``high`` s of service, start again, wait until it serves."""
        while not self._stop.wait(rng.uniform(low, high)):
            self.kill()
            self.start()
            self.wait_ready()

    def stop_killing(self) -> None:
        self._stop.set()


@dataclass
class Tally:
    reports: dict[str, int] = field(default_factory=dict)  # client_id -> id acknowledged
    photos: dict[int, tuple[int, str]] = field(default_factory=dict)  # report -> photo, sha
    allocations: dict[str, int] = field(default_factory=dict)  # client_id -> id acknowledged
    allocation_refusals: list[str] = field(default_factory=list)
    attempts: int = 0
    failures: int = 0
    statuses: dict[int, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)


def send(client: httpx.Client, tally: Tally, method: str, url: str, **kwargs) -> httpx.Response:
    """Send until the server answers something other than a 5xx (as the phone's outbox)."""
    while True:
        with tally.lock:
            tally.attempts += 1
        try:
            response = client.request(method, url, **kwargs)
        except httpx.HTTPError:
            with tally.lock:
                tally.failures += 1
            time.sleep(0.2)
            continue
        with tally.lock:
            tally.statuses[response.status_code] = tally.statuses.get(response.status_code, 0) + 1
        if response.status_code < 500:
            return response
        time.sleep(0.2)


def photo(n: int) -> bytes:
    """A small JPEG of its own (its number drawn in its pixels)."""
    image = Image.new("RGB", (64, 48), (n % 256, (n // 256) % 256, 90))
    image.putpixel((0, 0), (n % 7, n % 11, n % 13))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90)
    return out.getvalue()


def reporter(
    base: str, headers: dict, facility, numbers: range, tally: Tally, errors: list[str]
) -> None:
    with httpx.Client(base_url=base, headers=headers, timeout=15) as client:
        for n in numbers:
            body = report_body(facility)
            answer = send(client, tally, "POST", "/api/v1/inspections", json=body)
            if answer.status_code not in (200, 201):
                errors.append(f"report {n}: {answer.status_code} {answer.text[:200]}")
                continue
            report_id = answer.json()["id"]
            with tally.lock:
                tally.reports[body["client_id"]] = report_id
            data = photo(n)
            answer = send(
                client,
                tally,
                "POST",
                f"/api/v1/inspections/{report_id}/photos",
                files={"file": ("p.jpg", data, "image/jpeg")},
            )
            if answer.status_code not in (200, 201):
                errors.append(f"photo {n}: {answer.status_code} {answer.text[:200]}")
                continue
            with tally.lock:
                tally.photos[report_id] = (answer.json()["id"], hashlib.sha256(data).hexdigest())


def allocator(
    base: str, headers: dict, townships: list[int], done: threading.Event, tally: Tally
) -> None:
    year = datetime.now(UTC).year
    with httpx.Client(base_url=base, headers=headers, timeout=15) as client:
        n = 0
        while not done.is_set():
            n += 1
            body = {
                "client_id": str(uuid.uuid4()),
                "township_id": townships[n % len(townships)],
                "year": year,
                "amount_fen": 100_00 * (1 + n % 50),
                "source": "county",
                "document_no": f"沁退役军人发〔{year}〕{n}号",
                "allocated_on": datetime.now(UTC).date().isoformat(),
            }
            answer = send(client, tally, "POST", "/api/v1/fund-allocations", json=body)
            with tally.lock:
                if answer.status_code in (200, 201):
                    tally.allocations[body["client_id"]] = answer.json()["id"]
                else:
                    tally.allocation_refusals.append(f"{answer.status_code} {answer.text[:200]}")
            time.sleep(0.05)


def verify(url: str, base: str, headers: dict, reports: int, tally: Tally) -> list[str]:
    """What was stored against what the clients saw acknowledged; the misses, if any."""
    misses: list[str] = []
    engine = make_engine(url)
    with engine.connect() as connection:
        rows = connection.execute(text("SELECT id, client_id FROM inspections")).all()
        photos = connection.execute(
            text("SELECT id, inspection_id, sha256, stored_key FROM photos")
        ).all()
        ledger = dict(
            connection.execute(
                text(
                    "SELECT township_id || '/' || year, SUM(amount_fen) FROM ledger_entries "
                    "GROUP BY township_id, year"
                )
            ).all()
        )
        allocated = dict(
            connection.execute(
                text(
                    "SELECT township_id || '/' || year, SUM(amount_fen) FROM fund_allocations "
                    "GROUP BY township_id, year"
                )
            ).all()
        )
        accounts = connection.execute(
            text(
                "SELECT township_id || '/' || year, allocated_fen, "
                "allocated_fen - committed_fen - spent_fen FROM fund_accounts"
            )
        ).all()
        stored_allocations = connection.execute(
            text("SELECT client_id, id FROM fund_allocations")
        ).all()
    engine.dispose()
    by_client = {str(uuid.UUID(str(c))): i for i, c in rows}
    print(f"  inspections stored:      {len(rows)} (expected {reports})")
    print(f"  distinct client_ids:     {len(by_client)}")
    print(f"  acknowledged reports:    {len(tally.reports)}")
    if len(rows) != reports:
        misses.append(f"{len(rows)} inspections, not {reports}")
    if len(by_client) != len(rows):
        misses.append(f"{len(rows) - len(by_client)} duplicate client_ids")
    lost = [c for c, i in tally.reports.items() if by_client.get(c) != i]
    print(f"  acknowledged but lost:   {len(lost)}")
    if lost:
        misses.append(f"{len(lost)} acknowledged reports not stored as acknowledged")
    per_report: dict[int, int] = {}
    for _, inspection_id, _, _ in photos:
        per_report[inspection_id] = per_report.get(inspection_id, 0) + 1
    print(f"  photos stored:           {len(photos)} (acknowledged {len(tally.photos)})")
    if len(photos) != reports or any(n != 1 for n in per_report.values()):
        misses.append(f"{len(photos)} photos over {len(per_report)} reports, not one each")
    stored = {inspection_id: (pid, sha, key) for pid, inspection_id, sha, key in photos}
    bad_sha = [
        r for r, (pid, sha) in tally.photos.items() if stored.get(r, (0, ""))[:2] != (pid, sha)
    ]
    if bad_sha:
        misses.append(f"{len(bad_sha)} acknowledged photos missing or with another SHA-256")
    corrupt = 0
    with httpx.Client(base_url=base, headers=headers, timeout=30) as client:
        for pid, _, _, key in photos:
            served = client.get(f"/api/v1/photos/{pid}")
            address = key.rsplit("/", 1)[-1].split(".")[0]
            if served.status_code != 200 or hashlib.sha256(served.content).hexdigest() != address:
                corrupt += 1
    print(f"  photos whose bytes match their SHA-256: {len(photos) - corrupt} of {len(photos)}")
    if corrupt:
        misses.append(f"{corrupt} photos whose served bytes do not hash to their address")
    unequal = [
        k
        for k, allocated_fen, available in accounts
        if ledger.get(k) != available or allocated.get(k) != allocated_fen
    ]
    print(
        f"  allocations stored:      {len(stored_allocations)} (acknowledged"
        f" {len(tally.allocations)}); accounts whose ledger sum ≠ balance:"
        f" {len(unequal)} of {len(accounts)}"
    )
    if unequal:
        misses.append(f"ledger and accounts disagree for {unequal}")
    allocation_by_client = {
        str(uuid.UUID(str(c))): i for c, i in stored_allocations if c is not None
    }
    not_acknowledged = len(stored_allocations) - len(tally.allocations)
    lost_allocations = [c for c, i in tally.allocations.items() if allocation_by_client.get(c) != i]
    print(
        f"  allocations stored but not acknowledged: {not_acknowledged};"
        f" acknowledged but lost: {len(lost_allocations)};"
        f" refused: {len(tally.allocation_refusals)}"
    )
    if len(allocation_by_client) != len(stored_allocations) or not_acknowledged != 0:
        misses.append(
            f"{len(stored_allocations)} allocations stored for {len(tally.allocations)}"
            " acknowledged"
        )
    if lost_allocations:
        misses.append(f"{len(lost_allocations)} acknowledged allocations not stored as such")
    misses += [f"allocation refused: {r}" for r in tally.allocation_refusals]
    return misses


def run(kind: str, reports: int, rng: random.Random) -> list[str]:
    with tempfile.TemporaryDirectory() as folder_name, database(kind, Path(folder_name)) as url:
        folder = Path(folder_name)
        settings = Settings(
            database_url=url, secret_key=SECRET, data_dir=folder, photo_dir=folder / "photos"
        )
        migrate.upgrade(settings)
        db = Database(settings)
        world = make_world(db, settings)
        db.dispose()

        def bearer(user_id: int) -> dict[str, str]:
            token = create_access_token(user_id=user_id, key=SECRET, ttl=timedelta(hours=6))
            return {"Authorization": f"Bearer {token}"}

        env = os.environ | {
            "MEMORIAL_DATABASE_URL": url,
            "MEMORIAL_SECRET_KEY": SECRET,
            "MEMORIAL_DATA_DIR": str(folder),
            "MEMORIAL_PHOTO_DIR": str(folder / "photos"),
        }
        port = free_port()
        server = Server(env, port, folder / "server.log")
        server.start()
        server.wait_ready()
        base = f"http://127.0.0.1:{port}"
        tally, errors = Tally(), []
        killer = threading.Thread(target=server.kill_every, args=(2.0, 5.0, rng), daemon=True)
        done = threading.Event()
        started = time.perf_counter()
        killer.start()
        clients = [
            threading.Thread(
                target=reporter,
                args=(
                    base,
                    bearer(world.township_user.id),
                    world.facility_a,
                    range(i, reports, CLIENTS),
                    tally,
                    errors,
                ),
            )
            for i in range(CLIENTS)
        ]
        funds = threading.Thread(
            target=allocator,
            args=(
                base,
                bearer(world.county.id),
                [world.township_a.id, world.township_b.id],
                done,
                tally,
            ),
        )
        for thread in [*clients, funds]:
            thread.start()
        while running := [thread for thread in clients if thread.is_alive()]:
            running[0].join(10)
            print(
                f"  … {len(tally.reports)} reports and {len(tally.photos)} photos acknowledged,"
                f" {server.kills} SIGKILLs",
                flush=True,
            )
        done.set()
        funds.join()
        server.stop_killing()
        killer.join()
        elapsed = time.perf_counter() - started
        server.wait_ready()
        print(
            f"{kind}: {reports} reports and photos in {elapsed:.0f} s through {server.kills}"
            f" SIGKILLs; {tally.attempts} requests, {tally.failures} without an answer,"
            f" answers {dict(sorted(tally.statuses.items()))}"
        )
        misses = errors + verify(url, base, bearer(world.county.id), reports, tally)
        server.kill()
        return [f"{kind}: {m}" for m in misses]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reports", type=int, default=2000)
    parser.add_argument("--no-postgres", action="store_true")
    parser.add_argument("--no-sqlite", action="store_true")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    faulthandler.register(signal.SIGUSR1)  # kill -USR1 <pid>: where every thread is
    rng = random.Random(args.seed)
    kinds = ([] if args.no_sqlite else ["sqlite"]) + ([] if args.no_postgres else ["postgresql"])
    misses: list[str] = []
    for kind in kinds:
        misses += run(kind, args.reports, rng)
    for miss in misses:
        print("MISS", miss)
    print("all held" if not misses else f"{len(misses)} misses")
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
