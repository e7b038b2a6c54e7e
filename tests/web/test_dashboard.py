"""The dashboard (首页): the county's figures for county staff, a township's for its officer,
every figure the same as the API's for that user."""

import re
from datetime import date, timedelta
from html import unescape

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import Database
from app.models import (
    Campaign,
    CampaignKind,
    Inspection,
    Role,
    Township,
    User,
)
from app.schedule import campaigns
from app.schedule.schemas import CampaignCreate
from app.web.i18n import format_money
from app.web.pages.dashboard import pick_campaign
from tests import factories
from tests.web.conftest import DEMO_PASSWORDS, sign_in

TOWNSHIP_OFFICERS = {"longgang": "龙港镇", "duanshi": "端氏镇"}


def signed_in(client: TestClient, username: str) -> TestClient:
    sign_in(client, username, DEMO_PASSWORDS[username])
    return client


def section(html: str, heading_id: str) -> str:
    """The HTML of the dashboard panel labelled by ``heading_id``."""
    match = re.search(
        rf'<section class="panel" aria-labelledby="{heading_id}">(.*?)</section>', html, re.S
    )
    assert match, f"no panel {heading_id}"
    return match.group(1)


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html)))


def township_names(db: Database) -> dict[int, str]:
    with db.session(write=False) as session:
        return {t.id: t.name for t in session.exec(select(Township)).all()}


def today_in_county(client: TestClient) -> date:
    return date.fromisoformat(client.get("/api/v1/overdue?limit=1").json()["as_of"])


# --- who sees what ----------------------------------------------------------------------------


@pytest.mark.parametrize("username", ["admin", "county"])
def test_county_staff_see_every_township(
    page_client: TestClient, seeded: Database, username
) -> None:
    client = signed_in(page_client, username)
    page = client.get("/")
    assert page.status_code == 200
    overdue = section(page.text, "overdue-title")
    for name in township_names(seeded).values():
        assert name in overdue
    api_total = client.get("/api/v1/overdue?limit=1").json()["total"]
    assert api_total > 0  # the demo has overdue sites
    assert f'<a href="/overdue">{api_total:,} 处</a>' in overdue


@pytest.mark.parametrize("username", sorted(TOWNSHIP_OFFICERS))
def test_a_township_officer_sees_only_their_own_township(
    page_client: TestClient, seeded: Database, username: str
) -> None:
    client = signed_in(page_client, username)
    page = client.get("/").text
    own = TOWNSHIP_OFFICERS[username]
    assert own in section(page, "overdue-title")
    for name in township_names(seeded).values():
        if name != own:
            assert name not in page, f"{username} sees {name}"
    # the township's own figures, as the API gives them to this officer
    overdue = client.get("/api/v1/overdue?limit=1").json()["total"]
    row = re.search(
        rf"<th scope=\"row\">{own}</th>(.*?)</tr>", section(page, "overdue-title"), re.S
    )
    assert row and f"{overdue:,} 处" in text_of(row.group(1))
    summary = client.get("/api/v1/funds/summary").json()
    [account] = summary["townships"]
    funds = text_of(section(page, "funds-title"))
    for key in ("allocated_fen", "committed_fen", "spent_fen", "available_fen"):
        assert format_money(account[key]) in funds


def test_overdue_counts_per_township_link_to_the_overdue_list(
    page_client: TestClient, seeded: Database
) -> None:
    client = signed_in(page_client, "county")
    overdue = section(client.get("/").text, "overdue-title")
    links = dict(re.findall(r'href="/overdue\?township_id=(\d+)">([\d,]+) 处</a>', overdue))
    for township_id in township_names(seeded):
        total = client.get(f"/api/v1/overdue?township_id={township_id}&limit=1").json()["total"]
        if total:
            assert int(links[str(township_id)].replace(",", "")) == total
        else:  # nothing to open: no link
            assert str(township_id) not in links
    assert links, "no township has overdue sites in the demo"


# --- reports -----------------------------------------------------------------------------------


def test_waiting_reports_show_their_count_and_the_oldest_first(
    page_client: TestClient, seeded: Database
) -> None:
    client = signed_in(page_client, "county")
    waiting = client.get("/api/v1/inspections?review_status=submitted&limit=500").json()
    assert waiting["total"] > 5
    panel = section(client.get("/").text, "waiting-title")
    assert f"{waiting['total']:,} 份" in text_of(panel)
    assert 'href="/review"' in panel
    oldest = list(reversed(waiting["items"]))[:5]
    shown = re.findall(r'<a href="/facilities/(\d+)">', panel)
    assert shown == [str(item["facility_id"]) for item in oldest]


