"""The overdue exports stream from a server-side cursor: the same file as when every row
was read first, scoped like the list, read as it is sent, and closed before the session."""

import csv
import io
import logging
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from typing import Any

import anyio
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import event

from app import deps
from app.db import Database
from app.exports import service, tables
from app.exports.router import OVERDUE_HEADER, OVERDUE_WIDTHS
from app.exports.service import RowStream
from app.models import County, Facility, FacilityKind, Tier, User
from app.models.enums import KIND_LABELS_ZH, TIER_LABELS_ZH
from app.schedule import service as schedule
from tests.factories import World, make_facility, make_township, make_user, token

AS_OF = date(2026, 6, 15)
CSV = "/api/v1/exports/overdue.csv"
XLSX = "/api/v1/exports/overdue.xlsx"


@pytest.fixture
def many(db: Database, world: World) -> World:
    """Twenty-odd overdue facilities in both townships, with ties on the due date (the id
    breaks them), empty and filled optional fields, every tier and some kinds."""
    tiers, kinds = list(Tier), list(FacilityKind)
    with db.begin() as session:
        session.get(Facility, world.facility_a.id).next_due_on = AS_OF + timedelta(days=5)
        session.get(Facility, world.facility_b.id).next_due_on = AS_OF - timedelta(days=3)
        for n in range(24):
            township = world.township_a if n % 3 else world.township_b
            make_facility(
                session,
                township=township,
                code=f"S-{n:03d}",
                name=f"烈士墓{n}",
                tier=tiers[n % len(tiers)],
                kind=kinds[n % len(kinds)],
                next_due_on=AS_OF - timedelta(days=1 + n % 4),
                village=f"{n}村" if n % 2 else None,
                custodian_name="=危险" if n == 5 else (f"管护人{n}" if n % 4 else None),
                custodian_phone="13800000000" if n % 5 else None,
                last_inspected_at=(
                    datetime(2026, 3, 1, 17, 30, tzinfo=UTC) + timedelta(hours=n) if n % 2 else None
                ),
            )
    return world


# --- what the export wrote when it read every facility first (the code it replaced) ---------


def listed_rows(db: Database, world: World, **filters: Any) -> list[list[Any]]:
    """The rows as the export built them from the overdue list's ORM objects."""
    tz = world.settings.tz
    with db.session(write=False) as session:
        user = session.get(User, world.county.id)
        facilities, _ = schedule.overdue_facilities(
            session=session,
            user=user,
            as_of=AS_OF,
            township_id=filters.get("township_id"),
            tier=filters.get("tier"),
            window=None,
        )
        return [
            [
                f.code,
                f.name,
                f.township.name,
                f.village or "",
                TIER_LABELS_ZH[f.tier],
                KIND_LABELS_ZH[f.kind],
                (
                    f.last_inspected_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
                    if f.last_inspected_at
                    else ""
                ),
                f.next_due_on,
                (AS_OF - f.next_due_on).days,
                f.custodian_name or "",
                f.custodian_phone or "",
                *([""] * 10),  # the national collection's record: none of it filled
                0,  # 信息完整度（%）
            ]
            for f in facilities
        ]


def listed_csv(rows: list[list[Any]]) -> bytes:
    """The CSV bytes the export wrote: BOM, header, one line per row."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(OVERDUE_HEADER)
    for row in rows:
        writer.writerow([tables.csv_safe(v) for v in row])
    return "\ufeff".encode() + buffer.getvalue().encode("utf-8")


@pytest.fixture
def small_chunks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Chunks of a few rows, so a small dataset crosses many chunk boundaries."""
    monkeypatch.setattr(service, "CHUNK_ROWS", 3)
    monkeypatch.setattr(tables, "CHUNK_CHARS", 200)


# --- the same file --------------------------------------------------------------------------


@pytest.mark.usefixtures("small_chunks")
@pytest.mark.parametrize("filters", [{}, {"tier": "unrated"}, {"township_id": "a"}])
def test_the_streamed_csv_is_the_file_the_listed_export_wrote(
    client: TestClient, many: World, db: Database, filters: dict[str, Any]
) -> None:
    if filters.get("township_id") == "a":
        filters = {"township_id": many.township_a.id}
    typed = {k: Tier(v) if k == "tier" else v for k, v in filters.items()}
    expected = listed_csv(listed_rows(db, many, **typed))
    response = client.get(
        CSV, params={"as_of": AS_OF.isoformat(), **filters}, headers=many.headers("county")
    )
    assert response.status_code == 200
    assert response.content == expected
    assert len(expected.splitlines()) > 3  # header and rows, not an empty list


