from datetime import datetime

from sqlalchemy import CheckConstraint, Index, func, text
from sqlmodel import Field, Relationship, SQLModel

from app.models.base import EnumText, UTCDateTime, utcnow
from app.models.enums import Role
from app.models.township import Township


class User(SQLModel, table=True):
    __tablename__ = "users"
    __table_args__ = (
        CheckConstraint("role != 'township' OR township_id IS NOT NULL", name="township_set"),
        # ShiLi and shili are one name, on both databases.
        Index("uq_users_username_lower", func.lower(text("username")), unique=True),
    )

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True)
    full_name: str = Field(max_length=64)
    phone: str | None = Field(default=None, max_length=20)
    role: Role = Field(sa_type=EnumText(Role))
    township_id: int | None = Field(default=None, foreign_key="townships.id", index=True)
    #: what the user reaches: the townships whose code starts with this division code — a
    #: township (9 digits), a county (6), a city (4), a province (2), or '' the whole country
    #: (app.access); a township user's is their township's code
    division_code: str = Field(default="", max_length=9, sa_column_kwargs={"server_default": ""})
    password_hash: str = Field(max_length=255)
    is_active: bool = True
    #: tokens issued before this instant no longer count (password change, deactivation)
    tokens_valid_after: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(
        default_factory=utcnow, sa_type=UTCDateTime, sa_column_kwargs={"onupdate": utcnow}
    )

    township: Township | None = Relationship(sa_relationship_kwargs={"lazy": "raise"})


class LoginThrottle(SQLModel, table=True):
    """Failed sign-ins, in the database so every worker sees them: one row per username
    (from any address) and one per client address (for any username); see
    ``app.auth.throttle``."""

    __tablename__ = "login_throttle"

    #: SHA-256 (hex) of "user\n<lower-cased username>" or "addr\n<client address>"
    key: str = Field(max_length=64, primary_key=True)
    failures: int = 0
    first_failed_at: datetime = Field(sa_type=UTCDateTime)
    locked_until: datetime | None = Field(default=None, sa_type=UTCDateTime)
