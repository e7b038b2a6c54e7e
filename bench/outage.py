"""Outage test: PostgreSQL stopped for 10 s under load, then started again.

A fresh PostgreSQL database, `uvicorn app.main:create_app` on loopback, and 8 clients
reading the registry and sending reports without pause while a ninth asks `/readyz`
twice a second. After a few seconds of normal service the machine's PostgreSQL cluster
is stopped (`pg_ctlcluster --skip-systemctl-redirect 15 main stop -m fast`), left down
for 10 s, and started again (in a ``finally``: it is started even if the bench fails).
The app is never restarted. It must hold:

- while the database is down (requests begun after the stop returned and before the start
  was asked for): every answer a 503 with `Retry-After`, `/readyz` a 503 that says why;
  at no time a 500, or a request hung past 10 s;
- once it is back: the app serves again by itself, every request of the last 5 s a 2xx.

Prints the answers per phase and the slowest request; exits 1 on a miss. This stops the
machine's shared PostgreSQL: run it alone.

    .venv/bin/python bench/outage.py [--down 10] [--clients 8]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import httpx

from app import migrate
from app.config import Settings
from app.db import Database
from app.security import create_access_token

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from bench.crash import SECRET, Server, database, free_port
from tests.factories import make_world, report_body

CLUSTER = ["pg_ctlcluster", "--skip-systemctl-redirect", "15", "main"]
HUNG_S = 10.0


@dataclass(frozen=True)
class Answer:
    started: float
    latency: float
    what: str
    status: int  # 0: no answer (a transport error)
    retry_after: bool
    reason: str | None = None


def load(base: str, headers: dict, facility, stop: threading.Event, out: list[Answer]) -> None:
    with httpx.Client(base_url=base, headers=headers, timeout=HUNG_S + 5) as client:
        n = 0
        while not stop.is_set():
            n += 1
            started = time.monotonic()
            what = "report" if n % 2 else "list"
            try:
                if what == "report":
                    response = client.post("/api/v1/inspections", json=report_body(facility))
                else:
                    response = client.get("/api/v1/facilities?limit=50")
                status, retry = response.status_code, "retry-after" in response.headers
            except httpx.HTTPError:
                status, retry = 0, False
            out.append(Answer(started, time.monotonic() - started, what, status, retry))
            if status != 201 and status != 200:
                time.sleep(0.1)


def ready(base: str, stop: threading.Event, out: list[Answer]) -> None:
    with httpx.Client(base_url=base, timeout=HUNG_S + 5) as client:
        while not stop.wait(0.5):
            started = time.monotonic()
            try:
                response = client.get("/readyz")
                status, reason = response.status_code, response.json().get("reason")
                retry = "retry-after" in response.headers
            except (httpx.HTTPError, ValueError):
                status, reason, retry = 0, None, False
            out.append(Answer(started, time.monotonic() - started, "readyz", status, retry, reason))


def cluster(action: str) -> None:
    extra = ["-m", "fast"] if action == "stop" else []
    subprocess.run([*CLUSTER, action, *extra], check=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--down", type=float, default=10.0, help="seconds the database is down")
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    misses: list[str] = []
    with tempfile.TemporaryDirectory() as name, database("postgresql", Path(name)) as url:
        folder = Path(name)
        settings = Settings(
            database_url=url, secret_key=SECRET, data_dir=folder, photo_dir=folder / "photos"
        )
        migrate.upgrade(settings)
        db = Database(settings)
        world = make_world(db, settings)
        db.dispose()
        token = create_access_token(
            user_id=world.township_user.id, key=SECRET, ttl=timedelta(hours=1)
        )
        env = os.environ | {
            "MEMORIAL_DATABASE_URL": url,
            "MEMORIAL_SECRET_KEY": SECRET,
            "MEMORIAL_DATA_DIR": str(folder),
        }
        port = free_port()
        server = Server(env, port, folder / "server.log")
        server.start()
        answers: list[Answer] = []
        stop = threading.Event()
        try:
            server.wait_ready()
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {token}"}
            threads = [
                threading.Thread(target=load, args=(base, headers, world.facility_a, stop, answers))
                for _ in range(args.clients)
            ]
            threads.append(threading.Thread(target=ready, args=(base, stop, answers)))
            for thread in threads:
                thread.start()
            time.sleep(5)
            stopped = time.monotonic()
            try:
                cluster("stop")
                down_from = time.monotonic()
                time.sleep(args.down)
            finally:
                restart_at = time.monotonic()
                cluster("start")  # whatever happened: the machine's PostgreSQL comes back
            started = time.monotonic()
            time.sleep(15)
            stop.set()
            for thread in threads:
                thread.join()
        finally:
            stop.set()
            server.kill()
            log = (folder / "server.log").read_text(errors="replace")
            if "Traceback" in log:
                first = log.index("Traceback")
                print("the server's first traceback:", log[first : first + 6000], sep="\n")
    phases = {
        "before": lambda a: a.started < stopped,
        "stopping": lambda a: stopped <= a.started < down_from,
        "down": lambda a: down_from <= a.started < restart_at,
        "starting": lambda a: restart_at <= a.started < started,
        "after, first 10 s": lambda a: started <= a.started < started + 10,
        "after, last 5 s": lambda a: a.started >= started + 10,
    }
    for phase, chosen in phases.items():
        picked = [a for a in answers if chosen(a)]
        counts = Counter((a.what, a.status) for a in picked)
        slowest = max((a.latency for a in picked), default=0)
        text = ", ".join(f"{w} {s or 'no answer'}: {n}" for (w, s), n in sorted(counts.items()))
        print(f"{phase:>18}: {len(picked)} requests, slowest {slowest:.2f} s; {text}")
    down = [a for a in answers if phases["down"](a)]
    reasons = Counter(a.reason for a in down if a.what == "readyz")
    print(f"{'/readyz said':>18}: {dict(reasons)}")
    slowest = max(a.latency for a in answers)
    print(f"{'slowest request':>18}: {slowest:.2f} s")
    if any(a.status == 500 or a.status == 0 for a in answers):
        misses.append("a 500 or a request without an answer")
    if slowest > HUNG_S:
        misses.append(f"a request hung {slowest:.1f} s")
    if any(a.status == 503 and not a.retry_after for a in answers):
        misses.append("a 503 without Retry-After")
    if not any(a.status == 503 for a in down if a.what != "readyz"):
        misses.append("no 503 while the database was down")
    if any(a.status != 503 for a in down):
        misses.append("an answer other than 503 while the database was down")
    if not any(a.what == "readyz" and a.status == 503 and a.reason for a in down):
        misses.append("/readyz did not say why while down")
    last = [a for a in answers if phases["after, last 5 s"](a)]
    if not last or any(a.status not in (200, 201) for a in last):
        misses.append("the app did not serve again by itself after the database returned")
    for miss in misses:
        print("MISS", miss)
    print("all held" if not misses else f"{len(misses)} misses")
    sys.exit(1 if misses else 0)


if __name__ == "__main__":
    main()
