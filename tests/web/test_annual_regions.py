"""The annual report and funds pages of a region (issue 12): a city's staff see each county
and the region's total, choose one county, and download that county's documents; a
county's staff see only theirs."""

import html
import re

from fastapi.testclient import TestClient

from tests.factories import PASSWORD
from tests.reports.test_annual_regions import YEAR, Region, counties, region  # noqa: F401
from tests.web.conftest import sign_in
from tests.web.test_annual import download_links, row_names


def signed_in(client: TestClient, place: Region, who: str) -> TestClient:
    sign_in(client, place.users[who].username, PASSWORD)
    return client


def options(page: str, name: str) -> list[tuple[str, str]]:
    select = re.search(rf'<select name="{name}">(.*?)</select>', page, re.DOTALL)
    assert select is not None, f"no {name} selector"
    return re.findall(r'<option value="([^"]*)"[^>]*>([^<]*)</option>', select.group(1))


def test_a_city_sees_each_county_and_the_total(
    client: TestClient,
    region: Region,  # noqa: F811
) -> None:
    browser = signed_in(client, region, "city")
    report = browser.get("/api/v1/reports/annual", params={"year": YEAR}).json()
    page = browser.get("/annual", params={"year": YEAR})
    assert page.status_code == 200
    assert options(page.text, "division") == [("", "全部县（市、区）"), ("140521", "沁水县"),
                                              ("140522", "阳城县")]  # fmt: skip
    assert "各县（市、区）主要数据" in page.text
    for code, name in (("140521", "沁水县"), ("140522", "阳城县")):
        assert f'href="/annual?year={YEAR}&amp;division={code}">{name}</a>' in page.text
    assert "沁水县、阳城县" in page.text  # the title names the region's counties
    assert html.escape(report["summary_zh"], quote=False) in page.text
    assert {"龙港镇", "凤城镇"} <= set(row_names(page.text))
    assert "南街街道" not in page.text  # another city's
    assert download_links(page.text)["docx"] == f"/api/v1/exports/annual.docx?year={YEAR}"
    everything = browser.get("/annual", params={"year": YEAR, "division": ""})
    assert everything.status_code == 200  # "all counties": the whole reach
    assert "各县（市、区）主要数据" in everything.text


def test_a_city_chooses_one_county(
    client: TestClient,
    region: Region,  # noqa: F811
) -> None:
    browser = signed_in(client, region, "city")
    page = browser.get("/annual", params={"year": YEAR, "division": "140522"})
    assert page.status_code == 200
    assert ("140522", "阳城县") in [
        (value, name) for value, name in options(page.text, "division")
    ] and '<option value="140522" selected>' in page.text
    assert f"阳城县{YEAR}年度零散烈士纪念设施保护管理工作情况" in page.text  # the print title
    assert "龙港镇" not in page.text and "各县（市、区）主要数据" not in page.text
    links = download_links(page.text)
    assert links["docx"] == f"/api/v1/exports/annual.docx?year={YEAR}&division=140522"
    word = browser.get(links["docx"])
    assert word.status_code == 200
    assert browser.get("/annual", params={"year": YEAR, "division": "1402"}).status_code == 404
    refused = browser.get("/annual", params={"year": YEAR, "division": "14x"})
    assert refused.status_code == 422 and "text/html" in refused.headers["content-type"]


def test_a_county_sees_only_its_own(
    client: TestClient,
    region: Region,  # noqa: F811
) -> None:
    browser = signed_in(client, region, "qinshui")
    page = browser.get("/annual", params={"year": YEAR})
    assert page.status_code == 200
    assert '<select name="division">' not in page.text  # nothing to choose
    assert "阳城县" not in page.text and "凤城镇" not in page.text
    assert browser.get("/annual", params={"year": YEAR, "division": "140522"}).status_code == 404
    funds = browser.get("/funds", params={"year": YEAR})
    assert funds.status_code == 200 and "小计" not in funds.text


def test_the_funds_page_of_a_city_adds_up_each_county(
    client: TestClient,
    region: Region,  # noqa: F811
) -> None:
    browser = signed_in(client, region, "city")
    page = browser.get("/funds", params={"year": YEAR})
    assert page.status_code == 200
    rows = [name for name in row_names(page.text) if name in
            {"龙港镇", "端氏镇", "沁水县小计", "凤城镇", "北留镇", "阳城县小计", "Total", "合计"}]  # fmt: skip
    assert rows[:6] == ["龙港镇", "端氏镇", "沁水县小计", "凤城镇", "北留镇", "阳城县小计"]
