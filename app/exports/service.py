"""The rows of the exports, read from a server-side cursor a chunk at a time.

A large export never holds its rows in Python: the query runs when the export is asked
for (so a failure there is an ordinary error answer), and its rows are then read
``CHUNK_ROWS`` at a time, on PostgreSQL from a server-side cursor (``stream_results``:
the server keeps the rest), on SQLite from its cursor, which steps through the table as
it is read. Plain columns, not ORM objects (STYLE.md 5).
"""

from collections.abc import Callable, Iterator, Sequence
from datetime import date, tzinfo
from typing import Any

from sqlalchemy import Result, Select, String, select, type_coerce
from sqlmodel import Session

from app import access
from app.facilities import completeness
from app.models import Facility, Tier, Township, User
from app.models.enums import (
    HEADSTONE_LABELS_ZH,
    KIND_LABELS_ZH,
    MATERIAL_LABELS_ZH,
    PROTECTION_UNIT_LABELS_ZH,
    TIER_LABELS_ZH,
)
from app.schedule.service import overdue_conditions

#: rows fetched from the cursor at a time
CHUNK_ROWS = 1_000


class RowStream:
    """The rows of an executed query, built one at a time as they are read, a chunk of
    ``CHUNK_ROWS`` fetched at a time; ``close`` releases the cursor, read to the end or not.

    Iterate it once, in the request whose session ran the query, before that session is
    closed (``tables.SourceStream`` sees to it)."""

    def __init__(self, result: Result[Any], build: Callable[[Any], Sequence[Any]]) -> None:
        self.result = result
        self.build = build

    def __iter__(self) -> Iterator[Sequence[Any]]:
        build = self.build
        for rows in self.result.partitions():
            for row in rows:
                yield build(row)

    def close(self) -> None:
        self.result.close()


def stream(
    session: Session, query: Select[Any], build: Callable[[Any], Sequence[Any]]
) -> RowStream:
    """Run ``query`` now, on a server-side cursor, and read its rows as they are needed."""
    options = {"stream_results": True, "yield_per": CHUNK_ROWS}
    result = session.connection().execute(query.execution_options(**options))
    return RowStream(result, build)


#: the national collection's fields and the management rule, as the facility exports
#: write them after their own columns: the collection's Chinese labels, enum values as
#: their Chinese labels, the record photo as 有 (one is marked) or empty, and the share of
#: the collection's fields filled (``completeness.of_facility``) in whole percent
RECORD_HEADER = [
    *completeness.COLLECTION_FIELDS.values(), "管理制度", "管理制度日期", "信息完整度（%）",
]  # fmt: skip
RECORD_WIDTHS = [14, 10, 12, 20, 12, 10, 16, 24, 20, 12, 10]
#: the columns ``record_cells`` reads, in order (enums as their stored text)
_RECORD_COLUMNS = (
    type_coerce(Facility.protection_unit, String()),
    Facility.record_photo_id,
    type_coerce(Facility.headstone_type, String()),
    Facility.commemorates,
    Facility.area_m2,
    type_coerce(Facility.main_material, String()),
    Facility.dimensions,
    Facility.boundary_description,
    Facility.management_rule,
    Facility.management_rule_on,
)
_RECORD_FIELDS = (*completeness.COLLECTION_FIELDS, "management_rule", "management_rule_on")
_RECORD_LABELS: dict[str, dict[Any, str]] = {
    "protection_unit": PROTECTION_UNIT_LABELS_ZH,
    "headstone_type": HEADSTONE_LABELS_ZH,
    "main_material": MATERIAL_LABELS_ZH,
}


def record_cells(values: Sequence[Any]) -> list[Any]:
    """The ``RECORD_HEADER`` cells of a facility from its ``_RECORD_COLUMNS``."""
    by_field = dict(zip(_RECORD_FIELDS, values, strict=True))
    cells: list[Any] = []
    for name, value in by_field.items():
        if value is None:
            cells.append("")
        elif name in _RECORD_LABELS:
            # a StrEnum's member is its value; a value stored outside the vocabulary (a
            # row written by hand) prints as it is rather than failing the export
            cells.append(_RECORD_LABELS[name].get(value, value))
        elif name == "record_photo_id":
            cells.append("有")
        else:
            cells.append(value)
    cells.append(completeness.of_values(by_field).percent)
    return cells


def _overdue_query(
    *, session: Session, user: User, as_of: date, township_id: int | None, tier: Tier | None
) -> Select[Any]:
    """The overdue list's facilities (the same rule and order as ``GET /overdue``), as the
    plain columns the export writes."""
    conditions = overdue_conditions(
        session=session, user=user, as_of=as_of, township_id=township_id, tier=tier
    )
    columns = (
        Facility.code,
        Facility.name,
        Township.name,
        Facility.village,
        # the stored text: the labels are looked up by it (a StrEnum's value), without
        # making an enum member of every row's
        type_coerce(Facility.tier, String()),
        type_coerce(Facility.kind, String()),
        Facility.last_inspected_at,
        Facility.next_due_on,
        Facility.custodian_name,
        Facility.custodian_phone,
        *_RECORD_COLUMNS,
    )
    query = select(*columns).join(Township, Township.id == Facility.township_id)
    return (
        access.scope(query, user, Facility.township_id)
        .where(*conditions)
        .order_by(Facility.next_due_on, Facility.id)
    )


def overdue_rows(
    *,
    session: Session,
    user: User,
    as_of: date,
    township_id: int | None,
    tier: Tier | None,
    tz: tzinfo,
) -> RowStream:
    """The overdue list as export rows (``router.OVERDUE_HEADER``), most overdue first."""
    query = _overdue_query(
        session=session, user=user, as_of=as_of, township_id=township_id, tier=tier
    )

    def build(row: Any) -> list[Any]:
        code, name, township, village, tier, kind, last_at, due_on, custodian, phone = row[:10]
        return [
            code,
            name,
            township,
            village or "",
            TIER_LABELS_ZH[tier],
            KIND_LABELS_ZH[kind],
            last_at.astimezone(tz).strftime("%Y-%m-%d %H:%M") if last_at else "",
            due_on,
            (as_of - due_on).days,
            custodian or "",
            phone or "",
            *record_cells(row[10:]),
        ]

    return stream(session, query, build)
