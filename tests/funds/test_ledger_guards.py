"""The ledger cannot be rewritten, and two spends cannot both pass one balance check."""

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app.db import Database
from tests.concurrency import run_together
from tests.conftest import postgresql_only
from tests.factories import World
from tests.funds.helpers import act, allocate, open_order, order_in, summary


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entries SET amount_fen = 1",
        "UPDATE ledger_entries SET reason = 'edited' WHERE id = 1",
        "DELETE FROM ledger_entries",
        "DELETE FROM ledger_entries WHERE id = 1",
    ],
)
def test_the_database_refuses_to_change_or_remove_ledger_entries(
    client: TestClient, world: World, db: Database, statement: str
) -> None:
    allocate(client, world, 1_000)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text(statement))
    with db.engine.connect() as connection:
        assert connection.execute(text("SELECT amount_fen, reason FROM ledger_entries")).all() == [
            (1_000, "沁退役军人发〔2025〕8号")
        ]


@postgresql_only  # SQLite has no TRUNCATE
def test_truncating_the_ledger_is_refused_on_postgresql(
    client: TestClient, world: World, db: Database
) -> None:
    assert db.dialect == "postgresql"
    allocate(client, world, 1_000)
    with pytest.raises(DBAPIError, match="append-only"), db.engine.begin() as connection:
        connection.execute(text("TRUNCATE ledger_entries CASCADE"))


@pytest.mark.parametrize("attempt", range(3))
def test_two_approvals_that_fit_alone_but_not_together_one_passes(
    app, client: TestClient, world: World, attempt: int
) -> None:
    allocate(client, world, 1_000_000)
    first = open_order(client, world, planned_cost_fen=600_000)
    second = open_order(client, world, planned_cost_fen=600_000)
    results = run_together(
        app, [lambda c, o=o: act(c, world, o, "approve") for o in (first, second)]
    )
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    account = summary(client, world)["140521100"]
    assert (account["committed_fen"], account["available_fen"]) == (600_000, 400_000)


def test_completions_over_plan_compete_for_the_same_balance(
    app, client: TestClient, world: World
) -> None:
    allocate(client, world, 1_000_000)
    orders = [order_in(client, world, "in_progress", planned_cost_fen=300_000) for _ in range(2)]
    # each wants 300,000 more than planned; 400,000 is available: only one fits
    results = run_together(
        app, [lambda c, o=o: act(c, world, o, "complete", actual_cost_fen=600_000) for o in orders]
    )
    assert sorted(r.status_code for r in results) == [200, 409], [r.text for r in results]
    assert summary(client, world)["140521100"]["available_fen"] == 100_000


def test_many_small_concurrent_approvals_never_overspend(
    app, client: TestClient, world: World
) -> None:
    allocate(client, world, 500_000)
    orders = [open_order(client, world, planned_cost_fen=100_000) for _ in range(8)]
    results = run_together(app, [lambda c, o=o: act(c, world, o, "approve") for o in orders])
    assert sorted(r.status_code for r in results) == [200] * 5 + [409] * 3
    assert summary(client, world)["140521100"]["available_fen"] == 0


def test_the_same_order_approved_twice_at_once_is_approved_once(
    app, client: TestClient, world: World
) -> None:
    allocate(client, world, 1_000_000)
    order = open_order(client, world, planned_cost_fen=100_000)
    results = run_together(app, [lambda c: act(c, world, order, "approve")] * 2)
    assert sorted(r.status_code for r in results) == [200, 409]
    assert summary(client, world)["140521100"]["committed_fen"] == 100_000
