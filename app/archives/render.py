"""The archive PDFs laid out with reportlab's platypus: 一处一表 and 一乡一册.

Every facility's record is exactly one A4 page (``OnePage``): its flowables are kept on it
and shrunk when a long text (a 500-character description, 20 martyrs) would not fit, never
split. That makes the book's page numbers known before it is drawn: the cover is page 1,
the table of contents takes ``toc_pages(n)`` pages, facility ``i`` (from 0) is on page
``2 + toc_pages(n) + i``, and the plates follow (``app.plates.sheet.draw_plates``).

All text is set in ``app.pdf.font_name`` (Chinese, nothing fetched) with ``wordWrap='CJK'``
so that it wraps inside its cell; user text is escaped before it reaches a ``Paragraph``.
A record photo that the store does not hold, or that is not an image, is a "无照片" box.
"""

import io
import logging
import math
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import IO, Any
from xml.sax.saxutils import escape

import segno
from PIL import Image as PILImage
from reportlab import rl_config
from reportlab.lib import colors
from reportlab.lib.enums import TA_CENTER
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle
from reportlab.lib.units import mm
from reportlab.lib.utils import ImageReader
from reportlab.platypus import (
    BaseDocTemplate,
    Flowable,
    Frame,
    Image,
    KeepInFrame,
    PageBreak,
    PageTemplate,
    Paragraph,
    Spacer,
    Table,
    TableStyle,
)

from app.archives.records import LAST_INSPECTIONS, Book, Record
from app.facilities.completeness import COLLECTION_FIELDS, of_facility
from app.models.enums import (
    CONDITION_LABELS_ZH,
    HEADSTONE_LABELS_ZH,
    KIND_LABELS_ZH,
    MATERIAL_LABELS_ZH,
    PROTECTION_UNIT_LABELS_ZH,
    REVIEW_LABELS_ZH,
    TIER_LABELS_ZH,
)
from app.plates.sheet import QUIET_ZONE, draw_plates, labels_for

log = logging.getLogger(__name__)

# Images and streams written as binary, not ASCII85: a third smaller, and the pure-Python
# encoder was a tenth of a book's rendering time (a global of reportlab's: every PDF the
# service prints is the better for it).
rl_config.useA85 = 0

PAGE_WIDTH, PAGE_HEIGHT = A4
MARGIN = 14 * mm
FOOTER = 10 * mm
FRAME_WIDTH = PAGE_WIDTH - 2 * MARGIN
FRAME_HEIGHT = PAGE_HEIGHT - 2 * MARGIN - FOOTER
#: the photo's box on a facility's page
PHOTO_WIDTH, PHOTO_HEIGHT = 78 * mm, 56 * mm
#: photos wider or taller than this (pixels) are scaled down before they are embedded
PHOTO_MAX_PX = 1000
QR_SIZE = 34 * mm
#: the record table's label columns
LABEL_WIDTH = 24 * mm
#: the size of the tables' text
CELL_SIZE = 8.5
#: table of contents lines per page
TOC_ROWS = 32
TITLE_ZH = "烈士纪念设施信息采集表（一处一表）"
BOOK_TITLE_ZH = "烈士纪念设施档案（一乡一册）"
BLANK = "—"
GRID = colors.HexColor("#555555")
SHADE = colors.HexColor("#EEEEEE")

PhotoReader = Callable[[str], bytes | None]


class Styles:
    def __init__(self, font: str) -> None:
        self.font = font

        def style(name: str, size: float, **kwargs: Any) -> ParagraphStyle:
            return ParagraphStyle(
                name,
                fontName=font,
                fontSize=size,
                leading=size * 1.35,
                wordWrap="CJK",
                **kwargs,
            )

        self.title = style("title", 17, alignment=TA_CENTER, spaceAfter=2 * mm)
        self.subtitle = style("subtitle", 9.5, alignment=TA_CENTER, spaceAfter=3 * mm)
        self.heading = style("heading", 11, spaceBefore=2.5 * mm, spaceAfter=1.2 * mm)
        self.label = style("label", 8.5)
        self.cell = style("cell", CELL_SIZE)
        self.small = style("small", 7.5)
        self.missing = style("missing", 14, alignment=TA_CENTER, textColor=GRID)
        self.cover_title = style("cover", 26, alignment=TA_CENTER, spaceAfter=8 * mm)
        self.cover_line = style("coverline", 15, alignment=TA_CENTER, spaceAfter=5 * mm)


