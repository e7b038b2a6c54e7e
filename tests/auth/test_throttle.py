"""The sign-in throttle (issue 11): failures counted per username from any address, and
per client address whatever the usernames; checked before any password is; atomic.

Small limits (4 per name, 6 per address) keep the tests short and tell the two apart; the
defaults (10 and 10 in 15 minutes) are checked on their own, and
``tests/auth/test_auth.py`` runs its lock tests with them."""

import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text
from sqlmodel import select

from app.auth import service, throttle
from app.config import Settings
from app.db import Database
from app.models import LoginThrottle
from app.models.base import utcnow
from tests.conftest import make_settings, postgresql_only
from tests.factories import PASSWORD, World

pytestmark = pytest.mark.both_databases

PER_NAME = 4
PER_ADDRESS = 6
WINDOW = 15


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(
        tmp_path,
        database_url,
        login_max_failures=PER_NAME,
        login_max_failures_per_address=PER_ADDRESS,
        login_lock_minutes=WINDOW,
    )


def at(app: FastAPI, host: str) -> TestClient:
    """A client calling from ``host`` (no lifespan: several may run at once)."""
    return TestClient(app, client=(host, 50000))


def sign_in(client: TestClient, username: str, password: str = PASSWORD) -> httpx.Response:
    return client.post("/api/v1/auth/token", data={"username": username, "password": password})


def fail(client: TestClient, username: str) -> None:
    response = sign_in(client, username, "wrong password")
    assert response.status_code == 401, response.text


def test_the_defaults_are_ten_per_name_and_ten_per_address_in_15_minutes() -> None:
    fields = Settings.model_fields
    assert fields["login_max_failures"].default == 10
    assert fields["login_max_failures_per_address"].default == 10
    assert fields["login_lock_minutes"].default == 15


def test_a_username_is_locked_after_failures_from_many_addresses(app, world: World) -> None:
    for n in range(PER_NAME):
        fail(at(app, f"10.0.1.{n + 1}"), "clerk")
    newcomer = at(app, "10.0.2.1")
    locked = sign_in(newcomer, "clerk")  # the right password, from an address never seen
    assert locked.status_code == 429
    assert locked.json()["detail"] == (
        f"Too many failed sign-ins for 'clerk'; try again in {WINDOW} minutes"
    )
    assert WINDOW * 60 - 60 < int(locked.headers["Retry-After"]) <= WINDOW * 60
    # the refused attempt did not count against that address: its other users sign in
    assert sign_in(newcomer, "admin").status_code == 200
    assert sign_in(at(app, "10.0.1.1"), "CLERK").status_code == 429  # any case, anywhere


def test_an_address_is_locked_after_failures_for_many_usernames(app, world: World) -> None:
    sprayer = at(app, "10.0.3.1")
    names = ["clerk", "admin", "lg", "ds", "nobody", "ghost"]
    assert len(names) == PER_ADDRESS
    for name in names:  # one guess per name: no name comes near its own limit
        fail(sprayer, name)
    locked = sign_in(sprayer, "admin")  # even the right password of another name
    assert locked.status_code == 429
    assert locked.json()["detail"] == (
        f"Too many failed sign-ins from this address; try again in {WINDOW} minutes"
    )
    assert WINDOW * 60 - 60 < int(locked.headers["Retry-After"]) <= WINDOW * 60
    elsewhere = at(app, "10.0.3.2")
    for name in ("clerk", "admin", "lg"):  # the names themselves are not locked
        assert sign_in(elsewhere, name).status_code == 200


def test_a_success_does_not_reset_the_address_count(app, world: World) -> None:
    office = at(app, "10.0.4.1")
    for n in range(PER_ADDRESS - 1):
        fail(office, f"guess{n}")
    assert sign_in(office, "clerk").status_code == 200  # neither clears nor counts
    fail(office, "guess-last")  # the last failure allowed: the success did not count
    assert sign_in(office, "clerk").status_code == 429  # and did not clear the count


def test_a_success_clears_the_username_count(app, world: World) -> None:
    for n in range(PER_NAME - 1):
        fail(at(app, f"10.0.5.{n + 1}"), "clerk")
    assert sign_in(at(app, "10.0.5.9"), "clerk").status_code == 200
    for n in range(PER_NAME - 1):  # a fresh count
        fail(at(app, f"10.0.6.{n + 1}"), "clerk")
    assert sign_in(at(app, "10.0.6.9"), "clerk").status_code == 200


def test_another_user_at_another_address_signs_in_while_both_locks_hold(app, world: World) -> None:
    attacker = at(app, "10.0.7.1")
    for _ in range(PER_NAME):
        fail(attacker, "clerk")  # locks the name 'clerk'
    for n in range(PER_ADDRESS - PER_NAME):
        fail(attacker, f"guess{n}")  # and, with those, the address
    assert sign_in(attacker, "admin").status_code == 429
    assert sign_in(at(app, "10.0.7.2"), "clerk").status_code == 429
    someone = at(app, "10.0.7.2")
    assert sign_in(someone, "admin").status_code == 200
    assert sign_in(someone, "lg").status_code == 200


