"""The annual report page's "六个一" figures: the share per township in its table, the
count in the main figures, and the sentence in the paragraph."""

import html
import re

from fastapi.testclient import TestClient

from app.reports.annual import _percent
from tests.web.test_annual import api_report, signed_in


def township_cells(page: str, name: str) -> list[str]:
    """The cells of the township table's row for ``name`` (the one with tier columns)."""
    rows = re.findall(rf'<th scope="row">{re.escape(name)}</th>(.*?)</tr>', page, flags=re.DOTALL)
    longest = max(rows, key=len)
    return re.findall(r'<td class="num">([^<]*)</td>', longest)


def test_the_page_shows_the_six_ones_rate_per_township(page_client: TestClient) -> None:
    client = signed_in(page_client, "county")
    report = api_report(client, year=2025)
    page = client.get("/annual", params={"year": 2025})
    assert page.status_code == 200
    assert "“六个一”达标率" in page.text
    assert "采集信息完整度" in page.text
    assert "达到“六个一”标准" in page.text  # the main figures
    assert "对照“六个一”标准，达标设施" in html.unescape(page.text)  # the paragraph
    assert "对照“六个一”标准，达标设施" in report["summary_zh"]
    for row in report["facilities"]["by_township"]:
        cells = township_cells(page.text, row["township"]["name"])
        # active, five tiers, then the rate and the completeness
        assert cells[0] == str(row["active"])
        assert cells[6:8] == [
            _percent(row["six_rate"]),
            _percent(row["completeness"]),
        ]
