"""Test harness: every test that touches SQL runs on SQLite and, when
``MEMORIAL_TEST_POSTGRES_URL`` is set, on PostgreSQL too (a missing server then fails).

Each test gets a clean database: SQLite copies a migrated template file; PostgreSQL is
migrated once per run and truncated before each test.
"""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from app import migrate
from app.config import Settings
from app.db import Database, make_engine
from app.main import create_app
from app.models import DEFAULT_INTERVAL_DAYS
from tests import factories

POSTGRES_URL = os.environ.get("MEMORIAL_TEST_POSTGRES_URL")
BACKENDS = ["sqlite"] + (["postgresql"] if POSTGRES_URL else [])
SECRET = "test-secret-key-that-is-long-enough-for-hs256"


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    return Settings(
        env="development",
        data_dir=tmp_path,
        database_url=database_url,
        secret_key=SECRET,
        photo_dir=tmp_path / "photos",
        **overrides,
    )


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("template")
    path = folder / "template.db"
    migrate.upgrade(make_settings(folder, f"sqlite:///{path}"))
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    assert POSTGRES_URL, "MEMORIAL_TEST_POSTGRES_URL is not set"
    engine = make_engine(POSTGRES_URL)
    with engine.begin() as connection:  # start from nothing, whatever an earlier run left
        connection.execute(text("DROP SCHEMA public CASCADE"))
        connection.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    migrate.upgrade(make_settings(Path("."), POSTGRES_URL))
    yield POSTGRES_URL


def _truncate_postgres(url: str) -> None:
    engine = make_engine(url)
    with engine.begin() as connection:
        tables = connection.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version'"
            )
        ).scalars()
        names = ", ".join(f'"{t}"' for t in tables)
        # The ledger's append-only triggers refuse TRUNCATE too; a superuser's session in
        # replica mode does not fire them (cleaning up between tests only).
        connection.execute(text("SET LOCAL session_replication_role = replica"))
        connection.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        for tier, days in DEFAULT_INTERVAL_DAYS.items():
            connection.execute(
                text(
                    "INSERT INTO patrol_policies (tier, interval_days, updated_at) "
                    "VALUES (:tier, :days, now())"
                ),
                {"tier": tier.value, "days": days},
            )
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "memorial.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    url = request.getfixturevalue("postgres_url")
    _truncate_postgres(url)
    return url


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
def app(settings: Settings) -> Iterator[FastAPI]:
    application = create_app(settings)
    yield application
    application.state.db.dispose()


@pytest.fixture
def db(app: FastAPI) -> Database:
    return app.state.db


@pytest.fixture
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=True) as test_client:
        yield test_client


@pytest.fixture
def world(db: Database, settings: Settings) -> factories.World:
    """Two townships with a facility each, and a user of every kind."""
    return factories.make_world(db, settings)
