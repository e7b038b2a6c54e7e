from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Index, Text
from sqlmodel import Field, Relationship, SQLModel

from app.models.base import EnumText, UTCDateTime, utcnow
from app.models.enums import (
    Condition,
    Crs,
    FacilityKind,
    FacilityStatus,
    HeadstoneType,
    MainMaterial,
    ProtectionUnitType,
    Tier,
)
from app.models.township import Township


class Facility(SQLModel, table=True):
    """烈士纪念设施: one point on the map with its tier, owner and patrol schedule."""

    __tablename__ = "facilities"
    __table_args__ = (
        # The overdue list and its counts: active sites by due date, county-wide or per township.
        Index("ix_facilities_status_next_due_on", "status", "next_due_on"),
        Index("ix_facilities_township_status_next_due_on", "township_id", "status", "next_due_on"),
        # The map feed's ETag: the latest change, an index lookup however many sites.
        Index("ix_facilities_updated_at", "updated_at"),
        # The list's sorts (with the id, its tie-break: app.listing), kinds, and the map's
        # bbox and clusters (migration 0010).
        Index("ix_facilities_name_id", "name", "id"),
        Index("ix_facilities_next_due_on_id", "next_due_on", "id"),
        Index("ix_facilities_registered_on_id", "registered_on", "id"),
        Index("ix_facilities_kind", "kind"),
        Index("ix_facilities_longitude_latitude", "longitude", "latitude"),
        # Reports, orders and photos scoped by facility: the ids under a division, index only.
        # The map's clusters too: every column their GROUP BY reads rides along (0013), so
        # a division's sites (or the whole country's) are counted from the index alone.
        Index(
            "ix_facilities_township_id_id",
            "township_id",
            "id",
            postgresql_include=["longitude", "latitude", "status", "next_due_on"],
        ),
        # The dashboard's, campaign progress' and the annual report's counts per township
        # and tier: a division's active sites counted from the index alone (migration 0014).
        Index(
            "ix_facilities_township_status_tier",
            "township_id",
            "status",
            "tier",
            "registered_on",
            "next_due_on",
            "id",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    code: str = Field(max_length=32, unique=True)
    name: str = Field(max_length=100)
    kind: FacilityKind = Field(sa_type=EnumText(FacilityKind))
    tier: Tier = Field(sa_type=EnumText(Tier), index=True)
    status: FacilityStatus = Field(sa_type=EnumText(FacilityStatus))
    township_id: int = Field(foreign_key="townships.id")
    village: str | None = Field(default=None, max_length=64)
    address: str | None = Field(default=None, max_length=200)
    #: WGS-84 (RFC 7946), what every computation uses
    longitude: float
    latitude: float
    #: the coordinates as they were given, and in which system
    source_crs: Crs = Field(default=Crs.wgs84, sa_type=EnumText(Crs))
    source_longitude: float
    source_latitude: float
    #: [{"name": ..., "note": ...}] — the martyrs this facility commemorates
    martyrs: list[dict[str, Any]] = Field(default_factory=list, sa_type=JSON)
    #: the martyrs' names joined, kept with ``martyrs`` so ``q`` can search them with LIKE
    martyr_names: str = Field(default="", sa_type=Text)
    custodian_name: str | None = Field(default=None, max_length=32)
    custodian_phone: str | None = Field(default=None, max_length=20)
    year_built: int | None = None
    description: str | None = Field(default=None, sa_type=Text)
    # --- the national collection's fields (app.facilities.completeness lists them) -----
    #: 保护单位类型
    protection_unit: ProtectionUnitType | None = Field(
        default=None, sa_type=EnumText(ProtectionUnitType)
    )
    #: 墓碑类型
    headstone_type: HeadstoneType | None = Field(default=None, sa_type=EnumText(HeadstoneType))
    #: 纪念对象: whom or what it commemorates, in words
    commemorates: str | None = Field(default=None, max_length=200)
    #: 占地面积, square metres
    area_m2: float | None = None
    #: 主要材质
    main_material: MainMaterial | None = Field(default=None, sa_type=EnumText(MainMaterial))
    #: 规格尺寸, in words ("高1.2米，宽0.6米，厚0.15米")
    dimensions: str | None = Field(default=None, max_length=100)
    #: 保护范围: the protection boundary described in words
    boundary_description: str | None = Field(default=None, max_length=500)
    #: 全景/正面照片: one of the facility's photos (a report's or an order's), chosen as its
    #: record photo; a plain id checked by the service (photos belong to the facility, so a
    #: foreign key here would make the two tables refer to each other)
    record_photo_id: int | None = None
    #: 管理制度: the management rule on file for this site (its title or a short summary),
    #: and the date it was adopted; with a custodian it makes "六个一"'s 一份管理制度
    management_rule: str | None = Field(default=None, max_length=200)
    management_rule_on: date | None = None
    registered_on: date
    last_inspected_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    #: local (county time) date of ``last_inspected_at``, so due dates recompute in plain SQL
    last_inspected_on: date | None = None
    #: the condition that last counted report found (kept with ``last_inspected_at``, so the
    #: map feed reads it from this row instead of searching the reports)
    last_condition: Condition | None = Field(default=None, sa_type=EnumText(Condition))
    next_due_on: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )

    township: Township = Relationship(sa_relationship_kwargs={"lazy": "raise"})
