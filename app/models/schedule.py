from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import EnumText, UTCDateTime, utcnow
from app.models.enums import Tier

#: 巡查周期 defaults in days, per tier (issue #2); the first migration inserts them
DEFAULT_INTERVAL_DAYS: dict[Tier, int] = {
    Tier.national: 7,
    Tier.provincial: 14,
    Tier.municipal: 30,
    Tier.county: 30,
    Tier.unrated: 30,
}


class PatrolPolicy(SQLModel, table=True):
    """How often a facility of one tier must be patrolled."""

    __tablename__ = "patrol_policies"

    tier: Tier = Field(sa_type=EnumText(Tier), primary_key=True)
    interval_days: int
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )
