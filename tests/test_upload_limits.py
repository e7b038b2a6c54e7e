"""A refused upload tells the user what they may send, not the server's internal limit."""

import pytest
from fastapi.testclient import TestClient

from app.main import BODY_LIMITS
from tests.factories import World, report_body

PHOTO_LIMIT = "The request body is too large: a photo may be at most 10 MiB"


@pytest.fixture
def report(client: TestClient, world: World) -> dict:
    body = report_body(world.facility_a)
    return client.post("/api/v1/inspections", json=body, headers=world.headers("township")).json()


def test_a_declared_oversized_photo_upload_names_the_photo_limit(
    client: TestClient, world: World, report: dict
) -> None:
    (_pattern, body_limit, _allowed) = BODY_LIMITS[0]
    response = client.post(
        f"/api/v1/inspections/{report['id']}/photos",
        files={"file": ("p.jpg", b"\xff" * (body_limit + 1), "image/jpeg")},
        headers=world.headers("township"),
    )
    assert response.status_code == 413
    assert response.json()["detail"] == PHOTO_LIMIT


def test_a_chunked_oversized_photo_upload_names_the_photo_limit(
    client: TestClient, world: World, report: dict
) -> None:
    def body():
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n\r\n'
        for _ in range(200):  # 12.5 MiB without a Content-Length
            yield b"\xff" * 65536
        yield b"\r\n--x--\r\n"

    response = client.post(
        f"/api/v1/inspections/{report['id']}/photos",
        content=body(),
        headers=world.headers("township") | {"Content-Type": "multipart/form-data; boundary=x"},
    )
    assert response.status_code == 413
    assert response.json()["detail"] == PHOTO_LIMIT


def test_an_oversized_json_body_names_the_1_mib_limit(client: TestClient, world: World) -> None:
    response = client.patch(
        f"/api/v1/facilities/{world.facility_a.id}",
        content=b'{"description": "' + b"x" * (2 * 1024 * 1024) + b'"}',
        headers=world.headers("county") | {"Content-Type": "application/json"},
    )
    assert response.status_code == 413
    assert response.json()["detail"] == (
        "The request body is too large: at most 1 MiB is accepted here"
    )
