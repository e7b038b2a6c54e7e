"""The annual report and the fund summary per county and for a region (issue 12): the
figures come from SQL aggregates and equal a brute-force count over every row; a city's
staff get each of its counties and the region's total, a county's only their own, and a
division outside the caller's reach is a 404."""

import io
import random
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

import pytest
from docx import Document
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from app.db import Database
from app.funds.money import rate
from app.models import (
    Condition,
    County,
    Facility,
    FacilityStatus,
    FundAccount,
    Inspection,
    MaintenanceOrder,
    OrderStatus,
    ReviewStatus,
    Role,
    Tier,
    Township,
    User,
)
from tests.factories import World, auth, make_facility, make_inspection, make_township, make_user
from tests.funds.helpers import act, allocate, open_order

YEAR = 2025
DAMAGED = {Condition.needs_repair, Condition.severely_damaged, Condition.missing}
CHECKLISTS = [{}, {"marker_sign": "ok"}, {"headstone": "problem"},
              {"marker_sign": "ok", "surroundings_tidy": "problem"}, {"headstone": "na"}]  # fmt: skip


@dataclass
class Region:
    """Qinshui (140521) and Yangcheng (140522) in Jincheng (1405); Datong's Chengqu
    (140202) in another city; users reaching each."""

    world: World
    fengcheng: Township  # 140522100, Yangcheng
    beiliu: Township  # 140522101, Yangcheng
    datong: Township  # 140202001, another city
    users: dict[str, User]

    def headers(self, who: str) -> dict[str, str]:
        return auth(self.world.settings, self.users[who])

    def get(self, client: TestClient, who: str, path: str, **params: object):
        return client.get(path, params=params, headers=self.headers(who))


def _add_county(session, code: str, name: str) -> County:
    county = County(code=code, name=name, timezone="Asia/Shanghai")
    session.add(county)
    session.flush()
    return county


def _user(session, username: str, division: str, township: Township | None = None) -> User:
    role = Role.township if township else Role.county
    user = make_user(session, role=role, township=township, username=username)
    user.division_code = division
    return user


def _noon(day: date, world: World) -> datetime:
    return datetime.combine(day, time(12), tzinfo=world.settings.tz).astimezone(UTC)


@pytest.fixture
def counties(world: World, db: Database) -> Region:
    """Qinshui's two townships, Yangcheng with two, Datong's Chengqu with one; a user of
    the city, of each county of it, and of one township."""
    with db.begin() as session:
        _add_county(session, "140522", "阳城县")
        _add_county(session, "140202", "城区")
        fengcheng = make_township(session, code="140522100", name="凤城镇")
        beiliu = make_township(session, code="140522101", name="北留镇")
        datong = make_township(session, code="140202001", name="南街街道")
        users = {
            "admin": world.admin,
            "city": _user(session, "jincheng", "1405"),
            "qinshui": _user(session, "qinshui", "140521"),
            "yangcheng": _user(session, "yangcheng", "140522"),
            "fengcheng": _user(session, "fc", "140522100", township=fengcheng),
        }
    return Region(world, fengcheng, beiliu, datong, users)


