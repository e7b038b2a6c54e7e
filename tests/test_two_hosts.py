"""Two app hosts, one deployment: nothing one process keeps is needed by another.

Two ``memorial serve`` processes on different ports (and data directories of their own)
serve the same PostgreSQL database and the same object store (moto on loopback,
``tests/s3.py``). A token signed in on one works on the other; a report and its photo sent
to one are read, bytes and all, from the other; a review made on the second is seen on the
first; and failed sign-ins count across both, so alternating hosts does not double the
attempts. PostgreSQL only: a SQLite file is one host by nature.
"""

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlmodel import select

from app.config import Settings
from app.db import Database
from app.models import User
from tests import s3
from tests.conftest import CLOCK_SHIFT, postgresql_only
from tests.factories import PASSWORD, World, report_body
from tests.photos.images import jpeg
from tests.s3 import S3Server

ROOT = Path(__file__).resolve().parents[1]
#: failed sign-ins for one name before it is locked, on both hosts
MAX_FAILURES = 4

s3_server = s3.s3_server  # the fixture: moto's S3 on loopback


def free_port() -> int:
    with socket.create_server(("127.0.0.1", 0)) as listening:
        return listening.getsockname()[1]


@contextmanager
def hosts(names: list[str], environment: dict[str, str], folder: Path) -> Iterator[list[str]]:
    """``memorial serve`` in a process of its own for each name, each on a free port and
    with a data directory of its own, started together; their base URLs."""
    processes: list[subprocess.Popen] = []
    urls = []
    with ExitStack() as logs:
        try:
            for name in names:
                port = free_port()
                (folder / name).mkdir()
                log = logs.enter_context((folder / f"{name}.log").open("wb"))
                processes.append(
                    subprocess.Popen(
                        [sys.executable, "-c", "from app.cli import main; main()", "serve"]
                        + ["--port", str(port)],
                        cwd=ROOT,
                        env=os.environ | environment | {"MEMORIAL_DATA_DIR": str(folder / name)},
                        stdout=log,
                        stderr=subprocess.STDOUT,
                    )
                )
                urls.append(f"http://127.0.0.1:{port}")
            for name, process, url in zip(names, processes, urls, strict=True):
                _wait_until_serving(name, process, url, folder)
            yield urls
        finally:
            for process in processes:
                process.terminate()
            for process in processes:
                try:
                    process.wait(15)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait(5)


def _wait_until_serving(name: str, process: subprocess.Popen, url: str, folder: Path) -> None:
    deadline = time.monotonic() + 120  # importing the app on a busy machine
    while True:
        assert process.poll() is None, (folder / f"{name}.log").read_text()[-3000:]
        try:
            if httpx.get(f"{url}/healthz", timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        assert time.monotonic() < deadline, f"{name} did not start within 120 s"
        time.sleep(0.1)


def sign_in(url: str, username: str, password: str = PASSWORD) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/auth/token",
        data={"username": username, "password": password},
        timeout=30,
    )


def bearer(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


@postgresql_only
def test_two_hosts_serve_one_deployment(
    settings: Settings, db: Database, world: World, s3_server: S3Server, tmp_path: Path
) -> None:
    # The hosts sign in by the real clock, this process's is moved forward (conftest): the
    # users' tokens count from well before either.
    with db.begin() as session:
        for user in session.exec(select(User)).all():
            user.tokens_valid_after = datetime(2000, 1, 1, tzinfo=UTC)
    environment = s3_server.environment | {
        "MEMORIAL_ENV": "development",
        "MEMORIAL_DATABASE_URL": settings.database_url,
        "MEMORIAL_SECRET_KEY": settings.secret_key,
        "MEMORIAL_PHOTO_STORE": s3_server.new_store_url(),
        "MEMORIAL_LOGIN_MAX_FAILURES": str(MAX_FAILURES),
    }
    with hosts(["one", "two"], environment, tmp_path) as (one, two):
        # signed in on one, the token works on two
        township = bearer(sign_in(one, "lg"))
        mine = httpx.get(f"{two}/api/v1/inspections", headers=township, timeout=30)
        assert mine.status_code == 200, mine.text

        # a report and its photo sent to one are read, with the photo's bytes, from two
        real_now = datetime.now(UTC) - CLOCK_SHIFT
        when = (real_now - timedelta(minutes=30)).isoformat()
        body = report_body(world.facility_a, inspected_at=when)
        report = httpx.post(f"{one}/api/v1/inspections", json=body, headers=township, timeout=30)
        assert report.status_code == 201, report.text
        report_id = report.json()["id"]
        photo = httpx.post(
            f"{one}/api/v1/inspections/{report_id}/photos",
            files={"file": ("p.jpg", jpeg(), "application/octet-stream")},
            headers=township,
            timeout=60,
        )
        assert photo.status_code == 201, photo.text
        seen = httpx.get(f"{two}/api/v1/inspections/{report_id}", headers=township, timeout=30)
        assert [p["id"] for p in seen.json()["photos"]] == [photo.json()["id"]]
        for link in ("url", "thumbnail_url"):
            on_one = httpx.get(one + photo.json()[link], headers=township, timeout=30)
            on_two = httpx.get(two + photo.json()[link], headers=township, timeout=30)
            assert on_two.status_code == 200, on_two.text
            assert on_two.content == on_one.content and len(on_two.content) > 100
            assert on_two.headers["etag"] == on_one.headers["etag"]

        # reviewed on two, seen on one
        county = bearer(sign_in(two, "clerk"))
        review = httpx.post(
            f"{two}/api/v1/inspections/{report_id}/review",
            json={"decision": "accepted"},
            headers=county,
            timeout=30,
        )
        assert review.status_code == 200, review.text
        after = httpx.get(f"{one}/api/v1/inspections/{report_id}", headers=county, timeout=30)
        assert after.json()["review_status"] == "accepted"

        # failed sign-ins count across both hosts: alternating does not double the attempts
        failures = [
            sign_in((one, two)[n % 2], "ds", "not the password").status_code
            for n in range(MAX_FAILURES)
        ]
        assert failures == [401] * MAX_FAILURES
        for url in (one, two):  # locked on both, even with the right password
            locked = sign_in(url, "ds")
            assert locked.status_code == 429, locked.text
            assert int(locked.headers["retry-after"]) > 0
