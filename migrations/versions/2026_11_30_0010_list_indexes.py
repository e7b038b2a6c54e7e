"""An index for every sort and filter the lists offer (app.listing), so a page is an index
range on PostgreSQL and SQLite at any size, never a scan of the table; and the sites'
coordinates, for the map's clusters and ``bbox`` filters.

Each sort index ends with ``id``, the lists' tie-break, so a keyset page (``?cursor=``) is
one range of it: ``(inspected_at, id) < (x, y)``. tests/test_query_plans.py reads the
plans PostgreSQL makes for every list and filter.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 07:00:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: (table, index, columns): kept in step with the models' ``__table_args__``
INDEXES: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    # GET /facilities: each ?sort= (code is unique already), ?kind=, ?bbox= and the clusters
    ("facilities", "ix_facilities_name_id", ("name", "id")),
    ("facilities", "ix_facilities_next_due_on_id", ("next_due_on", "id")),
    ("facilities", "ix_facilities_registered_on_id", ("registered_on", "id")),
    ("facilities", "ix_facilities_kind", ("kind",)),
    ("facilities", "ix_facilities_longitude_latitude", ("longitude", "latitude")),
    # every list scoped by facility (reports, orders, photos): a township's or a division's
    # facility ids, read from the index alone
    ("facilities", "ix_facilities_township_id_id", ("township_id", "id")),
    # GET /inspections: newest first, the review queue (oldest first), ?on_site=
    # (the local date rides along, so ?from=&to= is counted from the index alone)
    ("inspections", "ix_inspections_inspected_at_id", ("inspected_at", "id")),
    (
        "inspections",
        "ix_inspections_review_status_inspected_at_id",
        ("review_status", "inspected_at", "id"),
    ),
    ("inspections", "ix_inspections_on_site_inspected_at_id", ("on_site", "inspected_at", "id")),
    # GET /maintenance: newest first, and by ?status=, ?category=, ?year=
    ("maintenance_orders", "ix_maintenance_orders_created_at_id", ("created_at", "id")),
    (
        "maintenance_orders",
        "ix_maintenance_orders_status_created_at_id",
        ("status", "created_at", "id"),
    ),
    ("maintenance_orders", "ix_maintenance_orders_category", ("category",)),
    ("maintenance_orders", "ix_maintenance_orders_year", ("year",)),
    # GET /audit: ?action=
    ("audit_log", "ix_audit_log_action_at", ("action", "at")),
    # GET /funds/ledger and /fund-allocations: ?year= across townships
    ("ledger_entries", "ix_ledger_entries_year_id", ("year", "id")),
    ("fund_allocations", "ix_fund_allocations_year", ("year",)),
)


#: columns an index carries without sorting by them (PostgreSQL; SQLite ignores INCLUDE)
INCLUDE = {"ix_inspections_inspected_at_id": ["inspected_on"]}


def upgrade() -> None:
    for table, name, columns in INDEXES:
        include = INCLUDE.get(name)
        if include:
            op.create_index(name, table, list(columns), postgresql_include=include)
        else:
            op.create_index(name, table, list(columns))


def downgrade() -> None:
    for table, name, _columns in reversed(INDEXES):
        op.drop_index(name, table_name=table)
