"""Submitting patrol reports: idempotent by client_id, judged for position, never lost."""

import uuid
from datetime import UTC, datetime, timedelta
from math import cos, radians

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import Database
from app.geo.crs import wgs84_to_gcj02
from app.geo.distance import EARTH_RADIUS_M
from app.models import Facility, FacilityStatus, Inspection
from tests.concurrency import run_together
from tests.factories import World, report_body

API = "/api/v1/inspections"


def submit(client: TestClient, world: World, who: str = "township", **overrides):
    body = report_body(world.facility_a, **overrides)
    return client.post(API, json=body, headers=world.headers(who)), body


def test_a_report_is_stored_with_receipt_and_verdicts(client: TestClient, world: World) -> None:
    response, body = submit(client, world)
    assert response.status_code == 201, response.text
    stored = response.json()
    assert stored["client_id"] == body["client_id"]
    assert stored["facility_id"] == world.facility_a.id
    assert stored["inspector"] == {
        "id": world.township_user.id,
        "username": "lg",
        "full_name": "测试用户",
    }
    assert stored["condition"] == "good"
    assert stored["checklist"] == body["checklist"]
    assert stored["on_site"] is True
    assert stored["distance_m"] == 0
    assert stored["flags"] == []
    assert stored["review_status"] == "submitted"
    assert stored["photos"] == []
    assert len(stored["receipt"]) == 9 and stored["receipt"][4] == "-"
    assert stored["position"]["longitude"] == world.facility_a.longitude


def test_the_facility_schedule_moves_with_the_report(client: TestClient, world: World) -> None:
    inspected_at = datetime.now(UTC) - timedelta(hours=2)
    submit(client, world, inspected_at=inspected_at.isoformat())
    facility = client.get(
        f"/api/v1/facilities/{world.facility_a.id}", headers=world.headers("county")
    ).json()
    assert datetime.fromisoformat(facility["last_inspected_at"]) == inspected_at
    local_day = inspected_at.astimezone(world.settings.tz).date()
    assert facility["next_due_on"] == (local_day + timedelta(days=30)).isoformat()


def test_an_older_report_arriving_late_does_not_move_the_schedule_back(
    client: TestClient, world: World
) -> None:
    recent = datetime.now(UTC) - timedelta(hours=1)
    submit(client, world, inspected_at=recent.isoformat())
    submit(client, world, inspected_at=(recent - timedelta(days=5)).isoformat())
    facility = client.get(
        f"/api/v1/facilities/{world.facility_a.id}", headers=world.headers("county")
    ).json()
    assert datetime.fromisoformat(facility["last_inspected_at"]) == recent


def test_a_replay_returns_the_stored_report_with_200(client: TestClient, world: World) -> None:
    first, body = submit(client, world)
    again = client.post(API, json=body, headers=world.headers("township"))
    assert again.status_code == 200
    assert again.json() == first.json()


def test_a_replay_with_the_same_instant_in_another_offset_is_the_same_report(
    client: TestClient, world: World
) -> None:
    first, body = submit(client, world)
    moment = datetime.fromisoformat(body["inspected_at"]).astimezone(world.settings.tz)
    again = client.post(
        API, json=body | {"inspected_at": moment.isoformat()}, headers=world.headers("township")
    )
    assert again.status_code == 200
    assert again.json()["id"] == first.json()["id"]


def test_a_replay_shows_the_report_as_it_now_stands(client: TestClient, world: World) -> None:
    first, body = submit(client, world)
    client.post(
        f"{API}/{first.json()['id']}/review",
        json={"decision": "accepted"},
        headers=world.headers("county"),
    )
    again = client.post(API, json=body, headers=world.headers("township"))
    assert again.status_code == 200
    assert again.json()["review_status"] == "accepted"


def test_the_same_client_id_with_different_content_is_409(client: TestClient, world: World) -> None:
    first, body = submit(client, world)
    changed = client.post(
        API, json=body | {"condition": "missing"}, headers=world.headers("township")
    )
    assert changed.status_code == 409
    assert body["client_id"] in changed.json()["detail"]
    assert first.json()["receipt"] in changed.json()["detail"]