@pytest.fixture
def region(client: TestClient, counties: Region, db: Database) -> Region:
    """The counties with a year of seeded, varied records: facilities of every tier and
    status, reports counted and rejected, on site, off site and without a position, with
    damage or checklist problems, in and around the year; allocations and orders."""
    rng = random.Random(12)
    world = counties.world
    with db.begin() as session:
        townships = [session.get(Township, t.id) for t in
                     (world.township_a, world.township_b, counties.fengcheng, counties.beiliu, counties.datong)]  # fmt: skip
        inspector = session.get(User, world.county.id)
        for township in townships:
            for n in range(5):
                facility = make_facility(
                    session,
                    township=township,
                    code=f"R-{township.code}-{n}",
                    tier=rng.choice(list(Tier)),
                    status=rng.choice([FacilityStatus.active] * 4 + [FacilityStatus.archived]),
                    registered_on=date(rng.choice([2023, 2024, 2025, 2026]), rng.randint(1, 12), 1),
                )
                for _ in range(rng.randint(0, 5)):
                    day = date(rng.choice([2024, 2025, 2025, 2025, 2026]), rng.randint(1, 12), 15)
                    inspection = make_inspection(
                        session, facility=facility, inspector=inspector, inspected_at=_noon(day, world),
                        tz=world.settings.tz, review_status=rng.choice(list(ReviewStatus)),
                        on_site=rng.choice([True, True, False, None]),
                    )  # fmt: skip
                    inspection.condition = rng.choice(list(Condition))
                    inspection.checklist = rng.choice(CHECKLISTS)
        facilities = {  # one active facility of each township: where its order is
            t.code: make_facility(session, township=t, code=f"R-{t.code}-X", registered_on=date(2020, 1, 1))
            for t in townships
        }  # fmt: skip
    generated = client.post(
        "/api/v1/campaigns/generate", params={"year": YEAR}, headers=world.headers("county")
    )
    assert generated.status_code in (200, 201), generated.text
    for n, township in enumerate(townships):
        allocate(client, world, 1_000_000 * (n + 1), township=township)
        order = open_order(
            client, world, 100_000 + n, who="county", facility=facilities[township.code]
        )
        assert act(client, world, order, "approve").status_code == 200
        if n % 2 == 0:
            assert act(client, world, order, "start").status_code == 200
            assert act(client, world, order, "complete").status_code == 200
    return counties


def brute_force(db: Database, prefix: str, year: int = YEAR) -> dict:
    """The report's figures counted in Python over every row: the old computation."""
    start, end = date(year, 1, 1), date(year, 12, 31)
    with db.begin() as session:
        townships = {
            t.id: t
            for t in session.execute(select(Township)).scalars()
            if t.code.startswith(prefix)
        }
        facilities = Counter()
        for f in session.execute(select(Facility)).scalars():
            if (
                f.township_id in townships
                and f.status == FacilityStatus.active
                and f.registered_on <= end
            ):
                facilities[(f.township_id, f.tier)] += 1  # fmt: skip
        patrols: dict[int, list[Inspection]] = {t: [] for t in townships}
        for i in session.execute(select(Inspection)).scalars():
            if i.township_id in townships and i.review_status != ReviewStatus.rejected and start <= i.inspected_on <= end:  # fmt: skip
                patrols[i.township_id].append(i)
        counted = [i for rows in patrols.values() for i in rows]
        problems = [i.facility_id for i in counted
                    if i.condition in DAMAGED or "problem" in (i.checklist or {}).values()]  # fmt: skip
        orders = [o for o in session.execute(select(MaintenanceOrder)).scalars()
                  if o.township_id in townships and o.year == year and o.status != OrderStatus.cancelled]  # fmt: skip
        accounts = [a for a in session.execute(select(FundAccount)).scalars()
                    if a.township_id in townships and a.year == year]  # fmt: skip
        return {
            "codes": sorted(t.code for t in townships.values()),
            "by_township": {
                townships[t].code: {
                    "active": sum(n for (tid, _), n in facilities.items() if tid == t),
                    "by_tier": {tier.value: facilities[(t, tier)] for tier in Tier},
                    "inspections": len(rows),
                    "facilities_inspected": len({i.facility_id for i in rows}),
                    "on_site_rate": rate(
                        sum(1 for i in rows if i.on_site),
                        sum(1 for i in rows if i.on_site is not None),
                    ),
                }
                for t, rows in patrols.items()
            },
            "on_site_rate": rate(
                sum(1 for i in counted if i.on_site),
                sum(1 for i in counted if i.on_site is not None),
            ),
            "reports_with_problems": len(problems),
            "facilities_with_problems": len(set(problems)),
            "orders_opened": len(orders),
            "orders_completed": sum(1 for o in orders if o.status == OrderStatus.completed),
            "spent_fen": sum(o.actual_cost_fen or 0 for o in orders),
            "allocated_fen": sum(a.allocated_fen for a in accounts),
            "committed_fen": sum(a.committed_fen for a in accounts),
        }


