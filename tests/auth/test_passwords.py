"""Password rules (issue 11): a minimum length, not the username, not one of the commonest;
wherever a password is set (API create, change, own change, the admin pages, the CLI),
refused with a 422 naming the field and the rule, in Chinese for Chinese clients."""

import html
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from typer.testing import CliRunner

from app import seed
from app.auth import passwords
from app.cli import cli
from app.config import Settings
from app.errors import InvalidInput
from tests.conftest import make_settings
from tests.factories import PASSWORD, World

pytestmark = pytest.mark.both_databases

ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
TOO_SHORT = "The password is too short: it needs at least 10 characters"
IS_USERNAME = "The password must not be the username"
COMMON = "The password is one of the most common passwords; choose one harder to guess"

#: (password, the rule it breaks) for a user named "new.inspector"
BAD = [
    ("abcdefghi", TOO_SHORT),  # 9 characters
    ("        x", TOO_SHORT),
    ("NEW.INSPECTOR", IS_USERNAME),
    ("woaini1314", COMMON),
    ("WoAiNi1314", COMMON),
    ("1qaz2wsx3edc", COMMON),
    ("qwertyuiop", COMMON),
    ("1234567890", COMMON),
    ("Password123", COMMON),
]


def new_user(password: str, username: str = "new.inspector") -> dict:
    return {"username": username, "full_name": "新巡查员", "role": "county", "password": password}


@pytest.mark.parametrize(("password", "rule"), BAD)
def test_creating_a_user_with_a_weak_password_is_refused(
    client: TestClient, world: World, password: str, rule: str
) -> None:
    response = client.post("/api/v1/users", json=new_user(password), headers=world.headers("admin"))
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "password"], "msg": rule, "type": "value_error"}
    ]
    assert client.get("/api/v1/users", headers=world.headers("admin")).json()["total"] == 4


@pytest.mark.parametrize(
    ("password", "chinese"),
    [
        ("abcdefghi", "密码太短：至少需要 10 个字符"),
        ("NEW.INSPECTOR", "密码不能与用户名相同"),
        ("woaini1314", "这是最常见的密码之一，容易被猜中，请换一个"),
    ],
)
def test_the_rules_are_explained_in_chinese(
    client: TestClient, world: World, password: str, chinese: str
) -> None:
    response = client.post(
        "/api/v1/users", json=new_user(password), headers=world.headers("admin") | ZH
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == chinese
    assert response.json()["detail"][0]["loc"] == ["body", "password"]


@pytest.mark.parametrize(("password", "rule"), BAD)
def test_an_admin_setting_a_weak_password_is_refused(
    client: TestClient, world: World, password: str, rule: str
) -> None:
    # the rule compares with the user's own name: make one called new.inspector
    created = client.post(
        "/api/v1/users", json=new_user("a fine first secret"), headers=world.headers("admin")
    )
    response = client.patch(
        f"/api/v1/users/{created.json()['id']}",
        json={"password": password},
        headers=world.headers("admin"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0] == {
        "loc": ["body", "password"],
        "msg": rule,
        "type": "value_error",
    }
    token = client.post(
        "/api/v1/auth/token", data={"username": "new.inspector", "password": "a fine first secret"}
    )
    assert token.status_code == 200  # unchanged


@pytest.mark.parametrize(("password", "rule"), [("short-one", TOO_SHORT), ("password1234", COMMON)])
def test_changing_your_own_password_follows_the_rules(
    client: TestClient, world: World, password: str, rule: str
) -> None:
    response = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": password},
        headers=world.headers("county"),
    )
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {"loc": ["body", "new_password"], "msg": rule, "type": "value_error"}
    ]


