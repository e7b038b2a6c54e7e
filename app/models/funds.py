import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Text, Uuid
from sqlmodel import Field, SQLModel

from app.models.base import EnumText, UTCDateTime, utcnow
from app.models.enums import EntryKind, FundSource


class FundAllocation(SQLModel, table=True):
    """经费下拨: money a township receives for a year, under a document number (文号)."""

    __tablename__ = "fund_allocations"
    __table_args__ = (
        CheckConstraint("amount_fen > 0", name="amount_positive"),
        Index("ix_fund_allocations_township_year", "township_id", "year"),
        Index("ix_fund_allocations_year", "year"),  # the list's ?year= (0010)
    )

    id: int | None = Field(default=None, primary_key=True)
    #: made by the client so a retried POST is stored once (a unique index; NULL for old
    #: clients, which get no such protection)
    client_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, unique=True, index=True)
    township_id: int = Field(foreign_key="townships.id")
    year: int
    amount_fen: int = Field(sa_type=BigInteger)
    source: FundSource = Field(sa_type=EnumText(FundSource))
    document_no: str = Field(max_length=64)
    allocated_on: date
    note: str | None = Field(default=None, sa_type=Text)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    #: set when a reversal entry cancels this allocation (the entry itself is the record)
    reversed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class LedgerEntry(SQLModel, table=True):
    """经费台账: one money movement. Append-only: database triggers refuse UPDATE and DELETE.

    ``amount_fen`` is signed by its effect on what is available: allocations and releases
    add, commitments and expenditures subtract. A reversal undoes an earlier entry: of an
    allocation (``allocation_id`` set; subtracts, lowering what was allocated) or of an
    order's expenditure when its cost is corrected (``order_id`` set; adds back, lowering
    what was spent, next to a new expenditure at the correct cost).
    """

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_township_year", "township_id", "year", "id"),
        Index("ix_ledger_entries_year_id", "year", "id"),  # the list's ?year= (0010)
    )

    id: int | None = Field(default=None, primary_key=True)
    township_id: int = Field(foreign_key="townships.id")
    year: int
    kind: EntryKind = Field(sa_type=EnumText(EntryKind))
    amount_fen: int = Field(sa_type=BigInteger)
    order_id: int | None = Field(default=None, foreign_key="maintenance_orders.id", index=True)
    allocation_id: int | None = Field(default=None, foreign_key="fund_allocations.id", index=True)
    actor_id: int | None = Field(default=None, foreign_key="users.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    reason: str | None = Field(default=None, sa_type=Text)
    #: set when an admin let this entry take the balance below zero, saying why
    override_reason: str | None = Field(default=None, sa_type=Text)


class FundAccount(SQLModel, table=True):
    """The running totals of one township's funds for one year, kept in step with the
    ledger in the same transaction; spending is guarded by a conditional UPDATE on it."""

    __tablename__ = "fund_accounts"

    township_id: int = Field(foreign_key="townships.id", primary_key=True)
    year: int = Field(primary_key=True)
    allocated_fen: int = Field(default=0, sa_type=BigInteger)
    committed_fen: int = Field(default=0, sa_type=BigInteger)
    spent_fen: int = Field(default=0, sa_type=BigInteger)

    @property
    def available_fen(self) -> int:
        return self.allocated_fen - self.committed_fen - self.spent_fen
