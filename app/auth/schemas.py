from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints, model_validator

from app.models import Role
from app.schemas import Id, InputModel, Phone, TownshipRef

Username = Annotated[
    str,
    StringConstraints(min_length=3, max_length=64, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.@-]*$"),
]
# Passwords keep their spaces (InputModel trims every other string).
Password = Annotated[str, StringConstraints(min_length=8, max_length=128, strip_whitespace=False)]
FullName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
#: what a user reaches: '' (the whole country), a province (2 digits), a city (4), a county
#: (6) or a township (9): the townships whose code starts with it (app.access)
Division = Annotated[
    str,
    StringConstraints(max_length=9, pattern=r"^([0-9]{2}|[0-9]{4}|[0-9]{6}|[0-9]{9})?$"),
]
_DIVISION = (
    "division code the user reaches: 2 digits (a province), 4 (a city), 6 (a county), or ''"
    " (the whole country); a township user's is their township's code. Default: yours"
)


class Token(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int = Field(description="seconds until the token expires")


class UserCreate(InputModel):
    username: Username
    full_name: FullName
    phone: Phone | None = None
    role: Role
    township_id: Id | None = Field(default=None, description="required for township users")
    division_code: Division | None = Field(default=None, description=_DIVISION)
    password: Password

    @model_validator(mode="after")
    def _township_matches_role(self) -> "UserCreate":
        if self.role is Role.township and self.township_id is None:
            raise ValueError("township_id is required for a township user")
        if self.role is not Role.township and self.township_id is not None:
            raise ValueError("only township users belong to a township; leave township_id out")
        return self


class UserUpdate(InputModel):
    full_name: FullName | None = None
    phone: Phone | None = None
    role: Role | None = None
    township_id: Id | None = None
    division_code: Division | None = Field(default=None, description=_DIVISION)
    is_active: bool | None = None
    password: Password | None = None


class PasswordChange(InputModel):
    current_password: Annotated[str, StringConstraints(max_length=128, strip_whitespace=False)]
    new_password: Password


class UserRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    full_name: str
    phone: str | None
    role: Role
    township: TownshipRef | None
    division_code: str
    is_active: bool
    created_at: datetime