@pytest.mark.usefixtures("small_chunks")
def test_the_streamed_xlsx_holds_the_rows_the_listed_export_wrote(
    client: TestClient, many: World, db: Database
) -> None:
    expected = listed_rows(db, many)
    response = client.get(XLSX, params={"as_of": AS_OF.isoformat()}, headers=many.headers("county"))
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(response.content))
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = [list(r) for r in sheet.iter_rows(values_only=True)]
    assert rows[0] == OVERDUE_HEADER
    as_read = [[v if v is not None else "" for v in row] for row in rows[1:]]
    for row in as_read:
        row[7] = row[7].date()  # a date cell comes back as a datetime at midnight
    assert as_read == expected
    assert sheet.freeze_panes == "A2"
    assert sheet.auto_filter.ref == f"A1:V{len(expected) + 1}"  # 11 + 11 columns
    assert {sheet.cell(row=r, column=8).number_format for r in range(2, len(rows) + 1)} == {
        tables.DATE_FORMAT
    }
    widths = [sheet.column_dimensions[chr(ord("A") + i)].width for i in range(len(OVERDUE_WIDTHS))]
    assert widths == OVERDUE_WIDTHS
    formula = next(
        r for r in range(2, len(rows) + 1) if sheet.cell(row=r, column=10).value == "=危险"
    )
    assert sheet.cell(row=formula, column=10).data_type == "s"  # typed text, never a formula


# --- scoped like the list -------------------------------------------------------------------


@pytest.mark.parametrize("path", [CSV, XLSX])
def test_a_township_users_export_holds_only_their_townships_rows(
    client: TestClient, many: World, path: str
) -> None:
    def townships(who: str) -> set[str]:
        response = client.get(path, params={"as_of": AS_OF.isoformat()}, headers=many.headers(who))
        assert response.status_code == 200
        if path == CSV:
            rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
        else:
            sheet = load_workbook(io.BytesIO(response.content)).active
            rows = list(sheet.iter_rows(min_row=2, values_only=True))
        assert rows
        return {row[2] for row in rows}

    assert townships("township") == {many.township_a.name}
    assert townships("other") == {many.township_b.name}
    assert townships("county") == {many.township_a.name, many.township_b.name}
    elsewhere = client.get(
        path,
        params={"as_of": AS_OF.isoformat(), "township_id": many.township_a.id},
        headers=many.headers("other"),
    )
    assert elsewhere.status_code == 404


def test_a_county_or_city_users_export_holds_their_regions_rows(
    client: TestClient, many: World, db: Database
) -> None:
    """Scoped by division code: Qinshui's staff see Qinshui, Jincheng city's (1405) both of
    its counties, and nothing of a county elsewhere."""
    with db.begin() as session:
        for code, name in (("140522", "阳城县"), ("140302", "城区")):
            session.add(County(code=code, name=name))
            session.flush()
            township = make_township(session, code=f"{code}100", name=f"{name}镇")
            make_facility(session, township=township, code=f"X-{code}", next_due_on=AS_OF)
        users = {}
        for division in ("140521", "1405", "14"):
            user = make_user(session, username=f"d{division}")
            user.division_code = division
            session.flush()
            users[division] = token(many.settings, user)

    def townships(division: str) -> set[str]:
        response = client.get(
            CSV,
            params={"as_of": (AS_OF + timedelta(days=1)).isoformat()},
            headers={"Authorization": f"Bearer {users[division]}"},
        )
        assert response.status_code == 200
        rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))[1:]
        return {row[2] for row in rows}

    qinshui = {many.township_a.name, many.township_b.name}
    assert townships("140521") == qinshui
    assert townships("1405") == qinshui | {"阳城县镇"}
    assert townships("14") == qinshui | {"阳城县镇", "城区镇"}


# --- read as it is sent, from a server-side cursor, before the session closes ----------------


def test_csv_chunks_read_the_rows_only_as_far_as_the_chunk_being_written() -> None:
    pulled = 0

    def rows() -> Iterator[list[Any]]:
        nonlocal pulled
        for n in range(100_000):
            pulled += 1
            yield [n, "烈士墓", "=1+1"]

    chunks = tables.csv_chunks(["编号", "名称", "说明"], rows())
    first = next(chunks)
    assert first.startswith("\ufeff编号".encode())
    assert 0 < pulled < 10_000  # one chunk's worth, not the whole source
    assert sum(len(chunk) for chunk in chunks) > 0 and pulled == 100_000


def test_the_overdue_rows_come_from_a_server_side_cursor(
    client: TestClient, many: World, db: Database, app: FastAPI
) -> None:
    executed: list[tuple[str, Any, dict[str, Any]]] = []

    def note(_conn: Any, cursor: Any, statement: str, _params: Any, context: Any, _many: Any):
        if "FROM facilities JOIN townships" in statement:
            executed.append((statement, cursor, dict(context.execution_options)))

    event.listen(db.engine, "before_cursor_execute", note)
    try:
        response = client.get(
            CSV, params={"as_of": AS_OF.isoformat()}, headers=many.headers("county")
        )
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    assert response.status_code == 200
    [(_statement, cursor, options)] = executed
    assert options["stream_results"] is True and options["yield_per"] == service.CHUNK_ROWS
    if db.dialect == "postgresql":
        assert type(cursor).__name__ == "ServerCursor"  # psycopg's named cursor: FETCH n


