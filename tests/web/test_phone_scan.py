"""The phone form's plate scanning, as served: the "扫码" hooks and their Chinese words, the
vendored QR reader (jsQR) served gzipped from /m/ and kept by the service worker."""

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.web.pages import phone
from tests.factories import World
from tests.web.test_phone import phone_sign_in

pytestmark = pytest.mark.both_databases

JSQR = Path(phone.__file__).resolve().parents[2] / "static" / "vendor" / "jsqr"


@pytest.fixture
def phone_client(app, world: World):
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_the_form_has_the_scan_button_the_plate_entry_and_the_qr_plate_item(
    phone_client: TestClient,
) -> None:
    phone_sign_in(phone_client)
    html = phone_client.get("/m/").text
    assert re.search(r'<button type="button" id="scan"[^>]*>扫码</button>', html)
    assert 'id="scan-panel"' in html and 'id="scan-video"' in html
    assert '<label for="plate-code" class="sub">或输入标牌上的 8 位码</label>' in html
    assert 'id="scanned"' in html and 'id="scan-message"' in html
    assert "<legend>二维码标牌</legend>" in html
    assert 'id="check-qr_plate-problem" value="problem"' in html
    strings = json.loads(
        re.search(r'data-strings="([^"]*)"', html)
        .group(1)
        .replace("&#34;", '"')
        .replace("&amp;", "&")
    )
    assert strings["scanned"] == "已扫码 · 标牌 %(code)s"
    assert "无法使用相机" in strings["camera_unavailable"]
    assert "8 位码" in strings["camera_unavailable"]


def test_the_shell_holds_no_site_a_plate_link_names(phone_client: TestClient) -> None:
    """/m/?site=&plate= is the same shell (the worker answers it from its cache offline, and
    keeps only the plain /m/'s): the page reads the query itself."""
    phone_sign_in(phone_client)
    plain = phone_client.get("/m/").text
    scanned = phone_client.get("/m/?site=7&plate=GPR87BMA").text
    differing = [
        (a, b) for a, b in zip(plain.splitlines(), scanned.splitlines(), strict=True) if a != b
    ]
    # only the language switch differs: it comes back to the same address
    assert differing and all("/lang/" in a and "/lang/" in b for a, b in differing), differing
    assert all("GPR87BMA" not in line for line in scanned.splitlines() if "/lang/" not in line)


def test_the_vendored_qr_reader_is_served_gzipped_and_cached_by_the_worker(
    phone_client: TestClient,
) -> None:
    response = phone_client.get("/m/jsQR.js", headers={"Accept-Encoding": "gzip"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/javascript")
    assert response.headers["content-encoding"] == "gzip"
    assert response.content == (JSQR / "jsQR.js").read_bytes()
    assert 'root["jsQR"] = factory()' in response.text
    assert "Apache License" in (JSQR / "LICENSE").read_text()
    assert "jsqr 1.4.0" in (JSQR / "VERSION").read_text()
    worker = phone_client.get("/m/sw.js").text
    files = worker.split("const FILES")[1].split("];")[0]
    assert '"/m/jsQR.js"' in files
    # loaded by the page only when it scans: never in the page itself
    phone_sign_in(phone_client)
    assert "jsQR" not in phone_client.get("/m/").text
