from datetime import timedelta

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import Database
from app.models import Role, User
from app.security import create_access_token
from tests.concurrency import run_together
from tests.factories import PASSWORD, World


def sign_in(client: TestClient, username: str, password: str = PASSWORD):
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def test_sign_in_returns_a_bearer_token_that_opens_me(client: TestClient, world: World) -> None:
    response = sign_in(client, "clerk")
    assert response.status_code == 200
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 12 * 3600
    me = client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["username"] == "clerk"
    assert me.json()["role"] == "county"


def test_township_user_sees_their_township_on_me(client: TestClient, world: World) -> None:
    me = client.get("/api/v1/me", headers=world.headers("township")).json()
    assert me["township"] == {"id": world.township_a.id, "code": "140521100", "name": "龙港镇"}


@pytest.mark.parametrize(
    ("username", "password"), [("clerk", "wrong password"), ("nobody", PASSWORD)]
)
def test_wrong_credentials_are_refused_alike(
    client: TestClient, world: World, username: str, password: str
) -> None:
    response = sign_in(client, username, password)
    assert response.status_code == 401
    assert response.json()["detail"] == "Wrong username or password"


def test_repeated_failures_lock_the_username_even_for_the_right_password(
    app, client: TestClient, world: World, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures):
        assert sign_in(client, "clerk", "wrong password").status_code == 401
    locked = sign_in(client, "clerk")
    assert locked.status_code == 429
    assert "try again in" in locked.json()["detail"]
    assert int(locked.headers["Retry-After"]) > 0
    with TestClient(app, client=("10.0.0.9", 50000)) as elsewhere:
        assert sign_in(elsewhere, "admin").status_code == 200  # other accounts are unaffected


def test_the_lock_is_shared_by_every_worker(
    settings: Settings, world: World, client: TestClient
) -> None:
    from app.main import create_app

    for _ in range(settings.login_max_failures):
        sign_in(client, "clerk", "wrong password")
    other_worker = create_app(settings)
    with TestClient(other_worker) as second:
        assert sign_in(second, "clerk").status_code == 429
    other_worker.state.db.dispose()


def test_concurrent_failures_are_all_counted(app, world: World, settings: Settings) -> None:
    """However many attempts arrive at once, no more passwords are tried than allowed."""
    allowed = settings.login_max_failures
    results = run_together(
        app, [lambda client: sign_in(client, "clerk", "wrong password")] * (allowed + 4)
    )
    assert sorted(r.status_code for r in results) == [401] * allowed + [429] * 4
    with TestClient(app) as client:
        assert sign_in(client, "clerk").status_code == 429


def test_a_deactivated_user_cannot_sign_in_or_use_an_old_token(
    client: TestClient, world: World
) -> None:
    old = world.headers("county")
    response = client.patch(
        f"/api/v1/users/{world.county.id}",
        json={"is_active": False},
        headers=world.headers("admin"),
    )
    assert response.status_code == 200
    assert sign_in(client, "clerk").status_code == 401
    assert client.get("/api/v1/me", headers=old).status_code == 401


