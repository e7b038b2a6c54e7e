"""The national collection's fields on facilities (全国烈士纪念设施信息采集): protection unit
type, headstone type, what it commemorates, area, main material, dimensions, the protection
boundary in words and the record photo; and the management rule on file ("六个一"'s
一份管理制度). All nullable: a township fills them in over time, and the completeness
figures (app.facilities.completeness) show what is still missing.

Plain ``ALTER TABLE … ADD/DROP COLUMN`` on both databases (SQLite 3.35+), so the table and
its triggers are never rebuilt.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 09:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def columns() -> tuple[sa.Column, ...]:
    return (
        sa.Column("protection_unit", sa.String(length=32), nullable=True),
        sa.Column("headstone_type", sa.String(length=32), nullable=True),
        sa.Column("commemorates", sa.String(length=200), nullable=True),
        sa.Column("area_m2", sa.Float(), nullable=True),
        sa.Column("main_material", sa.String(length=32), nullable=True),
        sa.Column("dimensions", sa.String(length=100), nullable=True),
        sa.Column("boundary_description", sa.String(length=500), nullable=True),
        sa.Column("record_photo_id", sa.Integer(), nullable=True),
        sa.Column("management_rule", sa.String(length=200), nullable=True),
        sa.Column("management_rule_on", sa.Date(), nullable=True),
    )


def upgrade() -> None:
    for column in columns():
        op.add_column("facilities", column)


def downgrade() -> None:
    for column in reversed(columns()):
        op.drop_column("facilities", column.name)
