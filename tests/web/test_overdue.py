"""Overdue (逾期): the API's overdue list with its filters, a township officer's own township
only, and export buttons that carry the filters and download with the session cookie."""

import csv
import io
import re
from datetime import date, timedelta
from html import unescape

from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import Database
from app.models import Township
from tests.web.conftest import DEMO_PASSWORDS, sign_in


def signed_in(client: TestClient, username: str) -> TestClient:
    sign_in(client, username, DEMO_PASSWORDS[username])
    return client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def codes(html: str) -> list[str]:
    """The codes of the list's rows (its first column)."""
    body = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    return re.findall(r'<tr>\s*<td class="nowrap">([^<]+)</td>', body.group(1)) if body else []


def export_links(html: str) -> dict[str, str]:
    links = re.findall(r'href="(/api/v1/exports/overdue\.(csv|xlsx)[^"]*)"', html)
    return {kind: unescape(href) for href, kind in links}


def township_id(db: Database, name: str) -> int:
    with db.session(write=False) as session:
        return session.exec(select(Township.id).where(Township.name == name)).one()


def api(client: TestClient, query: str = "") -> dict:
    return client.get(f"/api/v1/overdue?limit=500&{query}").json()


def test_the_list_is_the_apis_most_overdue_first(page_client) -> None:
    client = signed_in(page_client, "county")
    expected = api(client)
    page = client.get("/overdue")
    assert page.status_code == 200
    assert codes(page.text) == [i["facility"]["code"] for i in expected["items"]][:50]
    as_of = date.fromisoformat(expected["as_of"])
    text = text_of(page.text)
    assert (
        f"截至{as_of.year}年{as_of.month}月{as_of.day}日，逾期未巡查 {expected['total']} 处" in text
    )
    first = expected["items"][0]
    assert f"{first['days_overdue']} 天" in text


def test_filters_by_township_tier_days_and_date(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    township = township_id(seeded, "龙港镇")
    everything = api(client)
    as_of = date.fromisoformat(everything["as_of"])
    for query, api_query, keep in (
        (f"township_id={township}", f"township_id={township}", None),
        ("tier=unrated", "tier=unrated", None),
        ("min_days=1000", "", lambda item: item["days_overdue"] >= 1000),
        (
            f"as_of={(as_of - timedelta(days=400)).isoformat()}&min_days=30",
            f"as_of={(as_of - timedelta(days=400)).isoformat()}",
            lambda item: item["days_overdue"] >= 30,
        ),
    ):
        items = [i for i in api(client, api_query)["items"] if keep is None or keep(i)]
        page = client.get(f"/overdue?{query}")
        assert page.status_code == 200, query
        assert codes(page.text) == [i["facility"]["code"] for i in items], query
        assert f" {len(items)} 处" in text_of(page.text)
    # "All" choices are no filter
    page = client.get("/overdue?township_id=&tier=&min_days=&as_of=")
    assert codes(page.text) == [i["facility"]["code"] for i in everything["items"]][:50]


def test_nothing_overdue_says_so(page_client) -> None:
    client = signed_in(page_client, "longgang")
    page = client.get("/overdue?as_of=2000-01-01")
    assert codes(page.text) == []
    assert "没有符合筛选条件的逾期设施" in page.text


def test_a_township_officer_sees_only_their_township(page_client, seeded) -> None:
    client = signed_in(page_client, "longgang")
    page = client.get("/overdue")
    own = api(client)
    assert own["items"] and {i["facility"]["township"]["name"] for i in own["items"]} == {"龙港镇"}
    assert codes(page.text) == [i["facility"]["code"] for i in own["items"]]
    assert 'name="township_id"' not in page.text
    assert client.get(f"/overdue?township_id={township_id(seeded, '端氏镇')}").status_code == 404
    # and the export holds the same rows
    exported = client.get(export_links(page.text)["csv"])
    rows = list(csv.reader(io.StringIO(exported.content.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == codes(page.text)


def test_export_buttons_carry_the_filters_and_download_with_the_cookie(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    township = township_id(seeded, "龙港镇")
    as_of = (date.fromisoformat(api(client)["as_of"]) - timedelta(days=10)).isoformat()
    page = client.get(f"/overdue?township_id={township}&tier=unrated&as_of={as_of}")
    links = export_links(page.text)
    assert set(links) == {"csv", "xlsx"}
    for href in links.values():
        assert f"township_id={township}" in href and "tier=unrated" in href
        assert f"as_of={as_of}" in href
    csv_answer = client.get(links["csv"])
    assert csv_answer.status_code == 200
    assert csv_answer.headers["content-type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(csv_answer.content.decode("utf-8-sig"))))
    assert [r[0] for r in rows[1:]] == codes(page.text)
    xlsx = client.get(links["xlsx"])
    assert xlsx.status_code == 200
    assert xlsx.content[:2] == b"PK"  # a zip: the workbook
    # without the cookie the export is not given out
    client.cookies.clear()
    assert client.get(links["csv"]).status_code == 401


def test_the_days_filter_says_the_exports_do_not_apply_it(page_client) -> None:
    client = signed_in(page_client, "county")
    page = client.get("/overdue?min_days=30")
    assert "min_days" not in "".join(export_links(page.text).values())
    assert "“逾期天数”筛选只用于本页列表" in page.text
    assert "只用于本页列表" not in client.get("/overdue").text


def test_a_bad_filter_is_an_error_page(page_client) -> None:
    client = signed_in(page_client, "county")
    for query in ("tier=imperial", "min_days=0", "as_of=yesterday"):
        assert client.get(f"/overdue?{query}").status_code == 422, query
