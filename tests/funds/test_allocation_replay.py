"""An allocation POSTed again after a lost answer is stored once (bench/crash.py, issue 11):
the same ``client_id`` with the same content answers 200 with the stored allocation, with
different content 409, and concurrent sends of one allocation store it once."""

import uuid

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import Database
from app.models import FundAllocation, LedgerEntry
from tests.concurrency import run_together
from tests.factories import World
from tests.funds.helpers import YEAR, ledger, summary

API = "/api/v1/fund-allocations"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


def body(world: World, **overrides) -> dict:
    return {
        "client_id": str(uuid.uuid4()),
        "township_id": world.township_a.id,
        "year": YEAR,
        "amount_fen": 5_000_000,
        "source": "county",
        "document_no": "沁退役军人发〔2025〕8号",
        "allocated_on": "2025-03-15",
        "note": "按设施数量分配",
    } | overrides


def post(client: TestClient, world: World, payload: dict, who: str = "county", **headers: str):
    return client.post(API, json=payload, headers=world.headers(who) | headers)


def stored_count(db: Database, client_id: str) -> int:
    with db.session() as session:
        return session.execute(
            select(func.count()).where(FundAllocation.client_id == uuid.UUID(client_id))
        ).scalar_one()


def allocation_entries(db: Database) -> int:
    with db.session() as session:
        return session.execute(
            select(func.count()).where(LedgerEntry.kind == "allocation")
        ).scalar_one()


def test_a_replay_answers_200_with_the_stored_allocation_and_moves_no_money(
    client: TestClient, world: World, db: Database
) -> None:
    payload = body(world)
    first = post(client, world, payload)
    assert first.status_code == 201, first.text
    assert first.json()["client_id"] == payload["client_id"]

    again = post(client, world, payload, who="admin")  # whoever retries it
    assert again.status_code == 200, again.text
    assert again.json() == first.json()
    assert stored_count(db, payload["client_id"]) == 1
    assert allocation_entries(db) == 1
    assert summary(client, world)["140521100"]["allocated_fen"] == 5_000_000
    assert len([e for e in ledger(client, world) if e["kind"] == "allocation"]) == 1


def test_a_replay_of_an_allocation_reversed_since_answers_the_stored_one(
    client: TestClient, world: World
) -> None:
    payload = body(world)
    created = post(client, world, payload).json()
    reversed_ = client.post(
        f"{API}/{created['id']}/reverse",
        json={"reason": "文号有误"},
        headers=world.headers("county"),
    )
    assert reversed_.status_code == 200, reversed_.text
    again = post(client, world, payload)
    assert again.status_code == 200, again.text
    assert again.json()["id"] == created["id"]
    assert again.json()["reversed_at"] is not None
    assert summary(client, world)["140521100"]["allocated_fen"] == 0  # not allocated again


@pytest.mark.parametrize(
    "change",
    [
        {"amount_fen": 5_000_001},
        {"document_no": "沁退役军人发〔2025〕9号"},
        {"year": YEAR + 1},
        {"source": "provincial"},
        {"allocated_on": "2025-03-16"},
        {"note": None},
        {"township": "b"},
    ],
    ids=lambda c: next(iter(c)),
)
def test_the_same_client_id_with_different_content_is_409_naming_the_stored_one(
    client: TestClient, world: World, db: Database, change: dict
) -> None:
    payload = body(world)
    first = post(client, world, payload)
    assert first.status_code == 201, first.text
    if change == {"township": "b"}:
        change = {"township_id": world.township_b.id}
    response = post(client, world, payload | change)
    assert response.status_code == 409, response.text
    detail = response.json()["detail"]
    assert detail == (
        f"A different allocation was already recorded with client_id {payload['client_id']}"
        f" (allocation {first.json()['id']}, 沁退役军人发〔2025〕8号); give a new allocation a"
        " new client_id"
    )
    assert stored_count(db, payload["client_id"]) == 1
    assert allocation_entries(db) == 1


def test_the_409_is_explained_in_chinese(client: TestClient, world: World) -> None:
    payload = body(world)
    first = post(client, world, payload).json()
    response = post(client, world, payload | {"amount_fen": 1}, **ZH)
    assert response.status_code == 409
    assert response.json()["detail"] == (
        f"此 client_id 已用于另一笔经费下拨（{first['id']}，沁退役军人发〔2025〕8号），"
        "新的下拨须使用新的 client_id"
    )


def test_ten_concurrent_sends_of_one_allocation_store_it_once(
    app, world: World, db: Database
) -> None:
    payload = body(world)
    headers = world.headers("county")
    results = run_together(app, [lambda c: c.post(API, json=payload, headers=headers)] * 10)
    statuses = sorted(r.status_code for r in results)
    assert statuses == [200] * 9 + [201], [r.text for r in results]
    assert len({r.json()["id"] for r in results}) == 1
    assert stored_count(db, payload["client_id"]) == 1
    assert allocation_entries(db) == 1
    with TestClient(app) as client:
        assert summary(client, world)["140521100"]["allocated_fen"] == 5_000_000


def test_concurrent_different_allocations_under_one_client_id_store_one(
    app, world: World, db: Database
) -> None:
    payload = body(world)
    headers = world.headers("county")
    calls = [
        lambda c, n=n: c.post(API, json=payload | {"amount_fen": 1_000 + n}, headers=headers)
        for n in range(4)
    ]
    results = run_together(app, calls)
    assert sorted(r.status_code for r in results) == [201] + [409] * 3, [r.text for r in results]
    assert stored_count(db, payload["client_id"]) == 1
    assert allocation_entries(db) == 1


def test_without_a_client_id_every_post_stores_as_before(
    client: TestClient, world: World, db: Database
) -> None:
    payload = body(world)
    del payload["client_id"]
    first, second = post(client, world, payload), post(client, world, payload)
    assert (first.status_code, second.status_code) == (201, 201)
    assert first.json()["id"] != second.json()["id"]
    assert first.json()["client_id"] is None
    assert allocation_entries(db) == 2
    assert summary(client, world)["140521100"]["allocated_fen"] == 10_000_000


def test_a_client_id_that_is_no_uuid_is_a_422_naming_it(client: TestClient, world: World) -> None:
    response = post(client, world, body(world, client_id="retry-1"))
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", "client_id"]]


def test_the_openapi_documents_201_200_and_409(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"][API]["post"]
    assert {"200", "201", "409"} <= operation["responses"].keys()
    assert "client_id" in document["components"]["schemas"]["AllocationCreate"]["properties"]
