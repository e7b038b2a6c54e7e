"""A database holding money and reports keeps what it acknowledged: PostgreSQL flushes
every commit to disk; SQLite runs in WAL mode with ``synchronous=FULL`` and a busy timeout,
and its write transactions take the write lock at ``BEGIN IMMEDIATE``."""

import logging
import re
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from app.db import Database, make_engine
from tests.conftest import postgresql_only
from tests.factories import World

sqlite_only = pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
APP = Path(__file__).resolve().parent.parent / "app"


@postgresql_only
def test_postgresql_flushes_every_commit_to_disk(db: Database) -> None:
    with db.engine.connect() as connection:
        settings = {
            name: connection.execute(text(f"SHOW {name}")).scalar_one()
            for name in ("fsync", "synchronous_commit", "full_page_writes")
        }
    assert settings == {"fsync": "on", "synchronous_commit": "on", "full_page_writes": "on"}


def test_the_app_never_turns_durability_off() -> None:
    weakening = re.compile(
        r"synchronous_commit\s*(=|to)\s*'?(off|local)|fsync\s*(=|to)\s*'?off"
        r"|synchronous\s*=\s*(off|normal|0|1)\b",
        re.IGNORECASE,
    )
    offenders = [
        f"{path.relative_to(APP.parent)}:{number}"
        for path in APP.rglob("*.py")
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if weakening.search(line)
    ]
    assert offenders == []


@postgresql_only
def test_the_app_warns_when_postgresql_acknowledges_commits_not_yet_on_disk(
    database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    url = make_url(database_url).update_query_dict({"options": "-c synchronous_commit=off"})
    engine = make_engine(url.render_as_string(hide_password=False))
    try:
        with caplog.at_level(logging.WARNING, logger="app.db"), engine.connect() as connection:
            assert connection.execute(text("SHOW synchronous_commit")).scalar_one() == "off"
    finally:
        engine.dispose()
    assert "synchronous_commit is off" in caplog.text


@sqlite_only
def test_sqlite_runs_in_wal_mode_with_full_sync_and_a_busy_timeout(db: Database) -> None:
    with db.engine.connect() as connection:
        pragmas = {
            name: connection.exec_driver_sql(f"PRAGMA {name}").scalar_one()
            for name in ("journal_mode", "synchronous", "busy_timeout", "foreign_keys")
        }
    expected = {"journal_mode": "wal", "synchronous": 2, "busy_timeout": 30000, "foreign_keys": 1}
    assert pragmas == expected  # synchronous 2 is FULL


def _other_connection(db: Database) -> sqlite3.Connection:
    """A second connection that gives up at once instead of waiting for a lock."""
    path = make_url(db.settings.database_url).database
    return sqlite3.connect(path, timeout=0, isolation_level=None)


@sqlite_only
def test_a_write_session_holds_sqlites_write_lock_from_its_begin(db: Database) -> None:
    other = _other_connection(db)
    try:
        with db.session() as session:
            session.execute(text("SELECT 1"))  # begins the transaction; nothing written yet
            with pytest.raises(sqlite3.OperationalError, match="locked"):
                other.execute("BEGIN IMMEDIATE")
        other.execute("BEGIN IMMEDIATE")  # free again once the session has ended
        other.execute("ROLLBACK")
    finally:
        other.close()


@sqlite_only
def test_a_read_session_leaves_the_write_lock_free(db: Database) -> None:
    other = _other_connection(db)
    try:
        with db.session(write=False) as session:
            session.execute(text("SELECT count(*) FROM facilities"))
            other.execute("BEGIN IMMEDIATE")
            other.execute("ROLLBACK")
    finally:
        other.close()


@sqlite_only
def test_a_request_that_writes_begins_immediate(
    client: TestClient, world: World, db: Database
) -> None:
    # SQLite's own trace of what each connection runs (BEGIN is issued on the driver's
    # cursor, not through SQLAlchemy's execute events)
    statements: list[str] = []
    traced: list[Any] = []

    def trace(dbapi_connection: Any, *_args: Any) -> None:
        dbapi_connection.set_trace_callback(lambda sql: statements.append(sql.strip().upper()))
        traced.append(dbapi_connection)

    event.listen(db.engine, "checkout", trace)
    try:
        response = client.patch(
            f"/api/v1/facilities/{world.facility_a.id}",
            json={"name": "改名"},
            headers=world.headers("county"),
        )
    finally:
        event.remove(db.engine, "checkout", trace)
        for dbapi_connection in traced:
            dbapi_connection.set_trace_callback(None)
    assert response.status_code == 200, response.text
    update = next(i for i, s in enumerate(statements) if s.startswith("UPDATE FACILITIES"))
    begins = [s for s in statements[:update] if s.startswith("BEGIN")]
    assert begins[-1] == "BEGIN IMMEDIATE"  # the transaction that writes took the lock first
