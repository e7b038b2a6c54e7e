"""Funds: maintenance orders, fund allocations, the append-only ledger and its accounts.

The ledger refuses UPDATE and DELETE in the database itself (triggers on SQLite and
PostgreSQL), so no code path, present or future, can rewrite it. A later migration that
rebuilds ``ledger_entries`` in SQLite batch mode must create these triggers again.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29 03:58:04.348173
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel  # noqa: F401  (autogenerate may reference sqlmodel types)
from alembic import op

revision: str = '0003'
down_revision: str | None = '0002'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APPEND_ONLY = "ledger_entries is append-only: record a reversal entry instead"
SQLITE_TRIGGERS = [
    f"""CREATE TRIGGER ledger_entries_no_{event.lower()} BEFORE {event} ON ledger_entries
    BEGIN SELECT RAISE(ABORT, '{APPEND_ONLY}'); END"""
    for event in ("UPDATE", "DELETE")
]
POSTGRES_TRIGGERS = [
    f"""CREATE FUNCTION ledger_entries_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION '{APPEND_ONLY}' USING ERRCODE = 'restrict_violation'; END $$""",
    """CREATE TRIGGER ledger_entries_append_only BEFORE UPDATE OR DELETE ON ledger_entries
    FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only()""",
    """CREATE TRIGGER ledger_entries_no_truncate BEFORE TRUNCATE ON ledger_entries
    FOR EACH STATEMENT EXECUTE FUNCTION ledger_entries_append_only()""",
]


def upgrade() -> None:
    op.create_table('fund_accounts',
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('allocated_fen', sa.BigInteger(), nullable=False),
    sa.Column('committed_fen', sa.BigInteger(), nullable=False),
    sa.Column('spent_fen', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['township_id'], ['townships.id'], name=op.f('fk_fund_accounts_township_id_townships')),
    sa.PrimaryKeyConstraint('township_id', 'year', name=op.f('pk_fund_accounts'))
    )
    op.create_table('fund_allocations',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('source', sa.String(length=32), nullable=False),
    sa.Column('document_no', sa.String(length=64), nullable=False),
    sa.Column('allocated_on', sa.Date(), nullable=False),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reversed_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount_fen > 0', name=op.f('ck_fund_allocations_amount_positive')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_fund_allocations_created_by_id_users')),
    sa.ForeignKeyConstraint(['township_id'], ['townships.id'], name=op.f('fk_fund_allocations_township_id_townships')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_fund_allocations'))
    )
    with op.batch_alter_table('fund_allocations', schema=None) as batch_op:
        batch_op.create_index('ix_fund_allocations_township_year', ['township_id', 'year'], unique=False)

    op.create_table('maintenance_orders',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('facility_id', sa.Integer(), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('inspection_id', sa.Integer(), nullable=True),
    sa.Column('category', sa.String(length=32), nullable=False),
    sa.Column('title', sa.String(length=100), nullable=False),
    sa.Column('description', sa.Text(), nullable=True),
    sa.Column('planned_cost_fen', sa.BigInteger(), nullable=False),
    sa.Column('due_on', sa.Date(), nullable=True),
    sa.Column('assignee', sa.String(length=64), nullable=True),
    sa.Column('actual_cost_fen', sa.BigInteger(), nullable=True),
    sa.Column('completed_on', sa.Date(), nullable=True),
    sa.Column('payee', sa.String(length=100), nullable=True),
    sa.Column('invoice_no', sa.String(length=64), nullable=True),
    sa.Column('status', sa.String(length=32), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('cancel_reason', sa.Text(), nullable=True),
    sa.Column('created_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_by_id', sa.Integer(), nullable=True),
    sa.Column('approved_at', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint('actual_cost_fen IS NULL OR actual_cost_fen >= 0', name=op.f('ck_maintenance_orders_actual_cost')),
    sa.CheckConstraint('planned_cost_fen >= 0', name=op.f('ck_maintenance_orders_planned_cost')),
    sa.ForeignKeyConstraint(['approved_by_id'], ['users.id'], name=op.f('fk_maintenance_orders_approved_by_id_users')),
    sa.ForeignKeyConstraint(['created_by_id'], ['users.id'], name=op.f('fk_maintenance_orders_created_by_id_users')),
    sa.ForeignKeyConstraint(['facility_id'], ['facilities.id'], name=op.f('fk_maintenance_orders_facility_id_facilities')),
    sa.ForeignKeyConstraint(['inspection_id'], ['inspections.id'], name=op.f('fk_maintenance_orders_inspection_id_inspections')),
    sa.ForeignKeyConstraint(['township_id'], ['townships.id'], name=op.f('fk_maintenance_orders_township_id_townships')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_maintenance_orders'))
    )
    with op.batch_alter_table('maintenance_orders', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_maintenance_orders_facility_id'), ['facility_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_maintenance_orders_inspection_id'), ['inspection_id'], unique=False)
        batch_op.create_index('ix_maintenance_orders_township_year_status', ['township_id', 'year', 'status'], unique=False)

    op.create_table('ledger_entries',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('township_id', sa.Integer(), nullable=False),
    sa.Column('year', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('amount_fen', sa.BigInteger(), nullable=False),
    sa.Column('order_id', sa.Integer(), nullable=True),
    sa.Column('allocation_id', sa.Integer(), nullable=True),
    sa.Column('actor_id', sa.Integer(), nullable=True),
    sa.Column('at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('reason', sa.Text(), nullable=True),
    sa.Column('override_reason', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['actor_id'], ['users.id'], name=op.f('fk_ledger_entries_actor_id_users')),
    sa.ForeignKeyConstraint(['allocation_id'], ['fund_allocations.id'], name=op.f('fk_ledger_entries_allocation_id_fund_allocations')),
    sa.ForeignKeyConstraint(['order_id'], ['maintenance_orders.id'], name=op.f('fk_ledger_entries_order_id_maintenance_orders')),
    sa.ForeignKeyConstraint(['township_id'], ['townships.id'], name=op.f('fk_ledger_entries_township_id_townships')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_ledger_entries'))
    )
    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_ledger_entries_allocation_id'), ['allocation_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_ledger_entries_order_id'), ['order_id'], unique=False)
        batch_op.create_index('ix_ledger_entries_township_year', ['township_id', 'year', 'id'], unique=False)

    postgres = op.get_bind().dialect.name == "postgresql"
    for statement in POSTGRES_TRIGGERS if postgres else SQLITE_TRIGGERS:
        op.execute(statement)

    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.add_column(sa.Column('maintenance_order_id', sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column('stage', sa.String(length=32), nullable=True))
        batch_op.create_index(batch_op.f('ix_photos_maintenance_order_id'), ['maintenance_order_id'], unique=False)
        batch_op.create_unique_constraint(batch_op.f('uq_photos_maintenance_order_id_sha256'), ['maintenance_order_id', 'sha256'])
        batch_op.create_foreign_key(batch_op.f('fk_photos_maintenance_order_id_maintenance_orders'), 'maintenance_orders', ['maintenance_order_id'], ['id'])
        batch_op.create_check_constraint(
            op.f('ck_photos_one_owner'), '(inspection_id IS NULL) != (maintenance_order_id IS NULL)'
        )



def downgrade() -> None:
    with op.batch_alter_table('photos', schema=None) as batch_op:
        batch_op.drop_constraint(op.f('ck_photos_one_owner'), type_='check')
        batch_op.drop_constraint(batch_op.f('fk_photos_maintenance_order_id_maintenance_orders'), type_='foreignkey')
        batch_op.drop_constraint(batch_op.f('uq_photos_maintenance_order_id_sha256'), type_='unique')
        batch_op.drop_index(batch_op.f('ix_photos_maintenance_order_id'))
        batch_op.drop_column('stage')
        batch_op.drop_column('maintenance_order_id')

    with op.batch_alter_table('ledger_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_ledger_entries_township_year')
        batch_op.drop_index(batch_op.f('ix_ledger_entries_order_id'))
        batch_op.drop_index(batch_op.f('ix_ledger_entries_allocation_id'))

    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER ledger_entries_no_truncate ON ledger_entries")
        op.execute("DROP TRIGGER ledger_entries_append_only ON ledger_entries")
        op.execute("DROP FUNCTION ledger_entries_append_only()")
    else:
        op.execute("DROP TRIGGER ledger_entries_no_update")
        op.execute("DROP TRIGGER ledger_entries_no_delete")
    op.drop_table('ledger_entries')
    with op.batch_alter_table('maintenance_orders', schema=None) as batch_op:
        batch_op.drop_index('ix_maintenance_orders_township_year_status')
        batch_op.drop_index(batch_op.f('ix_maintenance_orders_inspection_id'))
        batch_op.drop_index(batch_op.f('ix_maintenance_orders_facility_id'))

    op.drop_table('maintenance_orders')
    with op.batch_alter_table('fund_allocations', schema=None) as batch_op:
        batch_op.drop_index('ix_fund_allocations_township_year')

    op.drop_table('fund_allocations')
    op.drop_table('fund_accounts')
