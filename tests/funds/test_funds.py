"""Funds: allocations, reversals, the summary, the ledger, and who may see them."""

import io

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.factories import World
from tests.funds.helpers import YEAR, act, allocate, ledger, open_order, order_in, summary

API = "/api/v1/fund-allocations"


def body(world: World, **overrides) -> dict:
    return {
        "township_id": world.township_a.id,
        "year": YEAR,
        "amount_fen": 5_000_000,
        "source": "county",
        "document_no": "沁退役军人发〔2025〕8号",
        "allocated_on": "2025-03-15",
        "note": "按设施数量分配",
    } | overrides


@pytest.mark.parametrize(
    ("who", "status"), [("admin", 201), ("county", 201), ("township", 403), ("anonymous", 401)]
)
def test_county_staff_record_allocations(
    client: TestClient, world: World, who: str, status: int
) -> None:
    response = client.post(API, json=body(world), headers=world.headers(who))
    assert response.status_code == status
    if status == 201:
        created = response.json()
        assert created["amount_fen"] == 5_000_000
        assert created["township"]["name"] == "龙港镇"
        assert summary(client, world)["140521100"]["allocated_fen"] == 5_000_000
        entry = ledger(client, world)[0]
        assert (entry["kind"], entry["amount_fen"], entry["allocation_id"]) == (
            "allocation",
            5_000_000,
            created["id"],
        )


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"amount_fen": 0}, "amount_fen"),
        ({"amount_fen": -100}, "amount_fen"),
        ({"amount_fen": 1.5}, "amount_fen"),
        ({"amount_fen": 100.0}, "amount_fen"),
        ({"amount_fen": "100"}, "amount_fen"),
        ({"amount_fen": True}, "amount_fen"),
        ({"amount_fen": None}, "amount_fen"),
        ({"year": 1999}, "year"),
        ({"year": 2101}, "year"),
        ({"year": "2025"}, "year"),
        ({"source": "lottery"}, "source"),
        ({"document_no": ""}, "document_no"),
        ({"allocated_on": "2025-02-30"}, "allocated_on"),
        ({"township_id": 999}, "township_id"),
    ],
)
def test_bad_allocations_are_422(
    client: TestClient, world: World, overrides: dict, field: str
) -> None:
    response = client.post(API, json=body(world, **overrides), headers=world.headers("county"))
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"][0]["loc"]


@pytest.mark.parametrize(
    ("who", "seen"), [("admin", 2), ("county", 2), ("township", 1), ("other", 1)]
)
def test_allocations_are_read_by_their_township(
    client: TestClient, world: World, who: str, seen: int
) -> None:
    a = allocate(client, world, 100)
    b = allocate(client, world, 200, township=world.township_b)
    listed = client.get(API, headers=world.headers(who)).json()
    assert listed["total"] == seen
    mine, theirs = (a, b) if who != "other" else (b, a)
    assert client.get(f"{API}/{mine['id']}", headers=world.headers(who)).status_code == 200
    expected = 200 if who in ("admin", "county") else 404
    assert client.get(f"{API}/{theirs['id']}", headers=world.headers(who)).status_code == expected
    filtered = client.get(
        API, params={"township_id": world.township_b.id}, headers=world.headers("township")
    )
    assert filtered.status_code == 404


def test_reversing_an_unused_allocation(client: TestClient, world: World) -> None:
    allocation = allocate(client, world, 500_000)
    response = client.post(
        f"{API}/{allocation['id']}/reverse",
        json={"reason": "文号有误"},
        headers=world.headers("county"),
    )
    assert response.status_code == 200
    assert response.json()["reversed_at"] is not None
    assert summary(client, world)["140521100"]["allocated_fen"] == 0
    entry = ledger(client, world)[-1]
    assert (entry["kind"], entry["amount_fen"], entry["reason"]) == (
        "reversal",
        -500_000,
        "文号有误",
    )
    again = client.post(
        f"{API}/{allocation['id']}/reverse",
        json={"reason": "再冲"},
        headers=world.headers("county"),
    )
    assert again.status_code == 409


def test_reversing_money_already_committed_is_409_unless_an_admin_overrides(
    client: TestClient, world: World
) -> None:
    allocation = allocate(client, world, 500_000)
    order_in(client, world, "approved", planned_cost_fen=400_000)
    refused = client.post(
        f"{API}/{allocation['id']}/reverse",
        json={"reason": "收回"},
        headers=world.headers("county"),
    )
    assert refused.status_code == 409
    assert (
        "5,000.00 元" in refused.json()["detail"]
        and "1,000.00 元 available" in refused.json()["detail"]
    )
    county_override = client.post(
        f"{API}/{allocation['id']}/reverse",
        json={"reason": "收回", "override_reason": "x"},
        headers=world.headers("county"),
    )
    assert county_override.status_code == 403
    done = client.post(
        f"{API}/{allocation['id']}/reverse",
        json={"reason": "收回", "override_reason": "上级审计要求收回"},
        headers=world.headers("admin"),
    )
    assert done.status_code == 200
    assert summary(client, world)["140521100"]["available_fen"] == -400_000
    assert ledger(client, world)[-1]["override_reason"] == "上级审计要求收回"


