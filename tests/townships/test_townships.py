import pytest
from fastapi.testclient import TestClient

from app.db import Database
from app.models import FacilityStatus, Tier
from tests.factories import World, make_facility

API = "/api/v1/townships"


@pytest.mark.parametrize(
    ("who", "status", "codes"),
    [
        ("admin", 200, ["140521100", "140521103"]),
        ("county", 200, ["140521100", "140521103"]),
        ("township", 200, ["140521100"]),
        ("other", 200, ["140521103"]),
        ("anonymous", 401, None),
    ],
)
def test_township_list_is_scoped(client: TestClient, world: World, who, status, codes) -> None:
    response = client.get(API, headers=world.headers(who))
    assert response.status_code == status
    if codes:
        assert [t["code"] for t in response.json()["items"]] == codes
        assert response.json()["items"][0]["county_code"] == codes[0][:6]


def test_township_detail_counts_active_facilities_by_tier(
    client: TestClient, world: World, db: Database
) -> None:
    with db.begin() as session:
        make_facility(session, township=world.township_a, tier=Tier.county)
        make_facility(session, township=world.township_a, tier=Tier.county)
        make_facility(session, township=world.township_a, status=FacilityStatus.archived)
    body = client.get(f"{API}/{world.township_a.id}", headers=world.headers("township")).json()
    assert body["active_facilities_by_tier"] == {
        "national": 0, "provincial": 0, "municipal": 0, "county": 2, "unrated": 1,
    }  # fmt: skip
    assert body["active_facilities"] == 3


@pytest.mark.parametrize(("who", "status"), [("other", 404), ("county", 200), ("anonymous", 401)])
def test_another_townships_detail_is_404(client: TestClient, world: World, who, status) -> None:
    assert (
        client.get(f"{API}/{world.township_a.id}", headers=world.headers(who)).status_code == status
    )


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 201), ("county", 403), ("township", 403), ("anonymous", 401)],
)
def test_only_admins_add_townships(client: TestClient, world: World, who, status) -> None:
    response = client.post(
        API, json={"code": "140521299", "name": "新乡"}, headers=world.headers(who)
    )
    assert response.status_code == status


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"code": "14052", "name": "短"}, 422),
        ({"code": "14052110A", "name": "字母"}, 422),
        ({"code": "140521100", "name": "重复"}, 409),
        ({"code": "140521299", "name": ""}, 422),
    ],
)
def test_bad_townships_are_refused(client: TestClient, world: World, body, status) -> None:
    assert client.post(API, json=body, headers=world.headers("admin")).status_code == status


def test_renaming_a_township_is_audited(client: TestClient, world: World) -> None:
    headers = world.headers("admin")
    response = client.patch(
        f"{API}/{world.township_a.id}", json={"name": "龙港新镇"}, headers=headers
    )
    assert response.json()["name"] == "龙港新镇"
    log = client.get("/api/v1/audit", params={"action": "township.update"}, headers=headers).json()
    assert log["items"][0]["after"] == {"name": "龙港新镇"}