def _p(text: object, style: ParagraphStyle) -> Paragraph:
    """A paragraph of plain (user) text: escaped, line breaks kept."""
    shown = BLANK if text is None or str(text).strip() == "" else str(text)
    return Paragraph(escape(shown).replace("\n", "<br/>"), style)


def _s(text: object) -> str:
    """A short single-line cell (a label, a date, a status) as a plain string: drawn by
    the table in its FONTNAME, with none of a paragraph's line breaking to compute."""
    return BLANK if text is None or str(text).strip() == "" else str(text)


def _label(table: dict[Any, str], value: Any) -> str | None:
    return None if value is None else table.get(value, str(value))


def _number(value: float | None, unit: str = "") -> str | None:
    if value is None:
        return None
    shown = f"{value:.2f}".rstrip("0").rstrip(".")
    return f"{shown}{unit}"


class QrCode(Flowable):
    """A QR code (error correction H, a 4-module quiet zone) drawn as a one-bit image, one
    pixel a module, scaled up without smoothing: as sharp as vector squares, and a few
    hundred bytes in the PDF instead of hundreds of drawing operators."""

    def __init__(self, data: str, size: float) -> None:
        super().__init__()
        self.data, self.size = data, size
        self.width = self.height = size

    def draw(self) -> None:
        self.canv.drawImage(_qr_image(self.data), 0, 0, self.size, self.size)


def _qr_image(data: str) -> ImageReader:
    qr = segno.make(data, error="h", boost_error=False)
    rows = [list(row) for row in qr.matrix]
    side = len(rows) + 2 * QUIET_ZONE
    picture = PILImage.new("1", (side, side), 1)
    pixels = picture.load()
    for r, row in enumerate(rows):
        for c, dark in enumerate(row):
            if dark:
                pixels[QUIET_ZONE + c, QUIET_ZONE + r] = 0
    return ImageReader(picture)


def photo_flowable(data: bytes | None, styles: Styles) -> Flowable:
    """The record photo fitted in its box, or a "无照片" box when there is none or it is
    not an image the page can show."""
    if data is not None:
        try:
            return _image(data)
        except Exception as exc:  # a corrupt or foreign file is a missing photo, not a 500
            log.warning("record photo unreadable: %r", exc)
    box = Table(
        [[Paragraph("无照片", styles.missing)]],
        colWidths=[PHOTO_WIDTH],
        rowHeights=[PHOTO_HEIGHT],
    )
    box.setStyle(
        TableStyle(
            [
                ("BOX", (0, 0), (-1, -1), 0.6, GRID),
                ("ALIGN", (0, 0), (-1, -1), "CENTER"),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("BACKGROUND", (0, 0), (-1, -1), colors.HexColor("#F6F6F6")),
            ]
        )
    )
    return box


def _image(data: bytes) -> Image:
    picture = PILImage.open(io.BytesIO(data))
    picture.draft("RGB", (PHOTO_MAX_PX, PHOTO_MAX_PX))  # JPEG: decode at a reduced scale
    picture.load()
    width, height = picture.size
    if picture.format == "JPEG" and max(width, height) <= PHOTO_MAX_PX and picture.mode == "RGB":
        source = io.BytesIO(data)  # embedded as it is (no decoding in the PDF writer)
    else:
        picture = picture.convert("RGB")
        picture.thumbnail((PHOTO_MAX_PX, PHOTO_MAX_PX))
        width, height = picture.size
        source = io.BytesIO()
        picture.save(source, "JPEG", quality=82)
        source.seek(0)
    scale = min(PHOTO_WIDTH / width, PHOTO_HEIGHT / height)
    return Image(source, width=width * scale, height=height * scale)


