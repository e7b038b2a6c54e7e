from pathlib import Path

import pytest
from sqlalchemy import MetaData, select
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.db import Database
from app.models import Facility, FacilityStatus, Township, User


def dump(db: Database) -> dict[str, list[tuple]]:
    """Every row of every table, in a stable order."""
    metadata = MetaData()
    metadata.reflect(db.engine)
    with db.engine.connect() as connection:
        return {
            name: sorted(map(tuple, connection.execute(select(table)).all()), key=repr)
            for name, table in metadata.tables.items()
        }


@pytest.fixture
def cli_env(settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MEMORIAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MEMORIAL_DATA_DIR", str(tmp_path))
    return CliRunner()


def test_seed_twice_leaves_the_same_data(cli_env: CliRunner, db: Database) -> None:
    first = cli_env.invoke(cli, ["seed"])
    assert first.exit_code == 0, first.output
    assert "60 facilities added" in first.output
    assert "admin-demo-2025" in first.output  # the demo sign-ins are printed
    before = dump(db)
    second = cli_env.invoke(cli, ["seed"])
    assert second.exit_code == 0, second.output
    assert "0 facilities added" in second.output
    assert dump(db) == before


def test_seed_loads_qinshui_townships_and_sample_facilities_inside_the_county(
    cli_env: CliRunner, db: Database, settings: Settings
) -> None:
    cli_env.invoke(cli, ["seed"])
    with db.session() as session:
        townships = session.exec(select(Township)).scalars().all()
        facilities = session.exec(select(Facility)).scalars().all()
        users = session.exec(select(User)).scalars().all()
    assert len(townships) == 14
    assert all(t.code.startswith("140521") and len(t.code) == 9 for t in townships)
    assert len(facilities) == 60
    assert {f.township_id for f in facilities} == {t.id for t in townships}
    assert all("样例" in f.name for f in facilities)
    assert all(settings.bbox.contains(f.longitude, f.latitude) for f in facilities)
    assert all(f.status is FacilityStatus.active for f in facilities)
    assert {u.username for u in users} == {"admin", "county", "longgang", "duanshi"}


def test_seed_creates_no_demo_users_in_production(
    cli_env: CliRunner, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMORIAL_ENV", "production")
    monkeypatch.setenv("MEMORIAL_SECRET_KEY", "p" * 40)
    result = cli_env.invoke(cli, ["seed"])
    assert result.exit_code == 0, result.output
    assert "admin-demo-2025" not in result.output
    with db.session() as session:
        assert session.exec(select(User)).scalars().all() == []


def test_create_user_then_sign_in(cli_env: CliRunner, db: Database, client) -> None:
    cli_env.invoke(cli, ["seed"])
    result = cli_env.invoke(
        cli,
        ["create-user", "--username", "chief", "--password", "a long secret", "--role", "township",
         "--township", "嘉峰镇"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    token = client.post(
        "/api/v1/auth/token", data={"username": "chief", "password": "a long secret"}
    )
    me = client.get(
        "/api/v1/me", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
    )
    assert me.json()["township"]["name"] == "嘉峰镇"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--role", "township", "--township", "000000000"], "No township with code or name"),
        (["--role", "township"], "--township is required"),
        (["--role", "county", "--password", "short"], "at least 8"),
    ],
)
def test_create_user_explains_what_is_wrong(
    cli_env: CliRunner, args: list[str], message: str
) -> None:
    base = ["create-user", "--username", "chief", "--password", "a long secret"]
    result = cli_env.invoke(cli, base + args)
    assert result.exit_code == 1
    assert message in result.output


def test_production_refuses_to_start_without_a_secret_key(
    cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MEMORIAL_ENV", "production")
    monkeypatch.delenv("MEMORIAL_SECRET_KEY", raising=False)
    result = cli_env.invoke(cli, ["migrate"])
    assert result.exit_code == 2
    assert "MEMORIAL_SECRET_KEY must be set in production" in result.output


def test_seed_allocates_100000_yuan_for_2025_by_facility_count(
    cli_env: CliRunner, db: Database, settings: Settings
) -> None:
    from collections import Counter

    from app.clock import local_today
    from app.models import FundAllocation, LedgerEntry, MaintenanceOrder, OrderStatus

    cli_env.invoke(cli, ["seed"])
    with db.session() as session:
        every_year = session.exec(select(FundAllocation)).scalars().all()
        facilities = session.exec(select(Facility)).scalars().all()
        orders = session.exec(select(MaintenanceOrder)).scalars().all()
        ledger = session.exec(select(LedgerEntry).where(LedgerEntry.year == 2025)).scalars().all()
    # 2025 as in the county's report, and this year so the demo can approve new orders
    assert {a.year for a in every_year} == {2025, local_today(settings.tz).year}
    allocations = [a for a in every_year if a.year == 2025]
    assert sum(a.amount_fen for a in allocations) == 10_000_000
    per_township = Counter(f.township_id for f in facilities)
    for allocation in allocations:
        exact = 10_000_000 * per_township[allocation.township_id] / len(facilities)
        assert abs(allocation.amount_fen - exact) < 1
    assert {o.status for o in orders} == set(OrderStatus)
    available = sum(e.amount_fen for e in ledger)
    spent = sum(o.actual_cost_fen or 0 for o in orders if o.status is OrderStatus.completed)
    committed = sum(
        o.planned_cost_fen
        for o in orders
        if o.status in (OrderStatus.approved, OrderStatus.in_progress)
    )
    assert available == 10_000_000 - spent - committed


@pytest.mark.parametrize(
    ("total", "weights"),
    [
        (10_000_000, {1: 5, 2: 5, 3: 4}),
        (100, {1: 1, 2: 1, 3: 1}),
        (7, {1: 3, 2: 0, 3: 9}),
        (1, {5: 2, 6: 2}),
    ],
)
def test_split_by_weight_is_exact(total: int, weights: dict[int, int]) -> None:
    from app.seed import split_by_weight

    shares = split_by_weight(total, weights)
    assert sum(shares.values()) == total
    for key, weight in weights.items():
        assert abs(shares[key] - total * weight / sum(weights.values())) < 1
