from datetime import date

from pydantic import BaseModel, Field

from app.models import Tier
from app.schemas import TownshipRef


class TownshipOverdue(BaseModel):
    township: TownshipRef
    active: int
    overdue: int


class Stats(BaseModel):
    as_of: date
    active_by_tier: dict[Tier, int]
    active_total: int
    overdue_total: int
    overdue_by_township: list[TownshipOverdue]
    inspections_last_30_days: int = Field(
        description="counted or not, inspected in the 30 days up to as_of"
    )
    on_site_rate: float | None = Field(
        description="share of those reports with a position that were on site (null: none)"
    )
    awaiting_review: int = Field(description="reports still 'submitted'")