def test_a_wrong_current_password_is_explained_in_chinese(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/me/password",
        json={"current_password": "not it at all", "new_password": "another fine secret"},
        headers=world.headers("county") | ZH,
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == "当前密码不正确"


def test_your_own_username_is_no_password(client: TestClient, world: World) -> None:
    # 'clerk' is too short for the rule to matter: a user with a longer name
    client.post(
        "/api/v1/users",
        json=new_user("a fine first secret", "inspector.wang"),
        headers=world.headers("admin"),
    )
    token = client.post(
        "/api/v1/auth/token",
        data={"username": "inspector.wang", "password": "a fine first secret"},
    ).json()["access_token"]
    response = client.post(
        "/api/v1/me/password",
        json={"current_password": "a fine first secret", "new_password": "Inspector.Wang"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["msg"] == IS_USERNAME


def test_a_good_password_is_accepted_everywhere(client: TestClient, world: World) -> None:
    admin = world.headers("admin")
    created = client.post("/api/v1/users", json=new_user("township-demo-2025"), headers=admin)
    assert created.status_code == 201, created.text
    changed = client.patch(
        f"/api/v1/users/{created.json()['id']}", json={"password": "秋天的沁河 2025"}, headers=admin
    )
    assert changed.status_code == 200, changed.text


def test_the_minimum_length_is_configurable(tmp_path: Path, database_url: str) -> None:
    from app.main import create_app
    from tests.factories import make_world

    settings = make_settings(tmp_path, database_url, password_min_length=14)
    app = create_app(settings)
    try:
        world = make_world(app.state.db, settings)
        with TestClient(app) as client:
            short = client.post(
                "/api/v1/users", json=new_user("thirteen char"), headers=world.headers("admin")
            )
            assert short.status_code == 422
            assert short.json()["detail"][0]["msg"] == (
                "The password is too short: it needs at least 14 characters"
            )
            fine = client.post(
                "/api/v1/users", json=new_user("fourteen chars"), headers=world.headers("admin")
            )
            assert fine.status_code == 201
    finally:
        app.state.db.dispose()


def test_the_rules_accept_the_demo_and_test_passwords() -> None:
    for login in seed.DEMO_LOGINS:
        passwords.check(login.password, username=login.username, settings=None, field="password")
    passwords.check(PASSWORD, username="clerk", settings=None, field="password")
    assert passwords.DEFAULT_MIN_LENGTH == 10


def test_the_common_list_is_short_lower_case_and_holds_the_usual_suspects() -> None:
    common = passwords.COMMON_PASSWORDS
    assert 90 <= len(common) <= 200
    assert all(p == p.lower() and len(p) >= 8 for p in common)
    for password in ("woaini1314", "1qaz2wsx", "qwertyuiop", "1234567890", "password123"):
        assert password in common
        with pytest.raises(InvalidInput):
            passwords.check(password.upper(), username="x", settings=None, field="password")


# --- the admin pages ---------------------------------------------------------------------


def _csrf(page: str) -> str:
    match = re.search(r'name="csrf_token" value="([0-9a-f]+)"', page)
    assert match
    return match.group(1)


def _field_error(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="e-{field}">([^<]*)</p>', page)
    assert match, f"no error shown next to {field}"
    return html.unescape(match.group(1))


@pytest.fixture
def admin_pages(app, world: World):
    with TestClient(app, base_url="http://127.0.0.1") as client:
        form = client.get("/signin")
        signed_in = client.post(
            "/signin",
            data={"username": "admin", "password": PASSWORD, "csrf_token": _csrf(form.text)},
            follow_redirects=False,
        )
        assert signed_in.status_code == 303
        yield client


@pytest.mark.parametrize(
    ("password", "chinese"),
    [
        ("abcdefghi", "密码太短：至少需要 10 个字符"),
        ("Wang.Wu.01", "密码不能与用户名相同"),
        ("1qaz2wsx3edc", "这是最常见的密码之一，容易被猜中，请换一个"),
    ],
)
def test_the_admin_pages_show_the_rule_next_to_the_password(
    admin_pages: TestClient, world: World, password: str, chinese: str
) -> None:
    page = admin_pages.get("/admin/users/new")
    assert "至少 10 个字符，不能与用户名相同" in page.text  # the hint says the rules
    answer = admin_pages.post(
        "/admin/users",
        data={
            "username": "wang.wu.01",
            "full_name": "王五",
            "role": "county",
            "password": password,
            "password_again": password,
            "csrf_token": _csrf(page.text),
        },
    )
    assert answer.status_code == 422
    assert _field_error(answer.text, "password") == chinese
    assert password not in answer.text
    reset_page = admin_pages.get(f"/admin/users/{world.county.id}")
    reset = admin_pages.post(
        f"/admin/users/{world.county.id}/password",
        data={"password": "qwertyuiop", "password_again": "qwertyuiop",
              "csrf_token": _csrf(reset_page.text)},
    )  # fmt: skip
    assert reset.status_code == 422
    assert _field_error(reset.text, "password") == "这是最常见的密码之一，容易被猜中，请换一个"


# --- the command line ----------------------------------------------------------------------


@pytest.mark.parametrize(("password", "rule"), [("woaini1314", COMMON), ("chief-of-all", None)])
def test_create_user_on_the_command_line_follows_the_rules(
    settings: Settings,
    world: World,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    password: str,
    rule: str | None,
) -> None:
    monkeypatch.setenv("MEMORIAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MEMORIAL_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        cli,
        ["create-user", "--username", "chief", "--password", password, "--role", "county"],
    )
    if rule is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 1
    assert f"password: {rule}" in result.output
