"""The sign-in throttle: failed sign-ins counted per username and per client address.

Two kinds of rows share the ``login_throttle`` table, told apart by what their key hashes:

- ``user\\n<lower-cased username>``: failures for one name from any address. After
  ``login_max_failures`` of them within ``login_lock_minutes``, that name is refused (429)
  for ``login_lock_minutes``, whoever asks: a slow guess at one account from many
  addresses is stopped. The other side of it: anyone can keep a known name locked by
  failing on purpose; the real user then waits for the lock to pass.
- ``addr\\n<client address>``: failures from one address whatever the names. After
  ``login_max_failures_per_address`` of them within the window, that address is refused
  for any name: password spraying (one common password tried on every name) is stopped.
  A success neither resets nor adds to this count. When the server knows no address
  (``request.client`` is None: a Unix socket without a proxy's ``X-Forwarded-For``), the
  attempt is not counted by address at all: one shared bucket would let ten failures by
  anyone lock everyone out. The username throttle still holds for it.

The window is fixed, starting at the first failure it counts (the table keeps a count and
that instant, not every failure's time).

Every attempt is *reserved* before its password is checked: in one write transaction both
rows are locked (``SELECT … FOR UPDATE`` on PostgreSQL in key order, so two attempts never
deadlock; SQLite's write lock), a lock is refused with 429, and otherwise both counts go
up by one. Only then does argon2 run, outside the transaction. A wrong password leaves the
reservation as the failure it is; a right one takes it back (the username's count is
cleared, the address's goes down by one). So however many attempts arrive at once, at most
the allowed number of passwords is ever checked per name and per address, and a locked
name or address costs no argon2 work at all.
"""

import hashlib
import ipaddress
import math
from dataclasses import dataclass
from datetime import datetime, timedelta

from fastapi import Request
from sqlalchemy import delete, or_
from sqlmodel import Session, col, select

from app.config import Settings
from app.db import Database, insert_if_missing
from app.errors import TooManyRequests
from app.models import LoginThrottle


def client_address(request: Request) -> str | None:
    """The address the address throttle counts: the TCP peer as uvicorn reports it; None
    when there is none (the attempt is then counted by username only).

    ``memorial serve`` runs uvicorn with ``proxy_headers=True``: ``X-Forwarded-For`` is
    believed only from the addresses in uvicorn's ``FORWARDED_ALLOW_IPS`` (by default
    ``127.0.0.1``, a reverse proxy on the same host). Behind a proxy on another host, set
    ``FORWARDED_ALLOW_IPS`` to that proxy's address, or every client looks like the proxy
    and ten failures by anyone lock everyone out. Nothing else is trusted: a client's own
    ``X-Forwarded-For`` never chooses the address it is counted under.
    """
    return request.client.host if request.client else None


def address_bucket(host: str) -> str:
    """An IPv4 address as it is; an IPv6 address by its /64, since one subscriber is
    usually given a whole /64 and could otherwise change address at every attempt."""
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return host
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            return str(address.ipv4_mapped)
        return str(ipaddress.ip_network(f"{address}/64", strict=False))
    return str(address)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass(frozen=True)
class Keys:
    """The rows an attempt counts against: its username's and its address's (None when
    the client's address is unknown: then only the username's)."""

    username: str
    user: str
    address: str | None

    @classmethod
    def of(cls, username: str, client: str | None) -> "Keys":
        name = username.strip().lower()
        return cls(
            username=username,
            user=_digest(f"user\n{name}"),
            address=None if client is None else _digest(f"addr\n{address_bucket(client)}"),
        )

    @property
    def all(self) -> list[str]:
        """The keys, in the order their rows are locked."""
        return sorted(key for key in (self.user, self.address) if key is not None)

    def limits(self, settings: Settings) -> dict[str, int]:
        limits = {self.user: settings.login_max_failures}
        if self.address is not None:
            limits[self.address] = settings.login_max_failures_per_address
        return limits


def _refuse_if_locked(keys: Keys, rows: dict[str, LoginThrottle], now: datetime) -> None:
    """429 with ``Retry-After`` when the name or the address is locked (the longer lock
    decides both the header and the message; the name's on a tie)."""
    locks = {
        key: row.locked_until
        for key, row in rows.items()
        if row.locked_until is not None and row.locked_until > now
    }
    if not locks:
        return
    key, until = max(locks.items(), key=lambda item: (item[1], item[0] == keys.user))
    remaining = until - now
    minutes = math.ceil(remaining.total_seconds() / 60)
    unit = "minute" if minutes == 1 else "minutes"
    if key == keys.user:
        message = f"Too many failed sign-ins for '{keys.username}'; try again in {minutes} {unit}"
    else:
        message = f"Too many failed sign-ins from this address; try again in {minutes} {unit}"
    raise TooManyRequests(
        message, headers={"Retry-After": str(math.ceil(remaining.total_seconds()))}
    )


