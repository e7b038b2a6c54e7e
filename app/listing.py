"""One way to page a list: count, order and page a scoped, filtered SELECT, written once.

Every list of the API goes through ``page``. Its caller builds the SELECT (scoped with
``access.scope``/``scope_by_facility``, filtered) and names the sort, a tuple of ``Key``
that ends with the primary key, so the order is total and no row can fall between pages.

Two ways to ask for a page:

- ``offset``: rows to skip, for small lists and the first pages of big ones (the database
  still walks every skipped row, so page 1,000 of a big list costs a thousand pages);
- ``cursor``: the ``next`` token of the page before. It holds that page's last sort key,
  and the page after it is a range of the sort's index, ``(a, b) < (x, y)``, so every page
  costs what the first one does (keyset paging). Each answer says ``next`` (None on the
  last page), whichever way it was asked for, so a client may start by offset and go on
  by cursor.

``total`` is counted for a page asked for without a cursor, and left out (None) on a
page reached by one: counting a huge list costs more than reading its page, and a client
following ``next`` had the total with the first page. Each list's filters have an index
(migration 0010), so a count is an index scan, never a scan of the table.

Even an index scan grows with the list: a province's reports are millions of index
entries. So a count stops at ``Window.count_limit`` rows (``MEMORIAL_COUNT_LIMIT``,
10,000 by default), ``SELECT count(*) FROM (<query> LIMIT limit + 1)``: a list that holds
more answers ``total`` None and ``total_over`` = the limit ("more than 10,000"), and a
first page whose filters an index answers costs the same at 100,000 sites and at a
million. A client that needs the exact number asks for it (``?count=exact``:
``count_limit`` None) and pays for it.

A cursor is base64url JSON: a tag naming the sort and the key's values (ISO dates and
instants, integers, text). A cursor that is garbled, made for another sort, or that holds
a value of the wrong type is a 422 naming the ``cursor`` parameter, never a 500.
"""

import base64
import binascii
import json
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any, Generic, TypeVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Date,
    DateTime,
    Integer,
    Select,
    String,
    and_,
    func,
    literal,
    or_,
    select,
    tuple_,
)
from sqlalchemy.types import TypeDecorator
from sqlmodel import Session

from app.errors import InvalidInput

R = TypeVar("R")

#: where a bad cursor is reported: the query parameter
CURSOR_LOC = ("query", "cursor")
#: the longest cursor a request may send (a sort key of 100 Chinese characters fits)
CURSOR_MAX_LENGTH = 1024
_INT32 = 2**31
_INT64 = 2**63


@dataclass(frozen=True)
class Key:
    """One column of a sort: a NOT NULL column (keyset paging cannot order NULLs), and
    its direction."""

    column: Any
    descending: bool = False

    @property
    def name(self) -> str:
        return str(self.column.key)

    def ordered(self) -> Any:
        return self.column.desc() if self.descending else self.column.asc()


def asc(column: Any) -> Key:
    return Key(column)


def desc(column: Any) -> Key:
    return Key(column, descending=True)


@dataclass(frozen=True)
class Window:
    """Which page a request asks for: ``limit`` rows from ``offset``, or after ``cursor``,
    and how far to count the list (``count_limit`` rows at most; None: every row)."""

    limit: int
    offset: int = 0
    cursor: str | None = None
    count_limit: int | None = None


@dataclass(frozen=True)
class Listed(Generic[R]):
    """One page: its rows, the count of all pages (None on a page reached by cursor, or
    when the list holds more than the count limit: then ``total_over`` is that limit), and
    the cursor of the page after it (None on the last page).

    It unpacks as ``rows, total`` for callers that need no cursor (the web pages)."""

    rows: list[R]
    total: int | None
    next: str | None = None
    total_over: int | None = None

    def __iter__(self) -> Iterator[Any]:
        return iter((self.rows, self.total))


