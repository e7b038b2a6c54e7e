"""The annual report page (年度报告): the year's figures and paragraph for each role, the
year selector, and the Word and Excel downloads it links to."""

import html
import io
import re

import pytest
from docx import Document
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.exports.docx import DOCX
from app.exports.tables import XLSX
from tests.web.conftest import DEMO_PASSWORDS, sign_in


def signed_in(client: TestClient, username: str) -> TestClient:
    sign_in(client, username, DEMO_PASSWORDS[username])
    return client


def api_report(client: TestClient, **params: object) -> dict:
    """The JSON report for the same signed-in user (GETs carry the session cookie)."""
    response = client.get("/api/v1/reports/annual", params=params)
    assert response.status_code == 200, response.text
    return response.json()


def download_links(page: str) -> dict[str, str]:
    return {
        kind: html.unescape(href)
        for href, kind in re.findall(r'href="(/api/v1/exports/annual\.(docx|xlsx)\?[^"]*)"', page)
    }


def row_names(page: str) -> list[str]:
    return re.findall(r'<th scope="row">([^<]+)</th>', page)


@pytest.mark.parametrize("username", ["admin", "county"])
def test_staff_see_the_county_report_of_the_latest_year_with_allocations(
    page_client: TestClient, username: str
) -> None:
    client = signed_in(page_client, username)
    report = api_report(client)  # the API's default year: the latest with allocations
    page = client.get("/annual")
    assert page.status_code == 200
    assert html.escape(report["summary_zh"], quote=False) in page.text
    assert f'<option value="{report["year"]}" selected>' in page.text
    names = row_names(page.text)
    for row in report["facilities"]["by_township"]:
        assert row["township"]["name"] in names
    assert page.text.count("<tfoot>") == 3  # totals under townships, repairs and funds
    links = download_links(page.text)
    assert links == {
        "docx": f"/api/v1/exports/annual.docx?year={report['year']}",
        "xlsx": f"/api/v1/exports/annual.xlsx?year={report['year']}",
    }


def test_a_township_officer_sees_only_their_township(page_client: TestClient) -> None:
    client = signed_in(page_client, "longgang")
    report = api_report(client, year=2025)
    page = client.get("/annual", params={"year": 2025})
    assert page.status_code == 200
    assert report["summary_zh"].startswith("2025年，龙港镇")
    assert html.escape(report["summary_zh"], quote=False) in page.text
    names = set(row_names(page.text))
    assert "龙港镇" in names
    assert "端氏镇" not in page.text  # no other township anywhere on the page
    assert page.text.count("<tfoot>") == 1  # one township: only the repairs have totals
    assert "/admin" not in re.findall(r'href="([^"]+)"', page.text)


def test_choosing_a_year_shows_that_year_and_links_its_downloads(
    page_client: TestClient,
) -> None:
    client = signed_in(page_client, "county")
    default_year = api_report(client)["year"]
    other = 2025 if default_year != 2025 else 2024
    report = api_report(client, year=other)
    page = client.get("/annual", params={"year": other})
    assert page.status_code == 200
    assert html.escape(report["summary_zh"], quote=False) in page.text
    assert f'<option value="{other}" selected>' in page.text
    assert f'<option value="{default_year}">' in page.text  # still offered
    assert download_links(page.text)["docx"].endswith(f"year={other}")
    money = re.search(r"<dt>下拨经费</dt><dd>([^<]+)</dd>", page.text)
    assert money is not None
    allocated = report["funds"]["totals"]["allocated_fen"]
    assert money.group(1) == f"¥{allocated // 100:,}.{allocated % 100:02d}"


def test_a_year_out_of_range_is_refused_with_a_page(page_client: TestClient) -> None:
    client = signed_in(page_client, "county")
    page = client.get("/annual", params={"year": 1999})
    assert page.status_code == 422
    assert "text/html" in page.headers["content-type"]
    assert "部分输入有误" in page.text


def test_a_year_without_records_says_what_to_do(page_client: TestClient) -> None:
    client = signed_in(page_client, "county")
    page = client.get("/annual", params={"year": 2001})
    assert page.status_code == 200
    assert "2001年没有设施、巡查或经费记录" in page.text


def test_the_download_links_answer_the_signed_in_user(page_client: TestClient) -> None:
    client = signed_in(page_client, "duanshi")
    links = download_links(client.get("/annual", params={"year": 2025}).text)
    word = client.get(links["docx"])
    assert word.status_code == 200
    assert word.headers["content-type"] == DOCX
    document = Document(io.BytesIO(word.content))
    title = document.paragraphs[0].text.replace("\n", "")
    assert title == "沁水县端氏镇2025年度零散烈士纪念设施保护管理工作情况"
    excel = client.get(links["xlsx"])
    assert excel.status_code == 200
    assert excel.headers["content-type"] == XLSX
    overview = dict(load_workbook(io.BytesIO(excel.content)).worksheets[0].iter_rows(
        min_row=2, values_only=True
    ))  # fmt: skip
    assert overview["年度报告摘要"].startswith("2025年，端氏镇")


def test_signed_out_visitors_are_sent_to_sign_in(page_client: TestClient) -> None:
    response = page_client.get("/annual?year=2025", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == "/signin?next=/annual%3Fyear%3D2025"


def test_in_english_the_paragraph_stays_chinese_and_says_so(page_client: TestClient) -> None:
    client = signed_in(page_client, "county")
    client.get("/lang/en")
    page = client.get("/annual", params={"year": 2025})
    assert "<h1>Annual report 2025</h1>" in page.text
    assert '<p class="report-paragraph" lang="zh-CN">2025年，全县' in page.text
    assert "Protection funds by township" in page.text
