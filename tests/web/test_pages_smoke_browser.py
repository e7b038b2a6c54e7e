"""Sign-in and the language switch in a real browser (Debian's Chromium)."""

from tests.web.conftest import (
    browser_sign_in,
    screenshot,
    serious_accessibility_violations,
)


def test_signed_out_visitor_lands_on_sign_in_then_returns(browser_page) -> None:
    page = browser_page
    page.goto("/?from=test")
    assert page.url.endswith("/signin?next=/%3Ffrom%3Dtest"), page.url
    assert page.locator("html").get_attribute("lang") == "zh-CN"
    assert not serious_accessibility_violations(page)
    screenshot(page, "signin")
    page.fill("input[name=username]", "county")
    page.fill("input[name=password]", "wrong password")
    page.click("button[type=submit].primary")
    assert page.locator("[role=alert]").inner_text() == "用户名或密码错误"
    page.fill("input[name=password]", "county-demo-2025")
    page.click("button[type=submit].primary")
    page.wait_for_url("**/?from=test")
    assert page.locator(".who").inner_text().startswith("县局工作人员")


def test_the_english_switch_changes_the_page_language(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county")
    nav = page.locator("nav.sidenav")
    assert "首页" in nav.inner_text() and "Dashboard" not in nav.inner_text()
    page.click("text=English")
    page.wait_for_load_state()
    assert page.locator("html").get_attribute("lang") == "en"
    assert "Dashboard" in nav.inner_text() and "Sign out" in page.locator(".topbar").inner_text()
    page.reload()  # kept in a cookie
    assert page.locator("html").get_attribute("lang") == "en"
    page.click("text=中文")
    page.wait_for_load_state()
    assert "首页" in nav.inner_text()


def test_the_keyboard_reaches_the_navigation_and_signs_out(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Enter")
    page.wait_for_function("document.activeElement.id === 'main'")
    page.click("text=退出")
    page.wait_for_url("**/signin?reason=signedout")
    assert page.locator("[role=status]").inner_text() == "您已退出登录。"
    page.goto("/")
    assert "/signin" in page.url
