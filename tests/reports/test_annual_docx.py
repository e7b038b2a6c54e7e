"""The annual report as a Word document: what a bureau files — the title, the date, the
paragraph and the tables — with the same figures as the JSON report, for the caller's reach."""

import io
from datetime import date
from decimal import Decimal
from urllib.parse import unquote

from docx import Document
from docx.document import Document as DocumentObject
from docx.enum.text import WD_ALIGN_PARAGRAPH
from docx.oxml.ns import qn
from fastapi.testclient import TestClient

from app.exports.docx import DOCX
from tests.factories import World, county_today
from tests.reports.test_annual import year_2025  # noqa: F401  (fixture)

TITLE = "沁水县2025年度零散烈士纪念设施保护管理工作情况"


def word(client: TestClient, world: World, who: str, **params: object) -> DocumentObject:
    response = client.get("/api/v1/exports/annual.docx", params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == DOCX
    return Document(io.BytesIO(response.content))


def report(client: TestClient, world: World, who: str) -> dict:
    response = client.get(
        "/api/v1/reports/annual", params={"year": 2025}, headers=world.headers(who)
    )
    return response.json()


def rows(document: DocumentObject, header_start: str) -> dict[str, list[str]]:
    """The table whose header starts with ``header_start``, by its first column."""
    for table in document.tables:
        cells = [[c.text for c in row.cells] for row in table.rows]
        if cells[0][0] == header_start:
            return {row[0]: row[1:] for row in cells}
    raise AssertionError(f"no table starting with {header_start}")


def fen(text: str) -> int:
    return int(Decimal(text.replace(",", "")) * 100)


def same_rate(text: str, value: float | None) -> bool:
    if value is None:
        return text == "—"
    return abs(float(text.removesuffix("%")) / 100 - value) < 0.0006


def assert_figures_match(document: DocumentObject, figures: dict) -> None:
    tiers = ["national", "provincial", "municipal", "county", "unrated"]
    facilities = rows(document, "乡镇")  # the first such table: facilities by tier
    assert facilities["乡镇"] == ["全国重点", "省级", "市级", "县级", "未定级", "合计"]
    for row in figures["facilities"]["by_township"]:
        cells = facilities[row["township"]["name"]]
        assert [int(c) for c in cells] == [row["by_tier"][t] for t in tiers] + [row["active"]]
    total = figures["facilities"]
    assert [int(c) for c in facilities["合计"]] == [total["by_tier"][t] for t in tiers] + [
        total["active_total"]
    ]

    patrol_tables = [t for t in document.tables if t.rows[0].cells[1].text == "巡查（次）"]
    assert len(patrol_tables) == 1
    patrols = {r.cells[0].text: [c.text for c in r.cells[1:]] for r in patrol_tables[0].rows}
    for row in figures["patrols"]["by_township"]:
        inspections, sites, rate = patrols[row["township"]["name"]]
        assert (int(inspections), int(sites)) == (row["inspections"], row["facilities_inspected"])
        assert same_rate(rate, row["on_site_rate"])
    inspections, sites, rate = patrols["合计"]
    assert (int(inspections), int(sites)) == (
        figures["patrols"]["total"],
        figures["patrols"]["facilities_inspected"],
    )
    assert same_rate(rate, figures["patrols"]["on_site_rate"])

    campaigns = rows(document, "名称")
    for campaign in figures["campaigns"]:
        _dates, in_scope, inspected, coverage = campaigns[campaign["name"]]
        assert (int(in_scope), int(inspected)) == (campaign["in_scope"], campaign["inspected"])
        assert same_rate(coverage, campaign["coverage"])

    repairs = rows(document, "类别")
    labels = {"repair": "维修改造", "equipment": "设备更新", "environment": "环境整治",
              "exhibition": "展陈宣传", "commemoration": "祭扫纪念", "routine_care": "日常管护"}  # fmt: skip
    for category in figures["maintenance"]["by_category"]:
        orders, completed, spent = repairs[labels[category["category"]]]
        assert (int(orders), int(completed), fen(spent)) == (
            category["orders"],
            category["completed"],
            category["spent_fen"],
        )
    assert fen(repairs["合计"][2]) == figures["maintenance"]["spent_fen"]

    fund_tables = [t for t in document.tables if t.rows[0].cells[1].text == "下拨（元）"]
    assert len(fund_tables) == 1
    funds = {r.cells[0].text: [c.text for c in r.cells[1:]] for r in fund_tables[0].rows}
    keys = ["allocated_fen", "committed_fen", "spent_fen", "available_fen"]
    for account in figures["funds"]["townships"]:
        *amounts, rate = funds[account["township"]["name"]]
        assert [fen(a) for a in amounts] == [account[k] for k in keys]
        assert same_rate(rate, account["execution_rate"])
    *amounts, rate = funds["合计"]
    assert [fen(a) for a in amounts] == [figures["funds"]["totals"][k] for k in keys]
    assert same_rate(rate, figures["funds"]["totals"]["execution_rate"])


def test_the_word_report_holds_the_title_the_date_the_paragraph_and_the_figures(
    client: TestClient,
    year_2025: World,  # noqa: F811
) -> None:
    figures = report(client, year_2025, "county")
    document = word(client, year_2025, "county", year=2025)
    title, dated, *rest = [p for p in document.paragraphs if p.text]
    assert title.text.replace("\n", "") == TITLE  # on two lines, as bureaus set it
    assert title.alignment == WD_ALIGN_PARAGRAPH.CENTER
    today = county_today()
    assert dated.text in {
        f"（{d.year}年{d.month}月{d.day}日）"
        for d in (today, date.fromordinal(today.toordinal() - 1))
    }  # written today (county time), or just before midnight
    assert figures["summary_zh"] in [p.text for p in rest]
    assert_figures_match(document, figures)


def test_a_township_gets_its_own_word_report(
    client: TestClient,
    year_2025: World,  # noqa: F811
) -> None:
    figures = report(client, year_2025, "other")
    document = word(client, year_2025, "other", year=2025)
    texts = [p.text for p in document.paragraphs]
    assert texts[0].replace("\n", "") == "沁水县端氏镇2025年度零散烈士纪念设施保护管理工作情况"
    assert figures["summary_zh"] in texts
    assert_figures_match(document, figures)
    names = {row.cells[0].text for table in document.tables for row in table.rows}
    assert "端氏镇" in names and "龙港镇" not in names
    assert not any("龙港镇" in text for text in texts)


def test_chinese_fonts_are_named_for_east_asian_text(
    client: TestClient,
    year_2025: World,  # noqa: F811
) -> None:
    document = word(client, year_2025, "county", year=2025)
    title = document.paragraphs[0].runs[0]._r.rPr.rFonts
    assert title.get(qn("w:eastAsia")) == "宋体"
    body = next(p for p in document.paragraphs if p.text.startswith("2025年，"))
    assert body.runs[0]._r.rPr.rFonts.get(qn("w:eastAsia")) == "仿宋"
    cell = document.tables[0].rows[1].cells[0].paragraphs[0].runs[0]
    assert cell._r.rPr.rFonts.get(qn("w:eastAsia")) == "宋体"
    defaults = document.styles.element.find(
        f"{qn('w:docDefaults')}/{qn('w:rPrDefault')}/{qn('w:rPr')}/{qn('w:rFonts')}"
    )
    assert defaults.get(qn("w:eastAsia")) == "仿宋"
    assert defaults.get(qn("w:eastAsiaTheme")) is None  # a theme font would win in Word


def test_the_default_year_the_file_name_and_who_may_ask(
    client: TestClient,
    year_2025: World,  # noqa: F811
) -> None:
    response = client.get("/api/v1/exports/annual.docx", headers=year_2025.headers("county"))
    assert response.status_code == 200
    disposition = unquote(response.headers["content-disposition"])
    assert 'filename="annual_report_2025.docx"' in disposition
    assert "零散烈士纪念设施年度报告_2025.docx" in disposition
    assert client.get("/api/v1/exports/annual.docx").status_code == 401
    refused = client.get(
        "/api/v1/exports/annual.docx", params={"year": 1999}, headers=year_2025.headers("county")
    )
    assert refused.status_code == 422


def test_the_word_export_is_documented_with_its_media_type(client: TestClient) -> None:
    paths = client.get("/openapi.json").json()["paths"]
    operation = paths["/api/v1/exports/annual.docx"]["get"]
    assert DOCX in operation["responses"]["200"]["content"]
    assert {p["name"] for p in operation["parameters"]} == {"year", "division"}
    assert "404" in operation["responses"]  # a division outside the caller's reach