@pytest.mark.parametrize(
    "header",
    [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": "Basic abc"}],
)
def test_requests_without_a_valid_token_get_401(client: TestClient, world: World, header) -> None:
    response = client.get("/api/v1/me", headers=header)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == "Bearer"


def test_an_expired_token_says_so(client: TestClient, world: World, settings: Settings) -> None:
    token = create_access_token(
        user_id=world.county.id, key=settings.signing_key(), ttl=timedelta(seconds=-10)
    )
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert "expired" in response.json()["detail"]


def test_a_token_signed_with_another_key_is_refused(client: TestClient, world: World) -> None:
    token = create_access_token(user_id=world.admin.id, key="x" * 40, ttl=timedelta(hours=1))
    response = client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401


def test_changing_your_password_revokes_old_tokens_and_returns_a_new_one(
    client: TestClient, world: World
) -> None:
    old = world.headers("township")
    response = client.post(
        "/api/v1/me/password",
        json={"current_password": PASSWORD, "new_password": "  a new secret  "},
        headers=old,
    )
    assert response.status_code == 200
    new = {"Authorization": f"Bearer {response.json()['access_token']}"}
    assert client.get("/api/v1/me", headers=old).status_code == 401
    assert client.get("/api/v1/me", headers=new).status_code == 200
    assert sign_in(client, "lg", "  a new secret  ").status_code == 200  # spaces are kept


def test_changing_your_password_needs_the_current_one(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/me/password",
        json={"current_password": "guess", "new_password": "another secret"},
        headers=world.headers("township"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "current_password"]


# --- users (admin only) -----------------------------------------------------------------

ROLES = ["admin", "county", "township", "other", "anonymous"]
EXPECTED_FOR_NON_ADMIN = {"county": 403, "township": 403, "other": 403, "anonymous": 401}


@pytest.mark.parametrize("who", ROLES)
def test_only_admins_list_users(client: TestClient, world: World, who: str) -> None:
    response = client.get("/api/v1/users", headers=world.headers(who))
    assert response.status_code == (200 if who == "admin" else EXPECTED_FOR_NON_ADMIN[who])
    if who == "admin":
        assert response.json()["total"] == 4
        assert "password_hash" not in response.text


@pytest.mark.parametrize("who", ROLES)
def test_only_admins_create_users(client: TestClient, world: World, who: str) -> None:
    body = {
        "username": "new.inspector",
        "full_name": "新巡查员",
        "role": "township",
        "township_id": world.township_a.id,
        "password": "long enough",
    }
    response = client.post("/api/v1/users", json=body, headers=world.headers(who))
    assert response.status_code == (201 if who == "admin" else EXPECTED_FOR_NON_ADMIN[who])
    if who == "admin":
        created = response.json()
        assert created["township"]["code"] == "140521100"
        assert sign_in(client, "new.inspector", "long enough").status_code == 200


@pytest.mark.parametrize("who", ROLES)
def test_only_admins_change_users(client: TestClient, world: World, who: str) -> None:
    response = client.patch(
        f"/api/v1/users/{world.county.id}", json={"full_name": "改名"}, headers=world.headers(who)
    )
    assert response.status_code == (200 if who == "admin" else EXPECTED_FOR_NON_ADMIN[who])


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"role": "township", "township_id": None}, "township_id"),
        ({"role": "county", "township_id": 1}, None),
        ({"password": "short"}, "password"),
        ({"username": "renamed"}, "username"),
    ],
)
def test_bad_user_changes_are_refused_with_the_field_named(
    client: TestClient, world: World, change: dict, field: str | None
) -> None:
    response = client.patch(
        f"/api/v1/users/{world.county.id}", json=change, headers=world.headers("admin")
    )
    assert response.status_code == 422
    if field:
        assert field in str(response.json()["detail"])


def test_a_township_user_needs_a_township(client: TestClient, world: World) -> None:
    body = {"username": "x1y", "full_name": "x", "role": "township", "password": "long enough"}
    response = client.post("/api/v1/users", json=body, headers=world.headers("admin"))
    assert response.status_code == 422
    assert "township_id is required" in response.json()["detail"][0]["msg"]