def test_an_unknown_address_is_counted_by_username_only(app, world: World, db: Database) -> None:
    """No address (``request.client`` is None): no shared "unknown" bucket that anyone's
    failures would lock for everyone; the username throttle still holds."""
    nowhere = TestClient(app, client=None)  # type: ignore[arg-type]
    for n in range(PER_ADDRESS + 2):  # more names than an address may fail on
        fail(nowhere, f"guess{n}")
    assert sign_in(nowhere, "admin").status_code == 200
    with db.session(write=False) as session:
        keys = set(session.exec(select(LoginThrottle.key)).all())
    assert keys == {throttle.Keys.of(f"guess{n}", None).user for n in range(PER_ADDRESS + 2)}
    for _ in range(PER_NAME):
        fail(nowhere, "clerk")
    locked = sign_in(nowhere, "clerk")
    assert locked.status_code == 429
    assert "for 'clerk'" in locked.json()["detail"]
    assert sign_in(nowhere, "lg").status_code == 200


def test_the_lock_counts_down_and_ends(app, world: World) -> None:
    start = datetime.now(UTC)
    with time_machine.travel(start, tick=False):
        for n in range(PER_NAME):
            fail(at(app, f"10.0.8.{n + 1}"), "clerk")
    with time_machine.travel(start + timedelta(minutes=5, seconds=30), tick=False):
        locked = sign_in(at(app, "10.0.8.9"), "clerk")
        assert locked.status_code == 429
        assert int(locked.headers["Retry-After"]) == (WINDOW - 5) * 60 - 30
        assert locked.json()["detail"].endswith(f"try again in {WINDOW - 5} minutes")
    with time_machine.travel(start + timedelta(minutes=WINDOW - 1, seconds=30), tick=False):
        locked = sign_in(at(app, "10.0.8.9"), "clerk")
        assert int(locked.headers["Retry-After"]) == 30
        assert locked.json()["detail"].endswith("try again in 1 minute")
    with time_machine.travel(start + timedelta(minutes=WINDOW, seconds=1), tick=False):
        assert sign_in(at(app, "10.0.8.9"), "clerk").status_code == 200


def test_failures_older_than_the_window_no_longer_count(app, world: World) -> None:
    start = datetime.now(UTC)
    office = at(app, "10.0.9.1")
    with time_machine.travel(start, tick=False):
        for _ in range(PER_NAME - 1):
            fail(office, "clerk")
        for n in range(PER_ADDRESS - PER_NAME):
            fail(office, f"guess{n}")
    with time_machine.travel(start + timedelta(minutes=WINDOW, seconds=1), tick=False):
        for _ in range(PER_NAME - 1):  # a new window for the name and for the address
            fail(office, "clerk")
        assert sign_in(office, "clerk").status_code == 200


