"""Only the races we expect become a 409; every other integrity error is a bug and fails
loudly. The database itself refuses rows that break what the service promises."""

import uuid
from datetime import UTC, date, datetime

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError

from app.db import Database
from app.errors import unique_key_violated
from app.models import Facility, Inspection
from tests.factories import World


def _integrity_error(db: Database, statement) -> IntegrityError:
    with pytest.raises(IntegrityError) as caught, db.begin() as session:
        session.execute(statement)
    return caught.value


def _facility_row(world: World, **overrides) -> dict:
    a = world.facility_a
    return {
        "code": "140521100-900",
        "name": "测试墓",
        "kind": "grave",
        "tier": "county",
        "status": "active",
        "township_id": world.township_a.id,
        "longitude": a.longitude,
        "latitude": a.latitude,
        "source_crs": "wgs84",
        "source_longitude": a.longitude,
        "source_latitude": a.latitude,
        "martyrs": [],
        "martyr_names": "",
        "registered_on": date(2024, 1, 1),
        "next_due_on": date(2024, 2, 1),
    } | overrides


def _inspection_row(world: World, **overrides) -> dict:
    now = datetime.now(UTC)
    return {
        "client_id": uuid.uuid4(),
        "facility_id": world.facility_a.id,
        "township_id": world.township_a.id,
        "inspector_id": world.township_user.id,
        "inspected_at": now,
        "inspected_on": now.date(),
        "received_at": now,
        "condition": "good",
        "checklist": {},
        "flags": [],
        "review_status": "submitted",
        "receipt": "TEST-0000",
        "payload_sha256": "0" * 64,
    } | overrides


def test_a_taken_unique_key_is_named_on_either_database(db: Database, world: World) -> None:
    taken = _integrity_error(
        db, insert(Facility).values(**_facility_row(world, code=world.facility_a.code))
    )
    assert unique_key_violated(taken) == "uq_facilities_code"


@pytest.mark.parametrize(
    "broken",
    [
        {"name": None},  # NOT NULL
        {"township_id": 999_999},  # foreign key
    ],
    ids=["not-null", "foreign-key"],
)
def test_other_integrity_errors_are_not_mistaken_for_races(
    db: Database, world: World, broken: dict
) -> None:
    error = _integrity_error(db, insert(Facility).values(**_facility_row(world, **broken)))
    assert unique_key_violated(error) is None


@pytest.mark.parametrize(
    "position",
    [
        # a position without what the phone sent (as an old benchmark wrote them)
        {"longitude": 112.2, "latitude": 35.7, "distance_m": 3.0, "on_site": True},
        # half a position
        {"longitude": 112.2},
        # a verdict with no position
        {"on_site": True},
    ],
    ids=["no-source", "half", "verdict-only"],
)
def test_the_database_refuses_a_report_whose_position_is_not_whole(
    db: Database, world: World, position: dict
) -> None:
    error = _integrity_error(db, insert(Inspection).values(**_inspection_row(world, **position)))
    assert unique_key_violated(error) is None
    assert "position_whole" in str(error.orig)


def test_a_whole_position_or_none_is_accepted(db: Database, world: World) -> None:
    whole = {
        "longitude": 112.2,
        "latitude": 35.7,
        "accuracy_m": 8.0,
        "source_crs": "wgs84",
        "source_longitude": 112.2,
        "source_latitude": 35.7,
        "distance_m": 3.0,
        "on_site": True,
    }
    with db.begin() as session:
        session.execute(insert(Inspection).values(**_inspection_row(world, **whole)))
        session.execute(insert(Inspection).values(**_inspection_row(world)))


def _app_raising(app: FastAPI, db: Database, statement) -> TestClient:
    def fail() -> None:
        with db.begin() as session:
            session.execute(statement)

    app.add_api_route("/test-integrity", fail, methods=["POST"])
    return TestClient(app)


def test_an_expected_race_that_reaches_the_handler_is_a_409(
    app: FastAPI, db: Database, world: World
) -> None:
    statement = insert(Facility).values(**_facility_row(world, code=world.facility_a.code))
    with _app_raising(app, db, statement) as client:
        response = client.post("/test-integrity")
    assert response.status_code == 409
    assert "saved at the same moment" in response.json()["detail"]


def test_an_unexpected_integrity_error_is_a_bug_not_a_conflict(
    app: FastAPI, db: Database, world: World
) -> None:
    statement = insert(Facility).values(**_facility_row(world, township_id=999_999))
    with _app_raising(app, db, statement) as client, pytest.raises(IntegrityError):
        client.post("/test-integrity")
    with TestClient(app, raise_server_exceptions=False) as client:
        assert client.post("/test-integrity").status_code == 500
