import uuid
from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from app.facilities.schemas import Latitude, Longitude
from app.models import ChecklistAnswer, ChecklistItem, Condition, Crs, ReviewStatus
from app.photos.schemas import PhotoRead
from app.schemas import Id, InputModel, Instant, UserRef


class Position(InputModel):
    """Where the phone was, as its GPS (or map SDK) reported it."""

    longitude: Longitude
    latitude: Latitude
    accuracy_m: Annotated[float, Field(ge=0, le=100_000, allow_inf_nan=False)] | None = None
    crs: Crs = Crs.wgs84


class InspectionCreate(InputModel):
    client_id: uuid.UUID = Field(description="made by the phone; resending it is harmless")
    facility_id: Id
    inspected_at: Instant = Field(description="ISO 8601 with a UTC offset")
    condition: Condition
    checklist: dict[ChecklistItem, ChecklistAnswer] = Field(default_factory=dict)
    notes: Annotated[str, StringConstraints(max_length=2000)] | None = None
    position: Position | None = None
    plate_code: Annotated[str, StringConstraints(max_length=16)] | None = Field(
        default=None,
        description="the code of the facility's QR plate when the report was begun by"
        " scanning it; it must be this facility's (the report is then flagged scanned_plate)",
    )


class ReviewCreate(InputModel):
    decision: Literal["accepted", "rejected"]
    comment: Annotated[str, StringConstraints(max_length=2000)] | None = None


class PositionRead(BaseModel):
    longitude: float
    latitude: float
    accuracy_m: float | None
    crs: Literal["wgs84"] = "wgs84"
    source_crs: Crs
    source_longitude: float
    source_latitude: float


class InspectionRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    client_id: uuid.UUID
    facility_id: int
    township_id: int = Field(description="the township that owns the facility now, and the report")
    township_id_at_report: int = Field(
        description="the township that owned the facility when the report was made"
    )
    inspector: UserRef
    inspected_at: datetime
    received_at: datetime
    condition: Condition
    checklist: dict[ChecklistItem, ChecklistAnswer]
    notes: str | None
    position: PositionRead | None = Field(description="WGS-84")
    distance_m: float | None = Field(description="from the facility, metres")
    on_site: bool | None = Field(description="null when the report carried no position")
    flags: list[str]
    review_status: ReviewStatus
    reviewed_by: UserRef | None
    reviewed_at: datetime | None
    review_comment: str | None
    receipt: str
    photos: list[PhotoRead]
