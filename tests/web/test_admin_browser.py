"""Administration in a real browser (Debian's Chromium): the facility import with a bad row,
creating a user, accessibility of every admin page, and screenshots at 1366×768."""

from pathlib import Path

from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations

ROWS = [
    "编号,名称,类型,保护级别,乡镇,经度,纬度",
    "BR-001,【样例】浏览器导入烈士墓,烈士墓,未定级,龙港镇,112.2,35.7",
    "BR-002,【样例】浏览器导入纪念碑,纪念碑,县级,端氏镇,112.37,35.82",
    "BR-003,【样例】坐标出界,烈士墓,未定级,龙港镇,116.4,39.9",
]


def facility_total(page) -> int:
    return page.request.get("/api/v1/facilities?limit=1").json()["total"]


def test_a_spreadsheet_with_one_bad_row_names_it_and_writes_nothing(
    browser_page, tmp_path: Path
) -> None:
    page = browser_page
    browser_sign_in(page, "admin", next_path="/admin/import")
    before = facility_total(page)
    sheet = tmp_path / "设施登记.csv"
    sheet.write_text("\n".join(ROWS) + "\n", encoding="utf-8-sig")
    page.set_input_files("input[type=file][name=file]", str(sheet))
    page.get_by_role("button", name="检查并导入").click()
    page.wait_for_load_state()

    alert = page.locator("div.error[role=alert]")
    assert "未导入任何数据：设施登记.csv 中有 1 行存在错误" in alert.inner_text()
    errors = page.locator(".import-errors tbody tr")
    assert errors.count() == 1
    row, column, reason = (errors.locator("td").nth(i).inner_text() for i in range(3))
    assert (row, column) == ("4", "经度")  # the header is row 1
    assert "位于沁水县界外" in reason
    assert facility_total(page) == before  # nothing written
    assert not serious_accessibility_violations(page)
    screenshot(page, "admin-import")

    page.set_input_files("input[type=file][name=file]", str(sheet))
    page.get_by_label("跳过有错误的行，导入其余各行").check()
    page.get_by_role("button", name="检查并导入").click()
    page.wait_for_load_state()
    assert "新增 2 处" in page.locator("div.success").inner_text()
    assert facility_total(page) == before + 2


def test_an_admin_creates_a_user(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "admin", next_path="/admin/users")
    assert not serious_accessibility_violations(page)
    screenshot(page, "admin-users")

    page.get_by_role("link", name="新建用户").click()
    township = page.locator("select[name=township_id]")
    division = page.get_by_label("辖区代码")
    page.select_option("select[name=role]", "county")
    assert not township.is_visible()  # asked for only when the role needs it
    assert division.is_visible() and division.is_enabled()  # staff only
    screenshot(page, "admin-user-new-county")
    page.select_option("select[name=role]", "township")
    assert township.is_visible()
    assert not division.is_visible() and not division.is_enabled()
    page.fill("input[name=username]", "zhaoliu")
    page.fill("input[name=full_name]", "赵六")
    township.select_option(label="端氏镇")
    page.fill("input[name=password]", "zhaoliu-2025!")
    page.fill("input[name=password_again]", "zhaoliu-2025?")
    page.get_by_role("button", name="创建用户").click()
    page.wait_for_load_state()
    assert page.locator("#e-password_again").inner_text() == "两次输入的密码不一致，请重新输入"
    assert page.input_value("input[name=password]") == ""  # never echoed back
    assert not serious_accessibility_violations(page)
    screenshot(page, "admin-user-new")

    page.fill("input[name=password]", "zhaoliu-2025!")
    page.fill("input[name=password_again]", "zhaoliu-2025!")
    page.get_by_role("button", name="创建用户").click()
    page.wait_for_url("**/admin/users?created=zhaoliu")
    assert "已创建用户 zhaoliu" in page.locator("p.success").inner_text()
    row = page.locator("tr", has=page.get_by_role("link", name="zhaoliu"))
    assert "端氏镇" in row.inner_text() and "乡镇干部" in row.inner_text()
    assert "沁水县" in row.locator("td.division").inner_text()  # the township's county

    page.get_by_role("link", name="zhaoliu").click()
    assert page.locator("h1").inner_text().startswith("赵六")
    assert not serious_accessibility_violations(page)
    screenshot(page, "admin-user")
    page.get_by_role("link", name="巡查周期").click()
    assert not serious_accessibility_violations(page)
    screenshot(page, "admin-policy")
