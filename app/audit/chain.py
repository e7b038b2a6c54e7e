"""The audit log as a hash chain: each entry's hash covers its fields and the hash of the
entry before it, so an entry changed or deleted behind the app's back breaks the chain
where it happened, and ``memorial audit-verify`` finds the first break.

The canonical form below is what the hashes of every stored entry were computed over:
change it only together with a migration that recomputes the chain (a version field
leaves room for that).
"""

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Connection, Engine, func, select
from sqlmodel import Session

from app.errors import ServiceUnavailable
from app.models import AuditChainHead, AuditEntry

log = logging.getLogger(__name__)

#: the ``prev_hash`` of the first entry
GENESIS = "0" * 64
#: the version of the canonical form, hashed with every entry
FORM_VERSION = 1

_HEAD = AuditChainHead.__table__  # type: ignore[attr-defined]
_LOG = AuditEntry.__table__  # type: ignore[attr-defined]


def canonical(
    *,
    at: datetime,
    actor_id: int | None,
    actor_username: str | None,
    action: str,
    object_type: str,
    object_id: str,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    prev_hash: str,
) -> bytes:
    """The bytes an entry's hash is taken over: sorted-key JSON, UTF-8, fixed separators,
    the time in UTC ISO 8601 with microseconds."""
    document = {
        "v": FORM_VERSION,
        "at": at.astimezone(UTC).isoformat(timespec="microseconds"),
        "actor_id": actor_id,
        "actor_username": actor_username,
        "action": action,
        "object_type": object_type,
        "object_id": object_id,
        "before": before,
        "after": after,
        "prev_hash": prev_hash,
    }
    return canonical_json(document).encode("utf-8")