def test_a_township_officer_is_not_offered_the_review_queue(
    page_client: TestClient, seeded: Database
) -> None:
    page = signed_in(page_client, "longgang").get("/").text
    assert 'href="/review"' not in page.split('<main id="main"', 1)[1]
    assert "待审核巡查报告" in page


def test_latest_reports_are_the_ten_newest_with_their_review_state(
    page_client: TestClient, seeded: Database
) -> None:
    client = signed_in(page_client, "county")
    newest = client.get("/api/v1/inspections?limit=10").json()["items"]
    panel = section(client.get("/").text, "latest-title")
    rows = re.findall(r"<tr>\s*<td><a href=\"/facilities/(\d+)\">(.*?)</tr>", panel, re.S)
    assert [int(fid) for fid, _ in rows] == [item["facility_id"] for item in newest]
    assert all(("待审核" in row or "已通过" in row or "已退回" in row) for _, row in rows)
    assert "状况" in panel and "巡查时间" in panel


def test_no_reports_at_all_says_what_to_do(page_client: TestClient, seeded: Database) -> None:
    with seeded.begin() as session:
        for inspection in session.exec(select(Inspection)).all():
            session.delete(inspection)
    page = signed_in(page_client, "county").get("/").text
    assert "还没有巡查记录" in section(page, "latest-title")
    assert "暂无待审核的巡查报告" in section(page, "waiting-title")


# --- funds -------------------------------------------------------------------------------------


def test_fund_execution_is_a_chart_with_its_numbers_in_a_table(
    page_client: TestClient, seeded: Database
) -> None:
    client = signed_in(page_client, "county")
    summary = client.get("/api/v1/funds/summary").json()
    panel = section(client.get("/").text, "funds-title")
    assert '<svg xmlns="http://www.w3.org/2000/svg" role="img"' in panel
    assert f"{summary['year']}年各乡镇经费执行情况" in panel
    assert 'class="legend"' in panel and "已占用" in panel
    table = panel.split("<table", 1)[1]
    for row in summary["townships"]:
        match = re.search(
            rf"<th scope=\"row\">{row['township']['name']}</th>(.*?)</tr>", table, re.S
        )
        assert match, row["township"]["name"]
        cells = re.findall(r'<td class="num[^"]*">([^<]*)</td>', match.group(1))
        assert cells[:4] == [
            format_money(row[k])
            for k in ("allocated_fen", "committed_fen", "spent_fen", "available_fen")
        ]
    totals = re.search(r"<tfoot>(.*?)</tfoot>", table, re.S).group(1)
    assert format_money(summary["totals"]["allocated_fen"]) in totals


def test_a_year_without_allocations_falls_back_to_the_latest_with_them(
    client: TestClient, db: Database, settings
) -> None:
    from app import seed
    from app.funds import service as funds
    from app.funds.schemas import AllocationCreate
    from app.models import FundSource

    with db.begin() as session:
        seed.load(session=session, settings=settings, samples=False)
        clerk = factories.make_user(session, role=Role.county, username="clerk")
        township = session.exec(select(Township).order_by(Township.code)).first()
        funds.allocate(
            session=session,
            actor=clerk,
            data=AllocationCreate(
                township_id=township.id,
                year=2024,
                amount_fen=1_234_567,
                source=FundSource.county,
                document_no="测试〔2024〕1号",
                allocated_on=date(2024, 3, 1),
            ),
        )
    sign_in(client, "clerk", factories.PASSWORD)
    panel = section(client.get("/").text, "funds-title")
    assert "2024年经费执行" in panel and "¥12,345.67" in panel


# --- campaigns ---------------------------------------------------------------------------------


def _campaign(kind: CampaignKind, starts_on: date, ends_on: date, cid: int = 1) -> Campaign:
    return Campaign(id=cid, name=f"c{cid}", kind=kind, starts_on=starts_on, ends_on=ends_on)


