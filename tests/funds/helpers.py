"""Shortcuts for fund and maintenance tests: allocations and orders through the API."""

from typing import Any

from fastapi.testclient import TestClient

from app.models import Facility
from tests.factories import World

YEAR = 2025


def allocate(
    client: TestClient, world: World, amount_fen: int, *, township=None, year: int = YEAR
) -> dict:
    body = {
        "township_id": (township or world.township_a).id,
        "year": year,
        "amount_fen": amount_fen,
        "source": "county",
        "document_no": "沁退役军人发〔2025〕8号",
        "allocated_on": f"{year}-03-15",
    }
    response = client.post("/api/v1/fund-allocations", json=body, headers=world.headers("county"))
    assert response.status_code == 201, response.text
    return response.json()


def order_body(facility: Facility, planned_cost_fen: int = 100_000, **overrides: Any) -> dict:
    return {
        "facility_id": facility.id,
        "category": "repair",
        "title": "碑体裂缝修补",
        "planned_cost_fen": planned_cost_fen,
        "due_on": "2025-09-20",
        "year": YEAR,
    } | overrides


def open_order(
    client: TestClient,
    world: World,
    planned_cost_fen: int = 100_000,
    *,
    who="township",
    facility=None,
) -> dict:
    body = order_body(facility or world.facility_a, planned_cost_fen)
    response = client.post("/api/v1/maintenance", json=body, headers=world.headers(who))
    assert response.status_code == 201, response.text
    return response.json()


def act(
    client: TestClient, world: World, order: dict, action: str, who: str = "county", **body: Any
):
    payloads = {
        "complete": {
            "actual_cost_fen": 90_000,
            "completed_on": "2025-09-18",
            "payee": "某某建筑队",
            "invoice_no": "No.0012345",
        },
        "cancel": {"reason": "并入县级项目"},
    }
    payload = payloads.get(action, {}) | body
    return client.post(
        f"/api/v1/maintenance/{order['id']}/{action}",
        json=payload or None,
        headers=world.headers(who),
    )


def order_in(client: TestClient, world: World, state: str, planned_cost_fen: int = 100_000) -> dict:
    """An order driven through the real transitions into ``state``."""
    order = open_order(client, world, planned_cost_fen)
    path = {
        "planned": [],
        "approved": ["approve"],
        "in_progress": ["approve", "start"],
        "completed": ["approve", "start", "complete"],
        "cancelled": ["cancel"],
    }[state]
    for action in path:
        response = act(client, world, order, action)
        assert response.status_code == 200, response.text
        order = response.json()
    return order


def summary(client: TestClient, world: World, who: str = "county", year: int = YEAR) -> dict:
    response = client.get(
        "/api/v1/funds/summary", params={"year": year}, headers=world.headers(who)
    )
    assert response.status_code == 200, response.text
    return {row["township"]["code"]: row for row in response.json()["townships"]}


def ledger(client: TestClient, world: World, who: str = "county", **params: Any) -> list[dict]:
    response = client.get(
        "/api/v1/funds/ledger", params={"limit": 500} | params, headers=world.headers(who)
    )
    assert response.status_code == 200, response.text
    return response.json()["items"]