def canonical_json(value: Any) -> str:
    """A JSON value as ``canonical`` writes it: sorted keys, fixed separators, text as is."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def entry_hash(fields: Any, *, prev_hash: str) -> str:
    """SHA-256 (hex) of an entry (an ``AuditEntry`` or a row with its columns)."""
    return hashlib.sha256(
        canonical(
            at=fields.at,
            actor_id=fields.actor_id,
            actor_username=fields.actor_username,
            action=fields.action,
            object_type=fields.object_type,
            object_id=fields.object_id,
            before=fields.before,
            after=fields.after,
            prev_hash=prev_hash,
        )
    ).hexdigest()


def entry_hasher(
    *, at: datetime, actor_id: int | None, actor_username: str | None, object_type: str
) -> Callable[[str, str, str | None, str | None, str], str]:
    """``entry_hash`` for many entries one writer appends at one instant (an import's tens
    of thousands): the canonical form is laid out once, and each entry's action, object id,
    ``before`` and ``after`` (``canonical_json`` text, or None) and previous hash are put
    in their places. The bytes hashed are those of ``canonical``."""
    # a mark in each slot (no text a writer passes holds a NUL character); written as a
    # JSON string each shows once, and the text around them is the same for every entry
    marks = {json.dumps(f"\x00{slot}\x00"): slot for slot in _SLOTS}
    layout = canonical(
        at=at,
        actor_id=actor_id,
        actor_username=actor_username,
        object_type=object_type,
        **{slot: f"\x00{slot}\x00" for slot in _SLOTS},  # type: ignore[arg-type]
    ).decode("utf-8")
    parts = re.split("(" + "|".join(re.escape(mark) for mark in marks) + ")", layout)
    pieces, order = parts[0::2], [marks[mark] for mark in parts[1::2]]
    assert sorted(order) == sorted(_SLOTS), layout

    def hashed(
        action: str, object_id: str, before: str | None, after: str | None, prev_hash: str
    ) -> str:
        values = {
            "action": _json_text(action),
            "object_id": _json_text(object_id),
            "before": "null" if before is None else before,
            "after": "null" if after is None else after,
            "prev_hash": _json_text(prev_hash),
        }
        filled = zip(order, pieces[1:], strict=True)
        text = pieces[0] + "".join(values[slot] + piece for slot, piece in filled)
        return hashlib.sha256(text.encode("utf-8")).hexdigest()

    return hashed


#: the fields of an entry ``entry_hasher`` fills in
_SLOTS = ("action", "object_id", "before", "after", "prev_hash")
#: a string as ``canonical_json`` writes it
_json_text = json.encoder.encode_basestring  # type: ignore[attr-defined]


#: what a write is answered (503) while the chain head is missing from a log with entries
HEAD_MISSING = (
    "Changes cannot be saved now: the audit log's chain head is missing; an administrator"
    " must run 'memorial audit-verify' and repair the database"
)


class ChainHeadMissing(ServiceUnavailable):
    """The head row is gone while the log holds entries: deleted behind the app's back
    (the database refuses it otherwise). Recreating it from the log would bless whatever
    the log now holds (its newest entries deleted too, say), so no audited change is
    saved until an operator has looked (README, "The audit chain")."""

    def __init__(self) -> None:
        super().__init__(HEAD_MISSING, retry_after="300")


def lock_tip(session: Session) -> str:
    """The hash of the newest entry, with the chain head locked until the transaction
    ends (PostgreSQL: ``SELECT … FOR UPDATE``; SQLite's write transactions already hold
    the database's write lock from ``BEGIN IMMEDIATE``).

    The head row is made here only for an empty log (a database emptied by hand, as the
    tests do); missing beside entries, it is ``ChainHeadMissing`` and the write fails."""
    query = select(_HEAD.c.last_hash).where(_HEAD.c.id == 1).with_for_update()
    tip = session.execute(query).scalar_one_or_none()
    if tip is None:
        _create_head(session)
        tip = session.execute(query).scalar_one()
    return tip


def _create_head(session: Session) -> None:
    from app.db import insert_if_missing

    entries = session.execute(select(func.count()).select_from(_LOG)).scalar_one()
    if entries:
        log.error(
            "audit_chain_head is missing while audit_log holds %d entries: refusing to write"
            " audit entries (and so every audited change) until it is repaired;"
            " run `memorial audit-verify`",
            entries,
        )
        raise ChainHeadMissing()
    # a concurrent first write may make it meanwhile: then that one is locked above
    insert_if_missing(session, AuditChainHead, {"id": 1, "last_hash": GENESIS, "length": 0})


# --- verification -------------------------------------------------------------------------


@dataclass(frozen=True)
class Break:
    """The first place the chain does not hold."""

    #: the row where it shows (None: the end of the log, or the head row itself)
    row_id: int | None
    #: ``content changed``, ``row missing``, ``link broken`` or ``head mismatch``
    kind: str
    detail: str

    def __str__(self) -> str:
        where = f"row {self.row_id}" if self.row_id is not None else "end of the log"
        return f"{where}: {self.kind} — {self.detail}"


@dataclass(frozen=True)
class Verification:
    entries: int
    last_hash: str
    broken: Break | None

    @property
    def intact(self) -> bool:
        return self.broken is None


def _rows(connection: Connection, batch: int) -> Iterator[Any]:
    result = connection.execution_options(yield_per=batch).execute(select(_LOG).order_by(_LOG.c.id))
    yield from result


def verify(connection: Connection, *, batch: int = 2_000) -> Verification:
    """Walk the log in id order (the order it was appended in) and check every link;
    the first break found is reported. Run it in one snapshot (see ``verify_database``)."""
    prev_id: int | None = None
    prev = GENESIS
    count = 0
    for row in _rows(connection, batch):
        if entry_hash(row, prev_hash=row.prev_hash) != row.entry_hash:
            return Verification(
                count,
                prev,
                Break(
                    row.id,
                    "content changed",
                    "its fields no longer give the hash stored with it (edited after it was"
                    " written)",
                ),
            )
        if row.prev_hash != prev:
            return Verification(count, prev, _link_break(connection, row, prev_id, prev))
        prev_id, prev = row.id, row.entry_hash
        count += 1
    head = connection.execute(select(_HEAD.c.last_hash, _HEAD.c.length)).first()
    if head is None:
        if count:
            return Verification(
                count,
                prev,
                Break(
                    None,
                    "head mismatch",
                    "the chain head row (audit_chain_head) is missing; the log holds"
                    f" {count} entries ending in {prev} (after row {prev_id})",
                ),
            )
        return Verification(count, prev, None)
    if head.last_hash != prev or head.length != count:
        missing = head.length - count
        detail = (
            f"the chain head records {head.length} entries ending in {head.last_hash[:12]}…,"
            f" but the log holds {count} ending in {prev[:12]}…"
            + (f" after row {prev_id}" if prev_id is not None else "")
        )
        if missing > 0:
            detail += f": the last {missing} row(s) are missing"
        kind = "row missing" if missing > 0 else "head mismatch"
        return Verification(count, prev, Break(None, kind, detail))
    return Verification(count, prev, None)


def _link_break(connection: Connection, row: Any, prev_id: int | None, prev: str) -> Break:
    after = f"row {prev_id}" if prev_id is not None else "the start of the log"
    if row.prev_hash == GENESIS:
        return Break(row.id, "link broken", f"it claims to be the first entry, but follows {after}")
    target = connection.execute(
        select(_LOG.c.id).where(_LOG.c.entry_hash == row.prev_hash).limit(1)
    ).scalar_one_or_none()
    if target is None:
        return Break(
            row.id,
            "row missing",
            f"it follows an entry no longer in the log (between {after} and this row;"
            " deleted, or rewritten with a new hash)",
        )
    return Break(
        row.id, "link broken", f"it follows row {target}, not {after} before it (rows reordered)"
    )


def verify_database(engine: Engine) -> Verification:
    """``verify`` in one consistent snapshot while the app keeps writing."""
    if engine.dialect.name == "postgresql":
        snapshot = engine.execution_options(isolation_level="REPEATABLE READ")
        with snapshot.connect() as connection, connection.begin():
            return verify(connection)
    with engine.connect() as connection, connection.begin():  # one WAL read snapshot
        return verify(connection)
