"""How much of the national collection's record (全国烈士纪念设施信息采集) a facility has
filled in, per facility and per township, so a township sees what is missing before the
annual check.

The collection asks for the protection unit type, the GPS position, a panorama or front
photo, the headstone type, what the site commemorates, its area, main material and
dimensions, and its protection boundary. The position is required at registration, so it
is always there and not counted; the eight others are (``COLLECTION_FIELDS``, in the
order the pages, the importer and the exports show them). A text field counts when it
holds more than blanks.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy import ColumnElement, Integer, and_, case, func

from app.models import Facility

#: field name (as in the API, the importer's header and the exports) → its Chinese label
COLLECTION_FIELDS: dict[str, str] = {
    "protection_unit": "保护单位类型",
    "record_photo_id": "全景/正面照片",
    "headstone_type": "墓碑类型",
    "commemorates": "纪念对象",
    "area_m2": "占地面积（平方米）",
    "main_material": "主要材质",
    "dimensions": "规格尺寸",
    "boundary_description": "保护范围",
}
_TEXT = frozenset({"commemorates", "dimensions", "boundary_description"})


@dataclass(frozen=True)
class Completeness:
    filled: tuple[str, ...]
    missing: tuple[str, ...]

    @property
    def total(self) -> int:
        return len(self.filled) + len(self.missing)

    @property
    def complete(self) -> bool:
        return not self.missing

    @property
    def percent(self) -> int:
        """Whole percent, rounded down (7 of 8 is 87 %, never "100 %" until all are in)."""
        return 100 * len(self.filled) // self.total


def _is_filled(field: str, value: object) -> bool:
    if value is None:
        return False
    if field in _TEXT:
        return bool(str(value).strip())
    return True


def of_facility(facility: Facility) -> Completeness:
    return of_values({field: getattr(facility, field) for field in COLLECTION_FIELDS})


def of_values(values: Mapping[str, Any]) -> Completeness:
    """``of_facility`` of a facility's columns read as plain values (a missing key: empty)."""
    filled, missing = [], []
    for field in COLLECTION_FIELDS:
        (filled if _is_filled(field, values.get(field)) else missing).append(field)
    return Completeness(tuple(filled), tuple(missing))


def as_read(completeness: Completeness) -> dict[str, Any]:
    """The API shape (``FacilityRead.completeness``)."""
    return {
        "filled": len(completeness.filled),
        "total": completeness.total,
        "percent": completeness.percent,
        "missing": list(completeness.missing),
    }


def filled_count() -> ColumnElement[int]:
    """SQL: how many of the fields a facility row has filled (the same rule as
    ``of_facility``), to be summed per township in one aggregate."""
    terms = []
    for field in COLLECTION_FIELDS:
        column = getattr(Facility, field)
        present = column.is_not(None)
        if field in _TEXT:
            present = and_(present, func.trim(column) != "")
        terms.append(case((present, 1), else_=0))
    total: ColumnElement[int] = terms[0]
    for term in terms[1:]:
        total = total + term
    return total.cast(Integer)