class FetchSpy:
    """A query's result that notes each chunk of rows fetched from the database."""

    def __init__(self, result: Any, events: list[str]) -> None:
        self.result, self.events = result, events

    def partitions(self, *args: Any) -> Iterator[Any]:
        for rows in self.result.partitions(*args):
            self.events.append("fetched")
            yield rows

    def __getattr__(self, name: str) -> Any:  # anything else (all(), fetchall()...) as is
        return getattr(self.result, name)


def test_the_rows_are_fetched_while_the_file_is_sent_and_the_session_closes_after(
    many: World, app: FastAPI, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database's rows are fetched a chunk at a time while the file goes out, and the
    request's session closes only after the last: a stream never outlives its session."""
    monkeypatch.setattr(service, "CHUNK_ROWS", 2)
    monkeypatch.setattr(tables, "CHUNK_CHARS", 1)  # a chunk sent after every row
    events: list[str] = []
    monkeypatch.setattr(
        service, "RowStream", lambda result, build: RowStream(FetchSpy(result, events), build)
    )
    close_session = deps._close

    def spying_close(session: Any) -> None:
        events.append("session closed")
        close_session(session)

    monkeypatch.setattr(deps, "_close", spying_close)

    async def recording(scope: Any, receive: Any, send: Any) -> None:
        async def send_and_note(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                events.append("sent")
            await send(message)

        await app(scope, receive, send_and_note if scope["type"] == "http" else send)

    with TestClient(recording) as client:
        response = client.get(
            CSV, params={"as_of": AS_OF.isoformat()}, headers=many.headers("county")
        )
    assert response.status_code == 200
    rows = len(response.content.decode("utf-8-sig").splitlines()) - 1
    fetched = [i for i, e in enumerate(events) if e == "fetched"]
    sent = [i for i, e in enumerate(events) if e == "sent"]
    assert len(fetched) == -(-rows // 2)  # chunks of two rows, not all of them at once
    assert sent[0] < fetched[-1]  # the first rows went out before the last were fetched
    assert events[-1] == "session closed" and events.count("session closed") == 1


# --- an error half-way, a client gone half-way -------------------------------------------------


def test_an_error_half_way_cuts_the_stream_logs_it_and_closes_the_cursor(
    client: TestClient,
    many: World,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    monkeypatch.setattr(tables, "CHUNK_CHARS", 1)
    closed: list[bool] = []
    read_rows, close_rows = RowStream.__iter__, RowStream.close

    def failing_iter(self: RowStream) -> Iterator[Any]:
        rows = read_rows(self)
        yield next(rows)
        yield next(rows)
        raise RuntimeError("the database went away")

    def noting_close(self: RowStream) -> None:
        closed.append(True)
        close_rows(self)

    monkeypatch.setattr(RowStream, "__iter__", failing_iter)
    monkeypatch.setattr(RowStream, "close", noting_close)
    with (
        caplog.at_level(logging.ERROR, logger="app.exports.tables"),
        pytest.raises(RuntimeError, match="went away"),
    ):
        client.get(CSV, params={"as_of": AS_OF.isoformat()}, headers=many.headers("county"))
    assert "cut short" in caplog.text and "went away" in caplog.text
    assert closed


def test_a_client_gone_half_way_still_closes_the_sources() -> None:
    """The answer's task is cancelled when the client disconnects: the generator and the
    other closers still run, on a worker thread, before the answer returns."""
    closed: list[str] = []

    def chunks() -> Iterator[bytes]:
        try:
            for n in range(1_000):
                yield f"{n}\n".encode()
        finally:
            closed.append("generator")

    response = tables.SourceStream(
        chunks(), closers=[lambda: closed.append("cursor")], media_type="text/csv", headers={}
    )

    async def main() -> None:
        sent: list[dict[str, Any]] = []
        gone = anyio.Event()

        async def receive() -> dict[str, Any]:
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            sent.append(message)
            if len(sent) == 3:  # the start and two chunks out, then the client goes
                gone.set()
            await anyio.sleep(0)

        scope = {"type": "http", "asgi": {"spec_version": "2.3"}, "path": "/x"}
        await response(scope, receive, send)
        assert 3 <= len(sent) < 1_001  # cut short, not sent to the end
        assert sent[-1].get("more_body", True)  # no final empty chunk: not complete

    anyio.run(main)
    assert closed == ["generator", "cursor"]
