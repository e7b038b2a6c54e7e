"""A new report's answer is built from what was written, not read back (issue 11, CPU per
report): it must be exactly what reading the report back answers, with or without a
position; and a replay is still a replay when the report could not be made today."""

from datetime import UTC, datetime, timedelta

from fastapi.testclient import TestClient

from tests.factories import World, report_body

API = "/api/v1/inspections"


def test_the_answer_to_a_new_report_is_the_stored_report(client: TestClient, world: World) -> None:
    # an offset other than UTC: the answer shows the instant as stored (UTC), as a read does
    inspected_at = datetime.now(UTC).astimezone().replace(microsecond=123456) - timedelta(hours=3)
    body = report_body(world.facility_a, inspected_at=inspected_at.isoformat())
    created = client.post(API, json=body, headers=world.headers("township"))
    assert created.status_code == 201, created.text
    read = client.get(f"{API}/{created.json()['id']}", headers=world.headers("township"))
    assert read.status_code == 200
    assert created.json() == read.json()


def test_the_answer_to_a_report_without_position_is_the_stored_report(
    client: TestClient, world: World
) -> None:
    body = report_body(world.facility_a, position=None, notes=None, checklist={})
    created = client.post(API, json=body, headers=world.headers("township"))
    assert created.status_code == 201, created.text
    assert created.json()["position"] is None
    assert created.json()["flags"] == ["no_position"]
    read = client.get(f"{API}/{created.json()['id']}", headers=world.headers("township"))
    assert created.json() == read.json()


def test_a_replay_after_the_facility_was_archived_is_still_answered(
    client: TestClient, world: World
) -> None:
    body = report_body(world.facility_a)
    created = client.post(API, json=body, headers=world.headers("township"))
    assert created.status_code == 201, created.text
    archived = client.delete(
        f"/api/v1/facilities/{world.facility_a.id}", headers=world.headers("county")
    )
    assert archived.status_code == 200, archived.text
    # a new report is refused ...
    fresh = client.post(API, json=report_body(world.facility_a), headers=world.headers("township"))
    assert fresh.status_code == 409
    # ... but the phone resending the one it made before gets its receipt
    replay = client.post(API, json=body, headers=world.headers("township"))
    assert replay.status_code == 200, replay.text
    assert replay.json()["id"] == created.json()["id"]


def test_the_due_date_follows_the_interval_configured_now(client: TestClient, world: World) -> None:
    tier = world.facility_a.tier.value
    changed = client.put(
        "/api/v1/patrol-policies", json={"intervals": {tier: 9}}, headers=world.headers("admin")
    )
    assert changed.status_code == 200, changed.text
    inspected_at = datetime.now(UTC) - timedelta(hours=1)
    body = report_body(world.facility_a, inspected_at=inspected_at.isoformat())
    assert client.post(API, json=body, headers=world.headers("township")).status_code == 201
    facility = client.get(
        f"/api/v1/facilities/{world.facility_a.id}", headers=world.headers("county")
    ).json()
    local_day = inspected_at.astimezone(world.settings.tz).date()
    assert facility["next_due_on"] == (local_day + timedelta(days=9)).isoformat()
    assert facility["last_inspected_at"] is not None
