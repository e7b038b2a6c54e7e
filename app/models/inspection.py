import uuid
from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint, Index, Text, UniqueConstraint, Uuid, text
from sqlmodel import Field, Relationship, SQLModel

from app.models.base import EnumText, UTCDateTime, utcnow
from app.models.enums import Condition, Crs, PhotoStage, ReviewStatus
from app.models.facility import Facility
from app.models.user import User

#: the reports awaiting review: the dashboard counts them per site (migration 0014)
SUBMITTED = f"review_status = '{ReviewStatus.submitted.value}'"
#: the reports that may have found a problem: a damaged condition, or the answer's word in
#: the checklist's text. ``app.reports.annual.has_problem`` implies it (its first test is
#: this one), so the annual report counts problems from these alone (migration 0014).
PROBLEM_CANDIDATE = (
    "condition IN ('needs_repair', 'severely_damaged', 'missing')"
    " OR CAST(checklist AS TEXT) LIKE '%\"problem\"%'"
)


class Inspection(SQLModel, table=True):
    """巡查: one visit to a facility, as reported from the inspector's phone."""

    __tablename__ = "inspections"
    __table_args__ = (
        # The facility's latest counted visit, and campaign coverage by local date. What the
        # aggregates per site (the dashboard, campaign progress, "六个一") and per township
        # (the annual report's patrols) read rides along, so they read no row (migration 0014).
        Index(
            "ix_inspections_facility_inspected_at",
            "facility_id",
            "inspected_at",
            postgresql_include=["inspected_on", "review_status", "on_site", "id"],
        ),
        Index(
            "ix_inspections_township_inspected_on",
            "township_id",
            "inspected_on",
            postgresql_include=["review_status", "facility_id", "on_site"],
        ),
        # The dashboard's reports awaiting review, per site; the annual report's problems.
        Index(
            "ix_inspections_submitted_facility_id",
            "facility_id",
            "inspected_on",
            postgresql_where=text(SUBMITTED),
            sqlite_where=text(SUBMITTED),
        ),
        Index(
            "ix_inspections_problem_township_inspected_on",
            "township_id",
            "inspected_on",
            postgresql_include=["facility_id", "review_status"],
            postgresql_where=text(PROBLEM_CANDIDATE),
            sqlite_where=text(PROBLEM_CANDIDATE),
        ),
        # The map feed's ETag: the latest report and the latest review, by index.
        Index("ix_inspections_received_at", "received_at"),
        Index("ix_inspections_reviewed_at", "reviewed_at"),
        # The list: newest first, the review queue, on site or not (app.listing, 0010).
        Index(
            "ix_inspections_inspected_at_id",
            "inspected_at",
            "id",
            postgresql_include=["inspected_on"],  # ?from=&to= counted from the index
        ),
        Index(
            "ix_inspections_review_status_inspected_at_id", "review_status", "inspected_at", "id"
        ),
        Index("ix_inspections_on_site_inspected_at_id", "on_site", "inspected_at", "id"),
        # A position is stored whole: WGS-84, as sent, and judged — or not at all.
        CheckConstraint(
            "(longitude IS NULL AND latitude IS NULL AND source_crs IS NULL"
            " AND source_longitude IS NULL AND source_latitude IS NULL"
            " AND distance_m IS NULL AND on_site IS NULL)"
            " OR (longitude IS NOT NULL AND latitude IS NOT NULL AND source_crs IS NOT NULL"
            " AND source_longitude IS NOT NULL AND source_latitude IS NOT NULL"
            " AND distance_m IS NOT NULL AND on_site IS NOT NULL)",
            name="position_whole",
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: made by the phone; the same report sent twice is the same report
    client_id: uuid.UUID = Field(sa_type=Uuid, unique=True)
    facility_id: int = Field(foreign_key="facilities.id")
    #: the facility's township when the report was made: the record of whose work it was
    #: (per-township figures). Who sees the report follows the facility's township now.
    township_id: int = Field(foreign_key="townships.id")
    inspector_id: int = Field(foreign_key="users.id", index=True)
    inspected_at: datetime = Field(sa_type=UTCDateTime)
    #: local (county time) date of ``inspected_at``
    inspected_on: date
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    condition: Condition = Field(sa_type=EnumText(Condition))
    checklist: dict[str, str] = Field(default_factory=dict, sa_type=JSON)
    notes: str | None = Field(default=None, sa_type=Text)
    #: the phone's position in WGS-84, and as it was sent
    longitude: float | None = None
    latitude: float | None = None
    accuracy_m: float | None = None
    source_crs: Crs | None = Field(default=None, sa_type=EnumText(Crs))
    source_longitude: float | None = None
    source_latitude: float | None = None
    distance_m: float | None = None
    on_site: bool | None = None
    flags: list[str] = Field(default_factory=list, sa_type=JSON)
    review_status: ReviewStatus = Field(
        default=ReviewStatus.submitted, sa_type=EnumText(ReviewStatus), index=True
    )
    reviewed_by_id: int | None = Field(default=None, foreign_key="users.id")
    reviewed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    review_comment: str | None = Field(default=None, sa_type=Text)
    #: short code the inspector can read out over the phone
    receipt: str = Field(max_length=9, index=True)
    #: SHA-256 of the report as submitted, to tell a replay from a different report
    payload_sha256: str = Field(max_length=64)

    facility: Facility = Relationship(sa_relationship_kwargs={"lazy": "raise"})
    inspector: User = Relationship(
        sa_relationship_kwargs={"lazy": "raise", "foreign_keys": "[Inspection.inspector_id]"}
    )
    reviewed_by: User | None = Relationship(
        sa_relationship_kwargs={"lazy": "raise", "foreign_keys": "[Inspection.reviewed_by_id]"}
    )
    photos: list["Photo"] = Relationship(
        sa_relationship_kwargs={
            "lazy": "raise",
            "order_by": "Photo.id",
            "primaryjoin": "Inspection.id == Photo.inspection_id",
            "foreign_keys": "[Photo.inspection_id]",
        }
    )


class Photo(SQLModel, table=True):
    """A photo (EXIF stripped) of an inspection or of maintenance work; files are
    content-addressed in the store."""

    __tablename__ = "photos"
    __table_args__ = (
        UniqueConstraint("inspection_id", "sha256"),
        UniqueConstraint("maintenance_order_id", "sha256"),
        CheckConstraint(
            "(inspection_id IS NULL) != (maintenance_order_id IS NULL)", name="one_owner"
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    inspection_id: int | None = Field(default=None, foreign_key="inspections.id", index=True)
    maintenance_order_id: int | None = Field(
        default=None, foreign_key="maintenance_orders.id", index=True
    )
    #: before or after the work (maintenance photos only)
    stage: PhotoStage | None = Field(default=None, sa_type=EnumText(PhotoStage))
    #: the facility of the owner (a report's or an order's, which never changes): a photo
    #: is seen by whoever owns that facility now
    facility_id: int = Field(foreign_key="facilities.id", index=True)
    #: SHA-256 of the bytes as uploaded (what the phone can compute to identify a retry)
    sha256: str = Field(max_length=64)
    #: store keys of the served image and its thumbnail
    stored_key: str = Field(max_length=128)
    thumbnail_key: str = Field(max_length=128)
    content_type: str = Field(max_length=16)
    width: int
    height: int
    size_bytes: int
    taken_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    exif_longitude: float | None = None
    exif_latitude: float | None = None
    uploaded_by_id: int = Field(foreign_key="users.id")
    uploaded_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