WHO_REACHES = {"admin": "", "city": "1405", "qinshui": "140521", "yangcheng": "140522",
               "fengcheng": "140522100"}  # fmt: skip


@pytest.mark.parametrize("who", list(WHO_REACHES))
def test_the_aggregates_equal_a_brute_force_count(
    client: TestClient, region: Region, db: Database, who: str
) -> None:
    report = region.get(client, who, "/api/v1/reports/annual", year=YEAR).json()
    expected = brute_force(db, WHO_REACHES[who])
    facilities, patrols = report["facilities"], report["patrols"]
    assert [r["township"]["code"] for r in facilities["by_township"]] == expected["codes"]
    for f, p in zip(facilities["by_township"], patrols["by_township"], strict=True):
        want = expected["by_township"][f["township"]["code"]]
        assert (f["active"], f["by_tier"]) == (want["active"], want["by_tier"])
        assert (p["inspections"], p["facilities_inspected"], p["on_site_rate"]) == (
            want["inspections"], want["facilities_inspected"], want["on_site_rate"]
        )  # fmt: skip
    rows = expected["by_township"].values()
    assert facilities["active_total"] == sum(r["active"] for r in rows)
    assert patrols["total"] == sum(r["inspections"] for r in rows) > 0
    assert patrols["on_site_rate"] == expected["on_site_rate"]
    problems = report["problems"]
    assert (problems["reports_with_problems"], problems["facilities_with_problems"]) == (
        expected["reports_with_problems"], expected["facilities_with_problems"]
    )  # fmt: skip
    assert problems["reports_with_problems"] > 0
    assert (problems["orders_opened"], problems["orders_completed"]) == (
        expected["orders_opened"], expected["orders_completed"]
    )  # fmt: skip
    assert report["maintenance"]["spent_fen"] == expected["spent_fen"]
    totals = report["funds"]["totals"]
    assert (totals["allocated_fen"], totals["committed_fen"]) == (
        expected["allocated_fen"], expected["committed_fen"]
    )  # fmt: skip


def _by_code(rows: list[dict]) -> dict[str, dict]:
    return {r["county"]["code"]: r for r in rows}


def test_a_city_user_gets_each_county_and_the_region_total(
    client: TestClient, region: Region
) -> None:
    report = region.get(client, "city", "/api/v1/reports/annual", year=YEAR).json()
    assert report["division"] == "1405"
    assert [c["name"] for c in report["counties"]] == ["沁水县", "阳城县"]
    assert report["area_zh"] == "沁水县、阳城县" and report["township"] is None
    assert report["summary_zh"].startswith(f"{YEAR}年，全市纳入管理")
    codes = {r["township"]["code"] for r in report["facilities"]["by_township"]}
    assert codes == {"140521100", "140521103", "140522100", "140522101"}  # not Datong's
    county_ids = {c["code"]: c["id"] for c in report["counties"]}
    facilities = _by_code(report["facilities"]["by_county"])
    patrols = _by_code(report["patrols"]["by_county"])
    funds = _by_code(report["funds"]["counties"])
    for code in ("140521", "140522"):
        townships = [
            r for r in report["facilities"]["by_township"] if r["county_id"] == county_ids[code]
        ]
        assert facilities[code]["active"] == sum(r["active"] for r in townships)
        mine = [r for r in report["patrols"]["by_township"] if r["county_id"] == county_ids[code]]
        assert patrols[code]["inspections"] == sum(r["inspections"] for r in mine)
        accounts = [a for a in report["funds"]["townships"] if a["county_id"] == county_ids[code]]
        assert funds[code]["allocated_fen"] == sum(a["allocated_fen"] for a in accounts)
        # each county's row is that county's own report
        own = region.get(client, "city", "/api/v1/reports/annual", year=YEAR, division=code).json()
        assert own["facilities"]["active_total"] == facilities[code]["active"]
        assert own["patrols"]["total"] == patrols[code]["inspections"]
        assert own["patrols"]["on_site_rate"] == patrols[code]["on_site_rate"]
        assert own["funds"]["totals"]["allocated_fen"] == funds[code]["allocated_fen"]
    # the region's total is the counties' sum
    assert report["facilities"]["active_total"] == sum(r["active"] for r in facilities.values())
    assert report["patrols"]["total"] == sum(r["inspections"] for r in patrols.values())
    assert report["funds"]["totals"]["allocated_fen"] == sum(
        r["allocated_fen"] for r in funds.values()
    )
    counties = [region.get(client, who, "/api/v1/reports/annual", year=YEAR).json()
                for who in ("qinshui", "yangcheng")]  # fmt: skip
    for kind in ("qingming", "martyrs_day"):  # the region's campaigns: its counties' sum
        for key in ("in_scope", "inspected"):
            in_region = sum(c[key] for c in report["campaigns"] if c["kind"] == kind)
            assert in_region == sum(
                c[key] for county in counties for c in county["campaigns"] if c["kind"] == kind
            )
            assert in_region > 0 or key == "inspected"


