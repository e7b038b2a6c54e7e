"""The dashboard's "六个一" panel in a real browser: the county clerk reads every township's
share and completeness in Chinese, follows a township to its facility list, and axe finds
nothing serious."""

from app.db import Database
from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations
from tests.web.test_dashboard_six import meet_all_six


def test_the_county_reads_the_six_ones_share_per_township(browser_page, seeded: Database) -> None:
    meet_all_six(seeded, "龙港镇", 3)
    page = browser_page
    browser_sign_in(page, "county")
    panel = page.locator("section[aria-labelledby=six-title]")
    assert panel.locator("h2").text_content() == "各乡镇“六个一”达标率与采集信息完整度"
    townships = page.evaluate(
        "async () => (await (await fetch('/api/v1/townships?limit=500')).json()).items"
        ".map((t) => t.name)"
    )
    assert panel.locator("tbody th[scope=row]").all_text_contents() == townships
    row = panel.locator("tbody tr", has_text="龙港镇")
    cells = row.locator("td").all_text_contents()
    assert cells[1].strip() == "3 处"
    assert row.locator("progress").count() == 2
    assert "“六个一”达标率" in page.locator("ul.stats").text_content()
    panel.scroll_into_view_if_needed()
    assert not serious_accessibility_violations(page)
    screenshot(page, "dashboard-six")
    row.locator("th a").click()
    page.wait_for_url("**/facilities?township_id=*")
    assert page.locator("h1").count() == 1