def test_no_password_is_checked_while_locked(
    app, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    checked: list[str] = []
    real = service.verify_password

    def counting(password: str, password_hash: str | None) -> bool:
        checked.append(password)
        return real(password, password_hash)

    monkeypatch.setattr(service, "verify_password", counting)
    attacker = at(app, "10.0.10.1")
    for _ in range(PER_NAME):
        fail(attacker, "clerk")
    for n in range(PER_ADDRESS - PER_NAME):
        fail(attacker, f"guess{n}")
    assert len(checked) == PER_ADDRESS
    for name in ("clerk", "admin", "nobody"):  # the address is locked for every name
        assert sign_in(attacker, name).status_code == 429
    for n in range(3):  # and the name from everywhere
        assert sign_in(at(app, f"10.0.11.{n + 1}"), "clerk").status_code == 429
    assert len(checked) == PER_ADDRESS  # not one more argon2 verification


def _together(calls: list[Callable[[], httpx.Response]]) -> list[int]:
    statuses: list[int] = [0] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        barrier.wait()
        statuses[index] = calls[index]().status_code

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(statuses)


def test_concurrent_guesses_at_one_name_from_many_addresses_are_capped(app, world: World) -> None:
    clients = [at(app, f"10.0.12.{n + 1}") for n in range(PER_NAME + 6)]
    calls = [lambda c=c: sign_in(c, "clerk", "wrong password") for c in clients]
    assert _together(calls) == [401] * PER_NAME + [429] * 6
    assert sign_in(at(app, "10.0.12.99"), "clerk").status_code == 429


def test_concurrent_spraying_from_one_address_is_capped(app, world: World) -> None:
    sprayer = at(app, "10.0.13.1")
    calls = [
        lambda n=n: sign_in(sprayer, f"name{n}", "wrong password") for n in range(PER_ADDRESS + 4)
    ]
    assert _together(calls) == [401] * PER_ADDRESS + [429] * 4
    assert sign_in(sprayer, "admin").status_code == 429


def test_ipv6_addresses_count_by_their_slash_64(app, world: World) -> None:
    for n in range(PER_ADDRESS):
        fail(at(app, f"2001:db8:0:1::{n + 1:x}"), f"guess{n}")
    assert sign_in(at(app, "2001:db8:0:1:ffff:ffff:ffff:ffff"), "admin").status_code == 429
    assert sign_in(at(app, "2001:db8:0:2::1"), "admin").status_code == 200  # the next /64


@pytest.mark.parametrize(
    ("host", "bucket"),
    [
        ("203.0.113.7", "203.0.113.7"),
        ("2001:db8::1", "2001:db8::/64"),
        ("2001:db8::ffff:1", "2001:db8::/64"),
        ("::ffff:203.0.113.7", "203.0.113.7"),
        ("testclient", "testclient"),
    ],
)
def test_address_buckets(host: str, bucket: str) -> None:
    assert throttle.address_bucket(host) == bucket


def test_the_two_kinds_of_rows_never_share_a_key(app, world: World, db: Database) -> None:
    """A username that looks like an address is still counted as a username."""
    fail(at(app, "10.0.14.1"), "10.0.14.2")
    with db.session(write=False) as session:
        rows = session.exec(select(LoginThrottle)).all()
    keys = throttle.Keys.of("10.0.14.2", "10.0.14.1")
    assert {row.key for row in rows} == {keys.user, keys.address}
    assert keys.user != throttle.Keys.of("x", "10.0.14.2").address


def test_a_success_prunes_rows_whose_window_and_lock_are_over(
    app, world: World, db: Database
) -> None:
    now = utcnow()
    old = now - timedelta(minutes=WINDOW + 1)
    with db.begin() as session:
        session.add(LoginThrottle(key="stale", failures=3, first_failed_at=old))
        session.add(
            LoginThrottle(key="stale-lock", failures=9, first_failed_at=old, locked_until=old)
        )
        session.add(
            LoginThrottle(
                key="locked", failures=9, first_failed_at=old, locked_until=now + timedelta(hours=1)
            )
        )
        session.add(LoginThrottle(key="fresh", failures=1, first_failed_at=now))
    office = at(app, "10.0.15.1")
    fail(office, "guess")
    assert sign_in(office, "clerk").status_code == 200
    with db.session(write=False) as session:
        left = set(session.exec(select(LoginThrottle.key)).all())
    keys = throttle.Keys.of("guess", "10.0.15.1")
    # the address keeps its failure; the failed name keeps its count; the old rows go
    assert left == {"locked", "fresh", keys.user, keys.address}


#: how long the race test waits for the other attempt to queue on the row lock
LOCK_WAIT_DEADLINE = 60.0


def wait_until_blocked_on_a_lock(db: Database, other: threading.Thread) -> None:
    """Return once another session of this database waits for a lock on login_throttle
    (PostgreSQL's ``pg_stat_activity``); fail if ``other`` ends first or never gets there."""
    query = text(
        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
        " AND pid <> pg_backend_pid() AND wait_event_type = 'Lock'"
        " AND query ILIKE '%login_throttle%'"
    )
    deadline = time.monotonic() + LOCK_WAIT_DEADLINE
    with db.engine.connect() as connection:
        while not connection.execute(query).scalar_one():
            connection.rollback()  # a fresh snapshot of the activity view each time
            assert other.is_alive(), "the other attempt ended without waiting for the lock"
            assert time.monotonic() < deadline, (
                f"the other attempt never waited for the row lock in {LOCK_WAIT_DEADLINE:g} s"
            )
            time.sleep(0.02)


@postgresql_only
def test_an_attempt_counts_even_when_a_success_deletes_its_row_meanwhile(
    world: World, db: Database, settings: Settings
) -> None:
    """A success deletes the username's row while another attempt is between creating it
    and locking it: that attempt makes the row again instead of going uncounted.

    PostgreSQL only: SQLite runs one writer at a time, so there the other attempt cannot
    be between the two steps while the success runs."""
    now = utcnow()
    keys = throttle.Keys.of("clerk", "10.0.16.1")
    with db.begin() as session:
        throttle.reserve(session=session, settings=settings, keys=keys, now=now)
    outcome: list[object] = []

    def attempt() -> None:
        try:
            with db.begin() as session:
                throttle.reserve(session=session, settings=settings, keys=keys, now=now)
            outcome.append("counted")
        except Exception as exc:  # the test reports it
            outcome.append(exc)

    with db.begin() as holder:  # a success, holding the rows it is about to delete
        row = holder.exec(
            select(LoginThrottle).where(LoginThrottle.key == keys.user).with_for_update()
        ).one()
        other = threading.Thread(target=attempt)
        other.start()
        wait_until_blocked_on_a_lock(db, other)  # its SELECT … FOR UPDATE waits for ours
        holder.delete(row)
    other.join()
    assert outcome == ["counted"]
    with db.session(write=False) as session:
        user_row = session.get(LoginThrottle, keys.user)
        address_row = session.get(LoginThrottle, keys.address)
    assert user_row is not None and user_row.failures == 1  # made again, counted once
    assert address_row is not None and address_row.failures == 2
