"""Fund allocations and maintenance orders carry the client's ``client_id`` (a UUID,
unique, NULL for old clients), so one POSTed again after a lost answer is stored once:
the retry is answered with the stored row (200), different content under the same id is
a 409 (bench/crash.py found 327 allocations stored for 323 acknowledged before this).

Added without a batch rebuild of either table (a plain ADD COLUMN and a unique index,
which SQLite does in place), so nothing of theirs (triggers, partial indexes) is recreated.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 04:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


TABLES = ("fund_allocations", "maintenance_orders")


def upgrade() -> None:
    for table in TABLES:
        op.add_column(table, sa.Column("client_id", sa.Uuid(), nullable=True))
        op.create_index(op.f(f"ix_{table}_client_id"), table, ["client_id"], unique=True)


def downgrade() -> None:
    for table in TABLES:
        op.drop_index(op.f(f"ix_{table}_client_id"), table_name=table)
        op.drop_column(table, "client_id")  # SQLite 3.35+ drops it in place
