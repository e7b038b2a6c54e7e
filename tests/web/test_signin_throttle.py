"""The sign-in throttle on the pages' /signin and the phone's /m/signin (issue 11): the
same counts as the API (they share ``app.auth.throttle``), a 429 page in Chinese with
``Retry-After``, and no session cookie."""

import html
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from tests.conftest import make_settings
from tests.factories import PASSWORD, World
from tests.web.conftest import csrf_of

pytestmark = pytest.mark.both_databases

PER_NAME = 3
PER_ADDRESS = 5
WINDOW = 15


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        login_max_failures=PER_NAME,
        login_max_failures_per_address=PER_ADDRESS,
        login_lock_minutes=WINDOW,
    )


def post_signin(client: TestClient, path: str, username: str, password: str):
    form = client.get(path)
    return client.post(
        path,
        data={"username": username, "password": password, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )


@pytest.mark.parametrize("path", ["/signin", "/m/signin"])
def test_a_locked_username_gets_a_429_page_in_chinese(app, world: World, path: str) -> None:
    with TestClient(app, base_url="http://127.0.0.1", client=("10.1.0.1", 5000)) as browser:
        for _ in range(PER_NAME):
            failed = post_signin(browser, path, "lg", "wrong password")
            assert failed.status_code == 401
            assert "用户名或密码错误" in failed.text
            assert "www-authenticate" not in failed.headers
        locked = post_signin(browser, path, "lg", PASSWORD)
    assert locked.status_code == 429
    assert locked.headers["content-type"].startswith("text/html")
    assert f"用户 lg 登录失败次数过多，请 {WINDOW} 分钟后再试" in locked.text
    assert WINDOW * 60 - 60 < int(locked.headers["Retry-After"]) <= WINDOW * 60
    assert "mp_session" not in locked.headers.get("set-cookie", "")
    assert PASSWORD not in locked.text


@pytest.mark.parametrize("path", ["/signin", "/m/signin"])
def test_an_address_spraying_names_gets_a_429_page_in_chinese(app, world: World, path: str) -> None:
    with TestClient(app, base_url="http://127.0.0.1", client=("10.1.0.2", 5000)) as browser:
        for n in range(PER_ADDRESS):
            assert post_signin(browser, path, f"name{n}", "wrong password").status_code == 401
        locked = post_signin(browser, path, "admin", PASSWORD)
    assert locked.status_code == 429
    assert f"从本机地址登录失败次数过多，请 {WINDOW} 分钟后再试" in locked.text
    assert int(locked.headers["Retry-After"]) > 0
    with TestClient(app, base_url="http://127.0.0.1", client=("10.1.0.3", 5000)) as other:
        assert post_signin(other, path, "admin", PASSWORD).status_code == 303


def test_the_pages_and_the_api_share_the_counts(app, world: World) -> None:
    with TestClient(app, base_url="http://127.0.0.1", client=("10.1.0.4", 5000)) as browser:
        for _ in range(PER_NAME - 1):
            assert post_signin(browser, "/signin", "clerk", "wrong password").status_code == 401
        api = browser.post("/api/v1/auth/token", data={"username": "clerk", "password": "nope"})
        assert api.status_code == 401
        assert post_signin(browser, "/m/signin", "clerk", PASSWORD).status_code == 429
        browser.headers["Accept-Language"] = "en"
        english = post_signin(browser, "/signin", "clerk", PASSWORD)
    assert english.status_code == 429
    expected = f"Too many failed sign-ins for 'clerk'; try again in {WINDOW} minutes"
    assert expected in html.unescape(english.text)
