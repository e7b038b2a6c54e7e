"""Invariants held by the database: one unfinished order per report, whole positions on
reports, usernames unique whatever their case, and photos that follow their facility.

- ``maintenance_orders``: a partial unique index on ``inspection_id`` for orders still
  planned, approved or in progress (a cancelled or completed order no longer blocks).
  The double clicks that made this necessary may have left a report with several
  unfinished orders: the most advanced one (in progress, then approved, then planned; the
  oldest of equals) is kept and the others are cancelled as ``POST …/cancel`` would —
  the status and a reason on the order, a release entry in the ledger and the account for
  one that was approved, and an audit record — so nothing is deleted and no money is lost.
- ``inspections``: a CHECK that a position is stored whole (WGS-84, as sent, judged) or
  not at all. Rows written without their ``source_*`` fields (as an old benchmark did)
  are completed first: the position as stored is the position as sent, in WGS-84.
- ``users``: a unique index on ``lower(username)``. Two existing names that differ only
  in case stop the upgrade with a message naming them; rename one and run it again.
  SQLite cannot reflect an expression index, so a future batch migration that rebuilds
  ``users`` on SQLite must create this index again (as one that rebuilds the ledger must
  recreate its triggers).
- ``photos``: ``facility_id`` (from the report or order, which never changes facility)
  replaces the ``township_id`` copied at upload, so a photo is seen by the township that
  owns its facility now.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29 18:00:00
"""

import math
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.models.base import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNFINISHED = "status IN ('planned', 'approved', 'in_progress')"
POSITION_WHOLE = (
    "(longitude IS NULL AND latitude IS NULL AND source_crs IS NULL"
    " AND source_longitude IS NULL AND source_latitude IS NULL"
    " AND distance_m IS NULL AND on_site IS NULL)"
    " OR (longitude IS NOT NULL AND latitude IS NOT NULL AND source_crs IS NOT NULL"
    " AND source_longitude IS NOT NULL AND source_latitude IS NOT NULL"
    " AND distance_m IS NOT NULL AND on_site IS NOT NULL)"
)