def check(*, db: Database, keys: Keys, now: datetime) -> None:
    """A cheap look without the write lock: a locked name or address is refused here,
    so an attack on a lock costs neither argon2 work nor SQLite's write lock."""
    with db.session(write=False) as session:
        found = session.exec(
            select(LoginThrottle).where(col(LoginThrottle.key).in_(keys.all))
        ).all()
    _refuse_if_locked(keys, {row.key: row for row in found}, now)


#: how often ``_locked_rows`` starts again before giving up
_ATTEMPTS = 10
BUSY = "Too many sign-ins at this moment; try again in a second"
#: stale rows a success removes at most (their window and lock are over)
_PRUNE = 1000


def _locked_rows(session: Session, keys: list[str], now: datetime) -> dict[str, LoginThrottle]:
    """The rows of ``keys`` (made if missing), locked in key order: the same order in
    every transaction, so two attempts never deadlock.

    A concurrent success (``release``) or prune may delete a row between its INSERT … ON
    CONFLICT DO NOTHING and the SELECT … FOR UPDATE (PostgreSQL; SQLite runs one writer at
    a time): then the locks taken are given back (savepoint) and it starts again.
    """
    for _ in range(_ATTEMPTS):
        savepoint = session.begin_nested()
        for key in keys:
            insert_if_missing(
                session, LoginThrottle, {"key": key, "failures": 0, "first_failed_at": now}
            )
        rows = session.exec(
            select(LoginThrottle)
            .where(col(LoginThrottle.key).in_(keys))
            .order_by(col(LoginThrottle.key))
            .with_for_update()
            .execution_options(populate_existing=True)
        ).all()
        if len(rows) == len(keys):
            savepoint.commit()
            return {row.key: row for row in rows}
        savepoint.rollback()
    raise TooManyRequests(BUSY, headers={"Retry-After": "1"})


def reserve(*, session: Session, settings: Settings, keys: Keys, now: datetime) -> None:
    """Lock both rows, refuse (429) if either is locked, else count this attempt as a
    failure against both until ``release`` takes it back."""
    limits = keys.limits(settings)
    by_key = _locked_rows(session, sorted(limits), now)
    _refuse_if_locked(keys, by_key, now)
    window = timedelta(minutes=settings.login_lock_minutes)
    for key, row in by_key.items():
        if row.first_failed_at <= now - window:  # a new window
            row.failures, row.first_failed_at, row.locked_until = 0, now, None
        row.failures += 1
        if row.failures >= limits[key]:
            row.locked_until = now + window


def release(*, session: Session, settings: Settings, keys: Keys, now: datetime) -> None:
    """The reserved attempt was the right password: the username's count is cleared, the
    address's loses this attempt but keeps the failures before it. Rows whose window and
    lock are over go too (a few at a time, skipping rows another attempt holds), so the
    table does not grow with every name and address ever tried."""
    rows = session.exec(
        select(LoginThrottle)
        .where(col(LoginThrottle.key).in_(keys.all))
        .order_by(col(LoginThrottle.key))
        .with_for_update()
        .execution_options(populate_existing=True)
    ).all()
    for row in rows:
        if row.key == keys.user:
            session.delete(row)
            continue
        row.failures = max(0, row.failures - 1)
        if row.failures < settings.login_max_failures_per_address:
            row.locked_until = None  # set only by the reservation just taken back
    window = timedelta(minutes=settings.login_lock_minutes)
    stale = (
        select(col(LoginThrottle.key))
        .where(
            col(LoginThrottle.first_failed_at) <= now - window,
            or_(col(LoginThrottle.locked_until).is_(None), col(LoginThrottle.locked_until) <= now),
            col(LoginThrottle.key).not_in(keys.all),
        )
        .limit(_PRUNE)
        .with_for_update(skip_locked=True)
    )
    session.execute(
        delete(LoginThrottle).where(col(LoginThrottle.key).in_(stale.scalar_subquery()))
    )
