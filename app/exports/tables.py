"""Write tables as CSV (UTF-8 with BOM, so Excel shows Chinese) or XLSX, as HTTP responses.

Whatever the number of rows, an export holds a bounded number of them in Python at once:
rows come from an iterator (a server-side cursor for the large exports: ``RowStream``) and
leave as they arrive.

- CSV is written while it is sent: a chunk of about ``CHUNK_CHARS`` at a time.
- XLSX is a zip, and a zip needs a seekable target: openpyxl's write-only workbook writes
  each row to a temporary file as it is appended, the workbook is saved into a
  ``SpooledTemporaryFile`` (in memory up to ``SPOOL_BYTES``, on disk beyond), and that
  file is sent. Constant memory in Python objects and buffers; the file is on disk.

The request's database session stays open until the response has been sent (FastAPI
closes a ``yield`` dependency after the response), so a stream reads from it to the end.
``SourceStream`` closes its sources (the generator, the cursor) on a worker thread before
that, however the response ends: sent, the client gone, or an error.

An error after the status line went out (the database failing half-way through a CSV)
cannot become a 503 any more: it is logged and the connection is dropped without the
chunked body's last chunk, so the client sees an incomplete download rather than a
complete-looking, truncated file. Everything that can fail before (scope, the query's
execution, the whole XLSX) fails before the status line, as an ordinary error answer.
"""

import csv
import io
import logging
import re
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import IO, Any
from urllib.parse import quote

import anyio
from fastapi.responses import Response, StreamingResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter
from starlette.requests import ClientDisconnect

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


YUAN_FORMAT = "#,##0.00"
PERCENT_FORMAT = "0.0%"
DATE_FORMAT = "yyyy-mm-dd"


@dataclass
class Sheet:
    title: str
    header: Sequence[str]
    rows: Iterable[Sequence[Any]]
    widths: Sequence[int] = ()
    #: number formats by column index, e.g. {2: YUAN_FORMAT}
    formats: dict[int, str] = field(default_factory=dict)


#: what spreadsheet programs read as the start of a formula in a CSV cell
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
#: an international phone number written as one run of digits (+8613800000000): a
#: spreadsheet reads it as a plain number, with no operator, function, cell reference or
#: DDE call it could run, so it is written as typed. Anything more (spaces, dashes: Excel
#: computes "+86-138-0000-0000" as -52) is neutralised like any other formula.
_INERT_NUMBER = re.compile(r"\+[0-9]+")


def csv_safe(value: Any) -> Any:
    """Text that a spreadsheet would run as a formula (=HYPERLINK…) gets a leading apostrophe.

    Only text that could be a formula is touched: ``+8613800000000`` and ``0356-1234567``
    stay as typed, while ``=…``, ``@…``, ``-2+3``, ``+86-138-0000-0000`` or ``+1+cmd|…`` are
    neutralised. The XLSX exports need none of this: every text there is a text cell.
    """
    if value is None:
        return ""
    if (
        isinstance(value, str)
        and value.startswith(_FORMULA_START)
        and not _INERT_NUMBER.fullmatch(value)
    ):
        return "'" + value
    return value


def _disposition(filename: str, fallback: str) -> str:
    """The Chinese name for browsers that read RFC 5987, an ASCII one for those that do not."""
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(filename)}"


#: characters of CSV gathered before a chunk is sent: each chunk is one trip to a worker
#: thread and one write to the socket, so rows go out in tens of kilobytes, not one by one
CHUNK_CHARS = 64 * 1024
#: bytes of a finished workbook kept in memory; a larger one goes to a temporary file
SPOOL_BYTES = 1024 * 1024
#: bytes read from a finished workbook per chunk sent
FILE_CHUNK_BYTES = 64 * 1024

log = logging.getLogger(__name__)


def _closer(source: object) -> Callable[[], None] | None:
    close = getattr(source, "close", None)
    return close if callable(close) else None


