from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from tests.factories import World


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 200), ("county", 200), ("township", 403), ("other", 403), ("anonymous", 401)],
)
def test_only_county_staff_read_the_audit_log(
    client: TestClient, world: World, who, status
) -> None:
    assert client.get("/api/v1/audit", headers=world.headers(who)).status_code == status


def test_audit_log_filters_by_actor_action_and_time(client: TestClient, world: World) -> None:
    headers = world.headers("county")
    client.patch(f"/api/v1/facilities/{world.facility_a.id}", json={"name": "一"}, headers=headers)
    client.patch(
        f"/api/v1/facilities/{world.facility_b.id}",
        json={"name": "二"},
        headers=world.headers("admin"),
    )
    by_actor = client.get("/api/v1/audit", params={"actor_id": world.county.id}, headers=headers)
    assert [e["object_id"] for e in by_actor.json()["items"]] == [str(world.facility_a.id)]
    now = datetime.now(UTC)
    window = {
        "from": (now - timedelta(minutes=5)).isoformat(),
        "to": (now + timedelta(minutes=5)).isoformat(),
    }
    assert client.get("/api/v1/audit", params=window, headers=headers).json()["total"] == 2
    later = {"from": (now + timedelta(minutes=5)).isoformat()}
    assert client.get("/api/v1/audit", params=later, headers=headers).json()["total"] == 0
    naive = client.get("/api/v1/audit", params={"from": "2025-01-01T00:00:00"}, headers=headers)
    assert naive.status_code == 422  # a time without an offset is ambiguous
