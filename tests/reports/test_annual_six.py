"""The annual report's "六个一" figures: the share of active sites meeting all six per
township and county, and the sentence in the paragraph."""

from datetime import UTC, date, datetime, time

import pytest
from fastapi.testclient import TestClient

from app.db import Database
from app.models import Facility, FacilityKind, ReviewStatus
from tests.factories import World, make_facility, make_inspection
from tests.reports.test_annual_docx import rows, word

ALL_OK = {
    "marker_sign": "ok",
    "biography_plaque": "ok",
    "headstone": "ok",
    "boundary": "ok",
    "access_path": "ok",
}
ON_FILE = {"custodian_name": "王守义", "management_rule": "看护制度"}


def noon(day: date, world: World) -> datetime:
    return datetime.combine(day, time(12), tzinfo=world.settings.tz).astimezone(UTC)


@pytest.fixture
def sites_2025(db: Database, world: World) -> World:
    """Township A: 4 sites in 2025, 2 meeting all six by the year's end; township B: 1 site,
    meeting none."""
    with db.begin() as session:
        for facility in (world.facility_a, world.facility_b):
            session.get(Facility, facility.id).registered_on = date(2020, 1, 1)
        old = date(2020, 1, 1)

        def site(**fields: object) -> Facility:
            return make_facility(session, township=world.township_a, registered_on=old, **fields)

        def report(facility: Facility, day: date, checklist: dict, status=ReviewStatus.accepted):
            inspection = make_inspection(
                session, facility=facility, inspector=world.township_user,
                inspected_at=noon(day, world), tz=world.settings.tz, review_status=status,
            )  # fmt: skip
            inspection.checklist = checklist

        grave = site(**ON_FILE, commemorates="张三烈士", area_m2=30.0)
        report(grave, date(2025, 4, 1), ALL_OK)
        monument = site(**ON_FILE, kind=FacilityKind.monument)
        report(monument, date(2025, 9, 1), ALL_OK | {"headstone": "na"})
        # good only in 2026: not in 2025's figures
        late = site(**ON_FILE)
        report(late, date(2025, 3, 1), ALL_OK | {"boundary": "problem"})
        report(late, date(2026, 1, 5), ALL_OK)
        # its good report was rejected
        rejected = site(**ON_FILE)
        report(rejected, date(2025, 5, 1), ALL_OK, status=ReviewStatus.rejected)
        # registered after 2025: not counted
        make_facility(session, township=world.township_a, registered_on=date(2026, 2, 1))
        report(world.facility_b, date(2025, 6, 1), ALL_OK)  # no custodian, no rule
    return world


def test_the_share_per_township_and_county(client: TestClient, sites_2025: World) -> None:
    world = sites_2025
    report = client.get(
        "/api/v1/reports/annual", params={"year": 2025}, headers=world.headers("county")
    ).json()
    facilities = report["facilities"]
    rows = {r["township"]["name"]: r for r in facilities["by_township"]}
    a, b = rows["龙港镇"], rows["端氏镇"]
    assert (a["active"], a["six_met"], a["six_rate"]) == (5, 2, 0.4)
    assert (b["active"], b["six_met"], b["six_rate"]) == (1, 0, 0.0)
    # 2 of the 8 fields filled on one site of five (the grave: commemorates, area)
    assert a["completeness"] == round(2 / 40, 4)
    assert b["completeness"] == 0.0
    assert (facilities["six_met"], facilities["six_rate"]) == (2, round(2 / 6, 4))
    (county,) = facilities["by_county"]
    assert (county["six_met"], county["six_rate"]) == (2, round(2 / 6, 4))


def test_the_paragraph_states_the_share(client: TestClient, sites_2025: World) -> None:
    world = sites_2025
    summary = client.get(
        "/api/v1/reports/annual", params={"year": 2025}, headers=world.headers("county")
    ).json()["summary_zh"]
    assert "设施共6处（其中未定级6处）。对照“六个一”标准，达标设施2处，达标率33.3%。" in summary
    # after the count of sites, before the patrols
    assert summary.index("“六个一”") < summary.index("全年共巡查")


def test_a_township_reads_its_own_share(client: TestClient, sites_2025: World) -> None:
    world = sites_2025
    report = client.get(
        "/api/v1/reports/annual", params={"year": 2025}, headers=world.headers("other")
    ).json()
    assert [r["township"]["name"] for r in report["facilities"]["by_township"]] == ["端氏镇"]
    assert report["facilities"]["six_met"] == 0
    assert "对照“六个一”标准，达标设施0处，达标率0%。" in report["summary_zh"]


def test_a_year_without_sites_says_nothing_of_the_standard(
    client: TestClient, world: World, db: Database
) -> None:
    with db.begin() as session:
        for facility in (world.facility_a, world.facility_b):
            session.get(Facility, facility.id).registered_on = date(2026, 1, 1)
    report = client.get(
        "/api/v1/reports/annual", params={"year": 2025}, headers=world.headers("county")
    ).json()
    assert report["facilities"]["six_rate"] is None
    assert "六个一" not in report["summary_zh"]


def test_the_word_file_states_the_share(client: TestClient, sites_2025: World) -> None:
    world = sites_2025
    document = word(client, world, "county", year=2025)
    text = "\n".join(p.text for p in document.paragraphs)
    assert "设施共6处（其中未定级6处）。对照“六个一”标准，达标设施2处，达标率33.3%。" in text
    assert "表6　“六个一”达标及信息采集情况" in text
    table = rows(document, "乡镇")  # the first: by tier; the six ones' is the last table
    six = {r.cells[0].text: [c.text for c in r.cells[1:]] for r in document.tables[-1].rows}
    assert six["乡镇"] == ["在管设施（处）", "“六个一”达标（处）", "达标率", "信息完整度"]
    assert six["龙港镇"] == ["5", "2", "40%", "5%"]
    assert six["端氏镇"] == ["1", "0", "0%", "0%"]
    assert six["合计"] == ["6", "2", "33.3%", "4.2%"]
    assert table["龙港镇"][-1] == "5"  # the tier table unchanged
