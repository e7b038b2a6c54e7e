from datetime import datetime
from typing import Any

from sqlalchemy import Connection, event, select
from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime, utcnow
from app.models.county import County


class Township(SQLModel, table=True):
    """乡镇: owns facilities and receives fund allocations."""

    __tablename__ = "townships"

    id: int | None = Field(default=None, primary_key=True)
    #: 9-digit division code (统计用区划代码); the first six digits are the county's
    code: str = Field(max_length=9, unique=True)
    name: str = Field(max_length=32)
    #: the county the township belongs to: the one whose code its code starts with
    county_id: int = Field(foreign_key="counties.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )


def _county_of(connection: Connection, code: str) -> int | None:
    return connection.execute(select(County.id).where(County.code == code[:6])).scalar_one_or_none()


@event.listens_for(Township, "before_insert")
@event.listens_for(Township, "before_update")
def _county_follows_code(_mapper: Any, connection: Connection, township: Township) -> None:
    """A township's county is the one its code starts with, however the row is written
    (services, the seed, the importer, tests): the services refuse an unknown county with a
    422 first (``app.townships.service``); here a code without a county leaves the column
    empty and the NOT NULL constraint refuses the row."""
    county_id = _county_of(connection, township.code or "")
    if county_id is not None:
        township.county_id = county_id
