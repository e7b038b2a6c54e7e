"""The README's API tour runs, twice in a row, against the real app under uvicorn.

The ``sh`` blocks of the "API tour" section are run as one bash script with
``set -euo pipefail`` on a freshly migrated and seeded SQLite database. ``curl`` is wrapped
so every request logs its status to stderr; the test reads that log and the final state.
"""

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

ROOT = Path(__file__).resolve().parents[1]
MEMORIAL = Path(sys.executable).with_name("memorial")

pytestmark = pytest.mark.skipif(
    shutil.which("bash") is None or shutil.which("curl") is None,
    reason="the README tour needs bash and curl",
)

# Every curl call logs "STATUS METHOD URL" to stderr (curl 7.72+); the tour's own output
# keeps its trailing newline.
LOG_REQUESTS = (
    'curl() { command curl "$@" -w "\\n%{stderr}HTTP %{http_code} %{method} %{url_effective}\\n"; }'
)
# After the tour: the state its steps should have left, for the test to read.
COLLECT = """
api -H "$HI" $BASE/api/v1/inspections/$R > "$OUT/report.json"
api -H "$H" $BASE/api/v1/maintenance/$O > "$OUT/order.json"
api -H "$H" $BASE/api/v1/funds/summary > "$OUT/summary.json"
"""


def tour_blocks() -> list[str]:
    """The ``sh`` blocks of the README's "API tour" section, in order."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("\n## API tour\n", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^```sh\n(.*?)^```", section, flags=re.S | re.M)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def memorial(env: dict[str, str], *args: str) -> str:
    done = subprocess.run(
        [str(MEMORIAL), *args], env=env, cwd=ROOT, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, f"memorial {' '.join(args)}:\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, dict[str, str]]]:
    """``memorial serve`` on a free port, on a migrated database with the sample data."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMORIAL_")}
    env |= {
        "MEMORIAL_ENV": "development",
        "MEMORIAL_DATA_DIR": str(tmp_path / "data"),
        "MEMORIAL_DATABASE_URL": f"sqlite:///{tmp_path / 'data' / 'memorial.db'}",
    }
    (tmp_path / "data").mkdir()
    memorial(env, "migrate")
    # Samples (demo users, sample facilities) load by default in development; say so
    # explicitly where the command has the option.
    samples = ["--samples"] if "--samples" in memorial(env, "seed", "--help") else []
    memorial(env, "seed", *samples)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = (tmp_path / "server.log").open("w")
    process = subprocess.Popen(
        [str(MEMORIAL), "serve", "--port", str(port)],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert process.poll() is None, (tmp_path / "server.log").read_text()
            try:
                if httpx.get(f"{base}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "the server did not become ready in 60 s"
            time.sleep(0.2)
        yield base, env
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def run_tour(base: str, env: dict[str, str], out: Path) -> list[tuple[int, str, str]]:
    """Run the tour once; returns every request as (status, method, url)."""
    out.mkdir()
    script = "\n".join(["set -euo pipefail", LOG_REQUESTS, *tour_blocks(), COLLECT])
    done = subprocess.run(
        ["bash", "-c", script],
        env=env | {"BASE": base, "OUT": str(out)},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, f"the tour stopped:\n{done.stdout}\n{done.stderr}"
    return [
        (int(status), method, url)
        for status, method, url in re.findall(r"^HTTP (\d{3}) (\S+) (\S+)$", done.stderr, re.M)
    ]


def read(out: Path, name: str) -> dict:
    return json.loads((out / name).read_text(encoding="utf-8"))


def test_every_tour_address_comes_from_base() -> None:
    blocks = tour_blocks()
    assert len(blocks) >= 3  # sign-in and registry, the report, funds and maintenance
    script = "\n".join(blocks)
    assert script.count("localhost:8000") == 1  # only the default of BASE
    assert "BASE=${BASE:-http://localhost:8000}" in script
    assert (ROOT / "docs/tour/photo.jpg").read_bytes()[:3] == b"\xff\xd8\xff"  # a JPEG


def test_the_readme_tour_runs_twice_against_a_live_server(
    server: tuple[str, dict[str, str]], tmp_path: Path
) -> None:
    base, env = server
    spent = []
    for run in (1, 2):
        out = tmp_path / f"run{run}"
        requests = run_tour(base, env, out)
        assert all(200 <= status < 300 for status, _, _ in requests), requests
        statuses = {(method, url.removeprefix(base)): status for status, method, url in requests}
        assert statuses[("POST", "/api/v1/facilities")] == 201
        assert statuses[("POST", "/api/v1/inspections")] == 201
        photo = [s for (m, url), s in statuses.items() if m == "POST" and url.endswith("/photos")]
        assert photo == [201]
        report = read(out, "report.json")
        assert report["on_site"] is True, report
        assert report["distance_m"] < 50
        assert len(report["photos"]) == 1
        order = read(out, "order.json")
        assert (order["status"], order["actual_cost_fen"]) == ("completed", 76500)
        summary = read(out, "summary.json")
        spent.append(summary["totals"]["spent_fen"])
    assert spent[1] - spent[0] == 76500  # the second run spent on its own order
