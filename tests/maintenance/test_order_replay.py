"""A maintenance order POSTed again after a lost answer is opened once (issue 11): the same
``client_id`` with the same content answers 200 with the stored order, with different
content 409, from another township 409 saying only that the id is taken; concurrent
sends of one order open it once; without a ``client_id`` every POST opens an order."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import Database
from app.maintenance import service
from app.models import MaintenanceOrder
from tests.concurrency import run_together
from tests.factories import World, report_body
from tests.funds.helpers import order_body

API = "/api/v1/maintenance"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def body(world: World, **overrides) -> dict:
    return order_body(world.facility_a, client_id=str(uuid.uuid4())) | overrides


def orders(db: Database) -> int:
    with db.session() as session:
        return session.execute(select(func.count()).select_from(MaintenanceOrder)).scalar_one()


def test_a_replay_answers_200_with_the_stored_order(
    client: TestClient, world: World, db: Database
) -> None:
    payload = body(world)
    first = client.post(API, json=payload, headers=world.headers("township"))
    assert first.status_code == 201, first.text
    assert first.json()["client_id"] == payload["client_id"]
    again = client.post(API, json=payload, headers=world.headers("county"))
    assert again.status_code == 200, again.text
    assert again.json()["id"] == first.json()["id"]
    assert orders(db) == 1


def test_a_replay_names_no_year_and_still_matches(
    client: TestClient, world: World, db: Database
) -> None:
    payload = body(world)
    payload.pop("year")
    first = client.post(API, json=payload, headers=world.headers("township"))
    assert first.status_code == 201, first.text
    again = client.post(API, json=payload, headers=world.headers("township"))
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])


def test_the_same_client_id_with_different_content_is_409_naming_the_order(
    client: TestClient, world: World, db: Database
) -> None:
    payload = body(world)
    first = client.post(API, json=payload, headers=world.headers("township")).json()
    response = client.post(
        API, json=payload | {"planned_cost_fen": 1}, headers=world.headers("township")
    )
    assert response.status_code == 409, response.text
    assert response.json()["detail"] == (
        f"A different maintenance order was already opened with client_id"
        f" {payload['client_id']} (order {first['id']}); give a new order a new client_id"
    )
    chinese = client.post(
        API, json=payload | {"title": "另一项"}, headers=world.headers("township") | ZH
    )
    assert chinese.json()["detail"] == (
        f"此 client_id 已用于另一张维护工单（{first['id']}），新的工单须使用新的 client_id"
    )
    assert orders(db) == 1


def test_another_townships_client_id_is_taken_without_a_word_about_its_order(
    client: TestClient, world: World, db: Database
) -> None:
    payload = body(world)
    assert client.post(API, json=payload, headers=world.headers("township")).status_code == 201
    theirs = order_body(world.facility_b, client_id=payload["client_id"])
    response = client.post(API, json=theirs, headers=world.headers("other"))
    assert response.status_code == 409, response.text
    assert response.headers["X-Client-Id-Taken"] == "true"
    assert response.json()["detail"] == (
        f"The client_id {payload['client_id']} is already taken; give this order a new"
        " client_id and send it again"
    )
    # the same content sent by the other township is no replay either, and says no more
    again = client.post(API, json=payload, headers=world.headers("other"))
    assert (again.status_code, again.json()) == (409, response.json())
    assert orders(db) == 1


def test_ten_concurrent_sends_of_one_order_open_it_once(app, world: World, db: Database) -> None:
    payload = body(world)
    headers = world.headers("township")
    results = run_together(app, [lambda c: c.post(API, json=payload, headers=headers)] * 10)
    assert sorted(r.status_code for r in results) == [200] * 9 + [201], [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert orders(db) == 1


def test_concurrent_sends_of_one_order_citing_a_report_open_it_once(
    app, client: TestClient, world: World, db: Database
) -> None:
    report = client.post(
        "/api/v1/inspections",
        json=report_body(world.facility_a),
        headers=world.headers("township"),
    )
    assert report.status_code == 201, report.text
    payload = body(world, inspection_id=report.json()["id"])
    headers = world.headers("township")
    results = run_together(app, [lambda c: c.post(API, json=payload, headers=headers)] * 6)
    assert sorted(r.status_code for r in results) == [200] * 5 + [201], [r.text for r in results]
    assert orders(db) == 1


def test_a_send_that_missed_the_first_commit_by_a_hair_replays_it(
    monkeypatch: pytest.MonkeyPatch, client: TestClient, world: World, db: Database
) -> None:
    """The race the concurrent test hits now and then on PostgreSQL: the first send commits
    between the second's replay check (which saw nothing) and its check of the report's
    open orders (which sees the first's order). Same ``client_id``, same content: a replay."""
    report = client.post(
        "/api/v1/inspections", json=report_body(world.facility_a), headers=world.headers("township")
    )
    payload = body(world, inspection_id=report.json()["id"])
    first = client.post(API, json=payload, headers=world.headers("township"))
    assert first.status_code == 201, first.text
    replay, checks = service._replay, []

    def late(*args, **kwargs):  # the first replay check ran before the first send committed
        checks.append(args)
        return None if len(checks) == 1 else replay(*args, **kwargs)

    monkeypatch.setattr(service, "_replay", late)
    again = client.post(API, json=payload, headers=world.headers("township"))
    assert (again.status_code, again.json()["id"]) == (200, first.json()["id"])
    assert len(checks) == 2
    # another order citing the report, under another client_id, is still the 409 naming it
    other = client.post(
        API, json=payload | {"client_id": str(uuid.uuid4())}, headers=world.headers("township")
    )
    assert other.status_code == 409, other.text
    assert f"maintenance order {first.json()['id']}" in other.json()["detail"]
    assert orders(db) == 1


def test_without_a_client_id_every_post_opens_an_order(
    client: TestClient, world: World, db: Database
) -> None:
    payload = order_body(world.facility_a)
    first = client.post(API, json=payload, headers=world.headers("township"))
    second = client.post(API, json=payload, headers=world.headers("township"))
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["client_id"] is None
    assert orders(db) == 2


def test_the_openapi_documents_the_replay(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    assert {"200", "201", "409"} <= document["paths"][API]["post"]["responses"].keys()
    assert "client_id" in document["components"]["schemas"]["OrderCreate"]["properties"]
