from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from app.db import Database
from app.models import Facility, Tier
from tests.factories import World, county_today, make_facility, make_inspection


@pytest.fixture
def activity(db: Database, world: World) -> World:
    now = datetime.now(UTC)
    with db.begin() as session:
        session.get(Facility, world.facility_b.id).next_due_on = now.date() - timedelta(days=3)
        extra = make_facility(session, township=world.township_a, tier=Tier.county)
        for facility, days_ago, on_site in (
            (world.facility_a, 1, True),
            (world.facility_a, 2, False),
            (extra, 3, None),
            (world.facility_b, 5, True),
            (world.facility_b, 45, True),  # outside the 30 days
        ):
            make_inspection(
                session,
                facility=facility,
                inspector=world.county,
                inspected_at=now - timedelta(days=days_ago),
                tz=world.settings.tz,
                on_site=on_site,
            )
    return world


def test_stats_for_the_county(client: TestClient, activity: World) -> None:
    stats = client.get("/api/v1/stats", headers=activity.headers("county")).json()
    assert stats["active_by_tier"] == {
        "national": 0,
        "provincial": 0,
        "municipal": 0,
        "county": 1,
        "unrated": 2,
    }
    assert stats["active_total"] == 3
    assert stats["overdue_total"] == 1
    assert [
        (t["township"]["code"], t["active"], t["overdue"]) for t in stats["overdue_by_township"]
    ] == [
        ("140521100", 2, 0),
        ("140521103", 1, 1),
    ]
    assert stats["inspections_last_30_days"] == 4
    assert stats["on_site_rate"] == 0.6667  # 2 of the 3 with a position
    assert stats["awaiting_review"] == 5


def test_stats_for_a_township_cover_only_it(client: TestClient, activity: World) -> None:
    stats = client.get("/api/v1/stats", headers=activity.headers("township")).json()
    assert stats["active_total"] == 2
    assert [t["township"]["code"] for t in stats["overdue_by_township"]] == ["140521100"]
    assert stats["inspections_last_30_days"] == 3
    assert stats["on_site_rate"] == 0.5


def test_stats_need_a_sign_in(client: TestClient, world: World) -> None:
    assert client.get("/api/v1/stats").status_code == 401
    empty = client.get(
        "/api/v1/stats", params={"as_of": "2020-01-01"}, headers=world.headers("admin")
    ).json()
    assert empty["on_site_rate"] is None


def test_stats_as_of_a_past_date_count_what_was_registered_and_reported_by_then(
    client: TestClient, activity: World, db: Database
) -> None:
    today = county_today()
    with db.begin() as session:
        make_facility(
            session, township=activity.township_a, registered_on=today - timedelta(days=1)
        )
    as_of = today - timedelta(days=4)
    stats = client.get(
        "/api/v1/stats", params={"as_of": as_of.isoformat()}, headers=activity.headers("county")
    ).json()
    assert stats["as_of"] == as_of.isoformat()
    assert stats["active_total"] == 3  # not the facility registered yesterday
    assert [(t["township"]["code"], t["active"]) for t in stats["overdue_by_township"]] == [
        ("140521100", 2),
        ("140521103", 1),
    ]
    assert stats["overdue_total"] == 0  # facility B fell due three days ago, after as_of
    assert stats["inspections_last_30_days"] == 1  # only the report of 5 days ago
    assert stats["awaiting_review"] == 2  # the reports of 5 and 45 days ago
    current = client.get("/api/v1/stats", headers=activity.headers("county")).json()
    assert (current["active_total"], current["awaiting_review"]) == (4, 5)
