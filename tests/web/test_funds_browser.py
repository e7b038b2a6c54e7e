"""The funds pages in a real browser: the chart with its table, the allocation form's
errors by their fields, a reversal's, and the ledger."""

from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations


def test_a_clerk_reads_the_funds_and_the_ledger(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/funds")
    assert page.locator(".chart svg rect").count() > 0
    assert not serious_accessibility_violations(page)
    screenshot(page, "funds")

    page.select_option("#f-township", index=1)
    page.fill("#f-amount", "12.345")
    page.fill("#f-document", "沁退役军人发〔2031〕3号")
    page.get_by_role("button", name="登记下拨").click()
    page.wait_for_load_state()
    assert "最多两位小数" in page.locator("#amount-error").inner_text()
    assert page.locator("#f-amount").input_value() == "12.345"  # kept for correcting
    assert not serious_accessibility_violations(page)

    page.locator("details.reverse-box summary").first.click()
    page.locator("details.reverse-box[open] button").click()  # no reason given
    page.wait_for_load_state()
    error = page.locator("details.reverse-box[open] .field-error")
    assert "请填写冲销原因" in error.inner_text()
    assert not serious_accessibility_violations(page)

    page.get_by_role("link", name="经费台账").click()
    page.wait_for_load_state()
    assert page.locator("table tbody tr").count() > 0
    assert not serious_accessibility_violations(page)
    screenshot(page, "funds-ledger")
