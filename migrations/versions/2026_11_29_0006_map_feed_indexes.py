"""The map feed: index the timestamps its ETag reads (the latest change of facilities,
reports, reviews and orders), so a revalidation (304) costs a few index lookups at any
size; and keep each facility's last counted condition on the facility, beside
``last_inspected_at``, so the feed reads it from the row instead of searching the
reports of every site (filled here from the reports, as the service keeps it from now on).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29 19:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
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


LAST_CONDITION = (
    "UPDATE facilities SET last_condition = ("
    " SELECT i.condition FROM inspections i"
    " WHERE i.facility_id = facilities.id AND i.review_status <> 'rejected'"
    " ORDER BY i.inspected_at DESC, i.id DESC LIMIT 1)"
)


def upgrade() -> None:
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_condition", sa.String(length=32), nullable=True))
    op.execute(LAST_CONDITION)
    for table, name, column in INDEXES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.create_index(name, [column], unique=False)


def downgrade() -> None:
    for table, name, _column in reversed(INDEXES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_index(name)
    with op.batch_alter_table("facilities", schema=None) as batch_op:
        batch_op.drop_column("last_condition")