@pytest.mark.parametrize(("who", "status"), [("township", 403), ("other", 404), ("anonymous", 401)])
def test_only_county_staff_reverse(client: TestClient, world: World, who: str, status: int) -> None:
    allocation = allocate(client, world, 100)
    response = client.post(
        f"{API}/{allocation['id']}/reverse", json={"reason": "x"}, headers=world.headers(who)
    )
    assert response.status_code == status


def test_a_reversal_needs_a_reason(client: TestClient, world: World) -> None:
    allocation = allocate(client, world, 100)
    assert (
        client.post(
            f"{API}/{allocation['id']}/reverse", json={}, headers=world.headers("county")
        ).status_code
        == 422
    )


# --- summary and ledger ---------------------------------------------------------------------


def test_the_summary_has_every_township_and_exact_totals(client: TestClient, world: World) -> None:
    allocate(client, world, 333_333)
    allocate(client, world, 666_667, township=world.township_b)
    order_in(client, world, "completed")  # 100,000 planned, 90,000 spent in township A
    response = client.get(
        "/api/v1/funds/summary", params={"year": YEAR}, headers=world.headers("county")
    ).json()
    assert response["totals"] == {
        "allocated_fen": 1_000_000,
        "committed_fen": 0,
        "spent_fen": 90_000,
        "available_fen": 910_000,
        "execution_rate": 0.09,
    }
    rows = {r["township"]["code"]: r for r in response["townships"]}
    assert rows["140521100"]["available_fen"] == 243_333
    assert rows["140521103"]["execution_rate"] == 0.0


def test_the_summary_year_defaults_to_the_latest_with_allocations(
    client: TestClient, world: World
) -> None:
    allocate(client, world, 100, year=2023)
    allocate(client, world, 100, year=2024)
    assert (
        client.get("/api/v1/funds/summary", headers=world.headers("county")).json()["year"] == 2024
    )


def test_a_township_sees_only_its_own_funds(client: TestClient, world: World) -> None:
    allocate(client, world, 100)
    allocate(client, world, 200, township=world.township_b)
    mine = summary(client, world, who="township")
    assert list(mine) == ["140521100"]
    assert [e["township_id"] for e in ledger(client, world, who="township")] == [
        world.township_a.id
    ]
    other = client.get(
        "/api/v1/funds/ledger",
        params={"township_id": world.township_a.id},
        headers=world.headers("other"),
    )
    assert other.status_code == 404


def test_the_ledger_is_in_order_and_filtered(client: TestClient, world: World) -> None:
    allocate(client, world, 500_000)
    allocate(client, world, 100, year=2024)
    order_in(client, world, "completed")
    entries = ledger(client, world, year=YEAR)
    assert [e["kind"] for e in entries] == ["allocation", "commitment", "release", "expenditure"]
    assert [e["id"] for e in entries] == sorted(e["id"] for e in entries)
    assert entries[-1]["reason"] == "某某建筑队；发票 No.0012345"
    assert (
        sum(e["amount_fen"] for e in entries)
        == summary(client, world)["140521100"]["available_fen"]
    )


def test_funds_xlsx_has_the_summary_and_the_ledger(client: TestClient, world: World) -> None:
    allocate(client, world, 1_000_001)
    order = open_order(client, world, planned_cost_fen=100_050)
    act(client, world, order, "approve")
    response = client.get(
        "/api/v1/exports/funds.xlsx", params={"year": YEAR}, headers=world.headers("county")
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    summary_sheet, ledger_sheet = book.worksheets
    rows = list(summary_sheet.iter_rows(values_only=True))
    assert rows[0][:3] == ("乡镇", "区划代码", "下拨(元)")
    longgang = next(r for r in rows if r[0] == "龙港镇")
    assert (longgang[2], longgang[3], longgang[5]) == (10000.01, 1000.5, 8999.51)
    assert rows[-1][0] == "合计"
    entries = list(ledger_sheet.iter_rows(values_only=True))
    assert [r[4] for r in entries[1:]] == ["下拨", "预算占用"]
    assert entries[2][5] == -1000.5
    township_view = client.get(
        "/api/v1/exports/funds.xlsx", params={"year": YEAR}, headers=world.headers("other")
    )
    other_rows = list(
        load_workbook(io.BytesIO(township_view.content)).worksheets[1].iter_rows(values_only=True)
    )
    assert len(other_rows) == 1  # the header only: township B has no entries
