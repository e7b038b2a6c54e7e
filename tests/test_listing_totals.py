"""Capped totals (app.listing.counted): a first page counts its list only so far.

A list that holds more rows than ``MEMORIAL_COUNT_LIMIT`` answers ``total`` null and
``total_over`` that limit ("more than N"), so counting a province's millions of reports
never costs more than the page; ``?count=exact`` counts every row (the old answer); a page
reached by cursor is not counted at all; any other ``count`` is a 422 naming it. The same
holds for every list, the overdue list (which pages by cursor too) and a campaign's missing
sites. A limit of 3 here stands for the 10,000 of a deployment.
"""

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import Database
from app.models import Facility
from tests.conftest import make_settings
from tests.factories import PASSWORD, World, county_today, make_facility
from tests.test_listing import follow, ids
from tests.web.conftest import sign_in

LIMIT = 3
AS_OF = date(2026, 6, 15)


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, count_limit=LIMIT)


@pytest.fixture
def six(db: Database, world: World) -> World:
    """Six facilities in all (township A five, B one), every one overdue on AS_OF."""
    with db.begin() as session:
        for n in range(4):
            make_facility(
                session,
                township=world.township_a,
                code=f"A-1{n:02d}",
                next_due_on=AS_OF - timedelta(days=10 + n % 2),
            )
        for facility_id in (world.facility_a.id, world.facility_b.id):
            session.get(Facility, facility_id).next_due_on = AS_OF - timedelta(days=1)  # type: ignore[union-attr]
    return world


def get(client: TestClient, world: World, path: str, **params: Any) -> dict[str, Any]:
    response = client.get(f"/api/v1{path}", params=params, headers=world.headers("county"))
    assert response.status_code == 200, response.text
    return response.json()


def test_a_list_over_the_limit_says_more_than_the_limit(client: TestClient, six: World) -> None:
    first = get(client, six, "/facilities", limit=2)
    assert (first["total"], first["total_over"]) == (None, LIMIT)
    assert len(first["items"]) == 2 and first["next"] is not None
    exact = get(client, six, "/facilities", limit=2, count="exact")
    assert (exact["total"], exact["total_over"]) == (6, None)
    assert ids(exact["items"]) == ids(first["items"])


def test_a_list_within_the_limit_has_its_total(client: TestClient, six: World) -> None:
    theirs = get(client, six, "/facilities", township_id=six.township_b.id)
    assert (theirs["total"], theirs["total_over"]) == (1, None)
    badge = get(client, six, "/overdue", as_of=AS_OF.isoformat(), township_id=six.township_b.id)
    assert (badge["total"], badge["total_over"]) == (1, None)


def test_the_limit_itself_is_still_counted(client: TestClient, db: Database, world: World) -> None:
    with db.begin() as session:
        make_facility(session, township=world.township_a, code="A-THIRD")
    three = get(client, world, "/facilities")
    assert (three["total"], three["total_over"]) == (LIMIT, None)
    with db.begin() as session:
        make_facility(session, township=world.township_a, code="A-FOURTH")
    four = get(client, world, "/facilities")
    assert (four["total"], four["total_over"]) == (None, LIMIT)


def test_pages_by_cursor_are_not_counted_either_way(client: TestClient, six: World) -> None:
    paged, pages = follow(client, "/api/v1/facilities", six.headers("county"), limit=2)
    assert len(paged) == 6
    assert [(p["total"], p["total_over"]) for p in pages] == [(None, LIMIT)] + [(None, None)] * 2
    _, exact = follow(client, "/api/v1/facilities", six.headers("county"), limit=4, count="exact")
    assert [(p["total"], p["total_over"]) for p in exact] == [(6, None), (None, None)]


@pytest.mark.parametrize("path", ["/facilities", "/inspections", "/overdue", "/users", "/audit"])
@pytest.mark.parametrize("count", ["EXACT", "all", "", "capped"])
def test_a_count_other_than_exact_is_a_422_naming_it(
    client: TestClient, world: World, path: str, count: str
) -> None:
    response = client.get(f"/api/v1{path}", params={"count": count}, headers=world.headers("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "count"]
    chinese = client.get(
        f"/api/v1{path}",
        params={"count": count},
        headers={**world.headers("admin"), "Accept-Language": "zh-CN"},
    )
    assert "exact" in chinese.json()["detail"][0]["msg"]
    assert "统计方式" in chinese.json()["detail"][0]["msg"]


def test_the_overdue_list_pages_by_cursor_and_caps_its_total(
    client: TestClient, six: World
) -> None:
    whole = get(client, six, "/overdue", as_of=AS_OF.isoformat(), limit=100, count="exact")
    assert (whole["total"], whole["total_over"], whole["next"]) == (6, None, None)
    days = [item["days_overdue"] for item in whole["items"]]
    assert days == sorted(days, reverse=True)  # most overdue first
    first = get(client, six, "/overdue", as_of=AS_OF.isoformat(), limit=4)
    assert (first["total"], first["total_over"]) == (None, LIMIT)
    after = get(client, six, "/overdue", as_of=AS_OF.isoformat(), limit=4, cursor=first["next"])
    assert (after["total"], after["total_over"], after["next"]) == (None, None, None)
    paged = [item["facility"]["id"] for item in first["items"] + after["items"]]
    assert paged == [item["facility"]["id"] for item in whole["items"]]


def test_the_overdue_cursor_is_checked_like_every_other(client: TestClient, six: World) -> None:
    facilities = get(client, six, "/facilities", limit=1)
    response = client.get(
        "/api/v1/overdue", params={"cursor": facilities["next"]}, headers=six.headers("county")
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_a_campaigns_missing_sites_are_counted_up_to_the_limit(
    client: TestClient, six: World
) -> None:
    today = county_today()
    created = client.post(
        "/api/v1/campaigns",
        json={
            "name": "集中巡查",
            "starts_on": (today - timedelta(days=5)).isoformat(),
            "ends_on": (today + timedelta(days=5)).isoformat(),
        },
        headers=six.headers("county"),
    )
    assert created.status_code == 201, created.text
    path = f"/campaigns/{created.json()['id']}/missing"
    first = get(client, six, path, limit=2)
    assert (first["total"], first["total_over"]) == (None, LIMIT)
    exact = get(client, six, path, limit=2, count="exact")
    assert (exact["total"], exact["total_over"]) == (6, None)
    theirs = get(client, six, path, township_id=six.township_b.id)
    assert (theirs["total"], theirs["total_over"]) == (1, None)
    bad = client.get(f"/api/v1{path}", params={"count": "no"}, headers=six.headers("county"))
    assert bad.status_code == 422 and bad.json()["detail"][0]["loc"] == ["query", "count"]


def test_the_pages_print_more_than_the_limit(client: TestClient, six: World) -> None:
    """The registry page of a list over the limit: "超过 3 处" and a pager that goes on."""
    sign_in(client, "clerk", PASSWORD)
    page = client.get("/facilities", headers={"Accept-Language": "zh-CN"})
    assert page.status_code == 200, page.text
    assert "超过 3 处" in page.text
    overdue = client.get("/overdue", params={"as_of": AS_OF.isoformat()})
    assert overdue.status_code == 200 and "超过 3 处" in overdue.text
