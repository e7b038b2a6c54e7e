"""Campaigns (集中巡查): the year's Qingming and 9·30 windows, set up by county staff, their
progress per township as the schedule service counts it, and each township's missing sites."""

import re
from datetime import UTC, datetime, time, timedelta
from html import unescape

from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import Database
from app.models import AuditEntry, Campaign, Facility, ReviewStatus, Township, User
from app.schedule import campaigns
from app.schedule.schemas import CampaignCreate
from tests import factories
from tests.web.conftest import DEMO_PASSWORDS, csrf_of, sign_in


def signed_in(client: TestClient, username: str) -> TestClient:
    sign_in(client, username, DEMO_PASSWORDS[username])
    return client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def progress_rows(html: str) -> dict[str, tuple[int, int, int]]:
    """Township → (in scope, inspected, missing) from the first progress table."""
    table = re.search(r'<table class="progress-table">.*?<tbody>(.*?)</tbody>', html, re.S)
    assert table, "no progress table"
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table.group(1), re.S):
        name = text_of(re.search(r'<th scope="row">(.*?)</th>', row, re.S).group(1))
        numbers = [int(n) for n in re.findall(r'<td class="num">\s*(?:<a[^>]*>)?([\d,]+) 处', row)]
        rows[name] = tuple(numbers)
    return rows


def set_up(client: TestClient, year: int):
    page = client.get(f"/campaigns?year={year}")
    return client.post(
        "/campaigns/set-up",
        data={"year": str(year), "csrf_token": csrf_of(page.text)},
        follow_redirects=False,
    )


def this_year() -> int:
    return factories.county_today().year


def qingming_of(db: Database, year: int) -> Campaign:
    with db.session(write=False) as session:
        return session.exec(
            select(Campaign).where(Campaign.generated_key == f"qingming-{year}")
        ).one()


def visit(db: Database, settings, facility_code: str, day, review=ReviewStatus.accepted) -> None:
    """A report of the facility dated ``day`` (noon, county time)."""
    with db.begin() as session:
        facility = session.exec(select(Facility).where(Facility.code == facility_code)).one()
        county = session.exec(select(User).where(User.username == "county")).one()
        moment = datetime.combine(day, time(12), tzinfo=settings.tz).astimezone(UTC)
        factories.make_inspection(
            session,
            facility=facility,
            inspector=county,
            inspected_at=moment,
            tz=settings.tz,
            review_status=review,
        )


def service_progress(db: Database, username: str, campaign_id: int) -> dict[str, tuple]:
    """What ``campaigns.progress`` (the API's count) says, per township, with the codes of
    its missing sites (``campaigns.missing_sites``, one page of them all)."""
    with db.session(write=False) as session:
        user = session.exec(select(User).where(User.username == username)).one()
        campaign, rows = campaigns.progress(session=session, user=user, campaign_id=campaign_id)
        result = {}
        for r in rows:
            missing = campaigns.missing_sites(
                session=session,
                user=user,
                campaign=campaign,
                township_id=r.township.id,
                limit=100_000,
            )
            codes = [f.code for f in missing.rows]
            assert len(codes) == r.missing
            result[r.township.name] = (r.in_scope, r.inspected, r.missing, codes)
        return result


def test_the_year_opens_with_its_two_windows_to_set_up(page_client) -> None:
    client = signed_in(page_client, "county")
    year = this_year()
    page = client.get("/campaigns")
    assert page.status_code == 200
    text = text_of(page.text)
    assert f"{year}年集中巡查" in text
    for kind, _name, starts_on, ends_on in campaigns.default_windows(year):
        span = f"{starts_on.year}年{starts_on.month}月{starts_on.day}日至{ends_on.year}年{ends_on.month}月{ends_on.day}日"
        assert span in text, kind
    assert text.count("未设立") >= 2
    assert 'action="/campaigns/set-up"' in page.text


