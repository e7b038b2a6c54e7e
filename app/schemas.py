"""Shapes every feature shares: strict input models, list pages, small references."""

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Generic, Self, TypeVar

from annotated_types import Ge, Le
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    field_validator,
)
from pydantic_core import PydanticCustomError

#: a row id as clients may send it: positive and within a 32-bit integer column
Id = Annotated[int, Ge(1), Le(2_147_483_647)]
#: an offset into a list (bounded so no database is asked for an integer it cannot hold)
Offset = Annotated[int, Ge(0), Le(2_147_483_647)]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def check_text(value: str) -> str:
    """Refuse text that cannot be stored or exported: control characters (tab and line
    breaks are fine) and unpaired surrogates."""
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
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


def _no_repeats(values: Any) -> Any:
    """A set arrives as a JSON array the schema says holds each value once (uniqueItems):
    a repeated value is refused, not silently dropped."""
    if isinstance(values, list):
        try:
            repeated = len(set(values)) != len(values)
        except TypeError:  # unhashable items: the item type refuses them anyway
            repeated = False
        if repeated:
            raise PydanticCustomError("unique_items", "List should not repeat a value")
    return values


#: on a ``set[...]`` field: ``[1, 1]`` is a 422, as its ``uniqueItems`` says
NoRepeats = BeforeValidator(_no_repeats)

#: a query-string or form value, checked like body text
SafeText = Annotated[str, AfterValidator(check_text)]
#: a phone number as people write them: digits, spaces, dashes, an optional leading +
Phone = Annotated[str, StringConstraints(max_length=20, pattern=r"^\+?[0-9][0-9 -]{4,19}$")]
ShortText = Annotated[str, StringConstraints(max_length=64)]
#: why something was done (a cancellation, a reversal, an override): required, one paragraph
Reason = Annotated[str, StringConstraints(min_length=1, max_length=500)]

#: the span of dates the service reasons about (campaigns, reports, funds, audits)
EARLIEST, LATEST = date(1900, 1, 1), date(2100, 12, 31)


def _utc_instant(value: datetime) -> datetime:
    """In UTC, and within 1900–2100 (so no later arithmetic can overflow)."""
    try:
        utc = value.astimezone(UTC)
    except OverflowError:
        raise ValueError("is out of range") from None
    if not EARLIEST <= utc.date() <= LATEST:
        raise ValueError("must be between 1900 and 2100")
    return utc


_ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_ISO_DATETIME = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}(:[0-9]{2}([.,][0-9]{1,9})?)?"
    r"([Zz]|[+-][0-9]{2}(:?[0-9]{2})?)?"
)
DATE_MESSAGE = "Input should be a valid date in ISO 8601 form (YYYY-MM-DD), such as 2025-04-04"
DATETIME_MESSAGE = (
    "Input should be a valid datetime in ISO 8601 form with its UTC offset,"
    " such as 2025-04-04T09:30:00+08:00"
)


def _iso_date_text(value: Any) -> Any:
    """Pydantic reads ``0`` (or ``"0"``) as 1970-01-01: a request may send only ISO text."""
    if isinstance(value, date) and not isinstance(value, datetime):  # from our own code
        return value
    if isinstance(value, str) and _ISO_DATE.fullmatch(value):
        return value
    raise PydanticCustomError("date_type", DATE_MESSAGE)


def _iso_datetime_text(value: Any) -> Any:
    """As ``_iso_date_text``, for instants (a number is not seconds since 1970 here)."""
    if isinstance(value, datetime):  # from our own code
        return value
    if isinstance(value, str) and _ISO_DATETIME.fullmatch(value):
        return value
    raise PydanticCustomError("datetime_type", DATETIME_MESSAGE)


#: an instant with its UTC offset (required), normalised to UTC; ISO 8601 text only
Instant = Annotated[
    AwareDatetime, BeforeValidator(_iso_datetime_text), AfterValidator(_utc_instant)
]
#: a county date within 1900–2100; ISO 8601 text (YYYY-MM-DD) only
Day = Annotated[date, BeforeValidator(_iso_date_text), Ge(EARLIEST), Le(LATEST)]


class InputModel(BaseModel):
    """A request body: unknown fields refused, whitespace trimmed, text storable."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return _check_nested(value)


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """One page of a list: ``?limit=&offset=`` (or ``&cursor=``) → items, total, limit,
    offset, next (app.listing)."""

    items: list[T]
    total: int | None = Field(
        description="matching rows in all pages; null on a page asked for by cursor"
        " (the first page has it), and when there are more than `total_over`"
    )
    total_over: int | None = Field(
        default=None,
        description="set when the list holds more than this many rows (MEMORIAL_COUNT_LIMIT,"
        " 10,000): counting further would cost more than the page; ?count=exact counts"
        " them all. Null when `total` is given, and on a page asked for by cursor",
    )
    limit: int
    offset: int
    next: str | None = Field(
        default=None,
        description="send as ?cursor= for the page after this one; null on the last page",
    )

    @classmethod
    def of(cls, listed: Any, items: list[T], window: Any, **fields: Any) -> Self:
        """The page ``listed`` (an ``app.listing.Listed``) holds, its rows shaped as ``items``;
        ``fields`` are a subclass's own (the overdue list's ``as_of``)."""
        return cls(
            **fields,
            items=items,
            total=listed.total,
            total_over=listed.total_over,
            limit=window.limit,
            offset=window.offset,
            next=listed.next,
        )


class TownshipRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str
    name: str


class CountyRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    code: str = Field(description="6-digit division code")
    name: str


class UserRef(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    username: str
    full_name: str
