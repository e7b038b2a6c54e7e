"""Indexes for the aggregates over every site of a division (issue 12): the dashboard
(``/stats``), campaign progress and the annual report read indexes alone, never the rows.

- ``ix_facilities_township_status_tier``: the active sites per township and tier, with the
  registration and due dates, counted from the index (a province of 43,200 sites among a
  million: 0.68 s → 0.08 s);
- ``ix_inspections_submitted_facility_id`` (partial: awaiting review): the dashboard's
  reports awaiting review, from 350,000 entries instead of every report of the sites;
- ``ix_inspections_problem_township_inspected_on`` (partial: a damaged condition or the
  word "problem" in the checklist, which ``app.reports.annual.has_problem`` implies): the
  annual report's problems read one report in ten (5.2 s → 0.09 s);
- PostgreSQL only, ``INCLUDE`` on two existing indexes: ``(facility_id, inspected_at)``
  carries the local date, review, position and id (the window's reports per site, the
  latest accepted report, the campaign's visits: index-only) and ``(township_id,
  inspected_on)`` the review, site and position (the annual report's patrols: 5.6 s →
  0.23 s). SQLite has no ``INCLUDE``; its two indexes stay as they are.

The upgrade builds these in one transaction, and dropping the two indexes it widens locks
``inspections`` until it commits: on PostgreSQL, reads and writes of reports wait while it
runs (about 1.5 minutes at 10 million reports on a 2-core machine). Upgrade a large
installation in a quiet hour, as the README's upgrade notes say.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 12:10:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

#: kept in step with ``app.models.inspection`` (which ``tests/test_migrations.py`` compares)
SUBMITTED = "review_status = 'submitted'"
PROBLEM_CANDIDATE = (
    "condition IN ('needs_repair', 'severely_damaged', 'missing')"
    " OR CAST(checklist AS TEXT) LIKE '%\"problem\"%'"
)
#: (table, index, key, PostgreSQL INCLUDE) of the two indexes that gain columns
WIDENED: tuple[tuple[str, str, list[str], list[str]], ...] = (
    (
        "inspections",
        "ix_inspections_facility_inspected_at",
        ["facility_id", "inspected_at"],
        ["inspected_on", "review_status", "on_site", "id"],
    ),
    (
        "inspections",
        "ix_inspections_township_inspected_on",
        ["township_id", "inspected_on"],
        ["review_status", "facility_id", "on_site"],
    ),
)


def upgrade() -> None:
    op.create_index(
        "ix_facilities_township_status_tier",
        "facilities",
        ["township_id", "status", "tier", "registered_on", "next_due_on", "id"],
    )
    op.create_index(
        "ix_inspections_submitted_facility_id",
        "inspections",
        ["facility_id", "inspected_on"],
        postgresql_where=sa.text(SUBMITTED),
        sqlite_where=sa.text(SUBMITTED),
    )
    op.create_index(
        "ix_inspections_problem_township_inspected_on",
        "inspections",
        ["township_id", "inspected_on"],
        postgresql_include=["facility_id", "review_status"],
        postgresql_where=sa.text(PROBLEM_CANDIDATE),
        sqlite_where=sa.text(PROBLEM_CANDIDATE),
    )
    if op.get_bind().dialect.name == "postgresql":
        for table, name, key, include in WIDENED:
            op.drop_index(name, table_name=table)
            op.create_index(name, table, key, postgresql_include=include)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        for table, name, key, _include in reversed(WIDENED):
            op.drop_index(name, table_name=table)
            op.create_index(name, table, key)
    op.drop_index("ix_inspections_problem_township_inspected_on", table_name="inspections")
    op.drop_index("ix_inspections_submitted_facility_id", table_name="inspections")
    op.drop_index("ix_facilities_township_status_tier", table_name="facilities")
