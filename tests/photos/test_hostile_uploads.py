"""Hostile photos cannot run a worker out of memory.

A 127 KiB PNG can declare 39.9 megapixels; decoded, that is 160 MiB of pixels. The stated
ceiling: the photos one worker process decodes at once hold at most
``MEMORIAL_PHOTO_DECODE_MEMORY_MB`` (512 MiB by default) between them (``app.photos.gate``).
The test sends 20 such uploads at once through the app in a subprocess of its own (so the
pytest process's earlier peak cannot hide anything, and Pillow's C allocations count: the
kernel's VmHWM sees them, tracemalloc would not) and checks that the worker's peak resident
memory grew by less than the ceiling, that every upload was answered 201 or 503 with
``Retry-After`` (never a 500), and that what was answered 201 is stored. Without the gate,
the 20 decodes run in 20 threads at once: about 3 GiB.
"""

import io
import json
import struct
import subprocess
import sys
import threading
import time
import zlib
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from sqlmodel import func, select

from app.config import Settings
from app.db import Database
from app.errors import ServiceUnavailable
from app.main import create_app
from app.models import Photo, User
from app.photos.gate import DecodeGate
from app.security import create_access_token
from tests.factories import World, report_body
from tests.photos.images import jpeg, png_header_only

ROOT = Path(__file__).resolve().parents[2]
UPLOADS = 20
SIZE = (7300, 5466)  # 39.9 megapixels, just under the 40 accepted
CEILING_MIB = Settings.model_fields["photo_decode_memory_mb"].default


def hostile_pngs(count: int) -> list[bytes]:
    """``count`` different PNGs of 39.9 megapixels of one flat colour, about 127 KiB each
    (a text chunk tells them apart, so none is the deduplicated copy of another)."""
    out = io.BytesIO()
    Image.new("RGB", SIZE, (120, 130, 140)).save(out, "PNG", compress_level=9)
    png = out.getvalue()
    end = png.rindex(b"IEND") - 4

    def text_chunk(n: int) -> bytes:
        data = b"Comment\x00" + str(n).encode()
        crc = zlib.crc32(b"tEXt" + data)
        return struct.pack(">I", len(data)) + b"tEXt" + data + struct.pack(">I", crc)

    return [png[:end] + text_chunk(n) + png[end:] for n in range(count)]


