"""The annual report as a Word document, laid out as a county bureau files its reports.

A4 with the margins of the official-document standard (GB/T 9704), a centred title in
宋体, the date, the generated paragraph in 仿宋 with a two-character indent, then the
tables (宋体 五号) with a totals row, and the page number in the footer (— 1 —).
Chinese fonts are named for East Asian text (``w:eastAsia``), so Word on a Chinese
Windows picks them; no font file travels with the document.
"""

import io
from collections.abc import Sequence
from datetime import date
from typing import Any

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.table import WD_TABLE_ALIGNMENT
from docx.enum.text import WD_ALIGN_PARAGRAPH, WD_LINE_SPACING
from docx.oxml import OxmlElement
from docx.oxml.ns import qn
from docx.shared import Mm, Pt
from docx.table import Table
from docx.text.paragraph import Paragraph

from app.funds.money import yuan_decimal
from app.models import Tier
from app.models.enums import CATEGORY_LABELS_ZH, TIER_LABELS_ZH
from app.reports.annual import _percent as percent
from app.reports.schemas import AnnualReport

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"

TITLE_FONT = "宋体"
HEADING_FONT = "黑体"
BODY_FONT = "仿宋"
TABLE_FONT = "宋体"
#: 二号, 三号 and 五号 in points
TITLE_SIZE, BODY_SIZE, TABLE_SIZE = Pt(22), Pt(16), Pt(10.5)


def annual_title(*, county: str, township: str | None, year: int) -> str:
    """``沁水县2025年度零散烈士纪念设施保护管理工作情况`` (a township's report names it)."""
    return f"{county}{township or ''}{year}年度零散烈士纪念设施保护管理工作情况"


def date_zh(day: date) -> str:
    return f"{day.year}年{day.month}月{day.day}日"


def money(fen: int) -> str:
    """Yuan with two decimals and thousands separators, as a table cell: ``12,345.67``."""
    return f"{yuan_decimal(fen):,.2f}"


def annual_document(report: AnnualReport, *, title: str, issued_on: date) -> bytes:
    """The report's paragraph and tables as a .docx file."""
    document = Document()
    _page_setup(document)
    _title(document, title)
    _paragraph(document, f"（{date_zh(issued_on)}）", centred=True, space_after=Pt(12))

    _heading(document, "一、总体情况")
    _paragraph(document, report.summary_zh, indent=True)

    _heading(document, "二、主要数据")
    facilities = report.facilities
    _table(
        document,
        "表1　在管设施（按保护级别，单位：处）",
        ["乡镇", *(TIER_LABELS_ZH[t] for t in Tier), "合计"],
        [
            [row.township.name, *(str(row.by_tier[t]) for t in Tier), str(row.active)]
            for row in facilities.by_township
        ],
        ["合计", *(str(facilities.by_tier[t]) for t in Tier), str(facilities.active_total)],
        widths=[24] + [22] * 6,
    )
    patrols = report.patrols
    _table(
        document,
        "表2　日常巡查情况",
        ["乡镇", "巡查（次）", "覆盖设施（处）", "巡查到位率"],
        [
            [
                row.township.name,
                str(row.inspections),
                str(row.facilities_inspected),
                percent(row.on_site_rate),
            ]
            for row in patrols.by_township
        ],
        [
            "合计",
            str(patrols.total),
            str(patrols.facilities_inspected),
            percent(patrols.on_site_rate),
        ],
        widths=[36, 40, 40, 40],
    )
    if report.campaigns:
        _table(
            document,
            "表3　集中巡查情况",
            ["名称", "起止日期", "应巡查（处）", "已巡查（处）", "覆盖率"],
            [
                [
                    c.name,
                    f"{c.starts_on.month}月{c.starts_on.day}日—{c.ends_on.month}月{c.ends_on.day}日",
                    str(c.in_scope),
                    str(c.inspected),
                    percent(c.coverage),
                ]
                for c in report.campaigns
            ],
            None,
            text_columns=2,
            widths=[52, 38, 22, 22, 22],
        )
    else:
        _caption(document, "表3　集中巡查情况")
        _paragraph(document, "本年度未开展集中巡查。", indent=True)
    maintenance = report.maintenance
    _table(
        document,
        "表4　维修整改情况",
        ["类别", "工单（件）", "已完成（件）", "支出（元）"],
        [
            [CATEGORY_LABELS_ZH[c.category], str(c.orders), str(c.completed), money(c.spent_fen)]
            for c in maintenance.by_category
        ],
        [
            "合计",
            str(sum(c.orders for c in maintenance.by_category)),
            str(sum(c.completed for c in maintenance.by_category)),
            money(maintenance.spent_fen),
        ],
        widths=[36, 40, 40, 40],
    )
    funds = report.funds
    _table(
        document,
        "表5　保护经费执行情况",
        ["乡镇", "下拨（元）", "已占用（元）", "已支出（元）", "可用（元）", "执行率"],
        [
            [
                a.township.name,
                money(a.allocated_fen),
                money(a.committed_fen),
                money(a.spent_fen),
                money(a.available_fen),
                percent(a.execution_rate),
            ]
            for a in funds.townships
        ],
        [
            "合计",
            money(funds.totals.allocated_fen),
            money(funds.totals.committed_fen),
            money(funds.totals.spent_fen),
            money(funds.totals.available_fen),
            percent(funds.totals.execution_rate),
        ],
        widths=[20, 30, 28, 28, 30, 20],
    )
    _table(
        document,
        "表6　“六个一”达标及信息采集情况",
        ["乡镇", "在管设施（处）", "“六个一”达标（处）", "达标率", "信息完整度"],
        [
            [
                row.township.name,
                str(row.active),
                str(row.six_met),
                percent(row.six_rate),
                percent(row.completeness),
            ]
            for row in facilities.by_township
        ],
        [
            "合计",
            str(facilities.active_total),
            str(facilities.six_met),
            percent(facilities.six_rate),
            percent(facilities.completeness),
        ],
        widths=[28, 32, 36, 30, 30],
    )
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


