"""The plate sheet: every facility's QR plate laid out for A4 label paper.

Layout (README-ready): **A4 label paper of 2 × 5 = 10 labels of 105 × 57 mm** (the common
10-per-sheet size, e.g. Avery 3425: no gap between labels, 6 mm top and bottom margin).
Each label carries, left, the QR code with its 4-module quiet zone in a 49 mm square — the
code itself is 37–42 mm wide (error correction H: up to 30 % of a weathered plate may be
lost and it still reads) — and, right, the plate code in large letters, the facility's name
and registry code, its township, the short URL and the line 扫码查看烈士事迹 · 巡查人员扫码上报.
The QR code is drawn as vector rectangles (no raster), so it prints sharp at any size.

``labels_for`` and ``draw_plates`` are the two reusable pieces: the plate sheet export and
the township's book (一乡一册, whose last pages are its plates) both call them.
"""

import io
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import segno
from reportlab.lib.pagesizes import A4
from reportlab.lib.units import mm
from reportlab.pdfbase.pdfmetrics import stringWidth
from reportlab.pdfgen.canvas import Canvas

from app.plates import codes

COLUMNS = 2
ROWS = 5
PER_PAGE = COLUMNS * ROWS
LABEL_WIDTH = 105 * mm
LABEL_HEIGHT = 57 * mm
PAGE_WIDTH, PAGE_HEIGHT = A4
LEFT_MARGIN = (PAGE_WIDTH - COLUMNS * LABEL_WIDTH) / 2  # 0 mm
TOP_MARGIN = (PAGE_HEIGHT - ROWS * LABEL_HEIGHT) / 2  # 6 mm
PADDING = 4 * mm
#: the QR code's square, its quiet zone included
QR_BOX = LABEL_HEIGHT - 2 * PADDING  # 49 mm
QUIET_ZONE = 4  # modules, what ISO/IEC 18004 asks for
#: what scanning shows, two lines under the short URL
SCAN_LINES_ZH = ("扫码查看烈士事迹", "巡查人员扫码上报")


@dataclass(frozen=True)
class PlateLabel:
    """What one plate says."""

    facility_id: int
    plate_code: str  # "GPR87BMA"
    url: str  # "https://host/f/GPR87BMA", what the QR code holds
    name: str
    facility_code: str
    township: str


def plate_url(base_url: str, facility_id: int) -> str:
    """The short URL a facility's plate opens: ``{base}/f/{code}``."""
    return f"{base_url.rstrip('/')}/f/{codes.encode(facility_id)}"


def labels_for(
    facilities: Iterable[Any], townships_by_id: Mapping[int, Any], base_url: str
) -> list[PlateLabel]:
    """One label per facility, in the order given. ``townships_by_id`` maps a township's id
    to the township (or to its name); ``base_url`` is ``settings.public_url`` or else the
    request's base URL."""
    labels = []
    for facility in facilities:
        township = townships_by_id.get(facility.township_id)
        township_name = getattr(township, "name", township) or ""
        code = codes.encode(facility.id)
        labels.append(
            PlateLabel(
                facility_id=facility.id,
                plate_code=code,
                url=plate_url(base_url, facility.id),
                name=facility.name,
                facility_code=facility.code,
                township=str(township_name),
            )
        )
    return labels


def draw_qr(canvas: Canvas, data: str, x: float, y: float, size: float) -> None:
    """The QR code of ``data`` (error correction H) with its quiet zone, filling the square
    of side ``size`` whose lower left corner is (x, y): one filled path of rectangles, one
    per horizontal run of dark modules, drawn in module units (whole numbers)."""
    qr = segno.make(data, error="h", boost_error=False)
    rows = [bytes(row) for row in qr.matrix]
    count = len(rows)
    modules = count + 2 * QUIET_ZONE
    canvas.saveState()
    canvas.translate(x, y)
    canvas.scale(size / modules, size / modules)
    canvas.setFillColorRGB(0, 0, 0)
    path = canvas.beginPath()
    for r, row in enumerate(rows):
        bottom = modules - QUIET_ZONE - r - 1
        c = 0
        while c < count:
            if row[c]:
                start = c
                while c < count and row[c]:
                    c += 1
                path.rect(QUIET_ZONE + start, bottom, c - start, 1)
            else:
                c += 1
    canvas.drawPath(path, stroke=0, fill=1)
    canvas.restoreState()