def test_a_clerk_sets_up_the_campaigns_once_and_it_is_audited(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    year = this_year()
    response = set_up(client, year)
    assert response.status_code == 303
    assert response.headers["location"] == f"/campaigns?year={year}"
    assert set_up(client, year).status_code == 303  # again: nothing new
    with seeded.session(write=False) as session:
        made = session.exec(select(Campaign).where(Campaign.generated_key.like(f"%-{year}"))).all()
        audited = session.exec(
            select(AuditEntry).where(AuditEntry.action == "campaign.generate")
        ).all()
    assert len(made) == 2 and len(audited) == 2
    page = client.get(response.headers["location"])
    assert 'action="/campaigns/set-up"' not in page.text
    assert page.text.count('class="progress-table"') == 2


def test_progress_per_township_is_the_services_count(page_client, seeded, settings) -> None:
    client = signed_in(page_client, "county")
    year = this_year()
    set_up(client, year)
    campaign = qingming_of(seeded, year)
    # two visits in the window (one of them rejected: it does not count), one just after it
    visit(seeded, settings, "140521100-001", campaign.starts_on)
    visit(seeded, settings, "140521100-002", campaign.ends_on, ReviewStatus.rejected)
    visit(seeded, settings, "140521100-003", campaign.ends_on + timedelta(days=1))
    page = client.get(f"/campaigns/{campaign.id}")
    shown = progress_rows(page.text)
    expected = service_progress(seeded, "county", campaign.id)
    assert shown == {name: row[:3] for name, row in expected.items()}
    assert shown["龙港镇"][1] == 1
    in_scope, done = sum(r[0] for r in shown.values()), sum(r[1] for r in shown.values())
    footer = re.search(r"<tfoot>(.*?)</tfoot>", page.text, re.S).group(1)
    assert f"{done * 100 // in_scope}%" in text_of(footer)  # never rounded up to done


def test_a_townships_missing_sites_are_listed_with_paging(page_client, seeded, settings) -> None:
    client = signed_in(page_client, "county")
    year = this_year()
    set_up(client, year)
    campaign = qingming_of(seeded, year)
    visit(seeded, settings, "140521100-001", campaign.starts_on)
    expected = service_progress(seeded, "county", campaign.id)
    with seeded.session(write=False) as session:
        township = session.exec(select(Township).where(Township.name == "龙港镇")).one()
    page = client.get(f"/campaigns/{campaign.id}?township_id={township.id}")
    listed = re.findall(r'<tr>\s*<td class="nowrap">([^<]+)</td>', page.text)
    assert listed == expected["龙港镇"][3]
    assert "140521100-001" not in listed
    # every township's: more than a page of them
    everyone = [code for row in expected.values() for code in row[3]]
    assert len(everyone) > 50
    first = client.get(f"/campaigns/{campaign.id}")
    second = client.get(f"/campaigns/{campaign.id}?offset=50")
    pages = [re.findall(r'<tr>\s*<td class="nowrap">([^<]+)</td>', p.text) for p in (first, second)]
    assert len(pages[0]) == 50 and pages[0] + pages[1] == everyone
    assert f"尚未巡查 {len(everyone)} 处" in text_of(first.text)


def test_a_township_officer_sees_their_own_township_only(page_client, seeded) -> None:
    county = signed_in(page_client, "county")
    year = this_year()
    set_up(county, year)
    campaign = qingming_of(seeded, year)
    with seeded.session() as session:
        other_id = session.exec(select(Township.id).where(Township.name == "端氏镇")).one()
        admin = session.exec(select(User).where(User.username == "admin")).one()
        custom = campaigns.create_campaign(
            session=session,
            actor=admin,
            data=CampaignCreate(
                name="端氏镇专项巡查",
                starts_on=campaign.starts_on,
                ends_on=campaign.ends_on,
                township_ids={other_id},
            ),
        )
        custom_id = custom.id
    county.cookies.clear()
    client = signed_in(page_client, "longgang")
    page = client.get(f"/campaigns?year={year}")
    assert set(progress_rows(page.text)) == {"龙港镇"}
    assert "端氏镇专项巡查" not in page.text
    assert 'action="/campaigns/set-up"' not in page.text
    detail = client.get(f"/campaigns/{campaign.id}")
    assert set(progress_rows(detail.text)) == {"龙港镇"}
    assert client.get(f"/campaigns/{campaign.id}?township_id={other_id}").status_code == 404
    assert client.get(f"/campaigns/{custom_id}").status_code == 404
    # and setting up is not theirs to do
    response = client.post(
        "/campaigns/set-up", data={"year": str(year + 1), "csrf_token": csrf_of(page.text)}
    )
    assert response.status_code == 403
    with seeded.session(write=False) as session:
        assert not session.exec(
            select(Campaign).where(Campaign.generated_key == f"qingming-{year + 1}")
        ).first()


def test_another_year_can_be_chosen(page_client) -> None:
    client = signed_in(page_client, "county")
    year = this_year() - 1
    page = client.get(f"/campaigns?year={year}")
    assert f"{year}年集中巡查" in text_of(page.text)
    assert f'<option value="{year}" selected>' in page.text
    _kind, _name, starts_on, _ends_on = campaigns.default_windows(year)[0]
    assert f"{starts_on.year}年{starts_on.month}月{starts_on.day}日" in text_of(page.text)
    assert client.get("/campaigns?year=1200").status_code == 422


def test_setting_up_without_the_csrf_token_is_refused(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    response = client.post("/campaigns/set-up", data={"year": str(this_year())})
    assert response.status_code == 403
    with seeded.session(write=False) as session:
        assert session.exec(select(Campaign)).first() is None
