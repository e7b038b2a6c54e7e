"""Funds (DESIGN.md rule 7): every movement is a ledger entry, written in the same
transaction as the change that causes it and as the account totals it moves.

The balance is guarded in SQL: a movement that lowers what is available is one
conditional UPDATE of the township's account row (``... WHERE available >= amount``),
so two concurrent spends that each fit alone cannot both pass. An admin may push past
zero with an ``override_reason``, which is written on the entry.
"""

from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import aliased
from sqlmodel import Session

from app import access, listing
from app.audit import service as audit
from app.db import dialect_insert, insert_if_missing
from app.errors import Conflict, Forbidden, NotFound
from app.funds.money import yuan
from app.funds.schemas import AllocationCreate
from app.models import (
    EntryKind,
    FundAccount,
    FundAllocation,
    LedgerEntry,
    Role,
    Township,
    User,
)
from app.models.base import utcnow
from app.townships import service as townships

_AVAILABLE = FundAccount.allocated_fen - FundAccount.committed_fen - FundAccount.spent_fen


def _ensure_account(session: Session, township_id: int, year: int) -> None:
    """Create the (township, year) account row if it is missing; safe under concurrency."""
    insert_if_missing(
        session,
        FundAccount,
        {
            "township_id": township_id,
            "year": year,
            "allocated_fen": 0,
            "committed_fen": 0,
            "spent_fen": 0,
        },
    )


def account(session: Session, township_id: int, year: int) -> FundAccount:
    found = session.get(FundAccount, (township_id, year), populate_existing=True)
    return found or FundAccount(township_id=township_id, year=year)


@dataclass(frozen=True)
class Movement:
    """A change to one account's totals, described for the person who caused it."""

    township_id: int
    year: int
    what: str
    allocated: int = 0
    committed: int = 0
    spent: int = 0

    @property
    def effect(self) -> int:
        """Change in what is available."""
        return self.allocated - self.committed - self.spent


def move(
    session: Session, movement: Movement, *, actor: User | None, override_reason: str | None
) -> str | None:
    """Apply ``movement``; returns the override reason if the balance needed one.

    Raises 409 (with the amounts) when it would take the balance below zero and no admin
    override was given, 403 when a non-admin tries to override.
    """
    _ensure_account(session, movement.township_id, movement.year)
    key = (FundAccount.township_id == movement.township_id) & (FundAccount.year == movement.year)
    change = (
        update(FundAccount)
        .where(key)
        .values(
            allocated_fen=FundAccount.allocated_fen + movement.allocated,
            committed_fen=FundAccount.committed_fen + movement.committed,
            spent_fen=FundAccount.spent_fen + movement.spent,
        )
        .execution_options(synchronize_session=False)
    )
    if movement.effect >= 0:
        session.execute(change)
        return None
    if session.execute(change.where(-movement.effect <= _AVAILABLE)).rowcount == 1:
        return None
    if override_reason is None:
        current = account(session, movement.township_id, movement.year)
        township = session.get(Township, movement.township_id)
        name = township.name if township else f"township {movement.township_id}"
        raise Conflict(
            f"{movement.what} needs {yuan(-movement.effect)}, but {name} has only"
            f" {yuan(current.available_fen)} available for {movement.year}"
            f" (allocated {yuan(current.allocated_fen)}, committed {yuan(current.committed_fen)},"
            f" spent {yuan(current.spent_fen)}). An admin may override with a reason."
        )
    if actor is None or actor.role is not Role.admin:
        raise Forbidden("Only an admin may spend past the available balance (override_reason)")
    session.execute(change)
    return override_reason


def record(
    session: Session,
    *,
    kind: EntryKind,
    amount_fen: int,
    township_id: int,
    year: int,
    actor: User | None,
    order_id: int | None = None,
    allocation_id: int | None = None,
    reason: str | None = None,
    override_reason: str | None = None,
) -> LedgerEntry:
    """Append one ledger entry (there is no way to change or remove it)."""
    entry = LedgerEntry(
        kind=kind,
        amount_fen=amount_fen,
        township_id=township_id,
        year=year,
        order_id=order_id,
        allocation_id=allocation_id,
        actor_id=actor.id if actor else None,
        reason=reason,
        override_reason=override_reason,
    )
    session.add(entry)
    return entry


# --- allocations --------------------------------------------------------------------------


