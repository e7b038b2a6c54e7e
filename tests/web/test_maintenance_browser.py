"""Maintenance in a real browser: approving an order that would overspend shows the
API's message in Chinese; an admin's override with a reason passes."""

from app.config import Settings
from app.db import Database
from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations
from tests.web.test_maintenance import OVERSPEND, open_order


def sign_out(page) -> None:
    page.locator("form[action='/signout'] button").click()
    page.wait_for_load_state()


def test_an_overspend_is_refused_then_an_admin_overrides_it(
    browser_page, seeded: Database, settings: Settings
) -> None:
    order_id = open_order(seeded, settings, beyond_fen=100)
    page = browser_page
    browser_sign_in(page, "county", next_path="/maintenance")
    assert not serious_accessibility_violations(page)
    screenshot(page, "maintenance")

    page.locator(f"form[action^='/maintenance/{order_id}/approve'] button").click()
    page.wait_for_load_state()
    message = page.locator("#approve-error")
    assert OVERSPEND in message.inner_text() and f"批准工单 {order_id}" in message.inner_text()
    assert page.locator("textarea[name=override_reason]").count() == 0  # county: not offered
    assert not serious_accessibility_violations(page)
    sign_out(page)

    browser_sign_in(page, "admin", next_path=f"/maintenance/{order_id}")
    assert not serious_accessibility_violations(page)
    screenshot(page, "maintenance-order")
    page.get_by_role("button", name="批准", exact=True).click()
    page.wait_for_load_state()
    assert OVERSPEND in page.locator("#approve-error").inner_text()
    page.fill("textarea[name=override_reason]", "汛期塌方，须立即抢修")
    assert not serious_accessibility_violations(page)
    screenshot(page, "maintenance-overspend")
    page.get_by_role("button", name="超出可用余额批准").click()
    page.wait_for_load_state()
    assert f"工单 {order_id} 已批准" in page.locator("p.success").inner_text()
    assert page.locator("#approve").count() == 0
    assert page.locator("#start").count() == 1  # the next step is offered