class SourceStream(StreamingResponse):
    """A streamed answer read from a plain iterator on worker threads, whose sources are
    closed when it ends, however it ends, and before the request's session is closed.

    ``closers`` run after the last chunk, after an error, or when the client went away
    (the task is then cancelled: they run shielded from that), on a worker thread since
    closing a server-side cursor is a round trip to the database. Starlette alone would
    leave a generator abandoned mid-way to the garbage collector, which could close its
    cursor later, on a connection that by then serves another request.
    """

    def __init__(
        self,
        chunks: Iterator[bytes],
        *,
        closers: Sequence[Callable[[], None] | None] = (),
        media_type: str,
        headers: dict[str, str],
    ) -> None:
        super().__init__(chunks, media_type=media_type, headers=headers)
        self.closers = [c for c in (_closer(chunks), *closers) if c is not None]

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        try:
            await super().__call__(scope, receive, send)
        except ClientDisconnect:
            raise  # the client went away: nothing to cut, nothing to report
        except Exception as exc:
            # The status line is out: all that is left is to cut the stream (the server
            # drops the connection without the last chunk) and say why in the log.
            log.error("export %s cut short: %r", scope.get("path"), exc)
            raise
        finally:
            with anyio.CancelScope(shield=True):
                for close in self.closers:
                    await anyio.to_thread.run_sync(close)


def csv_chunks(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Iterator[bytes]:
    """The CSV text of ``header`` and ``rows`` (BOM first) in chunks of about
    ``CHUNK_CHARS``, reading ``rows`` only as far as the chunk being written."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    buffer.write("\ufeff")
    writer.writerow(header)
    for row in rows:
        writer.writerow([csv_safe(v) for v in row])
        if buffer.tell() >= CHUNK_CHARS:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def csv_response(
    filename: str, fallback: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Response:
    """``rows`` as a CSV download, written while it is sent; ``rows.close()``, if it has
    one, is called when the answer ends."""
    return SourceStream(
        csv_chunks(header, rows),
        closers=[_closer(rows)],
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": _disposition(filename, fallback)},
    )


def _xlsx_cell(sheet: Any, value: Any, number_format: str | None) -> Any:
    if isinstance(value, str):
        value = ILLEGAL_CHARACTERS_RE.sub("", value)  # rows stored before input was checked
    if isinstance(value, str) and value.startswith("="):
        cell = WriteOnlyCell(sheet, value=value)
        cell.data_type = "s"  # text typed by a user is never a formula
        return cell
    if number_format is not None and value is not None:
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = number_format
        return cell
    return value


def write_xlsx(sheets: Sequence[Sheet], target: IO[bytes]) -> None:
    """Write ``sheets`` as a workbook into ``target``, one row at a time: openpyxl's
    write-only sheets put each appended row in a temporary file, never a list."""
    workbook = Workbook(write_only=True)
    for spec in sheets:
        sheet = workbook.create_sheet(spec.title[:31])
        # Widths and the frozen header go out with the sheet's first row, the filter's
        # range (which needs the row count) with its end.
        for index, width in enumerate(spec.widths):
            sheet.column_dimensions[get_column_letter(index + 1)].width = width
        # The header stays in view and every column can be filtered, as clerks expect.
        sheet.freeze_panes = "A2"
        header = []
        for title in spec.header:
            cell = WriteOnlyCell(sheet, value=title)
            cell.font = Font(bold=True)
            header.append(cell)
        sheet.append(header)
        count = 0
        for row in spec.rows:
            sheet.append(
                [_xlsx_cell(sheet, value, spec.formats.get(i)) for i, value in enumerate(row)]
            )
            count += 1
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(spec.header))}{count + 1}"
    workbook.save(target)


def _file_chunks(file: IO[bytes]) -> Iterator[bytes]:
    while chunk := file.read(FILE_CHUNK_BYTES):
        yield chunk


def spooled_response(
    write: Callable[[IO[bytes]], None], media_type: str, filename: str, fallback: str
) -> Response:
    """What ``write`` writes, as a download: written whole before the answer starts (so a
    failure is an ordinary error answer) into a spooled temporary file, then sent from it."""
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115 (closed by the answer)
    try:
        write(spool)
        size = spool.tell()
        spool.seek(0)
    except BaseException:
        spool.close()
        raise
    return SourceStream(
        _file_chunks(spool),
        closers=[spool.close],
        media_type=media_type,
        headers={
            "Content-Disposition": _disposition(filename, fallback),
            "Content-Length": str(size),
        },
    )


def xlsx_response(filename: str, fallback: str, sheets: Sequence[Sheet]) -> Response:
    """``sheets`` as an Excel download (``spooled_response``)."""
    return spooled_response(lambda spool: write_xlsx(sheets, spool), XLSX, filename, fallback)
