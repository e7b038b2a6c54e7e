"""Login throttle keyed by username and client address (no locking accounts from afar).

The table holds only short-lived failure counts, so it is recreated rather than converted.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29 05:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '0004'
down_revision: str | None = '0003'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _create(key: str) -> None:
    op.create_table(
        'login_throttle',
        sa.Column(key, sa.String(length=64), nullable=False),
        sa.Column('failures', sa.Integer(), nullable=False),
        sa.Column('first_failed_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint(key, name=op.f('pk_login_throttle')),
    )


def upgrade() -> None:
    op.drop_table('login_throttle')
    _create('key')


def downgrade() -> None:
    op.drop_table('login_throttle')
    _create('username')
