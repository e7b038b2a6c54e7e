"""Reading the map feeds' query values: boxes and instants, checked, with reasons."""

from datetime import UTC, datetime

from app.config import BBox, parse_bbox
from app.errors import InvalidInput
from app.schemas import EARLIEST, LATEST


def query_bbox(value: str | None) -> BBox | None:
    """``bbox`` of a JSON API query (``minLon,minLat,maxLon,maxLat``); 422 naming it."""
    if value is None:
        return None
    try:
        return parse_bbox(value)
    except ValueError as exc:
        raise InvalidInput(("query", "bbox"), f"bbox: {exc}") from None


def parse_instant(text: str) -> datetime:
    """An RFC 3339 date-time with its offset (``Z`` or ``+08:00``), in UTC, 1900–2100.

    ISO text only: a bare number is not read as seconds since 1970.
    """
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"{text!r} is not an ISO 8601 date-time") from None
    if moment.tzinfo is None:
        raise ValueError(f"{text!r} needs a UTC offset, such as Z or +08:00")
    try:
        moment = moment.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{text!r} is out of range") from None
    if not EARLIEST <= moment.date() <= LATEST:
        raise ValueError(f"{text!r} must be between 1900 and 2100")
    return moment
