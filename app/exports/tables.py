"""Write tables as CSV (UTF-8 with BOM, so Excel shows Chinese) or XLSX, as HTTP responses."""

import csv
import io
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from fastapi.responses import Response, StreamingResponse
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

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


def csv_response(
    filename: str, fallback: str, header: Sequence[str], rows: Iterable[Sequence[Any]]
) -> Response:
    def lines() -> Iterator[bytes]:
        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow(header)
        yield "\ufeff".encode() + buffer.getvalue().encode("utf-8")
        for row in rows:
            buffer.seek(0)
            buffer.truncate()
            writer.writerow([csv_safe(v) for v in row])
            yield buffer.getvalue().encode("utf-8")

    return StreamingResponse(
        lines(),
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


def xlsx_bytes(sheets: Sequence[Sheet]) -> bytes:
    workbook = Workbook(write_only=True)
    for spec in sheets:
        sheet = workbook.create_sheet(spec.title[:31])
        rows = list(spec.rows)
        for index, width in enumerate(spec.widths):
            sheet.column_dimensions[get_column_letter(index + 1)].width = width
        # The header stays in view and every column can be filtered, as clerks expect.
        sheet.freeze_panes = "A2"
        sheet.auto_filter.ref = f"A1:{get_column_letter(len(spec.header))}{len(rows) + 1}"
        header = []
        for title in spec.header:
            cell = WriteOnlyCell(sheet, value=title)
            cell.font = Font(bold=True)
            header.append(cell)
        sheet.append(header)
        for row in rows:
            sheet.append(
                [_xlsx_cell(sheet, value, spec.formats.get(i)) for i, value in enumerate(row)]
            )
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()


def xlsx_response(filename: str, fallback: str, sheets: Sequence[Sheet]) -> Response:
    return Response(
        xlsx_bytes(sheets),
        media_type=XLSX,
        headers={"Content-Disposition": _disposition(filename, fallback)},
    )
