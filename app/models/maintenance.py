import uuid
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Text, Uuid, text
from sqlmodel import Field, Relationship, SQLModel

from app.models.base import EnumText, UTCDateTime, utcnow
from app.models.enums import MaintenanceCategory, OrderStatus
from app.models.facility import Facility
from app.models.inspection import Photo
from app.models.township import Township
from app.models.user import User

#: the states in which an order still has work (and possibly money) ahead of it
UNFINISHED_SQL = "status IN ('planned', 'approved', 'in_progress')"


class MaintenanceOrder(SQLModel, table=True):
    """维护: work on a facility, costed against its township's funds for ``year``."""

    __tablename__ = "maintenance_orders"
    __table_args__ = (
        CheckConstraint("planned_cost_fen >= 0", name="planned_cost"),
        CheckConstraint("actual_cost_fen IS NULL OR actual_cost_fen >= 0", name="actual_cost"),
        Index("ix_maintenance_orders_township_year_status", "township_id", "year", "status"),
        # The map feed's ETag: the latest change to any order, by index.
        Index("ix_maintenance_orders_updated_at", "updated_at"),
        # The list: newest first, by status, category or year (app.listing, 0010).
        Index("ix_maintenance_orders_created_at_id", "created_at", "id"),
        Index("ix_maintenance_orders_status_created_at_id", "status", "created_at", "id"),
        Index("ix_maintenance_orders_category", "category"),
        Index("ix_maintenance_orders_year", "year"),
        # One unfinished order per report, held by the database: a double click, or two
        # clerks at once, cannot open (and fund) the same work twice.
        Index(
            "uq_maintenance_orders_unfinished_per_report",
            "inspection_id",
            unique=True,
            sqlite_where=text(UNFINISHED_SQL),
            postgresql_where=text(UNFINISHED_SQL),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    #: made by the client so a retried POST opens the order once (a unique index; NULL for
    #: orders opened without one: old clients, orders opened from a report)
    client_id: uuid.UUID | None = Field(default=None, sa_type=Uuid, unique=True, index=True)
    facility_id: int = Field(foreign_key="facilities.id", index=True)
    #: the facility's township when the order was opened: whose funds it draws on, for
    #: good (the ledger cannot move). Who sees and works the order follows the facility.
    township_id: int = Field(foreign_key="townships.id")
    inspection_id: int | None = Field(default=None, foreign_key="inspections.id", index=True)
    category: MaintenanceCategory = Field(sa_type=EnumText(MaintenanceCategory))
    title: str = Field(max_length=100)
    description: str | None = Field(default=None, sa_type=Text)
    planned_cost_fen: int = Field(sa_type=BigInteger)
    #: 限期整改: the deadline for the work
    due_on: date | None = None
    assignee: str | None = Field(default=None, max_length=64)
    actual_cost_fen: int | None = Field(default=None, sa_type=BigInteger)
    completed_on: date | None = None
    payee: str | None = Field(default=None, max_length=100)
    invoice_no: str | None = Field(default=None, max_length=64)
    status: OrderStatus = Field(default=OrderStatus.planned, sa_type=EnumText(OrderStatus))
    year: int
    cancel_reason: str | None = Field(default=None, sa_type=Text)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    approved_by_id: int | None = Field(default=None, foreign_key="users.id")
    approved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )

    facility: Facility = Relationship(sa_relationship_kwargs={"lazy": "raise"})
    township: Township = Relationship(sa_relationship_kwargs={"lazy": "raise"})
    approved_by: User | None = Relationship(
        sa_relationship_kwargs={
            "lazy": "raise",
            "foreign_keys": "[MaintenanceOrder.approved_by_id]",
        }
    )
    #: the photos of the report the order came from (read-only)
    inspection_photos: list[Photo] = Relationship(
        sa_relationship_kwargs={
            "lazy": "raise",
            "viewonly": True,
            "order_by": "Photo.id",
            "primaryjoin": "MaintenanceOrder.inspection_id == foreign(Photo.inspection_id)",
            "uselist": True,
        }
    )
    photos: list[Photo] = Relationship(
        sa_relationship_kwargs={
            "lazy": "raise",
            "order_by": "Photo.id",
            "primaryjoin": "MaintenanceOrder.id == Photo.maintenance_order_id",
            "foreign_keys": "[Photo.maintenance_order_id]",
        }
    )
