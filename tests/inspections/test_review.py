"""Reviewing reports: county staff accept or reject; a rejected report stops counting."""

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.factories import World, report_body

API = "/api/v1/inspections"


def submitted(client: TestClient, world: World, hours_ago: float = 1) -> dict:
    when = (datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat()
    body = report_body(world.facility_a, inspected_at=when)
    return client.post(API, json=body, headers=world.headers("township")).json()


def facility(client: TestClient, world: World) -> dict:
    return client.get(
        f"/api/v1/facilities/{world.facility_a.id}", headers=world.headers("county")
    ).json()


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 200), ("county", 200), ("township", 403), ("other", 404), ("anonymous", 401)],
)
def test_only_county_staff_review(client: TestClient, world: World, who: str, status: int) -> None:
    report = submitted(client, world)
    response = client.post(
        f"{API}/{report['id']}/review", json={"decision": "accepted"}, headers=world.headers(who)
    )
    assert response.status_code == status


def test_accepting_records_who_and_when(client: TestClient, world: World) -> None:
    report = submitted(client, world)
    reviewed = client.post(
        f"{API}/{report['id']}/review",
        json={"decision": "accepted", "comment": "照片清楚"},
        headers=world.headers("county"),
    ).json()
    assert reviewed["review_status"] == "accepted"
    assert reviewed["reviewed_by"]["username"] == "clerk"
    assert reviewed["review_comment"] == "照片清楚"
    assert reviewed["reviewed_at"] is not None


def test_a_rejection_needs_a_comment(client: TestClient, world: World) -> None:
    report = submitted(client, world)
    response = client.post(
        f"{API}/{report['id']}/review",
        json={"decision": "rejected"},
        headers=world.headers("county"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "comment"]


@pytest.mark.parametrize("decision", ["approved", "", None])
def test_unknown_decisions_are_refused(client: TestClient, world: World, decision) -> None:
    report = submitted(client, world)
    response = client.post(
        f"{API}/{report['id']}/review", json={"decision": decision}, headers=world.headers("county")
    )
    assert response.status_code == 422


def test_rejecting_the_latest_report_moves_the_due_date_back(
    client: TestClient, world: World
) -> None:
    older = submitted(client, world, hours_ago=24 * 10)
    newer = submitted(client, world, hours_ago=1)
    assert facility(client, world)["last_inspected_at"] == newer["inspected_at"]

    client.post(
        f"{API}/{newer['id']}/review",
        json={"decision": "rejected", "comment": "位置不在现场"},
        headers=world.headers("county"),
    )
    after = facility(client, world)
    assert after["last_inspected_at"] == older["inspected_at"]
    older_day = datetime.fromisoformat(older["inspected_at"]).astimezone(world.settings.tz).date()
    assert after["next_due_on"] == (older_day + timedelta(days=30)).isoformat()

    client.post(
        f"{API}/{newer['id']}/review",
        json={"decision": "accepted"},
        headers=world.headers("county"),
    )
    assert facility(client, world)["last_inspected_at"] == newer["inspected_at"]


def test_rejecting_the_only_report_falls_back_to_the_registration_date(
    client: TestClient, world: World
) -> None:
    registered = facility(client, world)["registered_on"]
    report = submitted(client, world)
    client.post(
        f"{API}/{report['id']}/review",
        json={"decision": "rejected", "comment": "重复"},
        headers=world.headers("county"),
    )
    after = facility(client, world)
    assert after["last_inspected_at"] is None
    expected = datetime.fromisoformat(registered).date() + timedelta(days=30)
    assert after["next_due_on"] == expected.isoformat()


def test_reviews_are_audited(client: TestClient, world: World) -> None:
    report = submitted(client, world)
    client.post(
        f"{API}/{report['id']}/review",
        json={"decision": "rejected", "comment": "照片模糊"},
        headers=world.headers("county"),
    )
    log = client.get(
        "/api/v1/audit", params={"object_type": "inspection"}, headers=world.headers("admin")
    )
    entry = log.json()["items"][0]
    assert entry["action"] == "inspection.review"
    assert entry["before"] == {"review_status": "submitted", "comment": None}
    assert entry["after"] == {"review_status": "rejected", "comment": "照片模糊"}


# --- reading reports ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "visible"),
    [("admin", True), ("county", True), ("township", True), ("other", False)],
)
def test_reading_a_report_is_scoped_to_its_township(
    client: TestClient, world: World, who: str, visible: bool
) -> None:
    report = submitted(client, world)
    response = client.get(f"{API}/{report['id']}", headers=world.headers(who))
    assert response.status_code == (200 if visible else 404)
    listed = client.get(API, headers=world.headers(who)).json()
    assert [r["id"] for r in listed["items"]] == ([report["id"]] if visible else [])


def test_report_filters(client: TestClient, world: World) -> None:
    first = submitted(client, world, hours_ago=24 * 3)
    second = submitted(client, world, hours_ago=1)
    far = report_body(world.facility_a, position={"longitude": 112.5, "latitude": 35.9})
    off_site = client.post(API, json=far, headers=world.headers("township")).json()
    client.post(
        f"{API}/{first['id']}/review",
        json={"decision": "accepted"},
        headers=world.headers("county"),
    )
    headers = world.headers("county")

    def ids(**params) -> list[int]:
        return [r["id"] for r in client.get(API, params=params, headers=headers).json()["items"]]

    assert ids(review_status="accepted") == [first["id"]]
    assert ids(on_site="false") == [off_site["id"]]
    assert ids(facility_id=world.facility_b.id) == []
    assert ids(township_id=world.township_a.id) == [off_site["id"], second["id"], first["id"]]
    first_day = datetime.fromisoformat(first["inspected_at"]).astimezone(world.settings.tz).date()
    assert ids(to=first_day.isoformat()) == [first["id"]]
    assert first["id"] not in ids(**{"from": (first_day + timedelta(days=1)).isoformat()})
    assert ids(receipt=second["receipt"].lower()) == [second["id"]]
    assert ids(receipt=second["receipt"].replace("-", " ").replace("0", "o")) == [second["id"]]
    assert ids(inspector_id=world.county.id) == []
    other = client.get(
        API, params={"township_id": world.township_a.id}, headers=world.headers("other")
    )
    assert other.status_code == 404