def page(
    session: Session,
    query: Select[Any],
    *,
    sort: Sequence[Key],
    window: Window | None,
    read: Callable[[Select[Any]], Sequence[R]] | None = None,
    keys_of: Callable[[R], Any] | None = None,
) -> Listed[R]:
    """The page of ``query`` that ``window`` asks for, in the order of ``sort``; every row
    when ``window`` is None (an export's whole list).

    ``query`` is the scoped, filtered SELECT, without order or limit. ``read`` runs the
    paged statement (default: the first entity of each row); ``keys_of`` gives the
    object (or mapping) holding a row's sort-key values (default: the row itself)."""
    if window is None:
        ordered = query.order_by(*(key.ordered() for key in sort))
        rows = list(read(ordered) if read is not None else session.scalars(ordered).all())
        return Listed(rows=rows, total=len(rows))
    if window.cursor is not None and window.offset:
        raise InvalidInput(CURSOR_LOC, "Send either cursor or offset, not both")
    total = total_over = None
    if window.cursor is None:
        total, total_over = counted(session, query, limit=window.count_limit)
    if window.limit == 0:  # the count alone (a page's badge)
        return Listed(rows=[], total=total, total_over=total_over)
    paged = query
    if window.cursor is not None:
        paged = paged.where(after(sort, decode(sort, window.cursor)))
    paged = paged.order_by(*(key.ordered() for key in sort)).limit(window.limit + 1)
    if window.offset:
        paged = paged.offset(window.offset)
    rows = list(read(paged) if read is not None else session.scalars(paged).all())
    following = None
    if len(rows) > window.limit:
        rows = rows[: window.limit]
        last = keys_of(rows[-1]) if keys_of is not None else rows[-1]
        following = encode(sort, [_value_of(last, key.name) for key in sort])
    return Listed(rows=rows, total=total, next=following, total_over=total_over)


def count_of(session: Session, query: Select[Any]) -> int:
    """How many rows ``query`` selects: the same FROM and WHERE, counted in SQL."""
    counted = query.with_only_columns(func.count(), maintain_column_froms=True).order_by(None)
    return int(session.execute(counted).scalar_one())


def counted(
    session: Session, query: Select[Any], *, limit: int | None
) -> tuple[int | None, int | None]:
    """``(total, total_over)`` of ``query``: its count when it holds at most ``limit`` rows
    (or ``limit`` is None), else ``(None, limit)``.

    ``SELECT count(*) FROM (SELECT 1 ... LIMIT limit + 1)`` stops at the ``limit + 1``-th
    row it finds: where an index answers the whole WHERE, that is all it reads, whatever
    the size of the list. A list of fewer matches among many rows (a province's few
    reports awaiting review, the missing sites, each a probe of its reports) is still read
    through to its end."""
    if limit is None:
        return count_of(session, query), None
    rows = (
        query.with_only_columns(literal(1), maintain_column_froms=True)
        .order_by(None)
        .limit(limit + 1)
        .subquery()
    )
    found = int(session.execute(select(func.count()).select_from(rows)).scalar_one())
    return (found, None) if found <= limit else (None, limit)


def after(sort: Sequence[Key], values: Sequence[Any]) -> Any:
    """The rows that come after ``values`` in the order of ``sort``.

    One direction: a row-value comparison, ``(a, b) > (x, y)``, a range of the index on
    ``(a, b)`` (PostgreSQL; SQLite 3.15 and later). Mixed directions: the expanded form,
    ``a > x OR (a = x AND b < y) ...``, led by ``a >= x`` so the first key still bounds
    an index range."""
    bound = [literal(value, key.column.type) for key, value in zip(sort, values, strict=True)]
    columns = [key.column for key in sort]
    if len({key.descending for key in sort}) == 1:
        row, given = tuple_(*columns), tuple_(*bound)
        return row < given if sort[0].descending else row > given
    alternatives = []
    for index, key in enumerate(sort):
        equal = [columns[i] == bound[i] for i in range(index)]
        beyond = key.column < bound[index] if key.descending else key.column > bound[index]
        alternatives.append(and_(*equal, beyond))
    first = sort[0].column <= bound[0] if sort[0].descending else sort[0].column >= bound[0]
    return and_(first, or_(*alternatives))