#: how much free text one page prints: the record stays one readable page (the whole text
#: is in the service; a page shrunk to fit 4,000 characters would print at 2 pt)
DESCRIPTION_CHARS = 400
MARTYRS_LISTED = 12
MARTYR_NOTE_CHARS = 80
MORE = "……（全文见系统）"


def _brief(text: str | None, limit: int) -> str | None:
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit] + MORE


def _martyrs(martyrs: Sequence[dict[str, Any]]) -> str | None:
    lines = []
    named = [m for m in martyrs if str(m.get("name") or "").strip()]
    for martyr in named[:MARTYRS_LISTED]:
        name = str(martyr.get("name") or "").strip()
        note = _brief(str(martyr.get("note") or ""), MARTYR_NOTE_CHARS)
        lines.append(f"{name}：{note}" if note else name)
    if len(named) > MARTYRS_LISTED:
        lines.append(f"等共{len(named)}位烈士（名录全文见系统）")
    return "\n".join(lines) or None


def _record_table(record: Record, styles: Styles) -> Table:
    f = record.facility
    cell = styles.cell
    half = (FRAME_WIDTH - 2 * LABEL_WIDTH) / 2
    crs = {"wgs84": "WGS-84", "gcj02": "GCJ-02", "bd09": "BD-09"}.get(str(f.source_crs.value))
    position = f"WGS-84：东经 {f.longitude:.6f}，北纬 {f.latitude:.6f}"
    if f.source_crs.value != "wgs84":
        position += f"（原始坐标 {crs}：{f.source_longitude:.6f}，{f.source_latitude:.6f}）"
    else:
        position += "（原始坐标系 WGS-84）"
    place = " ".join(x for x in (record.township, f.village) if x)
    custodian = " ".join(x for x in (f.custodian_name, f.custodian_phone) if x) or None
    rule = f.management_rule
    if rule and f.management_rule_on:
        rule = f"{rule}（{f.management_rule_on.isoformat()} 起施行）"
    wide = [
        ("名称", f.name),
        ("地址", f.address),
        ("经纬度", position),
        ("纪念对象", f.commemorates),
        ("纪念烈士", _martyrs(f.martyrs or [])),
        ("保护范围", f.boundary_description),
        ("管理制度", rule),
        ("设施简介", _brief(f.description, DESCRIPTION_CHARS)),
    ]
    pairs = [
        ("编号", f.code, "类型", KIND_LABELS_ZH.get(f.kind, str(f.kind))),
        ("保护级别", TIER_LABELS_ZH.get(f.tier, str(f.tier)), "保护单位类型",
         _label(PROTECTION_UNIT_LABELS_ZH, f.protection_unit)),
        ("所属县", record.county, "乡镇／村", _p(place, cell)),
        ("墓碑类型", _label(HEADSTONE_LABELS_ZH, f.headstone_type), "主要材质",
         _label(MATERIAL_LABELS_ZH, f.main_material)),
        ("规格尺寸", _p(f.dimensions, cell), "占地面积", _number(f.area_m2, " 平方米")),
        ("建成年份", f.year_built and f"{f.year_built} 年", "看护人", custodian),
    ]  # fmt: skip
    rows: list[list[Any]] = []
    per_row = []
    order = [wide[0], pairs[0], pairs[1], pairs[2], wide[1], wide[2], wide[3], wide[4],
             pairs[3], pairs[4], wide[5], pairs[5], wide[6], wide[7]]  # fmt: skip
    for entry in order:
        r = len(rows)
        if len(entry) == 2:
            rows.append([_s(entry[0]), _p(entry[1], cell), "", ""])
            per_row.append(("SPAN", (1, r), (3, r)))
        else:
            a, b, c, d = entry
            per_row.append(("BACKGROUND", (2, r), (2, r), SHADE))
            rows.append(
                [
                    _s(a),
                    b if isinstance(b, Paragraph) else _s(b),
                    _s(c),
                    d if isinstance(d, Paragraph) else _s(d),
                ]
            )
    table = Table(rows, colWidths=[LABEL_WIDTH, half, LABEL_WIDTH, half])
    table.setStyle(
        TableStyle(
            [
                ("GRID", (0, 0), (-1, -1), 0.5, GRID),
                ("FONT", (0, 0), (-1, -1), styles.font, CELL_SIZE),
                ("BACKGROUND", (0, 0), (0, -1), SHADE),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
                *per_row,
            ]
        )
    )
    return table