def test_twenty_hostile_uploads_at_once_stay_under_the_memory_ceiling(
    client: TestClient,
    world: World,
    settings: Settings,
    db: Database,
    tmp_path: Path,
    record_property,
) -> None:
    township = world.headers("township")
    reports = [
        client.post(
            "/api/v1/inspections", json=report_body(world.facility_a), headers=township
        ).json()["id"]
        for _ in range(3)  # at most 8 photos each
    ]
    files = []
    for n, data in enumerate(hostile_pngs(UPLOADS)):
        assert len(data) < 130 * 1024
        files.append(tmp_path / f"hostile-{n}.png")
        files[-1].write_bytes(data)
    # The subprocess signs in by its own clock, which may be behind this one (the suite
    # moves its clock forward): the user's tokens count from well before either.
    with db.begin() as session:
        user = session.get(User, world.township_user.id)
        assert user is not None
        user.tokens_valid_after = datetime(2000, 1, 1, tzinfo=UTC)
    job = tmp_path / "job.json"
    job.write_text(
        json.dumps(
            {
                "database_url": settings.database_url,
                "data_dir": str(settings.data_dir),
                "photo_dir": str(settings.photo_path),
                "secret_key": settings.secret_key,
                "user_id": world.township_user.id,
                "reports": reports,
                "files": [str(f) for f in files],
            }
        )
    )
    run = subprocess.run(
        [sys.executable, "-m", "tests.photos.test_hostile_uploads", str(job)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    result = json.loads(run.stdout.strip().splitlines()[-1])
    growth_mib = (result["hwm_after_kib"] - result["rss_before_kib"]) / 1024
    statuses = [answer["status"] for answer in result["answers"]]
    record_property(
        "figure",
        f"{UPLOADS} hostile 39.9 MP PNGs at once ({settings.database_url.split(':')[0]}):"
        f" peak RSS +{growth_mib:.0f} MiB (ceiling {CEILING_MIB} MiB);"
        f" {statuses.count(201)} stored, {statuses.count(503)} answered 503",
    )
    assert growth_mib < CEILING_MIB
    assert set(statuses) <= {201, 503}, result["answers"]
    assert statuses.count(201) >= 1
    assert all(a["retry_after"] for a in result["answers"] if a["status"] == 503)
    with db.session(write=False) as session:
        stored = session.exec(select(func.count()).select_from(Photo)).one()
    assert stored == statuses.count(201) + 1  # and the warm-up's photo


def _storm(job_file: str) -> None:
    """In the subprocess: the app with the default decode settings, one small upload to
    warm it up, then every hostile upload at once from its own thread (the first report
    takes the warm-up's photo and 7 hostile ones: 8, the most it holds)."""
    from app.main import create_app

    job = json.loads(Path(job_file).read_text())
    settings = Settings(
        env="development",
        data_dir=Path(job["data_dir"]),
        database_url=job["database_url"],
        secret_key=job["secret_key"],
        photo_dir=Path(job["photo_dir"]),
    )
    # signed in here, by this process's clock (the suite's may be moved forward)
    token = create_access_token(
        user_id=job["user_id"], key=settings.signing_key(), ttl=timedelta(hours=1)
    )
    headers = {"Authorization": f"Bearer {token}"}
    datas = [Path(f).read_bytes() for f in job["files"]]
    reports = job["reports"]
    answers: list[dict] = [{} for _ in datas]
    start = threading.Barrier(len(datas))

    def post(client: TestClient, report: int, data: bytes):
        return client.post(
            f"/api/v1/inspections/{report}/photos",
            files={"file": ("p.png", data, "application/octet-stream")},
            headers=headers,
        )

    def send(client: TestClient, n: int) -> None:
        start.wait()
        response = post(client, reports[n % len(reports)], datas[n])
        answers[n] = {
            "status": response.status_code,
            "retry_after": response.headers.get("retry-after"),
        }

    app = create_app(settings)
    with TestClient(app, raise_server_exceptions=False) as client:
        warm = post(client, reports[0], jpeg())
        assert warm.status_code == 201, warm.text
        Path("/proc/self/clear_refs").write_text("5")  # the peak starts again from here
        before = _status_kib("VmRSS")
        threads = [threading.Thread(target=send, args=(client, n)) for n in range(len(datas))]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        after = _status_kib("VmHWM")
    app.state.db.dispose()
    print(json.dumps({"rss_before_kib": before, "hwm_after_kib": after, "answers": answers}))


def _status_kib(field: str) -> int:
    """VmRSS (resident memory now) or VmHWM (its peak since ``clear_refs``), by the kernel."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1])
    raise RuntimeError(f"no {field} in /proc/self/status")


if __name__ == "__main__":
    _storm(sys.argv[1])


def test_a_photo_that_could_never_fit_is_refused_before_decoding(
    client: TestClient, world: World, settings: Settings, db: Database, tmp_path: Path
) -> None:
    """Its cost, from the header, is over the whole budget: 422 at once, in both languages."""
    small = create_app(settings.model_copy(update={"photo_decode_memory_mb": 64}))
    report = client.post(
        "/api/v1/inspections", json=report_body(world.facility_a), headers=world.headers("township")
    ).json()["id"]
    with TestClient(small) as tight:
        answers = [
            tight.post(
                f"/api/v1/inspections/{report}/photos",
                files={"file": ("p.png", png_header_only(*SIZE), "application/octet-stream")},
                headers=world.headers("township") | language,
            )
            for language in ({}, {"Accept-Language": "zh-CN"})
        ]
    small.state.db.dispose()
    assert [a.status_code for a in answers] == [422, 422]
    message = answers[0].json()["detail"][0]["msg"]
    assert message.startswith("The photo is 7300×5466: decoding it would take 3")
    assert message.endswith(" MiB, more than the 64 MiB this server sets aside for photos")
    assert "超过服务器为照片预留的 64 MB" in answers[1].json()["detail"][0]["msg"]


def test_the_gate_answers_503_with_retry_after_when_its_line_is_full() -> None:
    gate = DecodeGate(slots=1, budget_bytes=100, queue=0, wait_seconds=7)
    with gate.reserve(10), pytest.raises(ServiceUnavailable) as refused, gate.reserve(10):
        pass
    assert refused.value.headers == {"Retry-After": "7"}
    with gate.reserve(10):  # free again once the first is done
        pass


def test_the_gate_lets_a_waiting_decode_in_when_the_memory_is_freed() -> None:
    gate = DecodeGate(slots=4, budget_bytes=100, queue=1, wait_seconds=60)
    first_done, second_in = threading.Event(), threading.Event()
    order: list[str] = []

    def second() -> None:
        with gate.reserve(80):  # does not fit beside the first's 30 (30 + 80 > 100)
            order.append("second")
            second_in.set()

    with gate.reserve(30):
        waiter = threading.Thread(target=second)
        waiter.start()
        while not gate.waiting:  # until the second stands in line
            time.sleep(0.001)
        with pytest.raises(ServiceUnavailable), gate.reserve(1):  # the line (of one) is full
            pass
        order.append("first")
        first_done.set()
    waiter.join()
    assert second_in.is_set()
    assert order == ["first", "second"]


def test_a_jpeg_over_4096_px_is_decoded_and_stored_at_a_reduced_scale(
    client: TestClient, world: World
) -> None:
    """libjpeg's DCT scaling: 8200 px wide needs 1/4 to fit in 4096; 4096 px stays whole."""
    township = world.headers("township")
    report = client.post(
        "/api/v1/inspections", json=report_body(world.facility_a), headers=township
    ).json()["id"]
    sizes = []
    for size in [(8200, 3000), (4096, 3072)]:
        answer = client.post(
            f"/api/v1/inspections/{report}/photos",
            files={"file": ("p.jpg", jpeg(size=size), "application/octet-stream")},
            headers=township,
        )
        assert answer.status_code == 201, answer.text
        sizes.append((answer.json()["width"], answer.json()["height"]))
        served = client.get(answer.json()["url"], headers=township)
        assert Image.open(io.BytesIO(served.content)).size == sizes[-1]
    assert sizes == [(2050, 750), (4096, 3072)]
