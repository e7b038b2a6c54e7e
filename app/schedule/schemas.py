from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints, model_validator

from app.facilities.schemas import FacilityRead
from app.models import CampaignKind, Tier
from app.schemas import CountyRef, Day, Id, InputModel, NoRepeats, Page, TownshipRef

IntervalDays = Annotated[int, Field(ge=1, le=366)]


class PolicyRead(BaseModel):
    tier: Tier
    interval_days: int
    updated_at: datetime


class PoliciesRead(BaseModel):
    items: list[PolicyRead]
    recomputed: int = Field(default=0, description="facilities whose due date was recomputed")


class CountyPolicyRead(BaseModel):
    tier: Tier
    interval_days: int = Field(description="the interval the county's facilities follow")
    province_days: int = Field(description="the deployment's default for the tier")
    overridden: bool = Field(description="the county sets its own interval for the tier")
    updated_at: datetime | None = Field(description="when the county's own interval was set")


class CountyPoliciesRead(BaseModel):
    county: CountyRef
    items: list[CountyPolicyRead]
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


class OverdueRead(Page[OverdueItem]):
    """A page of the overdue list, most overdue first (``total``, ``total_over`` and
    ``next`` as in every ``Page``), on the day ``as_of``."""

    as_of: date


class CampaignCreate(InputModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=100)]
    starts_on: Day
    ends_on: Day
    tiers: Annotated[set[Tier], Field(max_length=5), NoRepeats] | None = Field(
        default=None, description="null: every tier"
    )
    township_ids: Annotated[set[Id], Field(max_length=1000), NoRepeats] | None = Field(
        default=None, description="null: every township (of the county, when one is given)"
    )
    county_id: Id | None = Field(
        default=None,
        description="the county whose own campaign this is (a county you reach); null: your"
        " county when you reach exactly one, else every county of the deployment",
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
    county: CountyRef | None = Field(description="null: a campaign of every county")
    townships: list[TownshipRef] | None = Field(description="null: every township (of the county)")
    created_at: datetime


class MissingFacility(BaseModel):
    id: int
    code: str
    name: str
    tier: Tier
    village: str | None
    last_inspected_at: datetime | None


class MissingFacilityRead(MissingFacility):
    township: TownshipRef


class MissingPage(BaseModel):
    """A page of the sites not yet visited in the window, by township and code."""

    items: list[MissingFacilityRead]
    total: int | None = Field(
        description="sites missing in all pages; null on a page asked for with after_id,"
        " and when there are more than `total_over`"
    )
    total_over: int | None = Field(
        default=None,
        description="set when more than this many sites are missing (MEMORIAL_COUNT_LIMIT);"
        " ?count=exact counts them all",
    )
    limit: int
    offset: int
    next_after_id: int | None = Field(
        description="after_id of the next page (the last site of this one); null: the last page"
    )


class TownshipProgressRead(BaseModel):
    township: TownshipRef
    in_scope: int
    inspected: int
    missing: int = Field(description="in_scope - inspected: the sites still to visit")
    coverage: float | None = Field(
        description="inspected / in_scope, null when nothing is in scope"
    )


class CampaignProgressRead(BaseModel):
    """The counts per township; the sites still missing are listed, a page at a time, by
    ``GET /campaigns/{id}/missing`` (``missing_url``)."""

    campaign: CampaignRead
    in_scope: int
    inspected: int
    missing: int
    coverage: float | None
    missing_url: str = Field(description="the paged list of the sites still missing")
    townships: list[TownshipProgressRead]


class GeneratedCampaigns(BaseModel):
    year: int
    created: int
    items: list[CampaignRead]