def _header(record: Record, styles: Styles, photo: bytes | None) -> Table:
    f = record.facility
    completeness = of_facility(f)
    standing = record.standing
    side = [
        QrCode(record.plate_url, QR_SIZE),
        _p(f"标牌码 {record.plate_code}", styles.heading),
        _p(record.plate_url, styles.small),
        Spacer(1, 2 * mm),
        _p(f"“六个一”达标 {standing.met}/6", styles.cell),
        _p(f"档案完整度 {len(completeness.filled)}/{completeness.total}", styles.cell),
    ]
    table = Table(
        [[photo_flowable(photo, styles), side]],
        colWidths=[PHOTO_WIDTH + 4 * mm, FRAME_WIDTH - PHOTO_WIDTH - 4 * mm],
    )
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("LEFTPADDING", (0, 0), (0, 0), 0),
            ]
        )
    )
    return table


def _six_table(record: Record, styles: Styles) -> Table:
    rows: list[list[Any]] = [
        [_s(x) for x in ("项目", "是否达标", "依据", "日期")],
    ]
    for verdict in record.standing.verdicts:
        rows.append(
            [
                _s(verdict.label_zh),
                _s("达标" if verdict.met else "未达标"),
                _p(verdict.evidence_zh, styles.cell),
                _s(verdict.evidence_on and verdict.evidence_on.isoformat()),
            ]
        )
    table = Table(rows, colWidths=[28 * mm, 18 * mm, FRAME_WIDTH - 70 * mm, 24 * mm])
    table.setStyle(_grid(styles.font, header=True))
    return table


def _inspections_table(record: Record, styles: Styles) -> Flowable:
    if not record.inspections:
        return _p("尚无巡查记录", styles.cell)
    rows: list[list[Any]] = [
        [_s(x) for x in ("巡查日期", "巡查人", "设施状况", "审核状态", "回执号")]
    ]
    for line in record.inspections:
        rows.append(
            [
                _s(line.inspected_on.isoformat()),
                _p(line.inspector, styles.cell),
                _s(_label(CONDITION_LABELS_ZH, line.condition)),
                _s(_label(REVIEW_LABELS_ZH, line.review_status)),
                _s(line.receipt),
            ]
        )
    width = FRAME_WIDTH / 5
    table = Table(rows, colWidths=[width] * 5)
    table.setStyle(_grid(styles.font, header=True))
    return table