def allocate(*, session: Session, actor: User | None, data: AllocationCreate) -> FundAllocation:
    """Record money a township receives; its account and the ledger follow."""
    return allocate_once(session=session, actor=actor, data=data)[0]


#: what an allocation says: a replay under the same ``client_id`` says the same
_CONTENT = ("township_id", "year", "amount_fen", "source", "document_no", "allocated_on", "note")


def _replay(
    session: Session, data: AllocationCreate, actor: User | None = None
) -> FundAllocation | None:
    """The stored allocation for this ``client_id`` if this is a replay of it; 409 if it
    differs (the 409 names the stored one: the client sent two allocations under one id).
    One held outside the actor's division is only "taken" (``access.claimed_by``'s rule)."""
    existing = session.execute(
        select(FundAllocation)
        .where(FundAllocation.client_id == data.client_id)
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if existing is None:
        return None
    if actor is not None and not access.sees_township(session, actor, existing.township_id):
        raise Conflict(
            f"client_id {data.client_id} is already taken; give this allocation a new client_id",
            headers={access.CLIENT_ID_TAKEN: "true"},
        )
    if any(getattr(existing, name) != getattr(data, name) for name in _CONTENT):
        raise Conflict(
            f"A different allocation was already recorded with client_id {data.client_id}"
            f" (allocation {existing.id}, {existing.document_no}); give a new allocation a new"
            " client_id"
        )
    return existing


def allocate_once(
    *, session: Session, actor: User | None, data: AllocationCreate
) -> tuple[FundAllocation, bool]:
    """Record an allocation (True) or return the stored one it replays (False).

    With a ``client_id`` the INSERT is skipped, not failed, when the id is taken (by an
    earlier try whose answer was lost, or a retry racing it: the unique index decides on
    both databases), and nothing else moves. Without one (old clients) every POST stores.
    """
    townships.require(session, data.township_id, user=actor)
    allocation = FundAllocation.model_validate(
        data, update={"created_by_id": actor.id if actor else None}
    )
    if data.client_id is None:
        session.add(allocation)
        session.flush()
    else:
        inserted_id = session.execute(
            dialect_insert(session, FundAllocation)
            .values(allocation.model_dump(exclude={"id"}))
            .on_conflict_do_nothing(index_elements=[FundAllocation.client_id])
            .returning(FundAllocation.id)
        ).scalar_one_or_none()
        if inserted_id is None:
            replayed = _replay(session, data, actor)
            assert replayed is not None  # the id is taken, so its allocation is there
            session.commit()
            return replayed, False
        allocation = session.get_one(FundAllocation, inserted_id)
    move(
        session,
        Movement(data.township_id, data.year, "An allocation", allocated=data.amount_fen),
        actor=actor,
        override_reason=None,
    )
    record(
        session,
        kind=EntryKind.allocation,
        amount_fen=data.amount_fen,
        township_id=data.township_id,
        year=data.year,
        actor=actor,
        allocation_id=allocation.id,
        reason=data.document_no,
    )
    audit.record(
        session=session,
        actor=actor,
        action="allocation.create",
        object_type="fund_allocation",
        object_id=allocation.id,
        after=audit.snapshot(allocation),
    )
    session.commit()
    return allocation, True


def get_allocation(
    *, session: Session, user: User, allocation_id: int, for_update: bool = False
) -> FundAllocation:
    query = select(FundAllocation).where(FundAllocation.id == allocation_id)
    if for_update:
        query = query.with_for_update()
    allocation = session.execute(
        query.execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if allocation is None:
        raise NotFound(f"Allocation {allocation_id} not found")
    access.ensure_visible(session, user, allocation.township_id, f"Allocation {allocation_id}")
    return allocation


def reverse(
    *,
    session: Session,
    actor: User,
    allocation_id: int,
    reason: str,
    override_reason: str | None,
) -> FundAllocation:
    """Cancel an allocation with a reversal entry; refused if the money is already used.
    County work; another township's allocation is a 404 first."""
    allocation = get_allocation(
        session=session, user=actor, allocation_id=allocation_id, for_update=True
    )
    access.ensure_staff(actor)
    if allocation.reversed_at is not None:
        raise Conflict(f"Allocation {allocation_id} was already reversed")
    overridden = move(
        session,
        Movement(
            allocation.township_id,
            allocation.year,
            f"Reversing allocation {allocation_id} ({allocation.document_no})",
            allocated=-allocation.amount_fen,
        ),
        actor=actor,
        override_reason=override_reason,
    )
    record(
        session,
        kind=EntryKind.reversal,
        amount_fen=-allocation.amount_fen,
        township_id=allocation.township_id,
        year=allocation.year,
        actor=actor,
        allocation_id=allocation.id,
        reason=reason,
        override_reason=overridden,
    )
    allocation.reversed_at = utcnow()
    audit.record(
        session=session,
        actor=actor,
        action="allocation.reverse",
        object_type="fund_allocation",
        object_id=allocation.id,
        before={"reversed_at": None},
        after={
            "reversed_at": allocation.reversed_at.isoformat(),
            "reason": reason,
            "override_reason": overridden,
        },  # fmt: skip
    )
    session.commit()
    return allocation


#: the order of the allocation list: the latest year first, then as they were handed over
ALLOCATION_ORDER = (
    listing.desc(FundAllocation.year),
    listing.asc(FundAllocation.allocated_on),
    listing.asc(FundAllocation.id),
)


def list_allocations(
    *,
    session: Session,
    user: User,
    township_id: int | None,
    year: int | None,
    window: listing.Window,
) -> listing.Listed[tuple[FundAllocation, Township]]:
    """Allocations, latest year first, then in the order they were handed over."""
    if township_id is not None:
        access.ensure_visible(session, user, township_id, f"Township {township_id}")
    conditions: list[Any] = []
    if township_id is not None:
        conditions.append(FundAllocation.township_id == township_id)
    if year is not None:
        conditions.append(FundAllocation.year == year)
    query = access.scope(select(FundAllocation), user, FundAllocation.township_id)
    return listing.page(
        session,
        query.where(*conditions),
        sort=ALLOCATION_ORDER,
        window=window,
        read=lambda paged: [
            (allocation, township)
            for allocation, township in session.execute(
                paged.add_columns(Township).join(
                    Township, Township.id == FundAllocation.township_id
                )
            ).all()
        ],
        keys_of=lambda row: row[0],
    )


# --- reading balances ---------------------------------------------------------------------


def default_year(session: Session, *, fallback: int, user: User | None = None) -> int:
    """The latest year that has allocations (DESIGN.md rule 10) in ``user``'s division,
    else ``fallback``."""
    query = select(func.max(FundAllocation.year))
    if user is not None:
        query = access.scope(query, user, FundAllocation.township_id)
    return session.execute(query).scalar_one() or fallback


def summary(
    *, session: Session, user: User, year: int, townships_seen: list[Township] | None = None
) -> list[tuple[Township, FundAccount]]:
    """Every visible township with its account for ``year`` (zeros when it has none).

    ``user`` may be a viewer narrowed to a division (``app.regions``), and
    ``townships_seen`` the townships it sees when the caller has them already."""
    accounts = {
        a.township_id: a
        for a in session.execute(
            access.scope(select(FundAccount), user, FundAccount.township_id).where(
                FundAccount.year == year
            )
        ).scalars()
    }
    return [
        (t, accounts.get(t.id) or FundAccount(township_id=t.id, year=year))  # type: ignore[arg-type]
        for t in (
            townships_seen if townships_seen is not None else townships.visible(session, user)
        )
    ]


def ledger(
    *,
    session: Session,
    user: User,
    township_id: int | None,
    year: int | None,
    window: listing.Window | None,
    newest_first: bool = False,
) -> listing.Listed[tuple[LedgerEntry, User | None]]:
    """Ledger entries in the order they were written (or newest first), with who wrote
    them: the page ``window`` asks for, or every entry when it is None."""
    if township_id is not None:
        access.ensure_visible(session, user, township_id, f"Township {township_id}")
    conditions: list[Any] = []
    if township_id is not None:
        conditions.append(LedgerEntry.township_id == township_id)
    if year is not None:
        conditions.append(LedgerEntry.year == year)
    query = access.scope(select(LedgerEntry), user, LedgerEntry.township_id).where(*conditions)
    actor = aliased(User)

    def read(paged: Any) -> list[tuple[LedgerEntry, User | None]]:
        with_actor = paged.add_columns(actor).outerjoin(actor, actor.id == LedgerEntry.actor_id)
        return [(entry, author) for entry, author in session.execute(with_actor).all()]

    sort = (listing.desc(LedgerEntry.id),) if newest_first else (listing.asc(LedgerEntry.id),)
    return listing.page(
        session,
        query,
        sort=sort,
        window=window,
        read=read,
        keys_of=lambda row: row[0],
    )
