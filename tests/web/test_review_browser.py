"""The review queue in a real browser: accept, reject without a comment (the error shows),
reject with one; the next report opens after each decision."""

from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations


def open_report(page) -> str | None:
    return page.locator("form.decision").get_attribute("action")


def test_a_clerk_works_through_the_queue(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/review")
    assert page.url.endswith("/review")
    assert not serious_accessibility_violations(page)
    screenshot(page, "review")

    first = open_report(page)
    page.get_by_role("button", name="通过").click()
    page.wait_for_load_state()
    assert "已通过" in page.locator("p.success").inner_text()
    second = open_report(page)
    assert second != first

    page.get_by_role("button", name="退回").click()
    page.wait_for_load_state()
    error = page.locator("#comment-error")
    assert error.is_visible() and "退回报告须填写审核意见" in error.inner_text()
    assert page.locator("#comment").get_attribute("aria-invalid") == "true"
    assert open_report(page) == second  # the same report, still waiting
    assert not serious_accessibility_violations(page)

    page.fill("#comment", "照片看不清碑文，请补拍")
    page.get_by_role("button", name="退回").click()
    page.wait_for_load_state()
    assert "已退回" in page.locator("p.success").inner_text()
    assert open_report(page) not in (first, second)


def test_a_township_officer_reads_the_queue_without_the_buttons(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "longgang", next_path="/review")
    assert page.locator("h1").inner_text() == "巡查报告审核"
    assert page.locator("form.decision").count() == 0
    assert page.locator("table tbody tr").count() > 0
    assert not serious_accessibility_violations(page)
