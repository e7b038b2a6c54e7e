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
from app.models import Facility, Tier, Township, User
from app.models.enums import KIND_LABELS_ZH, TIER_LABELS_ZH
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
        code, name, township, village, tier, kind, last_at, due_on, custodian, phone = row
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
        ]

    return stream(session, query, build)
