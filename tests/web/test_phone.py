"""The phone form's server side, over HTTP: the shell and its hooks, the phone's long
sign-in, ``/m/session.json``, the API taking the session cookie with the CSRF header, and
the page's own files (gzip, ETag, the service worker's scope, the manifest)."""

import io
import json
import re
import shutil
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from PIL import Image

from app.models import ChecklistItem, Condition
from app.security import create_access_token, decode_access_token
from app.web.pages import phone
from tests.factories import PASSWORD, World, report_body, token
from tests.web.conftest import csrf_of

pytestmark = pytest.mark.both_databases


def phone_sign_in(client: TestClient, username: str = "lg", password: str = PASSWORD) -> None:
    page = client.get("/m/signin")
    assert page.status_code == 200
    response = client.post(
        "/m/signin",
        data={"username": username, "password": password, "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )
    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/m/"


@pytest.fixture
def phone_client(app, world: World):
    with TestClient(app, base_url="http://127.0.0.1") as client:
        yield client


def test_the_form_asks_a_phone_with_no_session_to_sign_in(phone_client: TestClient) -> None:
    response = phone_client.get("/m", follow_redirects=False)
    assert response.status_code == 307 and response.headers["location"] == "/m/"
    response = phone_client.get("/m/", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == "/m/signin"


def test_the_phone_stays_signed_in_for_days(phone_client: TestClient, world: World) -> None:
    phone_sign_in(phone_client)
    cookie = next(c for c in phone_client.cookies.jar if c.name == "mp_session")
    claims = decode_access_token(cookie.value, key=world.settings.signing_key())
    lifetime = timedelta(seconds=claims["exp"] - claims["iat"])  # exp is whole seconds
    assert world.settings.phone_session_days == 30
    assert abs(lifetime - timedelta(days=30)) < timedelta(seconds=1)
    # the cookie outlives the token by a day, so an ended session is told apart
    assert cookie.expires - datetime.now(UTC).timestamp() > 30.9 * 24 * 3600
    assert cookie.has_nonstandard_attr("HttpOnly")


def test_county_staff_get_the_usual_session_on_the_phone(
    phone_client: TestClient, world: World
) -> None:
    """Only inspectors' phones stay signed in for days: a clerk's or an admin's session
    reaches the whole county, so it keeps the pages' lifetime wherever it starts."""
    phone_sign_in(phone_client, username="clerk")
    cookie = next(c for c in phone_client.cookies.jar if c.name == "mp_session")
    claims = decode_access_token(cookie.value, key=world.settings.signing_key())
    lifetime = timedelta(seconds=claims["exp"] - claims["iat"])
    assert abs(lifetime - timedelta(minutes=world.settings.token_ttl_minutes)) < timedelta(
        seconds=1
    )


def test_a_csrf_token_in_any_characters_is_a_403_not_a_500(
    phone_client: TestClient, world: World
) -> None:
    _headers, body = _phone_writes(phone_client, world)
    for sent in ("café".encode(), "ＡＢＣ".encode(), b"\xff\xfe"):  # as raw header bytes
        response = phone_client.post(
            "/api/v1/inspections", json=body, headers={"X-CSRF-Token": sent}
        )
        assert response.status_code == 403, sent
    response = phone_client.post("/m/signout", data={"csrf_token": "café"})
    assert response.status_code == 403


def test_a_wrong_password_on_the_phone_says_so_in_chinese(phone_client: TestClient) -> None:
    page = phone_client.get("/m/signin")
    response = phone_client.post(
        "/m/signin",
        data={"username": "lg", "password": "nope", "csrf_token": csrf_of(page.text)},
    )
    assert response.status_code == 401
    assert "用户名或密码错误" in response.text
    assert "mp_session" not in phone_client.cookies


def test_sign_in_returns_only_to_the_phone_form(phone_client: TestClient) -> None:
    page = phone_client.get("/m/signin?next=//evil.example/")
    assert 'name="next" value="/m/"' in page.text
    response = phone_client.post(
        "/m/signin",
        data={
            "username": "lg",
            "password": PASSWORD,
            "next": "/admin",
            "csrf_token": csrf_of(page.text),
        },
        follow_redirects=False,
    )
    assert response.headers["location"] == "/m/"


def test_the_form_carries_every_hook_the_tests_drive(phone_client: TestClient) -> None:
    phone_sign_in(phone_client)
    html = phone_client.get("/m/").text
    assert html.count('name="facility_id"') == 1 and "<select" in html
    for condition in Condition:
        assert (
            f'type="radio" name="condition" id="condition-{condition.value}" value="{condition.value}"'
            in html
        )
    for item in ChecklistItem:
        for answer in ("ok", "problem", "na"):
            assert f'type="radio" name="checklist.{item.value}"' in html
            assert f'id="check-{item.value}-{answer}" value="{answer}"' in html
    assert '<textarea id="notes" name="notes"' in html
    assert re.search(r'<input id="photos" name="photos" type="file"[^>]* multiple', html)
    form = html[
        html.index('<form id="report"') : html.index("</form>", html.index('<form id="report"'))
    ]
    assert form.count('type="submit"') == 1
    assert 'id="queue-count">0<' in html and 'id="receipt"' in html
    assert '<link rel="manifest" href="/m/manifest.webmanifest">' in html
    # the words the scripts show, in Chinese
    strings = json.loads(
        re.search(r'data-strings="([^"]*)"', html)
        .group(1)
        .replace("&#34;", '"')
        .replace("&amp;", "&")
    )
    assert strings["refused"] == "未被接收" and strings["sent"] == "已送达"


def test_the_form_speaks_english_by_the_switch(phone_client: TestClient) -> None:
    phone_sign_in(phone_client)
    phone_client.cookies.set("mp_lang", "en")
    html = phone_client.get("/m/").text
    assert '<html lang="en">' in html and "Save and send" in html
    assert '"sent": "Sent"' in html.replace("&#34;", '"')


def test_the_session_says_who_is_signed_in_and_gives_the_csrf_token(
    phone_client: TestClient, world: World
) -> None:
    assert phone_client.get("/m/session.json").json() == {"reason": "signedout"}
    phone_sign_in(phone_client)
    answer = phone_client.get("/m/session.json")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    body = answer.json()
    assert body["user"]["id"] == world.township_user.id
    assert body["user"]["township"] == {"id": world.township_a.id, "name": "龙港镇"}
    assert re.fullmatch(r"[0-9a-f]{64}", body["csrf"])


def test_an_ended_session_is_told_apart(phone_client: TestClient, world: World) -> None:
    expired = create_access_token(
        user_id=world.township_user.id,  # type: ignore[arg-type]
        key=world.settings.signing_key(),
        ttl=timedelta(days=1),
        now=datetime.now(UTC) - timedelta(days=2),
    )
    phone_client.cookies.set("mp_session", expired)
    answer = phone_client.get("/m/session.json")
    assert answer.status_code == 401 and answer.json() == {"reason": "expired"}
    # the form still opens, so the reports waiting on the phone show
    assert phone_client.get("/m/", follow_redirects=False).status_code == 200


def _phone_writes(phone_client: TestClient, world: World) -> tuple[dict, dict]:
    phone_sign_in(phone_client)
    csrf = phone_client.get("/m/session.json").json()["csrf"]
    return {"X-CSRF-Token": csrf, "Accept-Language": "zh-CN"}, report_body(world.facility_a)


def test_the_phone_writes_to_the_api_with_its_cookie_and_csrf_header(
    phone_client: TestClient, world: World
) -> None:
    headers, body = _phone_writes(phone_client, world)
    first = phone_client.post("/api/v1/inspections", json=body, headers=headers)
    assert first.status_code == 201, first.text
    assert first.json()["inspector"]["id"] == world.township_user.id
    again = phone_client.post("/api/v1/inspections", json=body, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == first.json()["id"]

    buffer = io.BytesIO()
    Image.new("RGB", (640, 480), (90, 120, 60)).save(buffer, "JPEG")
    upload = phone_client.post(
        f"/api/v1/inspections/{first.json()['id']}/photos",
        files={"file": ("photo-1.jpg", buffer.getvalue(), "image/jpeg")},
        headers=headers,
    )
    assert upload.status_code == 201, upload.text


def test_a_cookie_alone_never_writes(phone_client: TestClient, world: World) -> None:
    _headers, body = _phone_writes(phone_client, world)
    response = phone_client.post("/api/v1/inspections", json=body)
    assert response.status_code == 401  # as a cross-site form would be


def test_a_wrong_csrf_header_is_refused_in_chinese(phone_client: TestClient, world: World) -> None:
    _headers, body = _phone_writes(phone_client, world)
    response = phone_client.post(
        "/api/v1/inspections",
        json=body,
        headers={"X-CSRF-Token": "0" * 64, "Accept-Language": "zh-CN,zh;q=0.9"},
    )
    assert response.status_code == 403
    assert re.search(r"[\u4e00-\u9fff]", response.json()["detail"])


def test_the_bearer_token_still_wins_over_the_cookie(
    phone_client: TestClient, world: World
) -> None:
    _headers, body = _phone_writes(phone_client, world)
    other = {"Authorization": f"Bearer {token(world.settings, world.county)}"}
    response = phone_client.post(
        "/api/v1/inspections", json=body | {"client_id": str(uuid.uuid4())}, headers=other
    )
    assert response.status_code == 201
    assert response.json()["inspector"]["id"] == world.county.id


def test_signing_out_on_the_phone_ends_its_session(phone_client: TestClient) -> None:
    phone_sign_in(phone_client)
    page = phone_client.get("/m/")
    response = phone_client.post(
        "/m/signout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False
    )
    assert response.status_code == 303
    assert response.headers["location"] == "/m/signin?reason=signedout"
    assert "mp_session" not in phone_client.cookies
    assert phone_client.get("/m/session.json").status_code == 401


def test_the_page_files_are_gzipped_with_an_etag(phone_client: TestClient) -> None:
    for name in ("app.js", "outbox.js", "app.css", "icon.svg"):
        response = phone_client.get(f"/m/{name}", headers={"Accept-Encoding": "gzip"})
        assert response.status_code == 200
        assert response.headers["content-encoding"] == "gzip"
        assert response.headers["cache-control"] == "no-cache"
        assert response.content == (phone.ASSET_DIR / name).read_bytes()  # httpx unzips
        again = phone_client.get(f"/m/{name}", headers={"If-None-Match": response.headers["etag"]})
        assert again.status_code == 304 and again.content == b""
    plain = phone_client.get("/m/app.js", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert phone_client.get("/m/nothing.js").status_code == 404


def test_the_service_worker_covers_the_form_and_changes_with_it(phone_client: TestClient) -> None:
    response = phone_client.get("/m/sw.js")
    assert response.headers["service-worker-allowed"] == "/m/"
    assert response.headers["content-type"].startswith("text/javascript")
    version = re.search(r'const VERSION = "([0-9a-f]{16})"', response.text)
    assert version, "the worker carries the version of the files it caches"
    for cached in re.findall(r'"(/m/[^"]+)"', response.text.split("const FILES")[1].split("];")[0]):
        assert phone_client.get(cached).status_code == 200, cached


def test_a_change_to_any_file_is_a_new_version(
    phone_client: TestClient, tmp_path, monkeypatch
) -> None:
    """The worker's version (and the ?v= of the page's files) follows the files' content,
    so a release installs a new worker and the page never meets the files of another."""
    phone_sign_in(phone_client)
    before = phone.asset_version()
    assert f"/m/app.js?v={before}" in phone_client.get("/m/").text
    copy = tmp_path / "phone"
    shutil.copytree(phone.ASSET_DIR, copy)
    (copy / "app.js").write_text((copy / "app.js").read_text() + "\n// a release\n")
    monkeypatch.setattr(phone, "ASSET_DIR", copy)
    phone.asset_version.cache_clear()
    phone.assets.cache_clear()
    try:
        after = phone.asset_version()
        assert after != before
        assert f'const VERSION = "{after}"' in phone_client.get("/m/sw.js").text
        assert f"/m/app.js?v={after}" in phone_client.get("/m/").text
    finally:
        phone.asset_version.cache_clear()
        phone.assets.cache_clear()


def test_the_manifest_lets_the_form_be_added_to_the_home_screen(phone_client: TestClient) -> None:
    response = phone_client.get("/m/manifest.webmanifest", headers={"Accept-Encoding": "gzip"})
    assert response.headers["content-type"].startswith("application/manifest+json")
    manifest = response.json()
    assert manifest["start_url"] == manifest["scope"] == "/m/"
    assert manifest["display"] == "standalone"
    assert manifest["short_name"] == "巡查"
    for icon in manifest["icons"]:
        image = phone_client.get(icon["src"])
        assert image.status_code == 200 and image.headers["content-type"] == icon["type"]
        if icon["type"] == "image/png":
            size = Image.open(io.BytesIO(image.content)).size
            assert f"{size[0]}x{size[1]}" == icon["sizes"]


def test_the_shell_is_gzipped(phone_client: TestClient) -> None:
    phone_sign_in(phone_client)
    raw = phone_client.get("/m/", headers={"Accept-Encoding": "gzip"})
    assert raw.headers["content-encoding"] == "gzip"
    assert raw.headers["x-phone-shell"] == "1"
    assert int(raw.headers["content-length"]) < len(raw.content) / 3  # the wire vs the page
    assert b'name="facility_id"' in raw.content