def test_one_county_of_a_region_is_titled_by_its_name(client: TestClient, region: Region) -> None:
    asked = region.get(client, "city", "/api/v1/reports/annual", year=YEAR, division="140522")
    assert asked.status_code == 200
    report = asked.json()
    own = region.get(client, "yangcheng", "/api/v1/reports/annual", year=YEAR).json()
    assert report == own  # the city's view of Yangcheng is Yangcheng's own report
    assert report["area_zh"] == "阳城县" and report["division"] == "140522"
    assert report["summary_zh"].startswith(f"{YEAR}年，全县纳入管理")
    assert {r["township"]["name"] for r in report["facilities"]["by_township"]} == {
        "凤城镇",
        "北留镇",
    }
    word = region.get(client, "city", "/api/v1/exports/annual.docx", year=YEAR, division="140522")
    title = Document(io.BytesIO(word.content)).paragraphs[0].text.replace("\n", "")
    assert title == f"阳城县{YEAR}年度零散烈士纪念设施保护管理工作情况"
    region_word = region.get(client, "city", "/api/v1/exports/annual.docx", year=YEAR)
    title = Document(io.BytesIO(region_word.content)).paragraphs[0].text.replace("\n", "")
    assert title == f"沁水县、阳城县{YEAR}年度零散烈士纪念设施保护管理工作情况"


def test_one_township_of_a_county(client: TestClient, region: Region) -> None:
    report = region.get(
        client, "yangcheng", "/api/v1/reports/annual", year=YEAR, division="140522100"
    ).json()
    assert report["township"]["name"] == "凤城镇" and report["area_zh"] == "阳城县"
    assert report["summary_zh"].startswith(f"{YEAR}年，凤城镇纳入管理")
    own = region.get(client, "fengcheng", "/api/v1/reports/annual", year=YEAR).json()
    assert report == own
    word = region.get(client, "fengcheng", "/api/v1/exports/annual.docx", year=YEAR)
    title = Document(io.BytesIO(word.content)).paragraphs[0].text.replace("\n", "")
    assert title == f"阳城县凤城镇{YEAR}年度零散烈士纪念设施保护管理工作情况"


def test_a_county_user_sees_only_their_county(client: TestClient, region: Region) -> None:
    report = region.get(client, "qinshui", "/api/v1/reports/annual", year=YEAR).json()
    assert [c["name"] for c in report["counties"]] == ["沁水县"]
    assert report["area_zh"] == "沁水县" and report["division"] == "140521"
    names = {r["township"]["name"] for r in report["funds"]["townships"]}
    assert names == {"龙港镇", "端氏镇"}
    assert len(report["facilities"]["by_county"]) == 1


