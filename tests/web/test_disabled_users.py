"""A deactivated user is out at once (issue 11): the pages' session, the API's bearer token,
the cookie the pages' scripts read the API with, and the phone's session all stop on the
next request, and activating the account again does not bring the old ones back."""

import pytest
from fastapi.testclient import TestClient

from tests.factories import PASSWORD, World
from tests.web.conftest import csrf_of

pytestmark = pytest.mark.both_databases

GONE = "This account no longer exists or has been deactivated"
ZH_HEADERS = {"Accept-Language": "zh-CN"}


def page_sign_in(client: TestClient, path: str, username: str) -> None:
    form = client.get(path)
    answer = client.post(
        path,
        data={"username": username, "password": PASSWORD, "csrf_token": csrf_of(form.text)},
        follow_redirects=False,
    )
    assert answer.status_code == 303, answer.text


def bearer(client: TestClient, username: str) -> dict[str, str]:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": PASSWORD})
    assert response.status_code == 200
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


def set_active(client: TestClient, world: World, user_id: int, active: bool) -> None:
    response = client.patch(
        f"/api/v1/users/{user_id}", json={"is_active": active}, headers=world.headers("admin")
    )
    assert response.status_code == 200, response.text


def test_deactivating_ends_every_session_at_once(app, client: TestClient, world: World) -> None:
    with (
        TestClient(app, base_url="http://127.0.0.1") as pages,
        TestClient(app, base_url="http://127.0.0.1") as phone,
    ):
        page_sign_in(pages, "/signin", "lg")
        page_sign_in(phone, "/m/signin", "lg")
        token = bearer(client, "lg")
        # all of them work before
        assert pages.get("/", follow_redirects=False).status_code == 200
        assert pages.get("/api/v1/me").status_code == 200  # the cookie, reading the API
        assert client.get("/api/v1/me", headers=token).status_code == 200
        session = phone.get("/m/session.json")
        assert session.status_code == 200 and session.json()["user"]["username"] == "lg"
        csrf = session.json()["csrf"]

        set_active(client, world, world.township_user.id, False)

        page = pages.get("/facilities", follow_redirects=False)
        assert page.status_code == 303
        assert page.headers["location"] == "/signin?next=/facilities&reason=revoked"
        assert "账号已停用" in pages.get(page.headers["location"]).text
        cookie_read = pages.get("/api/v1/me")
        assert cookie_read.status_code == 401 and cookie_read.json()["detail"] == GONE
        api = client.get("/api/v1/me", headers=token)
        assert api.status_code == 401 and api.json()["detail"] == GONE
        ended = phone.get("/m/session.json")
        assert ended.status_code == 401
        assert ended.json() == {"reason": "revoked"}
        assert ended.headers["cache-control"] == "no-store"
        write = phone.post(
            "/api/v1/inspections", json={}, headers={"X-CSRF-Token": csrf, **ZH_HEADERS}
        )
        assert write.status_code == 401  # the phone's scripts cannot send reports either
        assert "账号不存在或已停用" in write.json()["detail"]

        # nor can the user sign in again, on either form
        for path in ("/signin", "/m/signin"):
            form = pages.get(path)
            again = pages.post(
                path,
                data={"username": "lg", "password": PASSWORD, "csrf_token": csrf_of(form.text)},
                follow_redirects=False,
            )
            assert again.status_code == 401
            assert "此账号已停用" in again.text

        # the others are untouched
        assert client.get("/api/v1/me", headers=world.headers("county")).status_code == 200


def test_activating_again_does_not_revive_old_sessions(
    app, client: TestClient, world: World
) -> None:
    with TestClient(app, base_url="http://127.0.0.1") as phone:
        page_sign_in(phone, "/m/signin", "lg")
        token = bearer(client, "lg")
        set_active(client, world, world.township_user.id, False)
        set_active(client, world, world.township_user.id, True)
        assert client.get("/api/v1/me", headers=token).status_code == 401
        assert phone.get("/m/session.json").json() == {"reason": "revoked"}
        page_sign_in(phone, "/m/signin", "lg")  # a new sign-in works
        assert phone.get("/m/session.json").status_code == 200
        assert client.get("/api/v1/me", headers=bearer(client, "lg")).status_code == 200


def test_deactivating_on_the_admin_page_signs_the_user_out_too(
    app, client: TestClient, world: World
) -> None:
    with (
        TestClient(app, base_url="http://127.0.0.1") as admin,
        TestClient(app, base_url="http://127.0.0.1") as clerk,
    ):
        page_sign_in(admin, "/signin", "admin")
        page_sign_in(clerk, "/signin", "clerk")
        assert clerk.get("/", follow_redirects=False).status_code == 200
        page = admin.get(f"/admin/users/{world.county.id}")
        done = admin.post(
            f"/admin/users/{world.county.id}/active",
            data={"is_active": "false", "csrf_token": csrf_of(page.text)},
            follow_redirects=False,
        )
        assert done.status_code == 303
        answer = clerk.get("/", follow_redirects=False)
        assert answer.status_code == 303
        assert answer.headers["location"] == "/signin?next=/&reason=revoked"
