"""The annual report page in a real browser (Debian's Chromium): the paragraph, the Word
download, accessibility, and a screenshot at 1366×768 for a person to look at."""

from pathlib import Path

from docx import Document

from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations


def test_the_page_shows_the_paragraph_and_the_word_file_downloads(
    browser_page, tmp_path: Path
) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/annual")
    assert page.url.endswith("/annual")
    report = page.request.get("/api/v1/reports/annual").json()
    paragraph = page.locator("p.report-paragraph")
    assert paragraph.inner_text() == report["summary_zh"]
    assert page.locator("h1").inner_text() == f"{report['year']}年度报告"
    assert not serious_accessibility_violations(page)
    screenshot(page, "annual")
    page.emulate_media(media="print")  # as the bureau prints it: no navigation, no buttons
    assert page.locator("nav.sidenav").is_hidden() and page.locator(".actions").is_hidden()
    assert paragraph.is_visible()
    screenshot(page, "annual-print")
    page.emulate_media(media="screen")

    with page.expect_download() as waiting:
        page.get_by_role("link", name="下载 Word 文档").click()
    download = waiting.value
    assert download.suggested_filename == f"零散烈士纪念设施年度报告_{report['year']}.docx"
    saved = tmp_path / "annual.docx"
    download.save_as(saved)
    texts = [p.text for p in Document(str(saved)).paragraphs]
    assert (
        texts[0].replace("\n", "") == f"沁水县{report['year']}年度零散烈士纪念设施保护管理工作情况"
    )
    assert report["summary_zh"] in texts

    page.select_option("select[name=year]", "2025")
    page.get_by_role("button", name="查看").click()
    page.wait_for_url("**/annual?year=2025")
    earlier = page.request.get("/api/v1/reports/annual?year=2025").json()
    assert paragraph.inner_text() == earlier["summary_zh"]