def test_ten_concurrent_sends_of_one_report_store_it_once(app, world: World, db: Database) -> None:
    body = report_body(world.facility_a)
    headers = world.headers("township")
    results = run_together(app, [lambda client: client.post(API, json=body, headers=headers)] * 10)
    assert sorted(r.status_code for r in results) == [200] * 9 + [201], [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    with db.session() as session:
        stored = session.execute(
            select(func.count()).where(Inspection.client_id == uuid.UUID(body["client_id"]))
        ).scalar_one()
    assert stored == 1


def offset_east(facility: Facility, metres: float) -> tuple[float, float]:
    """A point ``metres`` east of the facility (west if negative)."""
    degrees = metres / (radians(1) * EARTH_RADIUS_M * cos(radians(facility.latitude)))
    return facility.longitude + degrees, facility.latitude


@pytest.mark.parametrize(
    ("metres", "accuracy", "on_site", "flags"),
    [
        (100, 10, True, []),
        (160, 5, False, ["off_site"]),
        (160, 20, True, []),  # the reported accuracy widens the radius
        (499, 1000, True, ["low_accuracy"]),  # ... up to 500 m
        (-520, 1000, False, ["off_site", "low_accuracy"]),  # west: no GCJ-02 reading helps
        (2000, None, False, ["off_site"]),
    ],
)
def test_on_site_is_judged_from_distance_and_accuracy(
    client: TestClient, world: World, metres, accuracy, on_site, flags
) -> None:
    lon, lat = offset_east(world.facility_a, metres)
    position = {"longitude": lon, "latitude": lat}
    if accuracy is not None:
        position["accuracy_m"] = accuracy
    response, _ = submit(client, world, position=position)
    assert response.status_code == 201
    stored = response.json()
    assert stored["on_site"] is on_site
    assert stored["flags"] == flags
    assert stored["distance_m"] == pytest.approx(abs(metres), abs=2)


def test_a_report_without_position_is_stored_and_flagged(client: TestClient, world: World) -> None:
    response, _ = submit(client, world, position=None)
    assert response.status_code == 201
    assert response.json()["on_site"] is None
    assert response.json()["flags"] == ["no_position"]
    assert response.json()["position"] is None


def test_gcj02_sent_as_wgs84_is_flagged_as_probable_gcj02(client: TestClient, world: World) -> None:
    lon, lat = wgs84_to_gcj02(world.facility_a.longitude, world.facility_a.latitude)
    response, _ = submit(
        client, world, position={"longitude": lon, "latitude": lat, "accuracy_m": 5}
    )
    stored = response.json()
    assert 300 < stored["distance_m"] < 700
    assert stored["on_site"] is False
    assert stored["flags"] == ["off_site", "probable_gcj02"]


def test_a_position_declared_as_gcj02_is_converted_and_on_site(
    client: TestClient, world: World
) -> None:
    lon, lat = wgs84_to_gcj02(world.facility_a.longitude, world.facility_a.latitude)
    position = {"longitude": lon, "latitude": lat, "accuracy_m": 5, "crs": "gcj02"}
    stored = submit(client, world, position=position)[0].json()
    assert stored["on_site"] is True
    assert stored["distance_m"] < 1
    assert stored["position"]["source_crs"] == "gcj02"


def test_a_phone_far_outside_the_county_is_stored_not_refused(
    client: TestClient, world: World
) -> None:
    response, _ = submit(client, world, position={"longitude": 116.4, "latitude": 39.9})
    assert response.status_code == 201
    assert response.json()["flags"] == ["off_site"]


# --- who may report what --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "facility", "status"),
    [
        ("township", "facility_a", 201),
        ("other", "facility_a", 404),
        ("county", "facility_b", 201),
        ("admin", "facility_a", 201),
        ("anonymous", "facility_a", 401),
    ],
)
def test_township_users_report_only_their_own_facilities(
    client: TestClient, world: World, who: str, facility: str, status: int
) -> None:
    body = report_body(getattr(world, facility))
    assert client.post(API, json=body, headers=world.headers(who)).status_code == status


def test_a_facility_that_is_not_active_takes_no_reports(
    client: TestClient, world: World, db: Database
) -> None:
    with db.begin() as session:
        session.get(Facility, world.facility_a.id).status = FacilityStatus.relocated
    response, _ = submit(client, world)
    assert response.status_code == 409
    assert "relocated" in response.json()["detail"]


# --- bad reports ----------------------------------------------------------------------------


def _in(**delta) -> str:
    """A time this far from now, as a report carries it; call it when the test runs."""
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        # a timedelta is a time from now, read when the test runs (never at collection)
        ({"inspected_at": timedelta(minutes=15)}, "inspected_at"),
        ({"inspected_at": timedelta(days=-61)}, "inspected_at"),
        ({"inspected_at": "2026-11-29T10:00:00"}, "inspected_at"),  # no offset
        ({"inspected_at": "yesterday"}, "inspected_at"),
        ({"client_id": "not-a-uuid"}, "client_id"),
        ({"client_id": None}, "client_id"),
        ({"condition": "so-so"}, "condition"),
        ({"checklist": {"flagpole": "ok"}}, "checklist"),
        ({"checklist": {"headstone": "broken"}}, "checklist"),
        ({"notes": "字" * 2001}, "notes"),
        ({"position": {"longitude": 112.2}}, "latitude"),
        ({"position": {"longitude": 112.2, "latitude": 35.7, "crs": "utm"}}, "crs"),
        ({"position": {"longitude": 112.2, "latitude": 95}}, "latitude"),
        ({"position": {"longitude": 112.2, "latitude": 35.7, "accuracy_m": -1}}, "accuracy_m"),
        ({"facility_id": 0}, "facility_id"),
    ],
)
def test_bad_reports_get_422_naming_the_field(
    client: TestClient, world: World, overrides: dict, field: str
) -> None:
    now = datetime.now(UTC)
    overrides = {
        key: (now + value).isoformat() if isinstance(value, timedelta) else value
        for key, value in overrides.items()
    }
    response, _ = submit(client, world, **overrides)
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"][0]["loc"], response.json()


def test_a_report_nine_minutes_ahead_is_accepted(client: TestClient, world: World) -> None:
    response, _ = submit(client, world, inspected_at=_in(minutes=9))
    assert response.status_code == 201


def test_a_report_on_a_missing_facility_is_404(client: TestClient, world: World) -> None:
    response, _ = submit(client, world, who="county", facility_id=99999)
    assert response.status_code == 404
