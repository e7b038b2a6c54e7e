"""The annual report: the year's figures, and the paragraph that states them."""

import io
from datetime import UTC, date, datetime, time

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.db import Database
from app.funds.money import amount_zh, wan_yuan, yuan
from app.models import Condition, Facility, ReviewStatus, Tier
from tests.factories import World, make_facility, make_inspection
from tests.funds.helpers import act, allocate, order_in


def noon(day: date, world: World) -> datetime:
    return datetime.combine(day, time(12), tzinfo=world.settings.tz).astimezone(UTC)


@pytest.fixture
def year_2025(client: TestClient, world: World, db: Database) -> World:
    with db.begin() as session:
        for facility in (world.facility_a, world.facility_b):  # registered long before 2025
            session.get(Facility, facility.id).registered_on = date(2020, 1, 1)
        make_facility(session, township=world.township_a, code="A-NEW")  # registered after 2025
        extra = make_facility(
            session,
            township=world.township_a,
            tier=Tier.county,
            code="A-COUNTY",
            registered_on=date(2024, 6, 1),
        )
        for facility, day, status, on_site in (
            (world.facility_a, date(2025, 3, 30), ReviewStatus.accepted, True),
            (world.facility_a, date(2025, 9, 20), ReviewStatus.submitted, False),
            (extra, date(2025, 4, 1), ReviewStatus.accepted, True),
            (world.facility_b, date(2025, 9, 25), ReviewStatus.accepted, True),
            (world.facility_b, date(2025, 5, 1), ReviewStatus.rejected, True),  # does not count
            (world.facility_b, date(2024, 12, 31), ReviewStatus.accepted, True),  # another year
        ):
            inspection = make_inspection(
                session, facility=facility, inspector=world.county, inspected_at=noon(day, world),
                tz=world.settings.tz, review_status=status, on_site=on_site,
            )  # fmt: skip
            if day == date(2025, 9, 20):
                inspection.condition = Condition.needs_repair
            if facility is extra:
                inspection.checklist = {"surroundings_tidy": "problem"}
    client.post(
        "/api/v1/campaigns/generate", params={"year": 2025}, headers=world.headers("county")
    )
    allocate(client, world, 6_000_000)
    allocate(client, world, 4_000_000, township=world.township_b)
    order_in(client, world, "completed")  # repair: 100,000 planned, 90,000 spent
    cancelled = order_in(client, world, "approved", planned_cost_fen=50_000)
    act(client, world, cancelled, "cancel")
    order_in(client, world, "approved", planned_cost_fen=70_000)
    return world


def test_the_annual_figures(client: TestClient, year_2025: World) -> None:
    report = client.get(
        "/api/v1/reports/annual", params={"year": 2025}, headers=year_2025.headers("county")
    ).json()
    assert report["facilities"]["active_total"] == 3
    assert report["facilities"]["by_tier"]["county"] == 1
    patrols = report["patrols"]
    assert (patrols["total"], patrols["facilities_inspected"], patrols["on_site_rate"]) == (
        4,
        3,
        0.75,
    )
    rows = {r["township"]["code"]: r for r in patrols["by_township"]}
    assert (rows["140521100"]["inspections"], rows["140521103"]["inspections"]) == (3, 1)
    campaigns = {c["kind"]: c for c in report["campaigns"]}
    # Qingming 2025 window: March 22 – April 4; two of three sites visited
    assert (campaigns["qingming"]["in_scope"], campaigns["qingming"]["inspected"]) == (3, 2)
    assert (campaigns["martyrs_day"]["inspected"], campaigns["martyrs_day"]["coverage"]) == (
        2,
        0.6667,
    )
    problems = report["problems"]
    assert (
        problems["reports_with_problems"],
        problems["orders_opened"],
        problems["orders_completed"],
    ) == (2, 2, 1)
    repair = next(c for c in report["maintenance"]["by_category"] if c["category"] == "repair")
    assert (repair["orders"], repair["completed"], repair["spent_fen"]) == (2, 1, 90_000)
    totals = report["funds"]["totals"]
    assert (totals["allocated_fen"], totals["committed_fen"], totals["spent_fen"]) == (
        10_000_000,
        70_000,
        90_000,
    )


def test_the_paragraph_states_the_figures(client: TestClient, year_2025: World) -> None:
    text = client.get(
        "/api/v1/reports/annual", params={"year": 2025}, headers=year_2025.headers("county")
    ).json()["summary_zh"]
    assert text.startswith("2025年，全县纳入管理的零散烈士纪念设施共3处")
    assert "全年共巡查4次，覆盖设施3处，巡查到位率75%" in text
    assert "巡查发现存在问题的设施2处，建立维修整改工单2件，已完成1件" in text
    assert "下拨各乡镇人民政府零散烈士纪念设施保护经费10万元，已支出900元，执行率0.9%" in text
    assert "2025年清明节集中巡查覆盖率66.7%" in text


def test_a_township_gets_its_own_report(client: TestClient, year_2025: World) -> None:
    report = client.get(
        "/api/v1/reports/annual", params={"year": 2025}, headers=year_2025.headers("other")
    ).json()
    assert report["facilities"]["active_total"] == 1
    assert report["patrols"]["total"] == 1
    assert report["funds"]["totals"]["allocated_fen"] == 4_000_000
    assert report["summary_zh"].startswith("2025年，端氏镇纳入管理")
    assert "下拨端氏镇零散烈士纪念设施保护经费4万元" in report["summary_zh"]


def test_the_report_year_defaults_to_the_latest_with_allocations(
    client: TestClient, year_2025: World
) -> None:
    assert (
        client.get("/api/v1/reports/annual", headers=year_2025.headers("county")).json()["year"]
        == 2025
    )
    assert (
        client.get(
            "/api/v1/reports/annual", params={"year": 1999}, headers=year_2025.headers("county")
        ).status_code
        == 422
    )
    assert client.get("/api/v1/reports/annual").status_code == 401


def test_annual_xlsx(client: TestClient, year_2025: World) -> None:
    response = client.get(
        "/api/v1/exports/annual.xlsx", params={"year": 2025}, headers=year_2025.headers("county")
    )
    assert response.status_code == 200
    book = load_workbook(io.BytesIO(response.content))
    assert [s.title for s in book.worksheets] == [
        "2025年度概况", "设施", "巡查", "集中巡查", "维修", "经费汇总 2025", "经费台账 2025",
    ]  # fmt: skip
    overview = dict(book.worksheets[0].iter_rows(min_row=2, values_only=True))
    assert overview["巡查（次）"] == 4
    assert overview["年度报告摘要"].startswith("2025年")


@pytest.mark.parametrize(
    ("fen", "as_yuan", "as_wan", "in_words"),
    [(0, "0.00 元", "0", "0元"), (123_456, "1,234.56 元", "0.12", "1234.56元"),
     (10_000_000, "100,000.00 元", "10", "10万元"), (-5, "-0.05 元", "0", "-0.05元"),
     (99_999_999, "999,999.99 元", "100", "100万元"), (8_029_000, "80,290.00 元", "8.03", "8.03万元"),
     (558_000, "5,580.00 元", "0.56", "5580元"), (1_503_000_00, "1,503,000.00 元", "150.3", "150.3万元")],
)  # fmt: skip
def test_money_is_formatted_without_floats(
    fen: int, as_yuan: str, as_wan: str, in_words: str
) -> None:
    assert yuan(fen) == as_yuan
    assert wan_yuan(fen) == as_wan
    assert amount_zh(fen) == in_words
