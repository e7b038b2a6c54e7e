"""Sign-in, the session cookie, CSRF, the language switch and the security headers."""

import re
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.models import User
from app.models.base import utcnow
from app.security import create_access_token
from app.web import i18n
from app.web.headers import content_security_policy, tile_origin
from app.web.session import safe_next
from app.web.templating import TEMPLATE_DIR
from tests.web.conftest import DEMO_PASSWORDS, csrf_of, sign_in

COUNTY = ("county", DEMO_PASSWORDS["county"])


def test_a_signed_out_visitor_lands_on_sign_in_and_returns_after(page_client: TestClient) -> None:
    response = page_client.get("/?from=x", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/%3Ffrom%3Dx"
    form = page_client.get(response.headers["location"])
    assert form.status_code == 200 and 'name="next" value="/?from=x"' in form.text
    answer = page_client.post(
        "/signin",
        data={"username": "county", "password": COUNTY[1], "next": "/?from=x",
              "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )  # fmt: skip
    assert answer.status_code == 303 and answer.headers["location"] == "/?from=x"
    assert page_client.get("/?from=x", follow_redirects=False).status_code == 200


def test_the_session_cookie_is_httponly_and_lax(page_client: TestClient, app) -> None:
    form = page_client.get("/signin")
    answer = page_client.post(
        "/signin",
        data={"username": "county", "password": COUNTY[1], "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    cookie = next(
        v for k, v in answer.headers.multi_items() if k == "set-cookie" and "mp_session=" in v
    )
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    assert "Secure" not in cookie  # development over plain http
    # the same kind of token the API issues: it works as a bearer token too
    token = re.search(r"mp_session=([^;]+)", cookie).group(1)
    with TestClient(app) as fresh:  # no cookies
        me = fresh.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert me.json()["username"] == "county"


def test_production_cookies_are_secure(tmp_path: Path, database_url: str) -> None:
    from app import seed

    settings = Settings(
        env="production", data_dir=tmp_path, database_url=database_url,
        secret_key="x" * 40, photo_dir=tmp_path / "photos",
    )  # fmt: skip
    app = create_app(settings)
    with app.state.db.begin() as session:
        seed.load(session=session, settings=settings, samples=False)
        from app.models import Role
        from tests.factories import PASSWORD, make_user

        make_user(session, role=Role.county, username="clerk")
    with TestClient(app, base_url="https://127.0.0.1") as client:
        form = client.get("/signin")
        assert "Secure" in form.headers["set-cookie"]  # the CSRF seed
        answer = client.post(
            "/signin",
            data={"username": "clerk", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
            follow_redirects=False,
        )
        assert answer.status_code == 303
        assert "Secure" in answer.headers["set-cookie"]
    app.state.db.dispose()


def test_wrong_password_is_shown_in_chinese(page_client: TestClient) -> None:
    form = page_client.get("/signin")
    answer = page_client.post(
        "/signin",
        data={"username": "county", "password": "nope", "csrf_token": csrf_of(form.text)},
    )
    assert answer.status_code == 401
    assert "用户名或密码错误" in answer.text
    assert 'value="county"' in answer.text and "nope" not in answer.text
    assert "mp_session" not in answer.headers.get("set-cookie", "")


def test_sign_in_without_the_csrf_token_is_refused(page_client: TestClient) -> None:
    page_client.get("/signin")
    answer = page_client.post("/signin", data={"username": "county", "password": COUNTY[1]})
    assert answer.status_code == 403
    assert "表单已过期" in answer.text
    forged = page_client.post(
        "/signin", data={"username": "county", "password": COUNTY[1], "csrf_token": "0" * 64}
    )
    assert forged.status_code == 403


def test_a_token_from_another_browser_seed_is_refused(page_client: TestClient, app) -> None:
    """The CSRF token is bound to this browser's seed cookie, not a constant."""
    token = csrf_of(page_client.get("/signin").text)
    with TestClient(app, base_url="http://127.0.0.1") as other:
        other.get("/signin")  # its own seed
        answer = other.post(
            "/signin", data={"username": "county", "password": COUNTY[1], "csrf_token": token}
        )
    assert answer.status_code == 403


@pytest.mark.parametrize(
    ("value", "expected"),
    [("/map", "/map"), ("/facilities?q=1", "/facilities?q=1"), ("//evil.example/x", "/"),
     ("https://evil.example/", "/"), ("/\\evil.example", "/"), ("", "/"), ("map", "/")],
)  # fmt: skip
def test_next_stays_on_this_site(value: str, expected: str) -> None:
    assert safe_next(value) == expected


def test_an_expired_session_lands_on_sign_in_with_a_message(
    page_client: TestClient, settings: Settings, seeded: Database
) -> None:
    with seeded.session(write=False) as session:
        user = session.exec(select(User).where(User.username == "county")).one()
    old = create_access_token(
        user_id=user.id, key=settings.signing_key(), ttl=timedelta(minutes=5),
        now=utcnow() - timedelta(hours=1),
    )  # fmt: skip
    page_client.cookies.set("mp_session", old)
    answer = page_client.get("/?x=1", follow_redirects=False)
    assert answer.headers["location"] == "/signin?next=/%3Fx%3D1&reason=expired"
    assert "登录已过期" in page_client.get(answer.headers["location"]).text


def test_a_revoked_session_lands_on_sign_in(page_client: TestClient, seeded: Database) -> None:
    sign_in(page_client, *COUNTY)
    assert page_client.get("/", follow_redirects=False).status_code == 200
    with seeded.begin() as session:
        user = session.exec(select(User).where(User.username == "county")).one()
        user.tokens_valid_after = datetime.now(UTC) + timedelta(seconds=1)
    answer = page_client.get("/", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"] == "/signin?next=/&reason=revoked"
    assert "权限已变更" in page_client.get(answer.headers["location"]).text


def test_sign_out_needs_csrf_and_clears_the_cookie(page_client: TestClient) -> None:
    sign_in(page_client, *COUNTY)
    home = page_client.get("/")
    assert page_client.post("/signout", data={}).status_code == 403
    answer = page_client.post(
        "/signout", data={"csrf_token": csrf_of(home.text)}, follow_redirects=False
    )
    assert answer.headers["location"] == "/signin?reason=signedout"
    assert 'mp_session=""' in answer.headers["set-cookie"]
    assert page_client.get("/", follow_redirects=False).status_code == 303


def test_the_api_takes_the_cookie_for_reading_only(page_client: TestClient) -> None:
    sign_in(page_client, *COUNTY)
    assert page_client.get("/api/v1/me").json()["username"] == "county"
    # a write needs the bearer header: a cross-site form cannot send it
    answer = page_client.post("/api/v1/townships", json={"code": "140521999", "name": "x"})
    assert answer.status_code == 401


def test_pages_speak_chinese_first_and_english_on_request(page_client: TestClient) -> None:
    chinese = page_client.get("/signin")
    assert '<html lang="zh-CN">' in chinese.text and "用户名" in chinese.text
    english = page_client.get("/signin", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert '<html lang="en">' in english.text and "Username" in english.text
    weighted = page_client.get("/signin", headers={"Accept-Language": "en;q=0.5, zh;q=0.9"})
    assert "用户名" in weighted.text
    switch = page_client.get("/lang/en?next=/signin", follow_redirects=False)
    assert switch.headers["location"] == "/signin" and "mp_lang=en" in switch.headers["set-cookie"]
    page_client.cookies.set("mp_lang", "en")
    assert "Username" in page_client.get("/signin", headers={"Accept-Language": "zh-CN"}).text
    assert (
        page_client.get("/lang/en?next=//evil.example", follow_redirects=False).headers["location"]
        == "/"
    )


def test_every_page_carries_the_security_headers(page_client: TestClient) -> None:
    for path in ("/signin", "/", "/no-such-page"):
        response = page_client.get(path, follow_redirects=False)
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "frame-ancestors 'none'" in csp
        assert "unsafe-inline" not in csp and "unsafe-eval" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["referrer-policy"] == "same-origin"
    docs = page_client.get("/docs")  # Swagger UI needs its one inline script
    assert "content-security-policy" not in docs.headers
    assert docs.headers["x-content-type-options"] == "nosniff"


def test_an_unknown_page_is_a_page_and_an_unknown_endpoint_is_json(page_client: TestClient) -> None:
    page = page_client.get("/no-such-page")
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "没有这个页面" in page.text
    api = page_client.get("/api/v1/no-such-endpoint")
    assert api.status_code == 404 and api.json()["detail"].startswith("No such endpoint")


def test_the_tile_server_is_admitted_for_images_only() -> None:
    assert (
        tile_origin("https://t{s}.tianditu.gov.cn/img_w/wmts?x={x}") == "https://*.tianditu.gov.cn"
    )
    assert tile_origin("http://10.1.2.3:8080/tiles/{z}/{x}/{y}.png") == "http://10.1.2.3:8080"
    assert tile_origin("") is None and tile_origin("not a url") is None
    csp = content_security_policy("http://10.1.2.3:8080/tiles/{z}/{x}/{y}.png")
    assert "img-src 'self' data: blob: http://10.1.2.3:8080" in csp
    assert "connect-src 'self';" in csp


def test_no_template_has_inline_script_handlers_or_styles() -> None:
    """The CSP would block them: scripts come from files, styles from classes."""
    for path in TEMPLATE_DIR.rglob("*.html"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", text), f"inline script in {path}"
        assert not re.search(r"\son[a-z]+\s*=", text), f"inline event handler in {path}"
        assert not re.search(r"\sstyle\s*=", text), f"inline style in {path}"


@pytest.mark.parametrize(
    ("value", "locale", "expected"),
    [(date(2025, 4, 4), "zh_CN", "2025年4月4日"), (date(2025, 4, 4), "en", "4 Apr 2025"),
     (None, "zh_CN", "—")],
)  # fmt: skip
def test_dates_read_as_the_bureau_writes_them(value, locale, expected) -> None:
    assert i18n.format_date(value, locale) == expected


def test_money_is_yuan_with_two_decimals_from_fen() -> None:
    assert i18n.format_money(1_234_567) == "¥12,345.67"
    assert i18n.format_money(5) == "¥0.05"
    assert i18n.format_money(-100) == "-¥1.00"
    assert i18n.format_count(12, "sites", "zh_CN") == "12 处"
    assert i18n.format_distance(172.4, "zh_CN") == "172 米"


def test_vocabulary_labels_follow_their_own_enum() -> None:
    from app.models.enums import KIND_LABELS_ZH, FacilityKind, Tier

    assert i18n.enum_label(Tier.county, "zh_CN") == "县级"
    assert i18n.enum_label(FacilityKind.other, "zh_CN") == KIND_LABELS_ZH[FacilityKind.other]
    assert i18n.enum_label(Tier.county, "en") == "county"


def test_secure_cookies_follow_production_unless_told(tmp_path: Path) -> None:
    key = "k" * 40
    assert Settings(env="production", secret_key=key, data_dir=tmp_path).secure_cookies
    assert not Settings(env="development", data_dir=tmp_path).secure_cookies
    plain_http = Settings(env="production", secret_key=key, data_dir=tmp_path, cookie_secure=False)
    assert not plain_http.secure_cookies


def test_every_page_that_changes_something_checks_csrf() -> None:
    """A new POST page without the CSRF dependency fails here."""
    from fastapi.routing import APIRoute

    from app.web.router import router
    from app.web.session import check_csrf

    def leaves(parent):  # included routers nest (FastAPI keeps them as branches)
        for route in parent.routes:
            inner = getattr(route, "original_router", None)
            yield from leaves(inner) if inner is not None else [route]

    def calls(dependant, target) -> bool:
        return any(d.call is target or calls(d, target) for d in dependant.dependencies)

    routes = [r for r in leaves(router) if isinstance(r, APIRoute)]
    posts = [r for r in routes if r.methods & {"POST", "PUT", "PATCH", "DELETE"}]
    assert len(posts) > 10 and "/signin" in {r.path for r in posts}
    unprotected = [r.path for r in posts if not calls(r.dependant, check_csrf)]
    assert not unprotected, f"page forms without CSRF: {unprotected}"


def test_whole_numbers_from_forms_are_ascii_and_bounded() -> None:
    from app.web.forms import whole_number

    assert whole_number(" 12 ") == 12
    assert whole_number("²") is None and whole_number("١٢") is None  # isdigit() admits these
    assert whole_number("9" * 20) is None and whole_number("") is None
    assert whole_number("2025", digits=4) == 2025 and whole_number("20251", digits=4) is None


@pytest.mark.parametrize(
    "path",
    ["/map?township_id=²", "/admin/users?township_id=²", "/admin/users?township_id=" + "9" * 20,
     "/facilities?township_id=²", "/overdue?township_id=99999999999999999999"],
)  # fmt: skip
def test_odd_numbers_in_page_filters_are_not_a_server_error(page_client, path) -> None:
    sign_in(page_client, "admin", DEMO_PASSWORDS["admin"])
    assert page_client.get(path).status_code < 500


def test_a_form_sent_after_the_session_ended_returns_to_its_page(page_client) -> None:
    page = page_client.get("/signin")
    page_client.cookies.set("mp_session", "expired-or-forged")
    answer = page_client.post(
        "/review/1",
        data={"decision": "accept", "csrf_token": csrf_of(page.text)},
        headers={"Referer": "http://127.0.0.1/review?township_id=2"},
        follow_redirects=False,
    )
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=/review%3Ftownship_id%3D2")
    foreign = page_client.post(
        "/review/1",
        data={"decision": "accept", "csrf_token": csrf_of(page.text)},
        headers={"Referer": "http://evil.example/review"},
        follow_redirects=False,
    )
    assert foreign.headers["location"].startswith("/signin?next=/&")


def test_the_session_cookie_outlives_its_token(page_client, settings: Settings) -> None:
    form = page_client.get("/signin")
    answer = page_client.post(
        "/signin",
        data={"username": "county", "password": COUNTY[1], "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    max_age = int(re.search(r"mp_session=[^;]+;.*Max-Age=(\d+)", answer.headers["set-cookie"])[1])
    assert max_age > settings.token_ttl_minutes * 60  # so "expired" can be told apart


def test_a_moment_is_dated_in_county_time(page_client) -> None:
    from starlette.requests import Request as StarletteRequest

    from app.web.templating import context_for

    request = StarletteRequest(
        {"type": "http", "method": "GET", "path": "/", "query_string": b"", "headers": [],
         "app": page_client.app, "server": ("127.0.0.1", 80), "scheme": "http"}
    )  # fmt: skip
    late_evening_utc = datetime(2025, 4, 3, 17, 30, tzinfo=UTC)  # 01:30 on 4 April in Beijing
    assert context_for(request, "zh_CN")["date"](late_evening_utc) == "2025年4月4日"
    assert i18n.format_count(1, "sites", "en") == "1 site"
