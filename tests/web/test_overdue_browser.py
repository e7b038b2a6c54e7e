"""The overdue list in a real browser: filters, and the CSV export button downloads the
list as the page shows it."""

import csv
import io
from pathlib import Path

from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations


def test_the_csv_button_downloads_the_filtered_list(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/overdue")
    assert page.locator("h1").text_content() == "逾期未巡查设施"
    assert page.locator("tbody tr").count() > 0
    assert not serious_accessibility_violations(page)
    screenshot(page, "overdue")

    # filter to one township: the page and the export agree
    township = page.eval_on_selector("select[name=township_id]", "(s) => s.options[1].text")
    page.select_option("select[name=township_id]", label=township)
    page.click("form.filters button[type=submit]")
    page.wait_for_url("**/overdue?township_id=*")
    shown = [cell.text_content().strip() for cell in page.locator("tbody tr td:first-child").all()]
    assert {c.text_content() for c in page.locator("tbody tr td:nth-child(3)").all()} <= {township}

    with page.expect_download() as info:
        page.click("text=导出 CSV")
    download = info.value
    assert download.suggested_filename.endswith(".csv")
    body = Path(download.path()).read_bytes()
    assert body.startswith(b"\xef\xbb\xbf")  # UTF-8 with BOM, for Excel
    rows = list(csv.reader(io.StringIO(body.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号", "名称", "乡镇"]
    assert [r[0] for r in rows[1:]] == shown
