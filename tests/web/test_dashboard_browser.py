"""The dashboard in a real browser: each role signs in and sees its own figures, and axe
finds nothing serious."""

import pytest

from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations


def overdue_rows(page) -> list[str]:
    return page.locator(
        "section[aria-labelledby=overdue-title] tbody th[scope=row]"
    ).all_text_contents()


@pytest.mark.parametrize("username", ["admin", "county"])
def test_county_staff_see_the_whole_county(browser_page, username: str) -> None:
    page = browser_page
    browser_sign_in(page, username)
    assert page.locator("h1").text_content() == "首页"
    assert page.locator("nav.sidenav a[aria-current=page]").text_content() == "首页"
    townships = page.evaluate(
        "async () => (await (await fetch('/api/v1/townships?limit=500')).json()).items"
        ".map((t) => t.name)"
    )
    assert overdue_rows(page) == townships
    waiting = page.evaluate(
        "async () => (await (await fetch('/api/v1/inspections?review_status=submitted&limit=1'))"
        ".json()).total"
    )
    assert f"{waiting} 份" in page.locator("ul.stats").text_content()
    page.locator("section[aria-labelledby=waiting-title] a.button", has_text="开始审核").wait_for()
    assert page.locator("section[aria-labelledby=funds-title] svg[role=img]").count() == 1
    assert not serious_accessibility_violations(page)
    if username == "county":
        screenshot(page, "dashboard-county")


def test_a_township_officer_sees_their_own_township(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "duanshi")
    assert overdue_rows(page) == ["端氏镇"]
    assert page.locator("section[aria-labelledby=funds-title] tbody tr").count() == 1
    assert "端氏镇" in page.locator(".topbar .who").text_content()
    main = page.locator("main").text_content()
    assert "龙港镇" not in main
    assert page.locator("main a[href='/review']").count() == 0
    assert not serious_accessibility_violations(page)
    screenshot(page, "dashboard-township")
