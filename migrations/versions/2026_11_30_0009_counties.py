"""Counties become data: a ``counties`` table (6-digit division code, name, time zone,
outline) that townships belong to, per-county patrol intervals overriding the province
default, campaigns of one county, and each user's division code (the prefix of the
township codes they reach: app.access).

Existing data: one county per 6-digit prefix of the townships' codes. The county the
installation was configured for (``MEMORIAL_COUNTY_NAME`` and ``MEMORIAL_COUNTY_BOUNDARY``,
else Qinshui's name and the seed's outline for 140521) takes that name and outline; any
other prefix is named by its code until an administrator renames it. Township users reach
their township's code; every other user reaches what the townships share — the one county
(Qinshui, 140521, for the seed's data), or the longest common city or province code, or
the whole installation — which is what they saw before this revision.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 06:00:00
"""

import json
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

QINSHUI = "140521"
QINSHUI_NAME = "沁水县"
QINSHUI_OUTLINE = Path(__file__).resolve().parents[2] / "seed" / "county-140521.geojson"


def _shared_division(prefixes: list[str]) -> str:
    """The longest division code (6, 4, 2 digits or '') every county code starts with."""
    for length in (6, 4, 2):
        if prefixes and len({p[:length] for p in prefixes}) == 1:
            return prefixes[0][:length]
    return QINSHUI if not prefixes else ""


def _configured(prefixes: list[str]) -> tuple[str | None, str | None, Path | None]:
    """(code, name, outline file) of the county the installation was configured for: the
    only county of its townships (or Qinshui), named and outlined by the settings."""
    code = prefixes[0] if len(prefixes) == 1 else (QINSHUI if QINSHUI in prefixes else None)
    name = os.environ.get("MEMORIAL_COUNTY_NAME") or (QINSHUI_NAME if code == QINSHUI else None)
    boundary = os.environ.get("MEMORIAL_COUNTY_BOUNDARY")
    outline = Path(boundary) if boundary else (QINSHUI_OUTLINE if code == QINSHUI else None)
    return code, name, outline


def _qinshui_outline(path: Path | None = QINSHUI_OUTLINE) -> str | None:
    """The geometry of an outline file, as JSON text (None if it is absent or unreadable)."""
    if path is None:
        return None
    try:
        document = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if document.get("type") == "FeatureCollection":
        document = document["features"][0]
    if document.get("type") == "Feature":
        document = document["geometry"]
    return json.dumps(document, ensure_ascii=False)


def upgrade() -> None:
    op.create_table(
        "counties",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("code", sa.String(length=6), nullable=False),
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("outline", sa.JSON(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("length(code) = 6", name=op.f("ck_counties_code_six_digits")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_counties")),
        sa.UniqueConstraint("code", name=op.f("uq_counties_code")),
    )
    op.create_table(
        "county_patrol_policies",
        sa.Column("county_id", sa.Integer(), nullable=False),
        sa.Column("tier", sa.String(length=32), nullable=False),
        sa.Column("interval_days", sa.Integer(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "interval_days BETWEEN 1 AND 366",
            name=op.f("ck_county_patrol_policies_interval_days"),
        ),
        sa.ForeignKeyConstraint(
            ["county_id"],
            ["counties.id"],
            name=op.f("fk_county_patrol_policies_county_id_counties"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("county_id", "tier", name=op.f("pk_county_patrol_policies")),
    )

    bind = op.get_bind()
    now = datetime.now(UTC)
    if bind.dialect.name == "sqlite":
        now = now.replace(tzinfo=None)  # stored as UTC without a zone (UTCDateTime)
    prefixes = sorted({code[:6] for (code,) in bind.execute(sa.text("SELECT code FROM townships"))})
    counties = sa.table(
        "counties",
        sa.column("code", sa.String),
        sa.column("name", sa.String),
        sa.column("timezone", sa.String),
        sa.column("outline", sa.JSON),
        sa.column("created_at", sa.DateTime(timezone=True)),
        sa.column("updated_at", sa.DateTime(timezone=True)),
    )
    configured, configured_name, configured_outline = _configured(prefixes)
    for prefix in prefixes:
        mine = prefix == configured
        outline = _qinshui_outline(configured_outline) if mine else None
        bind.execute(
            counties.insert().values(
                code=prefix,
                name=(configured_name or prefix) if mine else prefix,
                timezone="Asia/Shanghai",
                outline=None if outline is None else json.loads(outline),
                created_at=now,
                updated_at=now,
            )
        )

    with op.batch_alter_table("townships", schema=None) as batch_op:
        batch_op.add_column(sa.Column("county_id", sa.Integer(), nullable=True))
    op.execute(
        "UPDATE townships SET county_id ="
        " (SELECT c.id FROM counties c WHERE c.code = substr(townships.code, 1, 6))"
    )
    with op.batch_alter_table("townships", schema=None) as batch_op:
        batch_op.alter_column("county_id", existing_type=sa.Integer(), nullable=False)
        batch_op.create_index(batch_op.f("ix_townships_county_id"), ["county_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_townships_county_id_counties"), "counties", ["county_id"], ["id"]
        )

    # A plain ADD COLUMN: ``users`` is not rebuilt (its lower(username) index stays).
    op.add_column(
        "users",
        sa.Column("division_code", sa.String(length=9), nullable=False, server_default=""),
    )
    shared = _shared_division(prefixes)
    op.execute(
        "UPDATE users SET division_code = COALESCE("
        f" (SELECT t.code FROM townships t WHERE t.id = users.township_id), '{shared}')"
    )

    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.add_column(sa.Column("county_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_campaigns_county_id"), ["county_id"], unique=False)
        batch_op.create_foreign_key(
            batch_op.f("fk_campaigns_county_id_counties"), "counties", ["county_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("campaigns", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_campaigns_county_id_counties"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_campaigns_county_id"))
        batch_op.drop_column("county_id")
    op.drop_column("users", "division_code")
    with op.batch_alter_table("townships", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_townships_county_id_counties"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_townships_county_id"))
        batch_op.drop_column("county_id")
    op.drop_table("county_patrol_policies")
    op.drop_table("counties")
