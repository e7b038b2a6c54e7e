from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.facilities.schemas import FacilityRead
from app.models import CampaignKind, Tier
from app.schemas import Day, Id, InputModel, NoRepeats, TownshipRef

IntervalDays = Annotated[int, Field(ge=1, le=366)]


class PolicyRead(BaseModel):
    tier: Tier
    interval_days: int
    updated_at: datetime


class PoliciesRead(BaseModel):
    items: list[PolicyRead]
    recomputed: int = Field(default=0, description="facilities whose due date was recomputed")


class PoliciesUpdate(InputModel):
    """New intervals (days) by tier; tiers left out keep theirs."""

    intervals: dict[Tier, IntervalDays] = Field(
        min_length=1, examples=[{"national": 7, "provincial": 14, "county": 30}]
    )


class OverdueItem(BaseModel):
    facility: FacilityRead
    last_inspected_at: datetime | None
    next_due_on: date
    days_overdue: int


class OverdueRead(BaseModel):
    as_of: date
    total: int
    limit: int
    offset: int
    items: list[OverdueItem]


class CampaignCreate(InputModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    starts_on: Day
    ends_on: Day
    tiers: Annotated[set[Tier], Field(max_length=5), NoRepeats] | None = Field(
        default=None, description="null: every tier"
    )
    township_ids: Annotated[set[Id], Field(max_length=1000), NoRepeats] | None = Field(
        default=None, description="null: every township"
    )

    @model_validator(mode="after")
    def _window(self) -> "CampaignCreate":
        if self.ends_on < self.starts_on:
            raise ValueError("ends_on is before starts_on")
        if (self.ends_on - self.starts_on).days > 366:
            raise ValueError("a campaign lasts at most a year")
        if not 2000 <= self.starts_on.year <= 2100:
            raise ValueError("starts_on must be between 2000 and 2100")
        return self


class CampaignRead(BaseModel):
    id: int
    name: str
    kind: CampaignKind
    starts_on: date
    ends_on: date
    tiers: list[Tier] | None
    townships: list[TownshipRef] | None = Field(description="null: every township")
    created_at: datetime


class MissingFacility(BaseModel):
    id: int
    code: str
    name: str
    tier: Tier
    village: str | None
    last_inspected_at: datetime | None


class TownshipProgressRead(BaseModel):
    township: TownshipRef
    in_scope: int
    inspected: int
    coverage: float | None = Field(
        description="inspected / in_scope, null when nothing is in scope"
    )
    missing: list[MissingFacility]


class CampaignProgressRead(BaseModel):
    campaign: CampaignRead
    in_scope: int
    inspected: int
    coverage: float | None
    townships: list[TownshipProgressRead]


class GeneratedCampaigns(BaseModel):
    year: int
    created: int
    items: list[CampaignRead]
