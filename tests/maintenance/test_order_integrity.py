"""What people entered is never doubled or left uncorrectable: one unfinished order per
report under races, no new work or money for sites no longer active, and a completed
order's mistyped cost put right through the ledger."""

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.concurrency import run_together
from tests.factories import World, report_body
from tests.funds.helpers import YEAR, act, allocate, ledger, open_order, order_in, summary

API = "/api/v1/maintenance"


@pytest.fixture
def funded(client: TestClient, world: World) -> World:
    allocate(client, world, 1_000_000)
    return world


def _report(client: TestClient, world: World) -> dict:
    body = report_body(world.facility_a, condition="needs_repair")
    response = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    assert response.status_code == 201, response.text
    return response.json()


def _from_report(client: TestClient, world: World, report: dict, who: str = "township"):
    return client.post(
        f"/api/v1/inspections/{report['id']}/maintenance",
        json={"planned_cost_fen": 50_000, "year": YEAR},
        headers=world.headers(who),
    )


def _orders_of(client: TestClient, world: World, report: dict) -> list[dict]:
    response = client.get(API, params={"limit": 500}, headers=world.headers("county"))
    return [o for o in response.json()["items"] if o["inspection_id"] == report["id"]]


def test_eight_concurrent_requests_open_one_order_and_the_others_name_it(
    app: FastAPI, client: TestClient, funded: World
) -> None:
    """On PostgreSQL, without the partial unique index, this opened several orders (it
    failed every time it was tried). SQLite's write lock already serialises the requests,
    so there the index is the backstop and this test a check that the losers hear why."""
    report = _report(client, funded)
    results = run_together(app, [lambda c: _from_report(c, funded, report)] * 8)

    statuses = sorted(r.status_code for r in results)
    assert statuses == [201] + [409] * 7, [r.text for r in results]
    created = next(r.json() for r in results if r.status_code == 201)
    for loser in (r for r in results if r.status_code == 409):
        assert f"maintenance order {created['id']}" in loser.json()["detail"]
        assert loser.headers["location"] == f"{API}/{created['id']}"
    assert [o["id"] for o in _orders_of(client, funded, report)] == [created["id"]]


def test_concurrent_direct_orders_citing_one_report_open_one(
    app: FastAPI, client: TestClient, funded: World
) -> None:
    report = _report(client, funded)
    body = {
        "facility_id": funded.facility_a.id,
        "inspection_id": report["id"],
        "category": "repair",
        "title": "碑体修补",
        "planned_cost_fen": 10_000,
        "year": YEAR,
    }
    results = run_together(
        app, [lambda c: c.post(API, json=body, headers=funded.headers("county"))] * 6
    )
    assert sorted(r.status_code for r in results) == [201] + [409] * 5
    assert len(_orders_of(client, funded, report)) == 1


def test_an_unfinished_order_blocks_another_and_says_what_to_do(
    client: TestClient, funded: World
) -> None:
    report = _report(client, funded)
    first = _from_report(client, funded, report).json()
    act(client, funded, first, "approve")

    second = _from_report(client, funded, report)
    assert second.status_code == 409
    detail = second.json()["detail"]
    assert f"maintenance order {first['id']}, which is approved" in detail
    assert "carry on with that order, or cancel it" in detail


@pytest.mark.parametrize("ending", ["complete", "cancel"])
def test_a_finished_order_no_longer_blocks_a_new_one(
    client: TestClient, funded: World, ending: str
) -> None:
    report = _report(client, funded)
    first = _from_report(client, funded, report).json()
    if ending == "complete":
        for action in ("approve", "start"):
            assert act(client, funded, first, action).status_code == 200
    extra = {"actual_cost_fen": 40_000} if ending == "complete" else {}
    finished = act(client, funded, first, ending, **extra)
    assert finished.status_code == 200, finished.text

    again = _from_report(client, funded, report)
    assert again.status_code == 201, again.text
    assert again.json()["id"] != first["id"]


@pytest.mark.parametrize("status", ["archived", "relocated", "merged"])
def test_no_order_is_opened_for_a_facility_no_longer_active(
    client: TestClient, funded: World, status: str
) -> None:
    report = _report(client, funded)
    changed = client.patch(
        f"/api/v1/facilities/{funded.facility_a.id}",
        json={"status": status},
        headers=funded.headers("county"),
    )
    assert changed.status_code == 200, changed.text

    direct = client.post(
        API,
        json={
            "facility_id": funded.facility_a.id,
            "category": "repair",
            "title": "修缮",
            "planned_cost_fen": 1_000,
            "year": YEAR,
        },
        headers=funded.headers("county"),
    )
    from_report = _from_report(client, funded, report, who="county")
    for response in (direct, from_report):
        assert response.status_code == 409
        assert f"is {status}, not active" in response.json()["detail"]


