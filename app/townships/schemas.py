from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, computed_field

from app.models import Tier
from app.schemas import InputModel

DivisionCode = Annotated[str, StringConstraints(max_length=9, pattern=r"^[0-9]{9}$")]
TownshipName = Annotated[str, StringConstraints(min_length=1, max_length=32)]


class TownshipCreate(InputModel):
    code: DivisionCode = Field(description="9-digit division code (统计用区划代码)")
    name: TownshipName


class TownshipUpdate(InputModel):
    code: DivisionCode | None = None
    name: TownshipName | None = None


class TownshipRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str
    county_id: int
    created_at: datetime

    @computed_field  # type: ignore[prop-decorator]
    @property
    def county_code(self) -> str:
        """The first six digits of the code: the county (140521 = Qinshui)."""
        return self.code[:6]


class TownshipDetail(TownshipRead):
    active_facilities_by_tier: dict[Tier, int]
    active_facilities: int