def _haversine_m(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    phi1, phi2 = math.radians(lat1), math.radians(lat2)
    dphi, dlam = phi2 - phi1, math.radians(lon2 - lon1)
    a = math.sin(dphi / 2) ** 2 + math.cos(phi1) * math.cos(phi2) * math.sin(dlam / 2) ** 2
    return 2 * 6_371_008.8 * math.asin(math.sqrt(a))


def _complete_positions(connection: sa.Connection) -> None:
    """Give half-written positions what the CHECK needs; drop a lone coordinate."""
    connection.execute(
        sa.text(
            "UPDATE inspections SET longitude = NULL, latitude = NULL"
            " WHERE (longitude IS NULL) <> (latitude IS NULL)"
        )
    )
    connection.execute(
        sa.text(
            "UPDATE inspections SET source_crs = 'wgs84', source_longitude = longitude,"
            " source_latitude = latitude"
            " WHERE longitude IS NOT NULL AND (source_crs IS NULL OR source_longitude IS NULL"
            " OR source_latitude IS NULL)"
        )
    )
    connection.execute(
        sa.text(
            "UPDATE inspections SET source_crs = NULL, source_longitude = NULL,"
            " source_latitude = NULL, distance_m = NULL, on_site = NULL WHERE longitude IS NULL"
        )
    )
    unjudged = connection.execute(
        sa.text(
            "SELECT i.id, i.longitude, i.latitude, f.longitude, f.latitude FROM inspections i"
            " JOIN facilities f ON f.id = i.facility_id"
            " WHERE i.longitude IS NOT NULL AND (i.distance_m IS NULL OR i.on_site IS NULL)"
        )
    ).all()
    for row_id, lon, lat, f_lon, f_lat in unjudged:
        distance = round(_haversine_m(lon, lat, f_lon, f_lat), 1)
        connection.execute(
            sa.text(
                "UPDATE inspections SET distance_m = :d, on_site = COALESCE(on_site, :on)"
                " WHERE id = :id"
            ),
            {"d": distance, "on": distance <= 150.0, "id": row_id},
        )


_RANK = {"in_progress": 0, "approved": 1, "planned": 2}
_DUPLICATE_REASON = "迁移 0005：同一巡查报告的重复维护单，保留 {kept} 号，本单自动取消"


def _cancel_duplicate_orders(connection: sa.Connection) -> None:
    """Leave each report one unfinished order (see the module docstring)."""
    orders = connection.execute(sa.text(
        "SELECT id, inspection_id, status, township_id, year, planned_cost_fen"
        " FROM maintenance_orders WHERE inspection_id IN ("
        "  SELECT inspection_id FROM maintenance_orders"
        f"  WHERE inspection_id IS NOT NULL AND {UNFINISHED}"
        "  GROUP BY inspection_id HAVING count(*) > 1)"
        f" AND {UNFINISHED} ORDER BY inspection_id, id"
    )).all()
    by_report: dict[int, list] = {}
    for order in orders:
        by_report.setdefault(order.inspection_id, []).append(order)
    now = datetime.now(UTC)
    stamp = sa.bindparam("now", now, type_=UTCDateTime())
    for duplicates in by_report.values():
        kept, *others = sorted(duplicates, key=lambda o: (_RANK[o.status], o.id))
        reason = _DUPLICATE_REASON.format(kept=kept.id)
        for order in others:
            connection.execute(
                sa.text(
                    "UPDATE maintenance_orders SET status = 'cancelled', cancel_reason = :reason,"
                    " updated_at = :now WHERE id = :id"
                ).bindparams(stamp),
                {"reason": reason, "id": order.id},
            )
            if order.status != "planned":  # its commitment goes back, as a cancel gives it
                connection.execute(
                    sa.text(
                        "UPDATE fund_accounts SET committed_fen = committed_fen - :fen"
                        " WHERE township_id = :township AND year = :year"
                    ),
                    {"fen": order.planned_cost_fen, "township": order.township_id,
                     "year": order.year},
                )
                connection.execute(
                    sa.text(
                        "INSERT INTO ledger_entries (township_id, year, kind, amount_fen,"
                        " order_id, at, reason) VALUES (:township, :year, 'release', :fen,"
                        " :id, :now, :reason)"
                    ).bindparams(stamp),
                    {"township": order.township_id, "year": order.year,
                     "fen": order.planned_cost_fen, "id": order.id, "reason": reason},
                )
            connection.execute(
                sa.text(
                    "INSERT INTO audit_log (at, actor_username, action, object_type, object_id,"
                    " before, after) VALUES (:now, 'migration 0005', 'maintenance.cancel',"
                    " 'maintenance_order', :id, :before, :after)"
                ).bindparams(
                    stamp,
                    sa.bindparam("before", type_=sa.JSON()),
                    sa.bindparam("after", type_=sa.JSON()),
                ),
                {"id": str(order.id), "before": {"status": order.status},
                 "after": {"status": "cancelled", "cancel_reason": reason}},
            )


def _refuse_case_duplicates(connection: sa.Connection) -> None:
    clashes = (
        connection.execute(
            sa.text(
                "SELECT lower(username) FROM users GROUP BY lower(username) HAVING count(*) > 1"
            )
        )
        .scalars()
        .all()
    )
    if clashes:
        raise RuntimeError(
            "Usernames must now be unique whatever their case, but these are taken more than"
            f" once: {', '.join(sorted(clashes))}. Rename all but one and migrate again."
        )


def upgrade() -> None:
    connection = op.get_bind()

    _cancel_duplicate_orders(connection)
    with op.batch_alter_table("maintenance_orders", schema=None) as batch_op:
        batch_op.create_index(
            "uq_maintenance_orders_unfinished_per_report",
            ["inspection_id"],
            unique=True,
            sqlite_where=sa.text(UNFINISHED),
            postgresql_where=sa.text(UNFINISHED),
        )

    _complete_positions(connection)
    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.create_check_constraint(
            op.f("ck_inspections_position_whole"), sa.text(POSITION_WHOLE)
        )

    _refuse_case_duplicates(connection)
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.create_index("uq_users_username_lower", [sa.text("lower(username)")], unique=True)

    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("facility_id", sa.Integer(), nullable=True))
    connection.execute(
        sa.text(
            "UPDATE photos SET facility_id = COALESCE("
            " (SELECT facility_id FROM inspections WHERE inspections.id = photos.inspection_id),"
            " (SELECT facility_id FROM maintenance_orders"
            "  WHERE maintenance_orders.id = photos.maintenance_order_id))"
        )
    )
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.alter_column("facility_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_photos_facility_id"), ["facility_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_photos_facility_id_facilities"), "facilities", ["facility_id"], ["id"]
        )
        batch_op.drop_constraint("fk_photos_township_id_townships", type_="foreignkey")
        batch_op.drop_column("township_id")


def downgrade() -> None:
    connection = op.get_bind()

    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("township_id", sa.Integer(), nullable=True))
    connection.execute(
        sa.text(
            "UPDATE photos SET township_id ="
            " (SELECT township_id FROM facilities WHERE facilities.id = photos.facility_id)"
        )
    )
    with op.batch_alter_table("photos", schema=None) as batch_op:
        batch_op.alter_column("township_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_photos_township_id_townships"), "townships", ["township_id"], ["id"]
        )
        batch_op.drop_constraint("fk_photos_facility_id_facilities", type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_photos_facility_id"))
        batch_op.drop_column("facility_id")

    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_index("uq_users_username_lower")

    with op.batch_alter_table("inspections", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_inspections_position_whole"), type_="check")

    with op.batch_alter_table("maintenance_orders", schema=None) as batch_op:
        batch_op.drop_index("uq_maintenance_orders_unfinished_per_report")
