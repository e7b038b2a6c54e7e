"""No request a client can send produces a 500; bad input gets a 4xx that names it."""

import pytest
from fastapi.testclient import TestClient

from tests.factories import World


@pytest.mark.parametrize(
    "raw",
    [
        b'{"code": "X-1", "name": "\\ud800", "kind": "grave", "township_id": 1, "longitude": 112.2, "latitude": 35.7}',
        b'{"code": "X-1", "name": "a\\u0000b", "kind": "grave", "township_id": 1, "longitude": 112.2, "latitude": 35.7}',
        b'{"code": "X-1", "name": "n", "kind": "grave", "township_id": 1, "longitude": 1e999, "latitude": 35.7}',
        b'{"code": "X-1", "name": "n", "kind": "grave", "township_id": 1, "longitude": NaN, "latitude": 35.7}',
        b'{"code": "X-1", "name": "n", "kind": "grave", "township_id": 1e999, "longitude": 112, "latitude": 35.7}',
        b'{"\\ud800": 1}',
        b"{not json",
        b"[]",
        b'"just a string"',
        b"\xff\xfe",
    ],
)
def test_hostile_json_bodies_get_422(client: TestClient, world: World, raw: bytes) -> None:
    headers = world.headers("county") | {"Content-Type": "application/json"}
    response = client.post("/api/v1/facilities", content=raw, headers=headers)
    assert response.status_code == 422, response.text
    assert response.json()["detail"]


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/facilities?q=%00",
        "/api/v1/facilities/99999999999999999999",
        "/api/v1/facilities/-1",
        "/api/v1/facilities?offset=99999999999999999999",
        "/api/v1/audit?object_id=%00",
        "/api/v1/users/0",
    ],
)
def test_hostile_query_strings_get_4xx(client: TestClient, world: World, path: str) -> None:
    response = client.get(path, headers=world.headers("admin"))
    assert 400 <= response.status_code < 500, response.text


def test_undecodable_percent_escapes_are_searched_as_replacement_characters(
    client: TestClient, world: World
) -> None:
    response = client.get("/api/v1/facilities?q=%ED%A0%80", headers=world.headers("admin"))
    assert response.status_code == 200
    assert response.json()["total"] == 0


def test_a_chunked_body_over_the_limit_is_413(client: TestClient, world: World) -> None:
    def chunks():
        for _ in range(40):
            yield b"x" * 65536

    response = client.patch(
        f"/api/v1/facilities/{world.facility_a.id}",
        content=chunks(),
        headers=world.headers("county") | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "1 MiB" in response.json()["detail"]


def test_nul_in_the_login_form_is_refused(client: TestClient, world: World) -> None:
    response = client.post("/api/v1/auth/token", data={"username": "ad\x00min", "password": "x"})
    assert response.status_code == 422


def test_an_oversized_json_body_is_413(client: TestClient, world: World) -> None:
    body = b'{"description": "' + b"x" * (2 * 1024 * 1024) + b'"}'
    response = client.patch(
        f"/api/v1/facilities/{world.facility_a.id}",
        content=body,
        headers=world.headers("county") | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert "1 MiB" in response.json()["detail"]


def test_unknown_paths_and_methods_say_what_was_asked(client: TestClient) -> None:
    missing = client.get("/api/v1/nothing-here")
    assert missing.status_code == 404
    assert "/api/v1/nothing-here" in missing.json()["detail"]
    wrong = client.put("/healthz")
    assert wrong.status_code == 405
    assert "PUT" in wrong.json()["detail"]


def test_validation_errors_do_not_echo_the_input(client: TestClient, world: World) -> None:
    response = client.post(
        "/api/v1/users",
        json={"username": "x", "password": "secret-but-short", "role": "boss", "full_name": "n"},
        headers=world.headers("admin"),
    )
    assert response.status_code == 422
    assert "secret-but-short" not in response.text
