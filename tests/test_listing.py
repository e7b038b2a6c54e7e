"""One list helper (app.listing): cursor pages are exact, bad cursors are 422s.

A list followed by its ``next`` cursor returns every row once, in the order the offset
pages give, also when many rows share a sort key (the id breaks the tie) and when the
sort's keys run in different directions (allocations: latest year first, then oldest
first). ``total`` comes with a first page and is left out on a page reached by cursor.
A cursor that is garbled, made for another sort, holds a value of the wrong type, or comes
with an offset is a 422 naming ``cursor``.
"""

import base64
import json
from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app import listing
from app.db import Database
from app.facilities import service as facilities
from app.inspections import service as inspections
from app.models import Facility, FundAllocation, FundSource, Inspection, ReviewStatus
from tests.factories import COUNTY_TZ, World, make_facility, make_inspection


def follow(
    client: TestClient, path: str, headers: dict[str, str], **params: Any
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The items of every page of ``path`` by cursor, and the pages' answers."""
    items: list[dict[str, Any]] = []
    pages: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = params | ({"cursor": cursor} if cursor else {})
        response = client.get(path, params=query, headers=headers)
        assert response.status_code == 200, response.text
        page = response.json()
        pages.append(page)
        items += page["items"]
        cursor = page["next"]
        if cursor is None:
            return items, pages
        assert len(pages) < 100, "the cursor goes round in circles"


def ids(items: list[dict[str, Any]]) -> list[int]:
    return [item["id"] for item in items]


@pytest.fixture
def twins(db: Database, world: World) -> list[int]:
    """Twelve facilities of township A that share one name, due date and registration."""
    with db.begin() as session:
        made = [
            make_facility(
                session,
                township=world.township_a,
                name="同名烈士墓",
                registered_on=date(2024, 1, 1),
                next_due_on=date(2024, 2, 1),
            )
            for _ in range(12)
        ]
        return [facility.id for facility in made]  # type: ignore[misc]


@pytest.mark.parametrize("sort", ["name", "-name", "next_due_on", "-registered_on", "-code"])
def test_cursor_pages_are_the_list_exactly_also_through_ties(
    client: TestClient, world: World, twins: list[int], sort: str
) -> None:
    headers = world.headers("county")
    whole = client.get("/api/v1/facilities", params={"sort": sort, "limit": 500}, headers=headers)
    assert whole.json()["next"] is None  # one page holds it all
    paged, pages = follow(client, "/api/v1/facilities", headers, sort=sort, limit=5)
    assert ids(paged) == ids(whole.json()["items"])
    assert len(set(ids(paged))) == len(paged) == whole.json()["total"] == 14
    assert [page["total"] for page in pages] == [14, None, None]
    assert [len(page["items"]) for page in pages] == [5, 5, 4]


def test_a_township_user_pages_only_through_their_own_township(
    client: TestClient, world: World, twins: list[int]
) -> None:
    paged, _ = follow(client, "/api/v1/facilities", world.headers("township"), limit=4)
    assert sorted(ids(paged)) == sorted([*twins, world.facility_a.id])
    theirs, _ = follow(client, "/api/v1/facilities", world.headers("other"), limit=4)
    assert ids(theirs) == [world.facility_b.id]


def test_offset_pages_say_where_the_cursor_goes_on(
    client: TestClient, world: World, twins: list[int]
) -> None:
    headers = world.headers("county")
    second = client.get("/api/v1/facilities", params={"limit": 5, "offset": 5}, headers=headers)
    rest, _ = follow(client, "/api/v1/facilities", headers, limit=5)
    after = client.get(
        "/api/v1/facilities", params={"limit": 5, "cursor": second.json()["next"]}, headers=headers
    )
    assert ids(after.json()["items"]) == ids(rest)[10:]


def test_reports_page_by_cursor_newest_first_and_in_the_review_queue(
    client: TestClient, db: Database, world: World
) -> None:
    at = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
    with db.begin() as session:
        for n in range(9):  # three reports at each of three instants
            make_inspection(
                session,
                facility=session.get(Facility, world.facility_a.id),  # type: ignore[arg-type]
                inspector=world.township_user,
                inspected_at=at + timedelta(hours=n // 3),
                tz=COUNTY_TZ,
            )
    headers = world.headers("county")
    newest, pages = follow(client, "/api/v1/inspections", headers, limit=2)
    whole = client.get("/api/v1/inspections", params={"limit": 100}, headers=headers).json()
    assert ids(newest) == ids(whole["items"]) and len(newest) == 9 == whole["total"]
    assert [page["total"] for page in pages] == [9, None, None, None, None]
    with db.session(write=False) as session:
        queue = listing.Window(limit=4)
        seen = []
        while True:
            listed = _review_queue(session, world, queue)
            seen += [inspection.id for inspection in listed.rows]
            if listed.next is None:
                break
            queue = listing.Window(limit=4, cursor=listed.next)
        stored = select(Inspection.id).order_by(Inspection.inspected_at, Inspection.id)
        assert seen == list(session.exec(stored))


def _review_queue(session: Any, world: World, window: listing.Window) -> Any:
    return inspections.list_inspections(
        session=session,
        user=world.county,
        filters=inspections.InspectionFilters(review_status=ReviewStatus.submitted),
        window=window,
        oldest_first=True,
    )


def test_a_sort_in_two_directions_pages_exactly(
    client: TestClient, db: Database, world: World
) -> None:
    """Allocations: the latest year first, then by the day they were handed over (oldest
    first), then by id; several on one day."""
    with db.begin() as session:
        for n in range(10):
            session.add(
                FundAllocation(
                    township_id=world.township_a.id if n % 2 else world.township_b.id,
                    year=2024 + n % 3,
                    amount_fen=100_000,
                    source=FundSource.county,
                    document_no=f"晋沁财〔2025〕{n}号",
                    allocated_on=date(2025, 3, 1 + n % 2),
                )
            )
    headers = world.headers("county")
    whole = client.get("/api/v1/fund-allocations", params={"limit": 100}, headers=headers).json()
    paged, _ = follow(client, "/api/v1/fund-allocations", headers, limit=3)
    assert ids(paged) == ids(whole["items"]) and len(paged) == 10
    keys = [(-item["year"], item["allocated_on"], item["id"]) for item in paged]
    assert keys == sorted(keys)


def _cursor(data: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "not a cursor!",
        "e30",  # {}
        _cursor("just text"),
        _cursor(["code,id", ["A-001"]]),  # one value short
        _cursor(["name,id", ["A-001", 1]]),  # made for another sort
        _cursor(["code,id", ["A-001", "1"]]),  # the id as text
        _cursor(["code,id", ["A-001", 2**40]]),  # beyond the column
        _cursor(["code,id", [5, 1]]),  # the code as a number
        _cursor(["code,id", ["A\u0000", 1]]),
        _cursor(["code,id", ["\ud800", 1]]),  # a lone surrogate: no driver can send it
        _cursor(["code,id", ["A-001", True]]),
        base64.urlsafe_b64encode(b"\xff\xfe").decode(),
    ],
)
def test_a_bad_cursor_is_a_422_naming_it(client: TestClient, world: World, cursor: str) -> None:
    response = client.get(
        "/api/v1/facilities", params={"cursor": cursor}, headers=world.headers("county")
    )
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


@pytest.mark.parametrize(
    ("path", "cursor"),
    [
        ("/api/v1/inspections", ["-inspected_at,-id", [{"t": "2025-01-01T08:00:00+08:00"}, 1]]),
        ("/api/v1/inspections", ["-inspected_at,-id", [{"t": "yesterday"}, 1]]),
        ("/api/v1/inspections", ["-inspected_at,-id", [{"d": "2025-01-01"}, 1]]),
        ("/api/v1/audit", ["-at,-id", ["2025-01-01T00:00:00+00:00", 1]]),
        ("/api/v1/fund-allocations", ["-year,allocated_on,id", [2025, {"d": "2025-02-30"}, 1]]),
    ],
)
def test_a_cursor_with_a_wrong_instant_or_date_is_a_422(
    client: TestClient, world: World, path: str, cursor: Any
) -> None:
    response = client.get(path, params={"cursor": _cursor(cursor)}, headers=world.headers("admin"))
    assert response.status_code == 422, response.text
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_cursor_and_offset_together_are_a_422(client: TestClient, world: World) -> None:
    first = client.get("/api/v1/facilities", params={"limit": 1}, headers=world.headers("county"))
    response = client.get(
        "/api/v1/facilities",
        params={"limit": 1, "offset": 1, "cursor": first.json()["next"]},
        headers=world.headers("county"),
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


def test_a_cursor_keeps_its_values_and_their_types() -> None:
    sort = (listing.desc(Inspection.inspected_at), listing.desc(Inspection.id))
    at = datetime(2025, 4, 4, 1, 2, 3, 456789, tzinfo=UTC)
    assert listing.decode(sort, listing.encode(sort, [at, 7])) == [at, 7]
    dated = (
        listing.asc(Facility.next_due_on),
        listing.asc(Facility.name),
        listing.asc(Facility.id),
    )
    values = [date(2025, 4, 4), "龙港镇烈士墓", 3]
    assert listing.decode(dated, listing.encode(dated, values)) == values


def test_a_bad_cursor_is_explained_in_chinese(client: TestClient, world: World) -> None:
    headers = world.headers("county") | {"Accept-Language": "zh-CN"}
    bad = client.get("/api/v1/facilities", params={"cursor": "garbled"}, headers=headers)
    both = client.get("/api/v1/facilities", params={"cursor": "x", "offset": 1}, headers=headers)
    assert bad.json()["detail"][0]["msg"] == "翻页游标（cursor）无效：请原样发送上一页返回的 next"
    assert both.json()["detail"][0]["msg"].startswith("cursor 和 offset 只能给一个")


def test_a_page_of_no_rows_is_the_count_alone(db: Database, world: World) -> None:
    with db.session(write=False) as session:
        listed = facilities.list_facilities(
            session=session,
            user=world.county,
            filters=facilities.FacilityFilters(),
            sort="code",
            window=listing.Window(limit=0),
            today=date(2025, 4, 4),
        )
    assert (listed.rows, listed.total, listed.next) == ([], 2, None)


def test_no_window_is_every_row_in_order(db: Database, world: World) -> None:
    """An export's whole list: every row in the order of ``sort``, counted, no cursor."""
    with db.begin() as session:
        for number in range(3):
            make_facility(session, township=world.township_b, code=f"B-1{number}")
    with db.session(write=False) as session:
        listed = listing.page(
            session, select(Facility), sort=(listing.desc(Facility.code),), window=None
        )
        codes = [facility.code for facility in listed.rows]
    assert codes == ["B-12", "B-11", "B-10", "B-001", "A-001"]
    assert (listed.total, listed.next, listed.total_over) == (5, None, None)