def _grid(font: str, *, header: bool) -> TableStyle:
    commands: list[Any] = [
        ("GRID", (0, 0), (-1, -1), 0.5, GRID),
        ("FONT", (0, 0), (-1, -1), font, CELL_SIZE),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if header:
        commands.append(("BACKGROUND", (0, 0), (-1, 0), SHADE))
    return TableStyle(commands)


def facility_page(record: Record, styles: Styles, photo: bytes | None) -> Flowable:
    """One facility's 一处一表, kept on one page (shrunk to fit, never split)."""
    completeness = of_facility(record.facility)
    missing = "、".join(COLLECTION_FIELDS[m] for m in completeness.missing) or "无"
    story = [
        Paragraph(TITLE_ZH, styles.title),
        _p(f"{record.county} {record.township} · {record.facility.name}", styles.subtitle),
        _header(record, styles, photo),
        Spacer(1, 2 * mm),
        _record_table(record, styles),
        _p(f"“六个一”达标情况：{record.standing.met}/6", styles.heading),
        _six_table(record, styles),
        _p(
            f"档案完整度：{len(completeness.filled)}/{completeness.total}　缺项：{missing}",
            styles.heading,
        ),
        _p(f"最近巡查（最多 {LAST_INSPECTIONS} 次）", styles.heading),
        _inspections_table(record, styles),
    ]
    return OnePage(story)


def toc_pages(count: int) -> int:
    """Pages the table of contents of ``count`` facilities takes (at least one)."""
    return max(1, math.ceil(count / TOC_ROWS))


def first_facility_page(count: int) -> int:
    return 2 + toc_pages(count)


class _Document(BaseDocTemplate):
    def __init__(self, target: IO[bytes], font: str, printed_at: datetime, title: str) -> None:
        super().__init__(
            target,
            pagesize=A4,
            leftMargin=MARGIN,
            rightMargin=MARGIN,
            topMargin=MARGIN,
            bottomMargin=MARGIN + FOOTER,
            title=title,
            author="烈士纪念设施巡查系统",
            invariant=1,
        )
        self.font, self.printed = font, printed_at.strftime("%Y-%m-%d %H:%M")
        frame = Frame(
            MARGIN,
            MARGIN + FOOTER,
            FRAME_WIDTH,
            FRAME_HEIGHT,
            leftPadding=0,
            rightPadding=0,
            topPadding=0,
            bottomPadding=0,
        )
        self.addPageTemplates([PageTemplate("page", [frame], onPage=self._footer)])
        self._doSave = 0  # the caller adds the plates, then saves

    def _footer(self, canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont(self.font, 8)
        canvas.setFillColor(GRID)
        canvas.drawString(MARGIN, MARGIN, f"打印日期 {self.printed}")
        canvas.drawRightString(PAGE_WIDTH - MARGIN, MARGIN, f"第 {doc.page} 页")
        canvas.restoreState()


class OnePage(Flowable):
    """Flowables kept on one page, never split: laid out as they are when they fit (each
    wrapped once), else shrunk to fit (``KeepInFrame``, which wraps them again and again
    to find the scale: only the pages that need it pay for it)."""

    def __init__(self, story: list[Flowable]) -> None:
        super().__init__()
        self.story = story
        self._placed: list[tuple[Flowable, float, float, float, float]] = []
        self._shrunk: KeepInFrame | None = None

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        placed, total = [], 0.0
        for flowable in self.story:
            width, height = flowable.wrapOn(self.canv, available_width, available_height)
            before, after = flowable.getSpaceBefore(), flowable.getSpaceAfter()
            placed.append((flowable, width, height, before, after))
            total += before + height + after
        if total <= available_height:
            self._placed, self._shrunk = placed, None
            self.width, self.height = available_width, total
        else:
            self._shrunk = KeepInFrame(available_width, available_height, self.story, "shrink")
            self.width, self.height = self._shrunk.wrapOn(
                self.canv, available_width, available_height
            )
        return self.width, self.height

    def draw(self) -> None:
        if self._shrunk is not None:
            self._shrunk.drawOn(self.canv, 0, 0)
            return
        y = self.height
        for flowable, width, height, before, after in self._placed:
            y -= before + height
            align = getattr(flowable, "hAlign", "LEFT")
            x = {"CENTER": (self.width - width) / 2, "CENTRE": (self.width - width) / 2}.get(
                align, self.width - width if align == "RIGHT" else 0
            )
            flowable.drawOn(self.canv, x, y)
            y -= after


class LazyPage(Flowable):
    """A facility's page built (its photo read from the store) only when the layout
    reaches it, and let go once drawn: one photo in hand at a time."""

    def __init__(self, record: Record, styles: Styles, read_photo: PhotoReader) -> None:
        super().__init__()
        self.record, self.styles, self.read_photo = record, styles, read_photo
        self._page: Flowable | None = None

    def _built(self) -> Flowable:
        if self._page is None:
            photo = _read(self.read_photo, self.record.photo_key)
            self._page = facility_page(self.record, self.styles, photo)
        return self._page

    def wrap(self, available_width: float, available_height: float) -> tuple[float, float]:
        page = self._built()
        self.width, self.height = page.wrapOn(self.canv, available_width, available_height)
        return self.width, self.height

    def draw(self) -> None:
        self._built().drawOn(self.canv, 0, 0)
        self._page = None


def _read(read_photo: PhotoReader, key: str | None) -> bytes | None:
    if key is None:
        return None
    try:
        return read_photo(key)
    except Exception as exc:  # the store unreachable: the page says 无照片
        log.warning("record photo %s unreadable: %r", key, exc)
        return None


def render_facility(
    target: IO[bytes], record: Record, printed_at: datetime, font: str, read_photo: PhotoReader
) -> None:
    """一处一表 of one facility into ``target``."""
    styles = Styles(font)
    doc = _Document(target, font, printed_at, f"一处一表 {record.facility.code}")
    doc.build([facility_page(record, styles, _read(read_photo, record.photo_key))])
    doc.canv.save()


def render_book(
    target: IO[bytes], book: Book, font: str, read_photo: PhotoReader, base_url: str
) -> None:
    """一乡一册 of a township into ``target``: cover, contents, pages, plates."""
    styles = Styles(font)
    records = book.records
    doc = _Document(target, font, book.printed_at, f"一乡一册 {book.township.name}")
    story: list[Flowable] = _cover(book, styles)
    story.append(PageBreak())
    first = first_facility_page(len(records))
    for start in range(0, max(1, len(records)), TOC_ROWS):
        story += _toc_page(records[start : start + TOC_ROWS], start, first, styles)
        story.append(PageBreak())
    for record in records:
        story += [LazyPage(record, styles, read_photo), PageBreak()]
    if story and isinstance(story[-1], PageBreak):
        story.pop()
    doc.build(story)
    facilities = [r.facility for r in records]
    draw_plates(
        doc.canv,
        labels_for(facilities, {book.township.id: book.township.name}, base_url),
        font,
    )
    doc.canv.save()


def _cover(book: Book, styles: Styles) -> list[Flowable]:
    n = len(book.records)
    six = sum(r.standing.all_met for r in book.records)
    complete = sum(of_facility(r.facility).complete for r in book.records)
    figures = Table(
        [
            [_p("烈士纪念设施", styles.cover_line), _p(f"{n} 处", styles.cover_line)],
            [_p("“六个一”达标", styles.cover_line), _p(f"{six}/{n}", styles.cover_line)],
            [_p("档案完整", styles.cover_line), _p(f"{complete}/{n}", styles.cover_line)],
        ],
        colWidths=[60 * mm, 50 * mm],
    )
    figures.setStyle(_grid(styles.font, header=False))
    return [
        Spacer(1, 50 * mm),
        Paragraph(BOOK_TITLE_ZH, styles.cover_title),
        _p(book.county, styles.cover_line),
        _p(book.township.name, styles.cover_title),
        _p(f"编制日期 {book.printed_on.isoformat()}", styles.cover_line),
        Spacer(1, 20 * mm),
        figures,
    ]


def _toc_page(records: Sequence[Record], start: int, first: int, styles: Styles) -> list[Flowable]:
    rows: list[list[Any]] = [[_s(x) for x in ("序号", "编号", "名称", "六个一", "档案", "页码")]]
    for i, record in enumerate(records, start):
        completeness = of_facility(record.facility)
        rows.append(
            [
                _s(i + 1),
                _s(record.facility.code),
                _p(record.facility.name, styles.cell),
                _s(f"{record.standing.met}/6"),
                _s(f"{len(completeness.filled)}/{completeness.total}"),
                _s(first + i),
            ]
        )
    table = Table(
        rows,
        colWidths=[14 * mm, 34 * mm, FRAME_WIDTH - 96 * mm, 16 * mm, 16 * mm, 16 * mm],
        repeatRows=1,
    )
    table.setStyle(_grid(styles.font, header=True))
    heading = Paragraph("目　录" if start == 0 else "目　录（续）", styles.title)
    return [KeepInFrame(FRAME_WIDTH, FRAME_HEIGHT, [heading, table], mode="shrink")]
