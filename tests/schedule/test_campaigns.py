"""Campaigns: the Qingming and 9·30 windows, generated once; progress per township."""

from datetime import UTC, date, datetime, time, timedelta

import pytest
from fastapi.testclient import TestClient

from app.db import Database
from app.models import Facility, FacilityStatus, ReviewStatus, Tier
from tests.concurrency import run_together
from tests.factories import World, make_facility, make_inspection

API = "/api/v1/campaigns"


@pytest.mark.parametrize(
    ("who", "status"), [("county", 201), ("admin", 201), ("township", 403), ("anonymous", 401)]
)
def test_county_staff_generate_the_years_campaigns(
    client: TestClient, world: World, who, status
) -> None:
    response = client.post(f"{API}/generate", params={"year": 2026}, headers=world.headers(who))
    assert response.status_code == status
    if status == 201:
        body = response.json()
        assert body["created"] == 2
        windows = [(c["kind"], c["starts_on"], c["ends_on"]) for c in body["items"]]
        assert windows == [
            ("qingming", "2026-03-23", "2026-04-05"),  # the 14 days up to Qingming (April 5)
            ("martyrs_day", "2026-09-16", "2026-09-30"),
        ]
        assert body["items"][0]["name"] == "2026年清明节集中巡查"


def test_generating_again_creates_nothing(client: TestClient, world: World) -> None:
    first = client.post(f"{API}/generate", params={"year": 2025}, headers=world.headers("county"))
    second = client.post(f"{API}/generate", params={"year": 2025}, headers=world.headers("admin"))
    assert (first.status_code, second.status_code) == (201, 200)
    assert second.json()["created"] == 0
    assert [c["id"] for c in second.json()["items"]] == [c["id"] for c in first.json()["items"]]
    assert first.json()["items"][0]["ends_on"] == "2025-04-04"
    listed = client.get(API, params={"year": 2025}, headers=world.headers("township")).json()
    assert listed["total"] == 2


def test_concurrent_generation_creates_each_campaign_once(app, world: World) -> None:
    def generate(client: TestClient):
        return client.post(
            f"{API}/generate", params={"year": 2027}, headers=world.headers("county")
        )

    results = run_together(app, [generate] * 6)
    assert all(r.status_code in (200, 201) for r in results), [r.text for r in results]
    assert sum(r.json()["created"] for r in results) == 2
    with TestClient(app) as client:
        listed = client.get(API, params={"year": 2027}, headers=world.headers("county")).json()
    assert listed["total"] == 2


@pytest.mark.parametrize("year", ["1899", "2101", "twenty", ""])
def test_bad_years_are_422(client: TestClient, world: World, year: str) -> None:
    assert (
        client.post(
            f"{API}/generate", params={"year": year}, headers=world.headers("county")
        ).status_code
        == 422
    )


def test_creating_a_campaign_with_scope(client: TestClient, world: World) -> None:
    body = {
        "name": "县级以上设施专项巡查",
        "starts_on": "2026-07-01",
        "ends_on": "2026-07-31",
        "tiers": ["county", "municipal"],
        "township_ids": [world.township_a.id],
    }
    response = client.post(API, json=body, headers=world.headers("county"))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["kind"] == "custom"
    assert created["tiers"] == ["municipal", "county"]  # in tier order, once each
    assert [t["code"] for t in created["townships"]] == ["140521100"]
    # visible to its township, not to another
    assert (
        client.get(f"{API}/{created['id']}", headers=world.headers("township")).status_code == 200
    )
    assert client.get(f"{API}/{created['id']}", headers=world.headers("other")).status_code == 404
    assert client.get(API, headers=world.headers("other")).json()["total"] == 0


@pytest.mark.parametrize(
    "changes",
    [
        {"ends_on": "2026-06-30"},
        {"tiers": ["royal"]},
        {"township_ids": [999]},
        {"name": ""},
        {"starts_on": "1800-01-01"},
        {"ends_on": "2028-01-01"},
    ],
)
def test_bad_campaigns_are_422(client: TestClient, world: World, changes: dict) -> None:
    body = {"name": "x", "starts_on": "2026-07-01", "ends_on": "2026-07-31"} | changes
    assert client.post(API, json=body, headers=world.headers("county")).status_code == 422


