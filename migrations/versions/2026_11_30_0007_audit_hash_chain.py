"""The audit log becomes a hash chain: every entry carries the SHA-256 of the entry before
it (``prev_hash``, unique, so the chain cannot fork) and its own (``entry_hash``) over a
canonical form of its fields (``app.audit.chain``). The existing entries are chained here,
in id order, so an upgraded database verifies (``memorial audit-verify``).

``audit_chain_head`` holds the newest link in one row, moved by a trigger on every insert:
appends lock it (PostgreSQL) so concurrent writers queue, and a log whose last entries
were deleted no longer ends where it says. The log refuses UPDATE, DELETE (and on
PostgreSQL TRUNCATE) in the database itself, like the ledger; the hashes catch whoever
gets round that. The head refuses DELETE (and TRUNCATE) too, and moves only forward: an
UPDATE must add one to ``length`` and set ``last_hash`` to the entry that follows the old
one (so an insert into the log that does not follow the head fails as well); the app
recreates a missing head only for an empty log (``app.audit.chain.lock_tip``). A later
migration that rebuilds ``audit_log`` or ``audit_chain_head`` in SQLite batch mode must
create their triggers again, and one that inserts audit entries must chain them.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from app.audit.chain import GENESIS, entry_hash
from app.models.base import UTCDateTime

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "audit_log is append-only: its entries are never changed or removed"
HEAD_FORWARD = (
    "audit_chain_head only moves forward, one appended entry at a time:"
    " it is never set back, rewritten or removed"
)
#: an UPDATE of the head that moves it one entry on, to the entry after its last hash
HEAD_STEP = """NEW.id = OLD.id AND NEW.length = OLD.length + 1 AND EXISTS (
    SELECT 1 FROM audit_log WHERE prev_hash = OLD.last_hash AND entry_hash = NEW.last_hash)"""
SQLITE_TRIGGERS = [
    *(
        f"""CREATE TRIGGER audit_log_no_{event.lower()} BEFORE {event} ON audit_log
        BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"""
        for event in ("UPDATE", "DELETE")
    ),
    """CREATE TRIGGER audit_log_chain_head AFTER INSERT ON audit_log
    BEGIN UPDATE audit_chain_head SET last_hash = NEW.entry_hash, length = length + 1
    WHERE id = 1; END""",
    f"""CREATE TRIGGER audit_chain_head_no_delete BEFORE DELETE ON audit_chain_head
    BEGIN SELECT RAISE(ABORT, '{HEAD_FORWARD}'); END""",
    f"""CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE ON audit_chain_head
    WHEN NOT ({HEAD_STEP})
    BEGIN SELECT RAISE(ABORT, '{HEAD_FORWARD}'); END""",
]
SQLITE_DROP = [
    "audit_chain_head_forward",
    "audit_chain_head_no_delete",
    "audit_log_no_update",
    "audit_log_no_delete",
    "audit_log_chain_head",
]
POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'restrict_violation'; END $$""",
    """CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only()""",
    """CREATE FUNCTION audit_chain_advance() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        UPDATE audit_chain_head SET last_hash = NEW.entry_hash, length = length + 1
        WHERE id = 1;
        RETURN NULL;
    END $$""",
    """CREATE TRIGGER audit_log_chain_head AFTER INSERT ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_chain_advance()""",
    f"""CREATE FUNCTION audit_chain_head_forward() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'UPDATE' AND {HEAD_STEP} THEN
            RETURN NEW;
        END IF;
        RAISE EXCEPTION '{HEAD_FORWARD}' USING ERRCODE = 'restrict_violation';
    END $$""",
    """CREATE TRIGGER audit_chain_head_forward BEFORE UPDATE OR DELETE ON audit_chain_head
    FOR EACH ROW EXECUTE FUNCTION audit_chain_head_forward()""",
    """CREATE TRIGGER audit_chain_head_no_truncate BEFORE TRUNCATE ON audit_chain_head
    FOR EACH STATEMENT EXECUTE FUNCTION audit_chain_head_forward()""",
]
POSTGRES_DROP = [
    "DROP TRIGGER audit_chain_head_no_truncate ON audit_chain_head",
    "DROP TRIGGER audit_chain_head_forward ON audit_chain_head",
    "DROP FUNCTION audit_chain_head_forward()",
    "DROP TRIGGER audit_log_chain_head ON audit_log",
    "DROP FUNCTION audit_chain_advance()",
    "DROP TRIGGER audit_log_no_truncate ON audit_log",
    "DROP TRIGGER audit_log_append_only ON audit_log",
    "DROP FUNCTION audit_log_append_only()",
]

_LOG = sa.table(
    "audit_log",
    sa.column("id", sa.Integer()),
    sa.column("at", UTCDateTime()),
    sa.column("actor_id", sa.Integer()),
    sa.column("actor_username", sa.String()),
    sa.column("action", sa.String()),
    sa.column("object_type", sa.String()),
    sa.column("object_id", sa.String()),
    sa.column("before", sa.JSON()),
    sa.column("after", sa.JSON()),
    sa.column("prev_hash", sa.String()),
    sa.column("entry_hash", sa.String()),
)


def _chain_existing_entries(connection: sa.Connection) -> tuple[str, int]:
    """Hash every entry in id order, a page at a time; the last hash and the count."""
    prev, count, last_id = GENESIS, 0, 0
    update = (
        _LOG.update()
        .where(_LOG.c.id == sa.bindparam("row_id"))
        .values(prev_hash=sa.bindparam("prev"), entry_hash=sa.bindparam("hash"))
    )
    while True:
        rows = connection.execute(
            sa.select(_LOG).where(_LOG.c.id > last_id).order_by(_LOG.c.id).limit(1_000)
        ).all()
        if not rows:
            return prev, count
        links = []
        for row in rows:
            digest = entry_hash(row, prev_hash=prev)
            links.append({"row_id": row.id, "prev": prev, "hash": digest})
            prev = digest
        connection.execute(update, links)
        count += len(rows)
        last_id = rows[-1].id


def upgrade() -> None:
    connection = op.get_bind()
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("entry_hash", sa.String(length=64), nullable=True))
    last_hash, length = _chain_existing_entries(connection)
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.alter_column("prev_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.alter_column("entry_hash", existing_type=sa.String(length=64), nullable=False)
        batch_op.create_unique_constraint(batch_op.f("uq_audit_log_prev_hash"), ["prev_hash"])

    op.create_table(
        "audit_chain_head",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.Column("length", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_audit_chain_head_one_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_chain_head")),
    )
    connection.execute(
        sa.text("INSERT INTO audit_chain_head (id, last_hash, length) VALUES (1, :hash, :n)"),
        {"hash": last_hash, "n": length},
    )
    postgres = connection.dialect.name == "postgresql"
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for statement in POSTGRES_DROP:
            op.execute(statement)
    else:
        for name in SQLITE_DROP:
            op.execute(f"DROP TRIGGER {name}")
    op.drop_table("audit_chain_head")
    with op.batch_alter_table("audit_log", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("uq_audit_log_prev_hash"), type_="unique")
        batch_op.drop_column("entry_hash")
        batch_op.drop_column("prev_hash")
