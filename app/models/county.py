from datetime import datetime
from typing import Any

from sqlalchemy import JSON, CheckConstraint
from sqlmodel import Field, SQLModel

from app.models.base import EnumText, UTCDateTime, utcnow
from app.models.enums import Tier


class County(SQLModel, table=True):
    """县 (or county-level district or city): the unit whose townships own facilities.

    Per county: the time zone dates are judged in, the outline facilities must lie in,
    and (in ``county_patrol_policies``) patrol intervals overriding the province's.
    """

    __tablename__ = "counties"
    __table_args__ = (CheckConstraint("length(code) = 6", name="code_six_digits"),)

    id: int | None = Field(default=None, primary_key=True)
    #: 6-digit division code (县级区划代码); its first 2 digits are the province's, 4 the city's
    code: str = Field(max_length=6, unique=True)
    name: str = Field(max_length=32)
    #: IANA time zone the county's dates are reckoned in
    timezone: str = Field(default="Asia/Shanghai", max_length=64)
    #: the county's outline, a GeoJSON Polygon or MultiPolygon geometry (WGS-84); None: no check
    outline: dict[str, Any] | None = Field(default=None, sa_type=JSON)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )


class CountyPatrolPolicy(SQLModel, table=True):
    """A county's own patrol interval for one tier, overriding the province default
    (``patrol_policies``) for that county's facilities."""

    __tablename__ = "county_patrol_policies"
    __table_args__ = (CheckConstraint("interval_days BETWEEN 1 AND 366", name="interval_days"),)

    county_id: int = Field(foreign_key="counties.id", primary_key=True, ondelete="CASCADE")
    tier: Tier = Field(sa_type=EnumText(Tier), primary_key=True)
    interval_days: int
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )
