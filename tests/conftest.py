"""Test harness: every test that touches SQL runs on SQLite and, when
``MEMORIAL_TEST_POSTGRES_URL`` is set, on PostgreSQL too (a missing server then fails, and
so does any skipped test: that run is the full suite).

Each test gets a clean database: SQLite copies a migrated template file; PostgreSQL is
migrated once per run and truncated before each test.

``MEMORIAL_TEST_CLOCK_SHIFT`` (seconds) moves the process clock forward once collection
is done, as if the machine had been that slow between building the tests and running
them: a time computed at import or collection time then goes stale and its test fails.
Only the Python clock moves; timestamps come from ``utcnow()``, never from the database
server's clock (``tests/test_clock_reads.py`` holds both rules).
"""

import os
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import time_machine
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
CLOCK_SHIFT = timedelta(seconds=float(os.environ.get("MEMORIAL_TEST_CLOCK_SHIFT") or 0))
SECRET = "test-secret-key-that-is-long-enough-for-hs256"

# For tests of what only PostgreSQL has (TRUNCATE triggers, ...): skipped without a server.
postgresql_only = pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)


def pytest_collection_finish(session: pytest.Session) -> None:
    if CLOCK_SHIFT:
        traveller = time_machine.travel(datetime.now(UTC) + CLOCK_SHIFT, tick=True)
        traveller.start()
        session.config.add_cleanup(traveller.stop)


def pytest_report_header() -> str:
    return (
        f"databases: {', '.join(BACKENDS)}; "
        f"clock moved {CLOCK_SHIFT.total_seconds():g} s forward after collection"
    )


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> pytest.TestReport:
    report = yield
    if POSTGRES_URL and report.skipped and not hasattr(report, "wasxfail"):
        # With PostgreSQL given, this is the full suite (.ci/run): nothing may go untested.
        report.outcome = "failed"
        report.longrepr = f"skipped although MEMORIAL_TEST_POSTGRES_URL is set: {report.longrepr}"
    return report


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
                    "VALUES (:tier, :days, :now)"
                ),  # the Python clock, as the app writes it, not the database server's
                {"tier": tier.value, "days": days, "now": datetime.now(UTC)},
            )
    engine.dispose()


@pytest.fixture(params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return fresh_database_url(request, tmp_path)


def fresh_database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A clean, migrated database of the backend ``request.param`` names."""
    if request.param == "sqlite":
        template = request.getfixturevalue("sqlite_template")
        path = tmp_path / "memorial.db"
        shutil.copyfile(template, path)
        return f"sqlite:///{path}"
    if not POSTGRES_URL:
        pytest.skip("PostgreSQL only, and MEMORIAL_TEST_POSTGRES_URL is not set")
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
