from datetime import date, datetime

from sqlalchemy import JSON, CheckConstraint
from sqlmodel import Field, Relationship, SQLModel

from app.models.base import EnumText, UTCDateTime, utcnow
from app.models.enums import CampaignKind
from app.models.township import Township


class CampaignTownship(SQLModel, table=True):
    """A township a campaign is limited to (no rows: every township)."""

    __tablename__ = "campaign_townships"

    campaign_id: int = Field(foreign_key="campaigns.id", primary_key=True, ondelete="CASCADE")
    township_id: int = Field(foreign_key="townships.id", primary_key=True)


class Campaign(SQLModel, table=True):
    """集中巡查: a window in which every in-scope active facility must be visited."""

    __tablename__ = "campaigns"
    __table_args__ = (CheckConstraint("ends_on >= starts_on", name="window"),)

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=100)
    kind: CampaignKind = Field(sa_type=EnumText(CampaignKind))
    starts_on: date
    ends_on: date = Field(index=True)
    #: the county whose own campaign this is (its window, its townships); None: a campaign
    #: for every county of the deployment
    county_id: int | None = Field(default=None, foreign_key="counties.id", index=True)
    #: tiers in scope (None: every tier)
    tiers: list[str] | None = Field(default=None, sa_type=JSON)
    #: "qingming-2026": a generated campaign exists once however often it is generated
    generated_key: str | None = Field(default=None, max_length=32, unique=True)
    created_by_id: int | None = Field(default=None, foreign_key="users.id")
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)

    townships: list[Township] = Relationship(
        link_model=CampaignTownship, sa_relationship_kwargs={"lazy": "raise"}
    )
