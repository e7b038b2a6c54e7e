from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    """Who changed what, when, with the object before and after.

    The entries form a hash chain (``app.audit.chain``): each carries the hash of the one
    before it and its own, so an entry edited or deleted behind the app's back shows.
    ``prev_hash`` is unique: two entries can never claim the same predecessor (no fork).
    """

    __tablename__ = "audit_log"
    __table_args__ = (
        Index("ix_audit_log_object", "object_type", "object_id"),
        Index("ix_audit_log_action_at", "action", "at"),  # the list's ?action= (0010)
        UniqueConstraint("prev_hash"),
    )

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_id: int | None = Field(default=None, foreign_key="users.id", index=True)
    #: kept as written, so the record still reads right if the user is renamed
    actor_username: str | None = Field(default=None, max_length=64)
    action: str = Field(max_length=64)
    object_type: str = Field(max_length=32)
    object_id: str = Field(max_length=64)
    before: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    after: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    #: SHA-256 (hex) of the entry before this one; 64 zeros for the first
    prev_hash: str = Field(max_length=64)
    #: SHA-256 (hex) of this entry's canonical form, ``prev_hash`` included
    entry_hash: str = Field(max_length=64)


class AuditChainHead(SQLModel, table=True):
    """The audit chain's newest link, one row kept by a database trigger on every insert
    into ``audit_log``. Appends lock this row, so concurrent writers queue instead of
    forking; and a log whose last entries were deleted no longer ends where this says."""

    __tablename__ = "audit_chain_head"
    __table_args__ = (CheckConstraint("id = 1", name="one_row"),)

    id: int = Field(default=1, primary_key=True, sa_column_kwargs={"autoincrement": False})
    last_hash: str = Field(max_length=64)
    length: int = Field(default=0, sa_type=BigInteger)