def test_an_order_planned_before_its_facility_was_archived_is_not_funded(
    client: TestClient, funded: World
) -> None:
    order = open_order(client, funded, 100_000)
    archived = client.delete(
        f"/api/v1/facilities/{funded.facility_a.id}", headers=funded.headers("county")
    )
    assert archived.status_code in (200, 204), archived.text

    approval = act(client, funded, order, "approve")
    assert approval.status_code == 409
    assert "archived, not active" in approval.json()["detail"]
    assert summary(client, funded)["140521100"]["committed_fen"] == 0
    # It can still be cancelled, with nothing to give back.
    assert act(client, funded, order, "cancel").status_code == 200


def _correct(client: TestClient, world: World, order: dict, who: str = "county", **body):
    payload = {"actual_cost_fen": 95_000, "reason": "发票金额录入错误"} | body
    return client.post(
        f"{API}/{order['id']}/correct-cost", json=payload, headers=world.headers(who)
    )


def test_a_completed_orders_cost_is_corrected_by_a_reversal_and_a_new_spend(
    client: TestClient, funded: World
) -> None:
    order = order_in(client, funded, "completed")  # completed at 90,000 fen
    assert summary(client, funded)["140521100"]["spent_fen"] == 90_000

    response = _correct(client, funded, order, invoice_no="No.0012399")
    assert response.status_code == 200, response.text
    corrected = response.json()
    assert (corrected["actual_cost_fen"], corrected["invoice_no"]) == (95_000, "No.0012399")
    assert corrected["status"] == "completed"

    account = summary(client, funded)["140521100"]
    assert (account["spent_fen"], account["available_fen"]) == (95_000, 1_000_000 - 95_000)
    entries = [e for e in ledger(client, funded) if e.get("order_id") == order["id"]]
    kinds = [(e["kind"], e["amount_fen"]) for e in entries]
    # the first expenditure stays in the ledger; a reversal and the new one follow it
    assert kinds[-3:] == [("expenditure", -90_000), ("reversal", 90_000), ("expenditure", -95_000)]
    assert all("发票金额录入错误" in e["reason"] for e in entries[-2:])

    audit = client.get(
        "/api/v1/audit",
        params={"object_type": "maintenance_order", "object_id": order["id"]},
        headers=funded.headers("admin"),
    ).json()["items"]
    correction = next(a for a in audit if a["action"] == "maintenance.correct_cost")
    assert correction["before"]["actual_cost_fen"] == 90_000
    assert correction["after"]["actual_cost_fen"] == 95_000


def test_a_lower_corrected_cost_gives_money_back(client: TestClient, funded: World) -> None:
    order = order_in(client, funded, "completed")
    assert _correct(client, funded, order, actual_cost_fen=9_000).status_code == 200
    assert summary(client, funded)["140521100"]["spent_fen"] == 9_000


def test_a_correction_is_guarded_by_the_balance_like_any_spend(
    client: TestClient, world: World
) -> None:
    allocate(client, world, 100_000)
    order = order_in(client, world, "completed")  # 90,000 of 100,000 spent
    refused = _correct(client, world, order, actual_cost_fen=120_000)
    assert refused.status_code == 409
    assert "needs 300.00 元" in refused.json()["detail"]
    assert summary(client, world)["140521100"]["spent_fen"] == 90_000

    forced = _correct(
        client, world, order, who="admin", actual_cost_fen=120_000, override_reason="县局追加"
    )
    assert forced.status_code == 200, forced.text
    last = ledger(client, world)[-1]
    assert (last["kind"], last["amount_fen"], last["override_reason"]) == (
        "expenditure",
        -120_000,
        "县局追加",
    )


def test_corrections_are_county_work_on_completed_orders_only(
    client: TestClient, funded: World
) -> None:
    completed = order_in(client, funded, "completed")
    assert _correct(client, funded, completed, who="township").status_code == 403
    assert _correct(client, funded, completed, who="other").status_code in (403, 404)

    unchanged = _correct(client, funded, completed, actual_cost_fen=90_000)
    assert unchanged.status_code == 422
    assert "already" in unchanged.json()["detail"][0]["msg"]

    for state in ("planned", "in_progress", "cancelled"):
        order = order_in(client, funded, state)
        response = _correct(client, funded, order)
        assert response.status_code == 409
        assert f"is {state}; only a completed order" in response.json()["detail"]
    assert _correct(client, funded, completed, reason="").status_code == 422