@pytest.mark.parametrize(("who", "status"), [("township", 403), ("anonymous", 401)])
def test_only_county_staff_create_campaigns(client: TestClient, world: World, who, status) -> None:
    body = {"name": "x", "starts_on": "2026-07-01", "ends_on": "2026-07-31"}
    assert client.post(API, json=body, headers=world.headers(who)).status_code == status


def at_noon(day: date, world: World) -> datetime:
    return datetime.combine(day, time(12), tzinfo=world.settings.tz).astimezone(UTC)


def test_progress_counts_counted_visits_inside_the_window(
    client: TestClient, world: World, db: Database
) -> None:
    generated = client.post(
        f"{API}/generate", params={"year": 2026}, headers=world.headers("county")
    ).json()
    qingming = generated["items"][0]
    start, end = date.fromisoformat(qingming["starts_on"]), date.fromisoformat(qingming["ends_on"])
    long_ago = date(2020, 1, 1)
    with db.begin() as session:
        for facility in (world.facility_a, world.facility_b):
            session.get(Facility, facility.id).registered_on = long_ago
        visited = make_facility(
            session,
            township=world.township_a,
            code="A-VISITED",
            tier=Tier.county,
            registered_on=long_ago,
        )
        rejected = make_facility(
            session, township=world.township_a, code="A-REJECTED", registered_on=long_ago
        )
        late = make_facility(
            session, township=world.township_a, code="A-LATE", registered_on=long_ago
        )
        make_facility(
            session, township=world.township_a, code="A-GONE", status=FacilityStatus.relocated
        )
        # registered after the window closed: not in scope
        make_facility(
            session,
            township=world.township_a,
            code="A-AFTER",
            registered_on=end + timedelta(days=1),
        )
        for facility, day, status in (
            (visited, start, ReviewStatus.accepted),
            (rejected, end, ReviewStatus.rejected),
            (late, end + timedelta(days=1), ReviewStatus.submitted),
            (world.facility_b, end, ReviewStatus.submitted),
        ):
            make_inspection(
                session,
                facility=facility,
                inspector=world.county,
                inspected_at=at_noon(day, world),
                tz=world.settings.tz,
                review_status=status,
            )
    progress = client.get(
        f"{API}/{qingming['id']}/progress", headers=world.headers("county")
    ).json()
    rows = {t["township"]["code"]: t for t in progress["townships"]}
    assert (rows["140521100"]["in_scope"], rows["140521100"]["inspected"]) == (4, 1)
    assert rows["140521100"]["missing"] == 3
    missing = client.get(
        progress["missing_url"],
        params={"township_id": world.township_a.id},
        headers=world.headers("county"),
    ).json()
    assert [f["code"] for f in missing["items"]] == ["A-001", "A-LATE", "A-REJECTED"]
    assert missing["total"] == 3 and missing["next_after_id"] is None
    assert (rows["140521103"]["in_scope"], rows["140521103"]["inspected"]) == (1, 1)
    assert (progress["in_scope"], progress["inspected"]) == (5, 2)
    assert progress["coverage"] == 0.4

    mine = client.get(f"{API}/{qingming['id']}/progress", headers=world.headers("township")).json()
    assert [t["township"]["code"] for t in mine["townships"]] == ["140521100"]


def test_progress_honours_the_campaigns_tiers(
    client: TestClient, world: World, db: Database
) -> None:
    with db.begin() as session:
        make_facility(
            session,
            township=world.township_b,
            code="B-COUNTY",
            tier=Tier.county,
            registered_on=date(2020, 1, 1),
        )
    body = {"name": "县级", "starts_on": "2026-07-01", "ends_on": "2026-07-31", "tiers": ["county"]}
    created = client.post(API, json=body, headers=world.headers("county")).json()
    progress = client.get(f"{API}/{created['id']}/progress", headers=world.headers("county")).json()
    rows = {t["township"]["code"]: t for t in progress["townships"]}
    assert rows["140521100"]["in_scope"] == 0 and rows["140521100"]["coverage"] is None
    assert rows["140521103"]["missing"] == 1
    missing = client.get(progress["missing_url"], headers=world.headers("county")).json()
    assert [f["code"] for f in missing["items"]] == ["B-COUNTY"]


def test_a_missing_campaign_is_404(client: TestClient, world: World) -> None:
    assert client.get(f"{API}/999/progress", headers=world.headers("county")).status_code == 404
    assert client.get(f"{API}/999/missing", headers=world.headers("county")).status_code == 404