def test_the_running_campaign_comes_first_then_the_next_then_the_last() -> None:
    today = date(2026, 4, 1)
    qingming = _campaign(CampaignKind.qingming, date(2026, 3, 23), date(2026, 4, 5), 1)
    custom = _campaign(CampaignKind.custom, date(2026, 3, 30), date(2026, 4, 2), 2)
    martyrs = _campaign(CampaignKind.martyrs_day, date(2026, 9, 16), date(2026, 9, 30), 3)
    old = _campaign(CampaignKind.martyrs_day, date(2025, 9, 16), date(2025, 9, 30), 4)
    assert pick_campaign([custom, qingming, martyrs, old], today) == (qingming, "running")
    assert pick_campaign([custom, martyrs], today) == (custom, "running")
    assert pick_campaign([martyrs, old], today) == (martyrs, "upcoming")
    assert pick_campaign([old], today) == (old, "ended")
    assert pick_campaign([], today) is None


def test_without_campaigns_the_dashboard_says_when_the_next_is_due(
    page_client: TestClient, seeded: Database
) -> None:
    panel = section(signed_in(page_client, "county").get("/").text, "campaign-title")
    assert "尚未安排集中巡查" in panel and 'href="/campaigns"' in panel


def test_a_running_campaign_shows_its_progress_per_township(
    page_client: TestClient, seeded: Database
) -> None:
    client = signed_in(page_client, "county")
    today = today_in_county(client)
    with seeded.begin() as session:
        actor = session.exec(select(User).where(User.role == Role.admin)).first()
        created = campaigns.create_campaign(
            session=session,
            actor=actor,
            data=CampaignCreate(
                name="测试集中巡查",
                starts_on=today - timedelta(days=20),
                ends_on=today + timedelta(days=3),
            ),
        )
        campaign_id = created.id
    progress = client.get(f"/api/v1/campaigns/{campaign_id}/progress").json()
    assert progress["inspected"] > 0
    panel = section(client.get("/").text, "campaign-title")
    assert "测试集中巡查" in panel and "进行中" in panel and "还剩 4 天" in panel
    for row in progress["townships"]:
        match = re.search(
            rf"<th scope=\"row\">{row['township']['name']}</th>(.*?)</tr>", panel, re.S
        )
        assert match
        cells = re.findall(r'<td class="num">([^<]*)</td>', match.group(1))
        assert cells == [
            f"{row['in_scope']:,} 处",
            f"{row['inspected']:,} 处",
            f"{row['in_scope'] - row['inspected']:,} 处",
        ]
        if row["in_scope"]:
            assert f'max="{row["in_scope"]}" value="{row["inspected"]}"' in match.group(1)
    # a township officer sees only their own township's row
    officer = TestClient(page_client.app, base_url="http://127.0.0.1")
    with officer:
        panel = section(signed_in(officer, "longgang").get("/").text, "campaign-title")
    assert re.findall(r'<th scope="row">([^<]*)</th>', panel) == ["龙港镇"]


def test_next_years_generated_campaigns_show_as_not_started(
    page_client: TestClient, seeded: Database
) -> None:
    client = signed_in(page_client, "county")
    today = today_in_county(client)
    with seeded.begin() as session:
        actor = session.exec(select(User).where(User.role == Role.admin)).first()
        campaigns.generate(session=session, actor=actor, year=today.year + 1)
    panel = section(client.get("/").text, "campaign-title")
    assert "未开始" in panel and "天后开始" in panel
    assert f"{today.year + 1}年清明节集中巡查" in panel or f"{today.year + 1}年烈士纪念日" in panel


# --- an empty county ---------------------------------------------------------------------------


def test_an_empty_county_says_what_to_do_next(client: TestClient, db: Database, settings) -> None:
    from app import seed

    with db.begin() as session:
        seed.load(session=session, settings=settings, samples=False)
        factories.make_user(session, role=Role.county, username="clerk")
    sign_in(client, "clerk", factories.PASSWORD)
    page = client.get("/").text
    assert "尚未登记设施" in section(page, "overdue-title")
    assert "尚未下拨经费" in section(page, "funds-title")
    assert "还没有巡查记录" in section(page, "latest-title")
    assert "尚未安排集中巡查" in section(page, "campaign-title")


def test_the_dashboard_speaks_english_when_asked(page_client: TestClient, seeded: Database) -> None:
    client = signed_in(page_client, "county")
    client.cookies.set("mp_lang", "en")
    page = client.get("/").text
    assert "Overdue sites by township" in page and "Fund execution" in page
    assert "各乡镇逾期设施" not in page
