"""Campaigns in a real browser: a clerk sets up the year's campaigns, follows the progress
per township and opens a township's missing sites."""

from datetime import UTC, datetime, time

from sqlmodel import select

from app.models import Facility, ReviewStatus, User
from app.schedule import campaigns
from tests import factories
from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations


def visit_some_sites_in_this_years_windows(db, settings) -> None:
    """A few accepted reports inside each window, so the bars have something to show."""
    year = factories.county_today().year
    with db.begin() as session:
        county = session.exec(select(User).where(User.username == "county")).one()
        sites = session.exec(select(Facility).order_by(Facility.code).limit(12)).all()
        for _kind, _name, starts_on, _ends_on in campaigns.default_windows(year):
            moment = datetime.combine(starts_on, time(12), tzinfo=settings.tz).astimezone(UTC)
            for facility in sites[::2]:
                factories.make_inspection(
                    session,
                    facility=facility,
                    inspector=county,
                    inspected_at=moment,
                    tz=settings.tz,
                    review_status=ReviewStatus.accepted,
                )


def test_a_clerk_sets_up_the_campaigns_and_opens_the_missing_sites(
    browser_page, seeded, settings
) -> None:
    visit_some_sites_in_this_years_windows(seeded, settings)
    page = browser_page
    browser_sign_in(page, "county", next_path="/campaigns")
    assert page.locator("section.campaign").count() == 2
    assert not serious_accessibility_violations(page)
    page.click("form[action='/campaigns/set-up'] button")
    page.wait_for_url("**/campaigns?year=*")
    assert page.locator("form[action='/campaigns/set-up']").count() == 0
    # the window to look at now shows its townships; the other one folds them away
    assert page.locator("section.campaign > .table-wrap .progress-table").count() == 1
    assert not serious_accessibility_violations(page)
    screenshot(page, "campaigns")
    folded = page.locator("section.campaign details")
    assert folded.count() == 1 and not folded.locator(".progress-table").is_visible()
    folded.locator("summary").click()
    assert folded.locator(".progress-table").is_visible()

    page.locator("section.campaign > .table-wrap .progress-table tbody a").first.click()
    page.wait_for_url("**/campaigns/*?township_id=*")
    assert page.locator("tbody tr").count() > 0
    assert not serious_accessibility_violations(page)
    screenshot(page, "campaign-missing")
