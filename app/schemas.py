"""Shapes every feature shares: strict input models, list pages, small references."""

from typing import Annotated, Any, Generic, TypeVar

from annotated_types import Ge, Le
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator

#: a row id as clients may send it: positive and within a 32-bit integer column
Id = Annotated[int, Ge(1), Le(2_147_483_647)]
#: an offset into a list (bounded so no database is asked for an integer it cannot hold)
Offset = Annotated[int, Ge(0), Le(2_147_483_647)]


def check_text(value: str) -> str:
    """Refuse text no database can store: NUL characters and unpaired surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("is not valid Unicode text (unpaired surrogate)") from None
    return value


def _check_nested(value: Any) -> Any:
    if isinstance(value, str):
        check_text(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_nested(key)
            _check_nested(item)
    elif isinstance(value, list | tuple | set):
        for item in value:
            _check_nested(item)
    return value


#: a query-string or form value, checked like body text
SafeText = Annotated[str, AfterValidator(check_text)]


class InputModel(BaseModel):
    """A request body: unknown fields refused, whitespace trimmed, text storable."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _check_nested(value)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``?limit=&offset=`` → items, total, limit, offset."""

    items: list[T]
    total: int = Field(description="matching rows in all pages")
    limit: int
    offset: int


class TownshipRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str


class UserRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    full_name: str
