"""Facilities in a real browser: from the list to a facility's page, a change saved through
the edit form, archiving behind its confirmation, and no serious accessibility finding."""

from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations


def test_a_clerk_finds_a_facility_edits_it_and_sees_the_change(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/facilities")
    assert page.locator("h1").text_content() == "设施"
    rows = page.locator("tbody tr")
    assert rows.count() > 0
    assert not serious_accessibility_violations(page)
    screenshot(page, "facilities-list")

    # search narrows the list; the first match opens its page
    code = rows.first.locator("td").first.text_content().strip()
    page.fill("input[name=q]", code)
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/facilities?q=*")
    assert page.locator("tbody tr").count() == 1
    page.locator("tbody tr a").first.click()
    page.wait_for_selector("#facility-map .leaflet-interactive")  # the map's one marker
    assert page.locator("#facility-map .leaflet-interactive").count() == 1
    assert page.locator("#facility-map .leaflet-tile").count() == 0  # no tile server set
    assert code in page.locator(".summary").first.text_content()
    assert not serious_accessibility_violations(page)
    screenshot(page, "facility-detail")

    page.click("text=编辑")
    page.wait_for_selector("form.edit-form")
    assert not serious_accessibility_violations(page)
    screenshot(page, "facility-edit")
    page.fill("#f-custodian_name", "王守墓")
    page.fill("#f-custodian_phone", "0356-1234567")
    page.click("form.edit-form button[type=submit].primary")
    page.wait_for_selector("p.success")
    assert "修改已保存" in page.text_content("p.success")
    assert "王守墓" in page.text_content("#custodian-title + dl")
    assert "管护人" in page.text_content("#changes")


def test_a_wrong_value_is_shown_next_to_its_field(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/facilities")
    page.locator("tbody tr a").first.click()
    page.click("text=编辑")
    page.fill("#f-year_built", "1700")
    page.click("form.edit-form button[type=submit].primary")
    error = page.locator("#e-year_built")
    assert "1840" in error.text_content()
    assert page.get_attribute("#f-year_built", "aria-invalid") == "true"
    assert not serious_accessibility_violations(page)


def test_archiving_asks_for_a_confirmation_first(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/facilities?status=active")
    page.locator("tbody tr a").first.click()
    detail = page.url
    page.click("a.button.danger")  # 归档
    page.wait_for_selector("form input[name=confirm]")
    assert not serious_accessibility_violations(page)
    # without the tick the browser keeps the form, and the facility stays active
    page.click("button.danger")
    assert page.url.endswith("/archive")
    page.check("input[name=confirm]")
    page.click("button.danger")
    page.wait_for_url(detail + "?notice=archived")
    assert "已归档" in page.text_content("p.success")
    assert page.locator(".summary .badge.archived").count() == 1
    assert page.locator("a.button.danger").count() == 0  # nothing left to archive