# --- layout -----------------------------------------------------------------------------


def _fonts(rpr: Any, name: str) -> None:
    """Name ``name`` in run properties (``w:rPr``) for Latin and East Asian text alike."""
    _name_fonts(rpr.get_or_add_rFonts(), name)


def _name_fonts(fonts: Any, name: str) -> None:
    """Set ``w:rFonts``, dropping the theme's fonts (Word would prefer them for Chinese)."""
    for attribute in ("w:asciiTheme", "w:hAnsiTheme", "w:eastAsiaTheme", "w:cstheme"):
        fonts.attrib.pop(qn(attribute), None)
    for attribute in ("w:ascii", "w:hAnsi", "w:eastAsia", "w:cs"):
        fonts.set(qn(attribute), name)


def _page_setup(document: DocumentObject) -> None:
    section = document.sections[0]
    section.page_width, section.page_height = Mm(210), Mm(297)
    section.top_margin, section.bottom_margin = Mm(37), Mm(35)
    section.left_margin, section.right_margin = Mm(28), Mm(26)
    defaults = f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}"
    default_fonts = document.styles.element.find(f"{defaults}/{qn('w:rFonts')}")
    if default_fonts is not None:
        _name_fonts(default_fonts, BODY_FONT)
    language = document.styles.element.find(f"{defaults}/{qn('w:lang')}")
    if language is not None:
        language.set(qn("w:eastAsia"), "zh-CN")
    normal = document.styles["Normal"]
    _fonts(normal.element.get_or_add_rPr(), BODY_FONT)
    normal.font.size = BODY_SIZE
    spacing = normal.paragraph_format
    spacing.space_before, spacing.space_after = Pt(0), Pt(0)
    spacing.line_spacing_rule = WD_LINE_SPACING.EXACTLY
    spacing.line_spacing = Pt(28)
    _page_number(section.footer.paragraphs[0])


def _page_number(paragraph: Paragraph) -> None:
    """``— 1 —`` centred in the footer, as official documents number their pages."""
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    _run(paragraph, "— ", font=TITLE_FONT, size=Pt(14))
    field = OxmlElement("w:fldSimple")
    field.set(qn("w:instr"), "PAGE")
    paragraph._p.append(field)
    number = _run(paragraph, "1", font=TITLE_FONT, size=Pt(14))
    field.append(number._r)
    _run(paragraph, " —", font=TITLE_FONT, size=Pt(14))


def _run(paragraph: Paragraph, text: str, *, font: str, size: Pt, bold: bool = False) -> object:
    run = paragraph.add_run(text)
    _fonts(run._r.get_or_add_rPr(), font)
    run.font.size = size
    run.bold = bold
    return run