def test_a_user_for_a_missing_township_is_refused(client: TestClient, world: World) -> None:
    body = {
        "username": "x1y",
        "full_name": "x",
        "role": "township",
        "township_id": 999,
        "password": "long enough",
    }
    response = client.post("/api/v1/users", json=body, headers=world.headers("admin"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "township_id"]


def test_a_duplicate_username_is_a_conflict(client: TestClient, world: World) -> None:
    body = {"username": "clerk", "full_name": "x", "role": "county", "password": "long enough"}
    response = client.post("/api/v1/users", json=body, headers=world.headers("admin"))
    assert response.status_code == 409
    assert "clerk" in response.json()["detail"]


def test_moving_a_user_to_county_staff_clears_the_township(
    client: TestClient, world: World
) -> None:
    response = client.patch(
        f"/api/v1/users/{world.township_user.id}",
        json={"role": "county"},
        headers=world.headers("admin"),
    )
    assert response.status_code == 200
    assert response.json()["township"] is None


def test_admins_cannot_lock_themselves_out(client: TestClient, world: World) -> None:
    for change in ({"is_active": False}, {"role": "county"}):
        response = client.patch(
            f"/api/v1/users/{world.admin.id}", json=change, headers=world.headers("admin")
        )
        assert response.status_code == 409


def test_changing_a_role_revokes_that_users_tokens(client: TestClient, world: World) -> None:
    old = world.headers("county")
    client.patch(
        f"/api/v1/users/{world.county.id}",
        json={"role": "township", "township_id": world.township_b.id},
        headers=world.headers("admin"),
    )
    assert client.get("/api/v1/me", headers=old).status_code == 401


def test_user_changes_are_audited_without_password_hashes(
    client: TestClient, world: World, db: Database
) -> None:
    client.patch(
        f"/api/v1/users/{world.county.id}",
        json={"password": "brand new secret", "phone": "13900000000"},
        headers=world.headers("admin"),
    )
    log = client.get(
        "/api/v1/audit", params={"object_type": "user"}, headers=world.headers("admin")
    ).json()
    entry = log["items"][0]
    assert entry["action"] == "user.update"
    assert entry["actor_username"] == "admin"
    assert entry["after"] == {"password": "changed", "phone": "13900000000"}
    assert "$argon2" not in str(log)
    with db.session() as session:
        assert session.get(User, world.county.id).role is Role.county


def test_the_lock_message_names_the_lock_time_right_after_it_starts(
    client: TestClient, world: World, settings: Settings
) -> None:
    for _ in range(settings.login_max_failures):
        sign_in(client, "clerk", "wrong password")
    locked = sign_in(client, "clerk")
    minutes = settings.login_lock_minutes
    assert locked.json()["detail"] == (
        f"Too many failed sign-ins for 'clerk'; try again in {minutes} minutes"
    )
    assert minutes * 60 - 60 < int(locked.headers["Retry-After"]) <= minutes * 60


@pytest.mark.parametrize("spelling", ["CLERK", "Clerk", "clerk"])
def test_a_username_signs_in_in_any_case(client: TestClient, world: World, spelling: str) -> None:
    response = sign_in(client, spelling)
    assert response.status_code == 200, response.text
    me = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {response.json()['access_token']}"}
    )
    assert me.json()["username"] == "clerk"


def test_failures_in_any_case_count_against_one_name(
    client: TestClient, world: World, settings: Settings
) -> None:
    spellings = ("CLERK", "Clerk", "clerK", "cLerk", "clerk")
    for n in range(settings.login_max_failures):
        assert sign_in(client, spellings[n % 5], "wrong password").status_code == 401
    assert sign_in(client, "CLERK").status_code == 429


def test_a_username_differing_only_in_case_is_a_conflict_naming_the_holder(
    client: TestClient, world: World
) -> None:
    body = {"username": "Clerk", "full_name": "x", "role": "county", "password": "long enough"}
    response = client.post("/api/v1/users", json=body, headers=world.headers("admin"))
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"The username 'Clerk' is already taken by user {world.county.id} ('clerk');"
        " usernames are the same whatever their upper or lower case, so choose another"
    )
    users = client.get("/api/v1/users", headers=world.headers("admin")).json()
    assert [u["username"].lower() for u in users["items"]].count("clerk") == 1


def test_create_user_on_the_command_line_refuses_a_name_in_another_case(
    settings: Settings, world: World, tmp_path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from app.cli import cli

    monkeypatch.setenv("MEMORIAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MEMORIAL_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(
        cli,
        ["create-user", "--username", "CLERK", "--password", "long enough", "--role", "county"],
    )
    assert result.exit_code == 1
    assert f"already taken by user {world.county.id} ('clerk')" in result.output


def test_the_reserved_system_account_can_be_neither_taken_nor_changed(
    client: TestClient, world: World, db
) -> None:
    from app import seed

    with db.begin() as session:
        system_id = seed.system_user(session).id
    admin = world.headers("admin")
    body = {
        "username": "_system",
        "full_name": "冒充",
        "role": "county",
        "password": "long-enough-pw-1",
    }
    assert client.post("/api/v1/users", json=body, headers=admin).status_code == 422
    # "system" without the underscore is an ordinary name, as it was before
    ordinary = client.post("/api/v1/users", json=body | {"username": "system"}, headers=admin)
    assert ordinary.status_code == 201, ordinary.text
    for change in ({"is_active": True}, {"password": "long-enough-pw-1"}, {"full_name": "x"}):
        response = client.patch(f"/api/v1/users/{system_id}", json=change, headers=admin)
        assert response.status_code == 409, change
        assert "reserved account" in response.json()["detail"]
    signin = client.post("/api/v1/auth/token", data={"username": "_system", "password": "!"})
    assert signin.status_code == 401
