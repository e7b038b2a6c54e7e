from datetime import date
from typing import Annotated

from pydantic import BaseModel, Field

from app.funds.schemas import AccountRead, CountyTotals, Totals
from app.models import CampaignKind, MaintenanceCategory, Tier
from app.schemas import CountyRef, TownshipRef


class TownshipOverdue(BaseModel):
    township: TownshipRef
    active: int = Field(description="active facilities registered on or before as_of")
    overdue: int = Field(description="of those, due before as_of (see Stats.overdue_total)")


class Stats(BaseModel):
    """Dashboard figures as of a date; status, tier and review state are as they stand now."""

    as_of: date
    active_by_tier: dict[Tier, int] = Field(
        description="active facilities registered on or before as_of, by their current tier"
    )
    active_total: int = Field(description="active facilities registered on or before as_of")
    overdue_total: int = Field(
        description="active facilities whose due date (from the patrols recorded by now) is"
        " before as_of; for a past date: overdue then and not visited since"
    )
    overdue_by_township: list[TownshipOverdue]
    inspections_last_30_days: int = Field(
        description="counted or not, inspected in the 30 days up to as_of"
    )
    on_site_rate: float | None = Field(
        description="share of those reports with a position that were on site (null: none)"
    )
    awaiting_review: int = Field(
        description="reports inspected on or before as_of that are still 'submitted' now"
    )


#: the "六个一" and completeness figures every level of the report carries
SixMet = Annotated[
    int,
    Field(
        description='of those, meeting all six items of "六个一" (app.standard.judge) on their'
        " latest accepted report inspected by the year's end and their record now"
    ),
]
SixRate = Annotated[
    float | None,
    Field(description='"六个一"达标率: six_met / active (null: no active sites)'),
]
Completeness = Annotated[
    float | None,
    Field(
        description="the national collection's fields filled, of those asked of the active"
        " sites (null: no active sites)"
    ),
]


class TownshipFacilities(BaseModel):
    township: TownshipRef
    county_id: int
    active: int
    by_tier: dict[Tier, int]
    six_met: SixMet = 0
    six_rate: SixRate = None
    completeness: Completeness = None


class CountyFacilities(BaseModel):
    county: CountyRef
    active: int
    by_tier: dict[Tier, int]
    six_met: SixMet = 0
    six_rate: SixRate = None
    completeness: Completeness = None


class FacilityFigures(BaseModel):
    active_total: int
    by_tier: dict[Tier, int]
    six_met: SixMet = 0
    six_rate: SixRate = None
    completeness: Completeness = None
    by_township: list[TownshipFacilities]
    by_county: list[CountyFacilities]


class TownshipPatrols(BaseModel):
    township: TownshipRef
    county_id: int
    inspections: int = Field(description="counted reports (not rejected) inspected in the year")
    facilities_inspected: int
    on_site_rate: float | None


class CountyPatrols(BaseModel):
    county: CountyRef
    inspections: int
    facilities_inspected: int = Field(description="summed over its townships, as the total is")
    on_site_rate: float | None


class PatrolFigures(BaseModel):
    total: int
    facilities_inspected: int
    on_site_rate: float | None
    by_township: list[TownshipPatrols]
    by_county: list[CountyPatrols]


class CampaignCoverage(BaseModel):
    id: int
    name: str
    kind: CampaignKind
    starts_on: date
    ends_on: date
    in_scope: int
    inspected: int
    coverage: float | None


class ProblemFigures(BaseModel):
    reports_with_problems: int = Field(description="counted reports with a problem or damage")
    facilities_with_problems: int = Field(description="distinct facilities those reports are of")
    orders_opened: int = Field(description="orders of the year, not cancelled")
    orders_from_reports: int
    orders_completed: int


class CategoryFigures(BaseModel):
    category: MaintenanceCategory
    orders: int
    completed: int
    spent_fen: int


class MaintenanceFigures(BaseModel):
    by_category: list[CategoryFigures]
    spent_fen: int


class FundFigures(BaseModel):
    townships: list[AccountRead]
    counties: list[CountyTotals]
    totals: Totals


class AnnualReport(BaseModel):
    year: int
    division: str = Field(description="the division code reported on ('' : the whole country)")
    area_zh: str = Field(
        description="what the title names: the county, or a region by its counties"
    )
    township: TownshipRef | None = Field(description="the township, for one township's report")
    counties: list[CountyRef] = Field(description="the counties reported on, by code")
    facilities: FacilityFigures
    patrols: PatrolFigures
    campaigns: list[CampaignCoverage]
    problems: ProblemFigures
    maintenance: MaintenanceFigures
    funds: FundFigures
    summary_zh: str = Field(description="the figures as a paragraph for the bureau's report")
