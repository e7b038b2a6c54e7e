"""The audit log: every change to facilities, users, policy, reviews, orders and funds,
each entry chained to the one before by its hash (``app.audit.chain``)."""

import json
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlmodel import Session, SQLModel, select

from app import access, listing
from app.audit import chain
from app.models import AuditEntry, User


def snapshot(obj: SQLModel, *, exclude: Iterable[str] = ()) -> dict[str, Any]:
    """The object's columns as JSON-safe values, for ``before`` / ``after``."""
    return obj.model_dump(mode="json", exclude={"created_at", "updated_at", *exclude})


def record(
    *,
    session: Session,
    actor: User | None,
    action: str,
    object_type: str,
    object_id: object,
    before: dict[str, Any] | None = None,
    after: dict[str, Any] | None = None,
) -> AuditEntry:
    """Add an audit entry to the caller's transaction (it commits with the change)."""
    if before is not None and after is not None:
        changed = {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}
        before = {k: before.get(k) for k in sorted(changed)}
        after = {k: after.get(k) for k in sorted(changed)}
    entry = AuditEntry(
        actor_id=actor.id if actor else None,
        actor_username=actor.username if actor else None,
        action=action,
        object_type=object_type,
        object_id=str(object_id),
        # hashed as it will read back from the database (tuples become lists, ...)
        before=_as_stored(before),
        after=_as_stored(after),
        prev_hash="",
        entry_hash="",
    )
    # The change itself goes to the database first, so that the chain's lock, taken
    # next and held until commit, is the last lock this transaction waits for.
    session.flush()
    entry.prev_hash = chain.lock_tip(session)
    entry.entry_hash = chain.entry_hash(entry, prev_hash=entry.prev_hash)
    session.add(entry)
    return entry


def _as_stored(value: dict[str, Any] | None) -> dict[str, Any] | None:
    return None if value is None else json.loads(json.dumps(value, ensure_ascii=False))


#: the order of the audit log: newest first
NEWEST_FIRST = (listing.desc(AuditEntry.at), listing.desc(AuditEntry.id))


def list_entries(
    *,
    session: Session,
    object_type: str | None,
    object_id: str | None,
    actor_id: int | None,
    action: str | None,
    since: datetime | None,
    until: datetime | None,
    window: listing.Window,
    viewer: User | None = None,
) -> listing.Listed[AuditEntry]:
    """The log, newest first. With ``viewer``, what the staff of a division read: all of it
    when their division holds every county of the installation, else the entries of actors
    within their division (whose every act lies inside it), never those of the
    installation's administrators, the seed or the command line."""
    conditions: list[Any] = []
    bounds = None
    if viewer is not None and not access.covers_installation(session, viewer):
        bounds = access.code_range(access.reach(viewer))
    if bounds is not None:
        conditions.append(
            AuditEntry.actor_id.in_(
                select(User.id).where(
                    User.division_code >= bounds[0], User.division_code < bounds[1]
                )
            )
        )
    if object_type:
        conditions.append(AuditEntry.object_type == object_type)
    if object_id:
        conditions.append(AuditEntry.object_id == object_id)
    if actor_id is not None:
        conditions.append(AuditEntry.actor_id == actor_id)
    if action:
        conditions.append(AuditEntry.action == action)
    if since:
        conditions.append(AuditEntry.at >= since)
    if until:
        conditions.append(AuditEntry.at < until)
    return listing.page(
        session,
        select(AuditEntry).where(*conditions),
        sort=NEWEST_FIRST,
        window=window,
    )