@pytest.mark.parametrize(
    ("who", "division"),
    [("qinshui", "1405"), ("qinshui", "140522"), ("qinshui", "140522100"), ("city", "14"),
     ("city", "1402"), ("city", "140202"), ("city", "140202001"), ("city", "140599"),
     ("city", "140522999"), ("fengcheng", "140522"), ("fengcheng", "140522101")],
)  # fmt: skip
def test_a_division_outside_the_reach_or_naming_nothing_is_not_found(
    client: TestClient, counties: Region, who: str, division: str
) -> None:
    for path in ("/api/v1/reports/annual", "/api/v1/funds/summary",
                 "/api/v1/exports/annual.docx", "/api/v1/exports/annual.xlsx", "/api/v1/exports/funds.xlsx"):  # fmt: skip
        response = counties.get(client, who, path, year=YEAR, division=division)
        assert response.status_code == 404, (path, response.text)
        assert division in response.json()["detail"]


@pytest.mark.parametrize(
    "division", ["", "1", "14052", "1405211", "14052110", "1405211000", "14o5", "١٤٠٥"]
)
def test_a_malformed_division_is_refused(
    client: TestClient, counties: Region, division: str
) -> None:
    for path in ("/api/v1/reports/annual", "/api/v1/funds/summary", "/api/v1/exports/annual.xlsx"):
        response = counties.get(client, "city", path, year=YEAR, division=division)
        assert response.status_code == 422, (path, division, response.text)
        assert response.json()["detail"][0]["loc"] == ["query", "division"]


def test_the_fund_summary_per_county(client: TestClient, region: Region) -> None:
    summary = region.get(client, "city", "/api/v1/funds/summary", year=YEAR).json()
    assert summary["division"] == "1405"
    counties = _by_code(summary["counties"])
    assert list(counties) == ["140521", "140522"]
    for code, county in counties.items():
        accounts = [a for a in summary["townships"] if a["county_id"] == county["county"]["id"]]
        assert len(accounts) == 2
        for key in ("allocated_fen", "committed_fen", "spent_fen", "available_fen"):
            assert county[key] == sum(a[key] for a in accounts)
        alone = region.get(client, "city", "/api/v1/funds/summary", year=YEAR, division=code).json()
        assert alone["totals"] == {k: v for k, v in county.items() if k != "county"}
    assert summary["totals"]["allocated_fen"] == sum(c["allocated_fen"] for c in counties.values())
    own = region.get(client, "yangcheng", "/api/v1/funds/summary", year=YEAR).json()
    assert [c["county"]["name"] for c in own["counties"]] == ["阳城县"]
    assert {a["township"]["name"] for a in own["townships"]} == {"凤城镇", "北留镇"}


def test_the_workbooks_of_a_region_add_up_per_county(client: TestClient, region: Region) -> None:
    report = region.get(client, "city", "/api/v1/reports/annual", year=YEAR).json()
    book = load_workbook(
        io.BytesIO(region.get(client, "city", "/api/v1/exports/annual.xlsx", year=YEAR).content)
    )
    assert [s.title for s in book.worksheets][:2] == [f"{YEAR}年度概况", "各县"]
    rows = {row[0]: row for row in book["各县"].iter_rows(min_row=2, values_only=True)}
    assert set(rows) == {"沁水县", "阳城县", "合计"}
    assert rows["合计"][2] == report["facilities"]["active_total"]
    assert rows["沁水县"][2] + rows["阳城县"][2] == rows["合计"][2]
    assert rows["沁水县"][3] + rows["阳城县"][3] == report["patrols"]["total"]
    county_book = load_workbook(io.BytesIO(
        region.get(client, "qinshui", "/api/v1/exports/annual.xlsx", year=YEAR).content
    ))  # fmt: skip
    assert "各县" not in county_book.sheetnames  # one county: no county sheet
    funds = load_workbook(
        io.BytesIO(region.get(client, "city", "/api/v1/exports/funds.xlsx", year=YEAR).content)
    )
    names = [row[0] for row in funds.worksheets[0].iter_rows(min_row=2, values_only=True)]
    assert names == ["龙港镇", "端氏镇", "沁水县小计", "凤城镇", "北留镇", "阳城县小计", "合计"]