def _value_of(row: Any, name: str) -> Any:
    value = row[name] if isinstance(row, Mapping) else getattr(row, name)
    if value is None:
        raise ValueError(f"sort key {name} is NULL: keyset paging needs NOT NULL keys")
    return value


def _tag(sort: Sequence[Key]) -> str:
    """Names the sort a cursor was made for, so it is refused by another."""
    return ",".join(("-" if key.descending else "") + key.name for key in sort)


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return {"t": value.astimezone(UTC).isoformat()}
    if isinstance(value, date):
        return {"d": value.isoformat()}
    if isinstance(value, bool | int | str):  # a StrEnum is a str
        return value.value if hasattr(value, "value") else value
    raise TypeError(f"cannot put a {type(value).__name__} in a cursor")


def encode(sort: Sequence[Key], values: Sequence[Any]) -> str:
    """The opaque cursor for the page after the row whose sort key is ``values``."""
    data = json.dumps([_tag(sort), [_plain(v) for v in values]], ensure_ascii=False)
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def _kind(column: Any) -> type:
    """The Python type a column's values have in a cursor."""
    column_type = _column_type(column)
    for sql_type, python_type in (
        (DateTime, datetime),
        (Date, date),
        (Boolean, bool),
        (Integer, int),
        (String, str),
    ):
        if isinstance(column_type, sql_type):
            return python_type
    raise TypeError(f"cannot sort by {column} with a cursor: {column_type!r}")


def _bad(reason: str) -> InvalidInput:
    return InvalidInput(
        CURSOR_LOC,
        f"The cursor is not valid ({reason}): send the 'next' of the page before, unchanged",
    )


def _typed(key: Key, value: Any) -> Any:
    kind = _kind(key.column)
    if kind is datetime:
        text = value.get("t") if isinstance(value, dict) and len(value) == 1 else None
        try:
            instant = datetime.fromisoformat(text) if isinstance(text, str) else None
        except ValueError:
            instant = None
        if instant is None or instant.utcoffset() != timedelta(0):
            raise _bad(f"{key.name} should be an instant in UTC")
        return instant
    if kind is date:
        text = value.get("d") if isinstance(value, dict) and len(value) == 1 else None
        try:
            return date.fromisoformat(text)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            raise _bad(f"{key.name} should be a date") from None
    if kind is bool:
        if type(value) is not bool:
            raise _bad(f"{key.name} should be true or false")
        return value
    if kind is int:
        limit = _INT64 if isinstance(_column_type(key.column), BigInteger) else _INT32
        if type(value) is not int or not -limit <= value < limit:
            raise _bad(f"{key.name} should be a whole number")
        return value
    if not isinstance(value, str) or "\x00" in value or not _encodable(value):
        raise _bad(f"{key.name} should be text")
    return value


def _encodable(text: str) -> bool:
    """Whether ``text`` is UTF-8 text (JSON's ``\\ud800`` decodes to a lone surrogate, which
    no database driver can send)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _column_type(column: Any) -> Any:
    column_type = column.type
    return column_type.impl_instance if isinstance(column_type, TypeDecorator) else column_type


def decode(sort: Sequence[Key], cursor: str) -> list[Any]:
    """The sort-key values ``cursor`` holds, checked against ``sort``; 422 if it is not
    a cursor this sort made."""
    if len(cursor) > CURSOR_MAX_LENGTH:
        raise _bad("too long")
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        tag, values = json.loads(raw.decode())
    except (binascii.Error, UnicodeDecodeError, ValueError, TypeError):
        raise _bad("it cannot be read") from None
    if tag != _tag(sort):
        raise _bad("it was made for another sort order")
    if not isinstance(values, list) or len(values) != len(sort):
        raise _bad("it holds the wrong number of values")
    return [_typed(key, value) for key, value in zip(sort, values, strict=True)]
