"""A report begun by scanning the site's QR plate carries its code: the right code earns the
flag ``scanned_plate``; a code that is not this facility's is refused, naming plate_code."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import Database
from app.models import Inspection
from app.plates import codes
from tests.factories import World, report_body

API = "/api/v1/inspections"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def send(client: TestClient, world: World, body: dict, extra: dict | None = None):
    return client.post(API, json=body, headers=world.headers("township") | (extra or {}))


def stored_flags(db: Database, client_id: str) -> list[str]:
    with db.begin() as session:
        inspection = session.scalars(
            select(Inspection).where(Inspection.client_id == uuid.UUID(client_id))
        ).one()
        return list(inspection.flags)


@pytest.mark.parametrize("written", ["as printed", "lower case", "with blanks"])
def test_the_plate_of_the_facility_flags_the_report_scanned_plate(
    client: TestClient, world: World, db: Database, written: str
) -> None:
    code = codes.encode(world.facility_a.id)
    plate = {"as printed": code, "lower case": code.lower(), "with blanks": f" {code} "}[written]
    body = report_body(world.facility_a, plate_code=plate)
    response = send(client, world, body)
    assert response.status_code == 201, response.text
    assert response.json()["flags"] == ["scanned_plate"]
    assert stored_flags(db, body["client_id"]) == ["scanned_plate"]
    shown = client.get(f"{API}/{response.json()['id']}", headers=world.headers("county"))
    assert shown.json()["flags"] == ["scanned_plate"]


def test_the_flag_sits_beside_the_position_flags(client: TestClient, world: World) -> None:
    body = report_body(world.facility_a, plate_code=codes.encode(world.facility_a.id))
    del body["position"]
    response = send(client, world, body)
    assert response.status_code == 201, response.text
    assert response.json()["flags"] == ["no_position", "scanned_plate"]


@pytest.mark.parametrize("plate", [None, ""])
def test_a_report_without_a_plate_has_no_flag(
    client: TestClient, world: World, db: Database, plate: str | None
) -> None:
    body = report_body(world.facility_a)
    if plate is not None:
        body["plate_code"] = plate
    response = send(client, world, body)
    assert response.status_code == 201, response.text
    assert response.json()["flags"] == []
    assert stored_flags(db, body["client_id"]) == []


@pytest.mark.parametrize("case", ["another site's plate", "one character wrong", "not a code"])
def test_a_plate_that_is_not_the_facilitys_is_422_naming_plate_code(
    client: TestClient, world: World, db: Database, case: str
) -> None:
    good = codes.encode(world.facility_a.id)
    wrong_char = ("3" if good[2] != "3" else "4").join((good[:2], good[3:]))
    plate = {
        "another site's plate": codes.encode(world.facility_b.id),
        "one character wrong": wrong_char,
        "not a code": "HELLO",
    }[case]
    body = report_body(world.facility_a, plate_code=plate)
    response = send(client, world, body)
    assert response.status_code == 422, response.text
    [error] = response.json()["detail"]
    assert error["loc"] == ["body", "plate_code"]
    assert "plate_code" in error["msg"]
    with db.begin() as session:
        assert session.scalars(select(Inspection)).all() == []

    chinese = send(client, world, body, ZH)
    assert chinese.status_code == 422
    [error] = chinese.json()["detail"]
    assert error["loc"] == ["body", "plate_code"]
    assert error["msg"] == "扫到的标牌码（plate_code）不是该设施的标牌，请重新扫码"


def test_a_plate_code_longer_than_16_is_refused(client: TestClient, world: World) -> None:
    body = report_body(world.facility_a, plate_code="X" * 17)
    response = send(client, world, body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "plate_code"]
    chinese = send(client, world, body, ZH)
    assert chinese.json()["detail"][0]["msg"].startswith("标牌码：")


def test_the_plate_code_is_part_of_the_replay_fingerprint(client: TestClient, world: World) -> None:
    code = codes.encode(world.facility_a.id)
    body = report_body(world.facility_a, plate_code=code)
    first = send(client, world, body)
    assert first.status_code == 201
    replay = send(client, world, body)
    assert replay.status_code == 200
    assert replay.json()["id"] == first.json()["id"]
    assert replay.json()["flags"] == ["scanned_plate"]
    without = {k: v for k, v in body.items() if k != "plate_code"}
    changed = send(client, world, without)
    assert changed.status_code == 409, changed.text


def test_a_report_without_a_plate_hashes_as_before_plates() -> None:
    """A report queued on a phone before plates existed is still recognised when replayed:
    its fingerprint is the one the service computed before ``plate_code`` was a field (the
    digest below was made by that code, 7a2f4a1, for this body)."""
    from app.inspections.schemas import InspectionCreate
    from app.inspections.service import payload_sha256

    body = {
        "client_id": "3f1c2a9e-0d4b-4c55-9a57-2b1e6f0c8d11",
        "facility_id": 7,
        "inspected_at": "2026-04-01T09:30:00+08:00",
        "condition": "good",
        "checklist": {"marker_sign": "ok", "headstone": "problem"},
        "notes": "清明前巡查",
        "position": {"longitude": 112.2, "latitude": 35.6, "accuracy_m": 8},
    }
    before_plates = "49122de40457c72fb45d9f8524e49b990a54f273915daa060e642ac5e39820a6"
    assert payload_sha256(InspectionCreate.model_validate(body)) == before_plates
    with_none = InspectionCreate.model_validate(body | {"plate_code": None})
    assert payload_sha256(with_none) == before_plates
    scanned = InspectionCreate.model_validate(body | {"plate_code": codes.encode(7)})
    assert payload_sha256(scanned) != before_plates


def test_another_townships_facility_is_still_a_404_with_its_plate(
    client: TestClient, world: World
) -> None:
    body = report_body(world.facility_b, plate_code=codes.encode(world.facility_b.id))
    response = send(client, world, body)
    assert response.status_code == 404