def _paragraph(
    document: DocumentObject,
    text: str,
    *,
    font: str = BODY_FONT,
    size: Pt = BODY_SIZE,
    bold: bool = False,
    centred: bool = False,
    indent: bool = False,
    space_after: Pt | None = None,
) -> Paragraph:
    paragraph = document.add_paragraph()
    if centred:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    else:
        paragraph.alignment = WD_ALIGN_PARAGRAPH.JUSTIFY
    if indent:
        paragraph.paragraph_format.first_line_indent = Pt(size.pt * 2)  # two characters
    if size.pt > BODY_SIZE.pt:
        paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.AT_LEAST
        paragraph.paragraph_format.space_after = Pt(12)
    if space_after is not None:
        paragraph.paragraph_format.space_after = space_after
    _run(paragraph, text, font=font, size=size, bold=bold)
    return paragraph


#: where a long title is broken, as bureaus set it: the subject on the first line
_TITLE_BREAK = "保护管理工作情况"


def _title(document: DocumentObject, title: str) -> None:
    """The title, centred; a long one on two lines before its last phrase."""
    paragraph = document.add_paragraph()
    paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
    paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.AT_LEAST
    paragraph.paragraph_format.space_after = Pt(12)
    head, brk, tail = title.rpartition(_TITLE_BREAK)
    if brk and len(title) > 20:
        _run(paragraph, head, font=TITLE_FONT, size=TITLE_SIZE, bold=True).add_break()
        _run(paragraph, brk + tail, font=TITLE_FONT, size=TITLE_SIZE, bold=True)
    else:
        _run(paragraph, title, font=TITLE_FONT, size=TITLE_SIZE, bold=True)


def _heading(document: DocumentObject, text: str) -> None:
    paragraph = _paragraph(document, text, font=HEADING_FONT)
    paragraph.paragraph_format.first_line_indent = Pt(BODY_SIZE.pt * 2)
    paragraph.paragraph_format.keep_with_next = True


def _caption(document: DocumentObject, text: str) -> None:
    paragraph = _paragraph(document, text, font=HEADING_FONT, size=Pt(12), centred=True)
    paragraph.paragraph_format.space_before = Pt(10)
    paragraph.paragraph_format.space_after = Pt(4)
    paragraph.paragraph_format.keep_with_next = True


def _table(
    document: DocumentObject,
    caption: str,
    header: Sequence[str],
    rows: Sequence[Sequence[str]],
    totals: Sequence[str] | None,
    *,
    widths: Sequence[float],
    text_columns: int = 1,
) -> Table:
    """A captioned table, ``widths`` in millimetres (the text is 156 mm wide): the header
    repeats on every page; the first ``text_columns`` columns are text, the rest figures
    (right-aligned)."""
    _caption(document, caption)
    body = [*rows, *([totals] if totals else [])]
    table = document.add_table(rows=1 + len(body), cols=len(header))
    table.style = document.styles["Table Grid"]
    table.alignment = WD_TABLE_ALIGNMENT.CENTER
    table.autofit = False
    for column, width in zip(table.columns, widths, strict=True):
        column.width = Mm(width)
        for cell in column.cells:
            cell.width = Mm(width)  # Word reads the cells' widths, LibreOffice the grid's
    repeat = OxmlElement("w:tblHeader")
    repeat.set(qn("w:val"), "true")
    table.rows[0]._tr.get_or_add_trPr().append(repeat)
    for index, values in enumerate([header, *body]):
        is_header = index == 0
        is_total = totals is not None and index == len(body)
        for column, (cell, value) in enumerate(zip(table.rows[index].cells, values, strict=True)):
            paragraph = cell.paragraphs[0]
            paragraph.paragraph_format.line_spacing_rule = WD_LINE_SPACING.SINGLE
            paragraph.paragraph_format.first_line_indent = Pt(0)
            paragraph.paragraph_format.space_before = Pt(1.5)
            paragraph.paragraph_format.space_after = Pt(1.5)
            if is_header:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.CENTER
            elif column >= text_columns:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.RIGHT
            else:
                paragraph.alignment = WD_ALIGN_PARAGRAPH.LEFT
            _run(paragraph, value, font=TABLE_FONT, size=TABLE_SIZE, bold=is_header or is_total)
    return table
