"""The map feed's ETag reads the latest change of facilities, reports, reviews and orders:
index those timestamps so a revalidation (304) costs a few index lookups at any size.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 19:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

INDEXES = (
    ("facilities", "ix_facilities_updated_at", "updated_at"),
    ("inspections", "ix_inspections_received_at", "received_at"),
    ("inspections", "ix_inspections_reviewed_at", "reviewed_at"),
    ("maintenance_orders", "ix_maintenance_orders_updated_at", "updated_at"),
)


def upgrade() -> None:
    for table, name, column in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, [column], unique=False)


def downgrade() -> None:
    for table, name, _column in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
