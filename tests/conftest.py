"""Test harness: every test that touches SQL runs on SQLite and, when
``MEMORIAL_TEST_POSTGRES_URL`` is set, on PostgreSQL too (a missing server then fails, and
so does any skipped test: that run is the full suite).

Each test gets a clean database: SQLite copies a migrated template file; PostgreSQL is
migrated once per run and emptied before each test. ``make test`` runs the tests in
pytest-xdist workers: each makes its own SQLite template and its own PostgreSQL database
(``<db>_gw0``, ``<db>_gw1``, ...), so they never see each other's rows.

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
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import make_url

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


#: figures a test measured (``record_property("figure", "...")``), printed after the run:
#: the byte budgets of the phone form. A property travels with the test's report, so it
#: reaches the terminal from xdist workers too.
_FIGURES: list[str] = []


def pytest_runtest_logreport(report: pytest.TestReport) -> None:
    if report.when == "call":
        _FIGURES.extend(value for name, value in report.user_properties if name == "figure")


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if _FIGURES:
        terminalreporter.section("figures measured by the tests")
        for line in _FIGURES:
            terminalreporter.write_line(line)


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
    engine = make_engine(f"sqlite:///{path}")
    with engine.begin() as connection:
        add_home_county(connection)
    engine.dispose()
    return path


def add_home_county(connection: Connection) -> None:
    """Qinshui (140521) with the seed's outline: the county the tests' townships are in, as
    ``memorial seed`` adds it (other counties are added by the tests that need them)."""
    geometry = factories.home_outline_geometry()
    now = datetime.now(UTC)
    if connection.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    connection.execute(
        text(
            "INSERT INTO counties (code, name, timezone, outline, created_at, updated_at) "
            "VALUES ('140521', '沁水县', 'Asia/Shanghai', :outline, :now, :now)"
        ),
        {"outline": geometry, "now": now},
    )


def worker_database_name(base_url: str, worker: str) -> str:
    """The database a pytest-xdist worker (``gw0``, ``gw1``, ...) uses instead of the
    one ``MEMORIAL_TEST_POSTGRES_URL`` names (``.ci/run`` drops ``<db>_gw*`` on exit)."""
    return f"{make_url(base_url).database}_{worker}"


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """The PostgreSQL database of this run, migrated; without xdist the one
    ``MEMORIAL_TEST_POSTGRES_URL`` names, under xdist one per worker, created and dropped
    here, so that workers never empty each other's tables."""
    assert POSTGRES_URL, "MEMORIAL_TEST_POSTGRES_URL is not set"
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        engine = make_engine(POSTGRES_URL)
        with engine.begin() as connection:  # start from nothing, whatever an earlier run left
            connection.execute(text("DROP SCHEMA public CASCADE"))
            connection.execute(text("CREATE SCHEMA public"))
        engine.dispose()
        migrate.upgrade(make_settings(Path("."), POSTGRES_URL))
        yield POSTGRES_URL
        _dispose_cleaning_engine(POSTGRES_URL)
        return
    name = worker_database_name(POSTGRES_URL, worker)
    admin = make_engine(POSTGRES_URL).execution_options(isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:  # whatever an earlier, killed run left
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = make_url(POSTGRES_URL).set(database=name).render_as_string(hide_password=False)
    try:
        migrate.upgrade(make_settings(Path("."), url))
        yield url
    finally:
        _dispose_cleaning_engine(url)
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


#: the harness's own engine for each PostgreSQL database it empties between tests (never
#: the app's), kept for the run: connecting anew before every test costs more than emptying
_CLEANING_ENGINES: dict[str, Engine] = {}

#: the sequences of the tables' serial columns: those ``TRUNCATE ... RESTART IDENTITY`` restarts
_OWNED_SEQUENCES = text(
    "SELECT s.relname FROM pg_class s "
    "JOIN pg_namespace n ON n.oid = s.relnamespace "
    "JOIN pg_depend d ON d.classid = 'pg_class'::regclass AND d.objid = s.oid "
    "AND d.refclassid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') "
    "JOIN pg_class t ON t.oid = d.refobjid "
    "WHERE s.relkind = 'S' AND n.nspname = 'public' AND t.relname <> 'alembic_version'"
)


def cleaning_engine(url: str) -> Engine:
    engine = _CLEANING_ENGINES.get(url)
    if engine is None:
        engine = _CLEANING_ENGINES[url] = make_engine(url, pool_size=1, max_overflow=2)
    return engine


def _dispose_cleaning_engine(url: str) -> None:
    engine = _CLEANING_ENGINES.pop(url, None)
    if engine is not None:
        engine.dispose()


def public_tables(connection: Connection) -> list[str]:
    return list(
        connection.execute(
            text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public' "
                "AND tablename <> 'alembic_version' ORDER BY tablename"
            )
        ).scalars()
    )


def empty_public_tables(connection: Connection) -> None:
    """What ``TRUNCATE <every table but alembic_version> RESTART IDENTITY`` leaves, by
    DELETE: a test leaves a handful of rows, and deleting them takes a few milliseconds
    where TRUNCATE, making new files for every table and index, takes fifty."""
    tables = public_tables(connection)
    sequences = connection.execute(_OWNED_SEQUENCES).scalars().all()
    # The ledger's append-only triggers refuse DELETE and TRUNCATE; a superuser's session in
    # replica mode fires neither them nor the foreign keys' (cleaning up between tests only).
    connection.execute(text("SET LOCAL session_replication_role = replica"))
    statements = [f'DELETE FROM "{table}"' for table in tables]
    statements += [f'ALTER SEQUENCE "{sequence}" RESTART' for sequence in sequences]
    connection.execute(text("; ".join(statements)))


def _truncate_postgres(url: str) -> None:
    """Every table emptied, ids from 1 again, and the default patrol policies back."""
    with cleaning_engine(url).begin() as connection:
        empty_public_tables(connection)
        connection.execute(
            text(
                "INSERT INTO patrol_policies (tier, interval_days, updated_at) "
                "VALUES (:tier, :days, :now)"
            ),  # the Python clock, as the app writes it, not the database server's
            [
                {"tier": tier.value, "days": days, "now": datetime.now(UTC)}
                for tier, days in DEFAULT_INTERVAL_DAYS.items()
            ],
        )
        add_home_county(connection)


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
