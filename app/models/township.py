from datetime import datetime

from sqlmodel import Field, SQLModel

from app.models.base import UTCDateTime, utcnow


class Township(SQLModel, table=True):
    """乡镇: owns facilities and receives fund allocations."""

    __tablename__ = "townships"

    id: int | None = Field(default=None, primary_key=True)
    #: 9-digit division code (统计用区划代码); the first six digits are the county's
    code: str = Field(max_length=9, unique=True)
    name: str = Field(max_length=32)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )
