"""Engines and sessions: SQLite pragmas and write locking, PostgreSQL pooling."""

import fcntl
import json
import logging
import os
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import make_url
from sqlmodel import Session

from app.config import Settings

logger = logging.getLogger(__name__)

#: execution option that makes a SQLite transaction take the write lock at BEGIN
_SQLITE_WRITE = "memorial_sqlite_write"
#: where the ``begin`` event tells ``_do_begin`` which BEGIN a transaction needs
_BEGIN_IMMEDIATE = "memorial_begin_immediate"


def _json_dumps(value: Any) -> str:
    # Chinese stays readable in the database (and searchable with LIKE).
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def make_engine(
    database_url: str,
    *,
    pool_size: int = 20,
    max_overflow: int = 20,
    foreign_keys: bool = True,
    connect_timeout: int = 5,
    pool_timeout: float = 5.0,
) -> Engine:
    """An engine for ``database_url``; SQLite gets WAL, foreign keys and a busy timeout.

    Migrations pass ``foreign_keys=False``: SQLite's batch mode rebuilds tables, which a
    foreign key pointing at them would otherwise refuse or cascade.
    """
    url = make_url(database_url)
    if url.get_backend_name() != "sqlite":
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=max_overflow,
            # a dead connection (the server restarted) is replaced at checkout, so the
            # app serves again by itself once the database is back
            pool_pre_ping=True,
            # a stopped or unreachable server fails fast (503), never hangs a request
            pool_timeout=pool_timeout,
            connect_args={"connect_timeout": connect_timeout},
            json_serializer=_json_dumps,
        )
        event.listen(engine, "first_connect", _warn_if_not_durable)
        event.listen(engine, "connect", _without_jit)
        return engine
    if url.database and url.database != ":memory:":
        Path(url.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": 30},
        json_serializer=_json_dumps,
    )

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # pysqlite's own transaction handling would defer BEGIN; we issue it ourselves.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a commit is on disk before it is acknowledged, even if the machine loses
        # power (NORMAL in WAL mode may lose the last commits): this holds money and reports.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA foreign_keys={'ON' if foreign_keys else 'OFF'}")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    queue = _WriterQueue(url.database) if url.database and url.database != ":memory:" else None

    @event.listens_for(engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Only note which BEGIN this transaction needs: the BEGIN itself (and the wait for
        # the writers' turn) happens in ``_do_begin``, where SQLAlchemy expects a failure.
        immediate = bool(connection.get_execution_options().get(_SQLITE_WRITE))
        connection.connection.info[_BEGIN_IMMEDIATE] = immediate

    def _do_begin(dbapi_connection: Any) -> None:
        # A write transaction takes the lock up front, so two writers queue for their turn
        # instead of one failing when it upgrades a stale read snapshot. A failure here
        # (no turn within the timeout, SQLite busy) is the BEGIN failing: SQLAlchemy
        # wraps it and leaves the connection outside any transaction.
        immediate = dbapi_connection.info.pop(_BEGIN_IMMEDIATE, False)
        if immediate and queue is not None:
            queue.enter(dbapi_connection.info)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        finally:
            cursor.close()

    engine.dialect.do_begin = _do_begin  # type: ignore[method-assign]

    if queue is not None:
        # the turn ends when the connection goes back to the pool (after its COMMIT or
        # ROLLBACK), or when it is thrown away
        for name in ("checkin", "invalidate", "soft_invalidate", "detach"):
            event.listen(engine, name, lambda _dbapi, record, *_: queue.leave(record.info))

    return engine


class _WriterQueue:
    """SQLite's writers wait their turn on a file lock, in every worker process.

    SQLite's own busy handler makes a waiting writer sleep and retry (up to 100 ms a
    time): with dozens of writers most of them sleep through the moments the lock is
    free, and the slowest wait seconds. A blocking ``flock`` wakes the next writer as
    soon as the last one gives its connection back; the busy timeout stays as the
    fallback for writers outside the app (the CLI). The kernel drops the lock of a
    process that dies.
    """

    KEY = "memorial_writer_lock"
    #: seconds a writer waits for its turn, as long as SQLite's busy timeout
    TIMEOUT = 30.0

    def __init__(self, database: str) -> None:
        self.path = f"{database}-writer.lock"

    def enter(self, info: dict[str, Any]) -> None:
        if self.KEY in info:  # a second transaction on the same checked-out connection
            return
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            self._wait_for(fd)
        except BaseException:
            os.close(fd)
            raise
        info[self.KEY] = fd

    def _wait_for(self, fd: int) -> None:
        """Take the lock, waiting at most ``TIMEOUT`` seconds (SQLite's busy timeout): a
        writer stuck elsewhere makes the others fail as "database is locked" (a 503),
        never hang. Polled, but at 0.2-5 ms rather than SQLite's sleeps of up to 100 ms."""
        deadline = time.monotonic() + self.TIMEOUT
        pause = 0.0002
        while True:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return
            except BlockingIOError:
                if time.monotonic() >= deadline:
                    raise sqlite3.OperationalError("database is locked") from None
                time.sleep(pause)
                pause = min(pause * 2, 0.005)

    def leave(self, info: dict[str, Any]) -> None:
        fd = info.pop(self.KEY, None)
        if fd is not None:
            os.close(fd)  # closing the descriptor releases its lock


def _without_jit(dbapi_connection: Any, _record: Any) -> None:
    """``SET jit = off`` on each new connection. PostgreSQL compiles any statement its
    planner costs high (the region-wide counts of the dashboard, the campaign and the annual
    report, the feed and the clusters) with LLVM, which took 0.15-0.46 s on each at a
    million sites and gains nothing on plans of index scans and hash aggregates.

    A session setting, not the ``options`` startup parameter: that would replace an
    ``?options=`` of ``MEMORIAL_DATABASE_URL``, and poolers such as PgBouncer refuse it."""
    autocommit = dbapi_connection.autocommit
    dbapi_connection.autocommit = True
    try:
        dbapi_connection.execute("SET jit = off")
    finally:
        dbapi_connection.autocommit = autocommit


def _warn_if_not_durable(dbapi_connection: Any, _record: Any) -> None:
    """Say so once per engine when PostgreSQL may acknowledge a commit it could still lose."""
    durable = {"fsync": {"on"}, "synchronous_commit": {"on", "remote_write", "remote_apply"}}
    try:
        cursor = dbapi_connection.cursor()
        try:
            for name, good in durable.items():
                cursor.execute(f"SHOW {name}")
                value = cursor.fetchone()[0]
                if value not in good:
                    logger.warning(
                        "PostgreSQL %s is %s: acknowledged reports and ledger entries can be"
                        " lost in a crash; set it to on for this database",
                        name,
                        value,
                    )
        finally:
            cursor.close()
        dbapi_connection.rollback()  # leave no transaction open on the pooled connection
    except Exception:  # a check, never a reason to refuse the connection
        logger.exception("could not read PostgreSQL's durability settings")


def dialect_insert(session: Session, model: Any) -> Any:
    """The database's own INSERT for ``model``, which knows ON CONFLICT and RETURNING."""
    dialect = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return dialect.insert(model)


def insert_if_missing(session: Session, model: Any, values: dict[str, Any]) -> None:
    """INSERT … ON CONFLICT DO NOTHING: create a row unless a concurrent request already did."""
    session.execute(dialect_insert(session, model).values(**values).on_conflict_do_nothing())


class Database:
    """The engine of one app (or CLI run) and the sessions made from it."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = make_engine(
            settings.database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_max_overflow,
            connect_timeout=settings.db_connect_timeout_seconds,
            pool_timeout=settings.db_pool_timeout_seconds,
        )
        self._write_engine = self.engine.execution_options(**{_SQLITE_WRITE: True})

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def session(self, *, write: bool = True) -> Session:
        """A session; ``write=False`` lets SQLite readers run beside a writer."""
        return Session(self._write_engine if write else self.engine, expire_on_commit=False)

    @contextmanager
    def begin(self) -> Iterator[Session]:
        """A write session that commits on success and rolls back on error."""
        with self.session() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def dispose(self) -> None:
        self.engine.dispose()
