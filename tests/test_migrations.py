"""The migration chain builds exactly what the models declare, and unbuilds it."""

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import make_url
from sqlmodel import SQLModel

import app.models  # noqa: F401
from app import migrate
from app.db import make_engine
from tests.conftest import POSTGRES_URL, make_settings


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_database(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A brand-new, empty database of each kind (PostgreSQL: created and dropped here)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    if not POSTGRES_URL:
        pytest.skip("MEMORIAL_TEST_POSTGRES_URL is not set")
    name = f"memorial_mig_{uuid.uuid4().hex[:12]}"
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def _diff(url: str) -> list[object]:
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            return compare_metadata(context, SQLModel.metadata)
    finally:
        engine.dispose()


def _tables(url: str) -> set[str]:
    engine = make_engine(url)
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_to_head_matches_the_models_and_downgrade_removes_everything(
    empty_database: str, tmp_path: Path
) -> None:
    settings = make_settings(tmp_path, empty_database)
    migrate.upgrade(settings)
    assert _diff(empty_database) == []
    assert set(SQLModel.metadata.tables) <= _tables(empty_database)

    migrate.downgrade(settings, "base")
    assert _tables(empty_database) <= {"alembic_version"}

    migrate.upgrade(settings)  # and back up again: downgrades leave nothing behind
    assert _diff(empty_database) == []


def test_the_chain_has_a_single_head() -> None:
    from alembic.script import ScriptDirectory

    script = ScriptDirectory.from_config(migrate.alembic_config("sqlite://"))
    assert len(script.get_heads()) == 1


def test_counties_come_from_the_townships_and_users_keep_what_they_reached(
    empty_database: str, tmp_path: Path
) -> None:
    """0009 on data of a single-county installation: Qinshui becomes a county row with the
    seed's outline, every township belongs to it, a township user reaches their township's
    code and every other user Qinshui (140521) — what each saw before."""
    settings = make_settings(tmp_path, empty_database)
    migrate.upgrade(settings, "0008")
    engine = make_engine(empty_database)
    now = "2026-01-01 00:00:00+00"
    with engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO townships (id, code, name, created_at, updated_at) VALUES"
                " (1, '140521100', '龙港镇', :now, :now), (2, '140521103', '端氏镇', :now, :now)"
            ),
            {"now": now},
        )
        connection.execute(
            text(
                "INSERT INTO users (id, username, full_name, role, township_id, password_hash,"
                " is_active, tokens_valid_after, created_at, updated_at) VALUES"
                " (1, 'admin', 'A', 'admin', NULL, 'x', true, :now, :now, :now),"
                " (2, 'clerk', 'C', 'county', NULL, 'x', true, :now, :now, :now),"
                " (3, 'lg', 'L', 'township', 2, 'x', true, :now, :now, :now)"
            ),
            {"now": now},
        )
    engine.dispose()
    migrate.upgrade(settings)
    engine = make_engine(empty_database)
    try:
        with engine.connect() as connection:
            counties = connection.execute(
                text("SELECT id, code, name, outline IS NOT NULL FROM counties")
            ).all()
            assert [tuple(c)[1:] for c in counties] == [("140521", "沁水县", True)]
            owners = connection.execute(text("SELECT DISTINCT county_id FROM townships")).all()
            assert owners == [(counties[0][0],)]
            divisions = connection.execute(
                text("SELECT username, division_code FROM users ORDER BY id")
            ).all()
            assert [tuple(d) for d in divisions] == [
                ("admin", "140521"),
                ("clerk", "140521"),
                ("lg", "140521103"),
            ]
    finally:
        engine.dispose()
