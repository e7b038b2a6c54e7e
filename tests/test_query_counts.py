"""List endpoints issue a fixed number of queries, whatever the number of rows."""

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from app.db import Database
from tests.factories import World, county_today, make_facility, report_body
from tests.funds.helpers import allocate, order_in
from tests.photos.images import jpeg


@contextmanager
def counted(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn, _cursor, statement, *_args) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def queries_for(client: TestClient, db: Database, world: World, path: str) -> tuple[int, int]:
    """The queries one GET of ``path`` issues, and the number of rows it lists."""
    with counted(db) as statements:
        response = client.get(path, headers=world.headers("county"))
        assert response.status_code == 200, response.text
    return len(statements), len(response.json()["items"])


def add_rows(client: TestClient, db: Database, world: World, n: int) -> None:
    with db.begin() as session:
        facilities = [make_facility(session, township=world.township_a) for _ in range(n)]
    for facility in facilities:
        report = client.post(
            "/api/v1/inspections", json=report_body(facility), headers=world.headers("township")
        ).json()
        client.post(
            f"/api/v1/inspections/{report['id']}/photos",
            files={"file": ("p.jpg", jpeg(colour=(facility.id * 20 % 255, 0, 0)), "image/jpeg")},
            headers=world.headers("township"),
        )
        client.post(
            f"/api/v1/inspections/{report['id']}/maintenance", headers=world.headers("township")
        )
    order_in(client, world, "approved", planned_cost_fen=1)


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/facilities",
        "/api/v1/inspections",
        "/api/v1/maintenance",
        "/api/v1/overdue?as_of={next_year}",  # every facility is overdue by then
        "/api/v1/funds/ledger",
    ],
)
def test_list_queries_do_not_grow_with_the_rows(
    client: TestClient, db: Database, world: World, path: str
) -> None:
    path = path.format(next_year=(county_today() + timedelta(days=366)).isoformat())
    allocate(client, world, 1_000)
    add_rows(client, db, world, 2)
    few, few_listed = queries_for(client, db, world, path)
    add_rows(client, db, world, 4)
    many, many_listed = queries_for(client, db, world, path)
    assert 2 <= few_listed < many_listed  # both runs list rows, the second run more
    assert many == few