def _wrap(text: str, font: str, size: float, width: float, max_lines: int) -> list[str]:
    """Break ``text`` into lines no wider than ``width`` (character by character, as Chinese
    is written); the last line ends with … when the text does not fit."""
    lines: list[str] = []
    line = ""
    for ch in text:
        if stringWidth(line + ch, font, size) <= width:
            line += ch
            continue
        lines.append(line)
        line = ch
        if len(lines) == max_lines:
            break
    else:
        if line:
            lines.append(line)
        return lines
    last = lines[-1]
    while last and stringWidth(last + "…", font, size) > width:
        last = last[:-1]
    lines[-1] = last + "…"
    return lines


def _draw_label(canvas: Canvas, label: PlateLabel, font: str, x: float, y: float) -> None:
    """One label with its lower left corner at (x, y)."""
    draw_qr(canvas, label.url, x + PADDING, y + PADDING, QR_BOX)
    left = x + PADDING + QR_BOX + 2 * mm
    width = x + LABEL_WIDTH - PADDING - left
    top = y + LABEL_HEIGHT - PADDING
    canvas.saveState()
    canvas.setFillColorRGB(0, 0, 0)

    size = 16
    cursor = top - size
    canvas.setFont("Courier-Bold", size)
    canvas.drawString(left, cursor, label.plate_code)

    size = 12
    cursor -= 4 * mm
    for line in _wrap(label.name, font, size, width, 2):
        cursor -= size
        canvas.setFont(font, size)
        canvas.drawString(left, cursor, line)
        cursor -= 1.5

    size = 8
    for text in (f"设施编号 {label.facility_code}", label.township):
        cursor -= size + 3
        canvas.setFont(font, size)
        canvas.drawString(left, cursor, _wrap(text, font, size, width, 1)[0] if text else "")

    bottom = y + PADDING
    size = 8
    canvas.setFont(font, size)
    lines = [_wrap(line, font, size, width, 1)[0] for line in SCAN_LINES_ZH]
    for i, line in enumerate(reversed(lines)):
        canvas.drawString(left, bottom + 1 + i * (size + 2), line)
    size = 6.5
    canvas.setFont("Helvetica", size)
    short = label.url.split("://", 1)[-1]
    canvas.drawString(
        left, bottom + len(lines) * 10 + 3, _wrap(short, "Helvetica", size, width, 1)[0]
    )
    canvas.restoreState()


def draw_plates(canvas: Canvas, labels: list[PlateLabel], font: str) -> None:
    """Draw the labels, ten to an A4 page (2 columns × 5 rows of 105 × 57 mm), left to
    right and top to bottom.

    Call it with the canvas on a fresh page (a new canvas, or right after ``showPage()``);
    it sets that page and the following ones to A4 portrait, calls ``showPage()`` after
    every page of labels, the last one included, and so leaves the canvas on a fresh page
    again. No labels, no pages. ``font`` is ``app.pdf.font_name(settings.pdf_font)``."""
    for start in range(0, len(labels), PER_PAGE):
        canvas.setPageSize(A4)
        for i, label in enumerate(labels[start : start + PER_PAGE]):
            row, column = divmod(i, COLUMNS)
            x = LEFT_MARGIN + column * LABEL_WIDTH
            y = PAGE_HEIGHT - TOP_MARGIN - (row + 1) * LABEL_HEIGHT
            _draw_label(canvas, label, font, x, y)
        canvas.showPage()


def sheet_pdf(labels: list[PlateLabel], font: str, *, title: str = "二维码标牌") -> bytes:
    """The plate sheet as a PDF document; with no labels, one page that says so."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4, pageCompression=1)
    canvas.setTitle(title)
    canvas.setCreator("Memorial Patrol")
    if labels:
        draw_plates(canvas, labels, font)
    else:
        canvas.setFont(font, 14)
        canvas.drawString(20 * mm, PAGE_HEIGHT - 30 * mm, f"{title}：没有要打印的设施")
        canvas.showPage()
    canvas.save()
    return out.getvalue()
