import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.funds.money import Fen, Year
from app.models import MaintenanceCategory, OrderStatus
from app.photos.schemas import PhotoRead
from app.schemas import Day, Id, InputModel, Reason, ShortText, TownshipRef, UserRef

Title = Annotated[str, StringConstraints(min_length=1, max_length=100)]
Description = Annotated[str, StringConstraints(max_length=4000)]


class OrderCreate(InputModel):
    client_id: uuid.UUID | None = Field(
        default=None,
        description="made by the client (a UUID): sending the same order again with it"
        " opens it once and answers 200 with the stored one",
    )
    facility_id: Id
    inspection_id: Id | None = Field(default=None, description="the report that found the problem")
    category: MaintenanceCategory
    title: Title
    description: Description | None = None
    planned_cost_fen: Fen = Field(description="integer fen (分)")
    due_on: Day | None = Field(default=None, description="限期整改: the deadline")
    assignee: ShortText | None = None
    year: Year | None = Field(default=None, description="whose funds; default: this year")


class OrderFromReport(InputModel):
    """Opening an order from a report: everything is prefilled, and may be overridden."""

    category: MaintenanceCategory | None = None
    title: Title | None = None
    description: Description | None = None
    planned_cost_fen: Fen = 0
    due_on: Day | None = None
    assignee: ShortText | None = None
    year: Year | None = None


class OrderUpdate(InputModel):
    """Changes to an order still being planned."""

    category: MaintenanceCategory | None = None
    title: Title | None = None
    description: Description | None = None
    planned_cost_fen: Fen | None = None
    due_on: Day | None = None
    assignee: ShortText | None = None
    year: Year | None = None


class Override(InputModel):
    override_reason: Reason | None = Field(
        default=None, description="admins only: go ahead even past the available balance"
    )


class Completion(Override):
    actual_cost_fen: Fen
    completed_on: Day
    payee: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    invoice_no: Annotated[str, StringConstraints(min_length=1, max_length=64)]


class CostCorrection(Override):
    """A mistyped actual cost of a completed order, put right: the ledger keeps both."""

    actual_cost_fen: Fen = Field(description="the correct actual cost, integer fen (分)")
    reason: Reason = Field(description="why the recorded cost was wrong")
    invoice_no: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = Field(
        default=None, description="the corrected invoice number, if that changed too"
    )


class Cancellation(InputModel):
    reason: Reason


class FacilityRef(BaseModel):
    id: int
    code: str
    name: str


class OrderRead(BaseModel):
    id: int
    client_id: uuid.UUID | None
    facility: FacilityRef
    township: TownshipRef = Field(
        description="the township that owns the facility now, and so the order"
    )
    funds_township: TownshipRef | None = Field(
        description="whose funds the order draws on: the facility's township when it was"
        " opened (null for a caller outside that township's division)"
    )
    inspection_id: int | None
    category: MaintenanceCategory
    title: str
    description: str | None
    planned_cost_fen: int
    due_on: date | None
    overdue: bool = Field(description="still open after its due date (county time)")
    assignee: str | None
    actual_cost_fen: int | None
    completed_on: date | None
    payee: str | None
    invoice_no: str | None
    status: OrderStatus
    year: int
    cancel_reason: str | None
    approved_by: UserRef | None
    approved_at: datetime | None
    created_at: datetime
    updated_at: datetime
    photos: list[PhotoRead] = Field(description="before and after the work (see stage)")
    inspection_photos: list[PhotoRead] = Field(description="the photos of the source report")
