"""SQLite's writers take turns on a file lock (app.db), so a waiting writer wakes as soon
as the last one is done instead of sleeping in SQLite's busy handler; readers take none."""

import fcntl
import os
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from app.db import _SQLITE_WRITE, _WriterQueue, make_engine


def held(lock: Path) -> bool:
    """Whether some connection holds the writers' turn now."""
    fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    finally:
        os.close(fd)  # releases it if we got it
    return False


def test_a_writer_holds_the_turn_until_its_connection_goes_back(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path}/turns.db")
    writers = engine.execution_options(**{_SQLITE_WRITE: True})
    lock = tmp_path / "turns.db-writer.lock"
    try:
        with writers.begin() as connection:
            connection.execute(text("CREATE TABLE t (x INTEGER)"))
            assert held(lock)
        assert not held(lock)

        with writers.connect() as connection:
            connection.execute(text("INSERT INTO t VALUES (1)"))
            connection.rollback()
            assert held(lock)  # still checked out: the turn ends at check-in
        assert not held(lock)

        with engine.connect() as connection:  # a reader
            assert connection.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
            assert not held(lock)
    finally:
        engine.dispose()


def test_a_writer_that_never_gets_its_turn_fails_as_locked_instead_of_hanging(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_WriterQueue, "TIMEOUT", 0.3)
    engine = make_engine(f"sqlite:///{tmp_path}/stuck.db")
    writers = engine.execution_options(**{_SQLITE_WRITE: True})
    try:
        with writers.connect() as stuck:
            stuck.execute(text("CREATE TABLE t (x INTEGER)"))
            with (
                pytest.raises(OperationalError, match="database is locked"),
                writers.connect() as second,
            ):
                second.execute(text("INSERT INTO t VALUES (1)"))
            stuck.commit()
        with writers.begin() as after:  # the turn is free again: nothing was left held
            after.execute(text("INSERT INTO t VALUES (2)"))
        with engine.connect() as reader:
            assert reader.execute(text("SELECT x FROM t")).scalars().all() == [2]
    finally:
        engine.dispose()


def test_a_connection_whose_turn_timed_out_is_left_outside_any_transaction(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its next statement begins a real transaction (with the lock), so a rollback undoes it."""
    monkeypatch.setattr(_WriterQueue, "TIMEOUT", 0.3)
    engine = make_engine(f"sqlite:///{tmp_path}/reuse.db")
    writers = engine.execution_options(**{_SQLITE_WRITE: True})
    try:
        with writers.begin() as setup:
            setup.execute(text("CREATE TABLE t (x INTEGER)"))
        with writers.connect() as second:
            with writers.connect() as stuck:
                stuck.execute(text("INSERT INTO t VALUES (1)"))
                with pytest.raises(OperationalError, match="database is locked"):
                    second.execute(text("INSERT INTO t VALUES (2)"))
                stuck.rollback()
            second.rollback()
            second.execute(text("INSERT INTO t VALUES (3)"))
            assert held(tmp_path / "reuse.db-writer.lock")
            second.rollback()
        with engine.connect() as reader:
            assert reader.execute(text("SELECT count(*) FROM t")).scalar_one() == 0
    finally:
        engine.dispose()
