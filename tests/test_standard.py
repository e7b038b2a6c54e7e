"""The "六个一" standard: each of the six items judged, met and not met, with its evidence
and date; which report is the evidence; and the per-township share computed in SQL,
held to the same answers as ``judge``."""

import random
from datetime import UTC, date, datetime, time
from typing import Any

import pytest
from sqlmodel import Session, select

from app.db import Database
from app.models import (
    County,
    Facility,
    FacilityKind,
    FacilityStatus,
    Inspection,
    ReviewStatus,
    User,
)
from app.standard import SixItem, Standing, standing, standings, township_shares
from tests.factories import World, make_facility, make_inspection, make_township, make_user

ALL_OK = {
    "marker_sign": "ok",
    "biography_plaque": "ok",
    "headstone": "ok",
    "boundary": "ok",
    "access_path": "ok",
}
ON_FILE = {"custodian_name": "王守义", "management_rule": "《烈士墓日常看护制度》"}


def noon(day: date, world: World) -> datetime:
    return datetime.combine(day, time(12), tzinfo=world.settings.tz).astimezone(UTC)


def report(
    session: Session,
    world: World,
    facility: Facility,
    day: date,
    checklist: dict[str, str],
    *,
    status: ReviewStatus = ReviewStatus.accepted,
    receipt: str = "MP-0001",
) -> Inspection:
    inspection = make_inspection(
        session,
        facility=facility,
        inspector=world.township_user,
        inspected_at=noon(day, world),
        tz=world.settings.tz,
        review_status=status,
    )
    inspection.checklist = checklist
    inspection.receipt = receipt
    session.flush()
    return inspection


def judged(db: Database, world: World, fields: dict[str, Any], reports: list[tuple]) -> Standing:
    """The standing of a new facility of township A with ``fields``, after ``reports``
    (day, checklist, status, receipt)."""
    with db.begin() as session:
        facility = make_facility(session, township=world.township_a, **fields)
        for day, checklist, status, receipt in reports:
            report(session, world, facility, day, checklist, status=status, receipt=receipt)
        return standing(session, facility)


def verdict(result: Standing, item: SixItem):
    return next(v for v in result.verdicts if v.item is item)


DAY = date(2026, 4, 3)
ACCEPTED = ReviewStatus.accepted

# item, checklist key, its label in the evidence
REPORT_ITEMS = [
    (SixItem.sign, "marker_sign", "保护标志"),
    (SixItem.biography, "biography_plaque", "简介牌"),
    (SixItem.headstone, "headstone", "墓碑/碑体"),
    (SixItem.boundary, "boundary", "保护范围界桩"),
    (SixItem.access, "access_path", "祭扫通道"),
]


@pytest.mark.parametrize(("item", "key", "label"), REPORT_ITEMS)
def test_an_item_read_from_the_report_is_met_when_answered_ok(
    db: Database, world: World, item: SixItem, key: str, label: str
) -> None:
    result = judged(db, world, ON_FILE, [(DAY, ALL_OK, ACCEPTED, "MP-0007")])
    met = verdict(result, item)
    assert met.met is True
    assert met.evidence_zh == f"巡查（回执 MP-0007）：{label}完好"
    assert met.evidence_on == DAY
    assert met.inspection_id is not None
    assert result.all_met is True
    assert result.met == 6


@pytest.mark.parametrize(("item", "key", "label"), REPORT_ITEMS)
def test_an_item_read_from_the_report_is_not_met_on_a_problem_or_unanswered(
    db: Database, world: World, item: SixItem, key: str, label: str
) -> None:
    problem = judged(db, world, ON_FILE, [(DAY, ALL_OK | {key: "problem"}, ACCEPTED, "MP-0008")])
    found = verdict(problem, item)
    assert found.met is False
    assert found.evidence_zh == f"巡查（回执 MP-0008）：{label}存在问题"
    assert found.evidence_on == DAY
    assert problem.met == 5 and problem.all_met is False
    unanswered = {k: v for k, v in ALL_OK.items() if k != key}
    missing = judged(db, world, ON_FILE, [(DAY, unanswered, ACCEPTED, "MP-0009")])
    assert verdict(missing, item).met is False
    assert verdict(missing, item).evidence_zh == f"巡查（回执 MP-0009）：{label}未检查此项"


@pytest.mark.parametrize(("item", "key", "label"), REPORT_ITEMS)
def test_not_applicable_is_not_met_except_a_headstone_on_a_site_that_is_no_grave(
    db: Database, world: World, item: SixItem, key: str, label: str
) -> None:
    grave = judged(db, world, ON_FILE, [(DAY, ALL_OK | {key: "na"}, ACCEPTED, "MP-0010")])
    assert verdict(grave, item).met is False
    assert verdict(grave, item).evidence_zh == f"巡查（回执 MP-0010）：{label}填写不适用"
    monument = judged(
        db,
        world,
        ON_FILE | {"kind": FacilityKind.monument},
        [(DAY, ALL_OK | {key: "na"}, ACCEPTED, "MP-0011")],
    )
    if item is SixItem.headstone:
        assert verdict(monument, item).met is True
        assert verdict(monument, item).evidence_zh == "巡查（回执 MP-0011）：非墓葬，不适用"
        assert monument.all_met is True
    else:
        assert verdict(monument, item).met is False


def test_a_cemetery_is_a_grave_for_the_headstone(db: Database, world: World) -> None:
    result = judged(
        db,
        world,
        ON_FILE | {"kind": FacilityKind.cemetery},
        [(DAY, ALL_OK | {"headstone": "na"}, ACCEPTED, "MP-0012")],
    )
    assert verdict(result, SixItem.headstone).met is False


def test_management_needs_both_a_custodian_and_a_rule(db: Database, world: World) -> None:
    reports = [(DAY, ALL_OK, ACCEPTED, "MP-0013")]
    both = judged(db, world, ON_FILE | {"management_rule_on": date(2024, 5, 1)}, reports)
    management = verdict(both, SixItem.management)
    assert management.met is True
    assert management.evidence_zh == "看护人 王守义；《烈士墓日常看护制度》"
    assert management.evidence_on == date(2024, 5, 1)
    assert management.inspection_id is None

    no_rule = verdict(judged(db, world, {"custodian_name": "王守义"}, reports), SixItem.management)
    assert (no_rule.met, no_rule.evidence_zh) == (False, "档案未登记管理制度")
    no_custodian = verdict(
        judged(db, world, {"management_rule": "制度", "custodian_name": "  "}, reports),
        SixItem.management,
    )
    assert (no_custodian.met, no_custodian.evidence_zh) == (False, "档案未登记看护人")
    neither = verdict(judged(db, world, {}, reports), SixItem.management)
    assert (neither.met, neither.evidence_zh) == (False, "档案未登记看护人、管理制度")


def test_management_does_not_need_a_report(db: Database, world: World) -> None:
    result = judged(db, world, ON_FILE, [])
    assert verdict(result, SixItem.management).met is True
    assert result.met == 1


def test_without_an_accepted_report_every_report_item_is_unmet(db: Database, world: World) -> None:
    result = judged(db, world, ON_FILE, [])
    for item, _key, _label in REPORT_ITEMS:
        assert verdict(result, item).met is False
        assert verdict(result, item).evidence_zh == "尚无审核通过的巡查报告"
        assert verdict(result, item).evidence_on is None


def test_a_last_report_rejected_is_judged_on_the_accepted_one_before(
    db: Database, world: World
) -> None:
    result = judged(
        db,
        world,
        ON_FILE,
        [
            (date(2026, 3, 1), ALL_OK, ACCEPTED, "MP-0020"),
            (date(2026, 4, 1), ALL_OK | {"boundary": "problem"}, ReviewStatus.rejected, "MP-0021"),
        ],
    )
    assert result.all_met is True
    assert verdict(result, SixItem.boundary).evidence_zh == "巡查（回执 MP-0020）：保护范围界桩完好"
    assert verdict(result, SixItem.sign).evidence_on == date(2026, 3, 1)


def test_a_last_report_rejected_without_an_accepted_one_before_is_no_evidence(
    db: Database, world: World
) -> None:
    result = judged(
        db, world, ON_FILE, [(date(2026, 4, 1), ALL_OK, ReviewStatus.rejected, "MP-0022")]
    )
    assert verdict(result, SixItem.sign).met is False
    assert verdict(result, SixItem.sign).evidence_zh == "尚无审核通过的巡查报告"
    assert result.met == 1  # management only


def test_a_newer_report_waiting_for_review_is_ignored(db: Database, world: World) -> None:
    result = judged(
        db,
        world,
        ON_FILE,
        [
            (date(2026, 3, 1), ALL_OK | {"access_path": "problem"}, ACCEPTED, "MP-0030"),
            (date(2026, 4, 1), ALL_OK, ReviewStatus.submitted, "MP-0031"),
        ],
    )
    access = verdict(result, SixItem.access)
    assert access.met is False
    assert access.evidence_zh == "巡查（回执 MP-0030）：祭扫通道存在问题"
    assert access.evidence_on == date(2026, 3, 1)


def test_the_latest_accepted_report_wins_over_an_older_accepted_one(
    db: Database, world: World
) -> None:
    result = judged(
        db,
        world,
        ON_FILE,
        [
            (date(2026, 4, 1), ALL_OK | {"marker_sign": "problem"}, ACCEPTED, "MP-0041"),
            (date(2026, 3, 1), ALL_OK, ACCEPTED, "MP-0040"),
        ],
    )
    assert verdict(result, SixItem.sign).met is False
    assert verdict(result, SixItem.sign).evidence_on == date(2026, 4, 1)


def test_until_judges_on_the_reports_up_to_a_date(db: Database, world: World) -> None:
    with db.begin() as session:
        facility = make_facility(session, township=world.township_a, **ON_FILE)
        report(session, world, facility, date(2025, 6, 1), ALL_OK)
        report(session, world, facility, date(2026, 2, 1), ALL_OK | {"boundary": "problem"})
        now = standings(session, [facility])[facility.id]
        end_2025 = standings(session, [facility], until=date(2025, 12, 31))[facility.id]
    assert now.all_met is False
    assert end_2025.all_met is True


def test_until_does_not_count_a_rule_adopted_after_it(db: Database, world: World) -> None:
    with db.begin() as session:
        facility = make_facility(
            session,
            township=world.township_a,
            **(ON_FILE | {"management_rule_on": date(2026, 2, 1)}),
        )
        report(session, world, facility, date(2025, 6, 1), ALL_OK)
        now = standings(session, [facility])[facility.id]
        end_2025 = standings(session, [facility], until=date(2025, 12, 31))[facility.id]
        admin = session.get(User, world.admin.id)
        share_2025 = township_shares(session, admin, until=date(2025, 12, 31))
    assert now.all_met is True
    rule = verdict(end_2025, SixItem.management)
    assert rule.met is False
    assert rule.evidence_zh == "管理制度于2026-02-01制定，晚于统计截止日"
    assert share_2025[world.township_a.id].all_met == 0


# --- the per-township share, in SQL, against ``judge`` ---

ANSWERS = ["ok", "ok", "ok", "problem", "na", None]


def _random_checklist(rng: random.Random) -> dict[str, str]:
    if rng.random() < 0.6:  # a good report, its headstone perhaps not applicable
        return ALL_OK | ({"headstone": "na"} if rng.random() < 0.4 else {})
    checklist = {}
    for key in ALL_OK:
        answer = rng.choice(ANSWERS)
        if answer is not None:
            checklist[key] = answer
    if rng.random() < 0.5:
        checklist["surroundings_tidy"] = rng.choice(["ok", "problem"])
    return checklist


def _random_site(session: Session, rng: random.Random, township: Any) -> Facility:
    fields: dict[str, Any] = {
        "kind": rng.choice([FacilityKind.grave, FacilityKind.cemetery, FacilityKind.monument]),
        "status": FacilityStatus.active if rng.random() < 0.85 else FacilityStatus.archived,
    }
    if rng.random() < 0.8:
        fields["custodian_name"] = rng.choice(["王守义", "  ", "李大山"])
    if rng.random() < 0.7:
        fields["management_rule"] = rng.choice(["看护制度", "", "管理办法"])
    if rng.random() < 0.6:  # adopted before the end of 2025, or after it
        fields["management_rule_on"] = rng.choice([date(2024, 3, 1), date(2026, 2, 1)])
    if rng.random() < 0.5:
        fields["commemorates"] = rng.choice(["张三烈士", " "])
    if rng.random() < 0.5:
        fields["area_m2"] = 12.5
    if rng.random() < 0.3:
        fields["dimensions"] = "2m×1m"
    return make_facility(session, township=township, **fields)


def test_township_shares_agree_with_judge(db: Database, world: World) -> None:
    rng = random.Random(13)
    with db.begin() as session:
        townships = [world.township_a, world.township_b] + [
            make_township(session, code=f"14052120{n}", name=f"乡{n}") for n in range(3)
        ]
        sites = []
        for township in townships:
            for _ in range(rng.randint(10, 25)):
                site = _random_site(session, rng, township)
                sites.append(site)
                for n in range(rng.randint(0, 4)):
                    day = date(2025 + rng.randint(0, 1), rng.randint(1, 12), rng.randint(1, 28))
                    status = rng.choice(list(ReviewStatus))
                    report(
                        session, world, site, day, _random_checklist(rng), status=status,
                        receipt=f"R-{site.id}-{n}",
                    )  # fmt: skip
        # the cases the rule turns on, surely among them
        monument = make_facility(
            session, township=world.township_b, kind=FacilityKind.monument, **ON_FILE
        )
        report(session, world, monument, DAY, ALL_OK | {"headstone": "na"})
        no_rule = make_facility(session, township=world.township_b, custodian_name="王守义")
        report(session, world, no_rule, DAY, ALL_OK)
        admin = session.get(User, world.admin.id)
        shares = township_shares(session, admin)
        end_2025 = township_shares(session, admin, until=date(2025, 12, 31))
        active = list(
            session.exec(select(Facility).where(Facility.status == FacilityStatus.active)).all()
        )
        brute = standings(session, active)
        brute_2025 = standings(session, active, until=date(2025, 12, 31))

    for township in townships:
        mine = [f for f in active if f.township_id == township.id]
        share = shares[township.id]
        assert share.active == len(mine)
        assert share.all_met == sum(brute[f.id].all_met for f in mine)
        assert end_2025[township.id].all_met == sum(brute_2025[f.id].all_met for f in mine)
    # the data exercise the rule: some sites meet all six, most do not; some miss only the
    # record (a custodian or a rule), some meet the headstone as not applicable
    met = sum(s.all_met for s in brute.values())
    assert 0 < met < len(active)
    only_record = [s for s in brute.values() if s.met == 5 and not s.verdicts[4].met]
    not_a_grave = [s for s in brute.values() if s.all_met and "非墓葬" in s.verdicts[2].evidence_zh]
    assert only_record and not_a_grave


def test_township_shares_count_fields_filled_and_the_rates(db: Database, world: World) -> None:
    with db.begin() as session:
        a = world.township_a
        full = make_facility(session, township=a, **ON_FILE, commemorates="张三", area_m2=20.0)
        report(session, world, full, DAY, ALL_OK)
        make_facility(session, township=a, dimensions="  ")  # blank: not filled
        make_facility(session, township=a, status=FacilityStatus.archived, **ON_FILE)
        shares = township_shares(session, session.get(User, world.admin.id))
    share = shares[a.id]
    # world.facility_a, full, the blank one (the retired one is not counted)
    assert (share.active, share.all_met, share.fields_filled) == (3, 1, 2)
    assert share.share == round(1 / 3, 4)
    assert share.fields_total == 24
    assert share.completeness == round(2 / 24, 4)
    assert shares[world.township_b.id].all_met == 0


def test_township_shares_are_scoped(db: Database, world: World) -> None:
    with db.begin() as session:
        inspector = session.get(User, world.township_user.id)
        session.add(County(code="140522", name="阳城县", timezone="Asia/Shanghai"))
        session.flush()
        other_county = make_township(session, code="140522100", name="外县镇")
        other_county.county_id = session.exec(
            select(County.id).where(County.code == "140522")
        ).one()
        make_facility(session, township=other_county)
        clerk = make_user(session, role=world.county.role, township=None)
        clerk.division_code = "140521"
        mine = township_shares(session, inspector)
        county = township_shares(session, clerk)
        everyone = township_shares(session, session.get(User, world.admin.id))
    assert set(mine) == {world.township_a.id}
    assert set(county) == {world.township_a.id, world.township_b.id}
    assert other_county.id in everyone


def test_township_shares_take_the_later_of_two_reports_made_at_the_same_instant(
    db: Database, world: World
) -> None:
    """Each site's latest accepted report is read by a probe of its own reports (newest
    ``inspected_at``, then the highest id), as ``judge`` reads it; a problem in an older
    accepted report, or in a newer one waiting for review, does not count."""
    with db.begin() as session:
        township = make_township(session, code="140521209", name="同刻乡")
        tie = make_facility(session, township=township, **ON_FILE)
        report(session, world, tie, DAY, ALL_OK | {"boundary": "problem"}, receipt="T-1")
        report(session, world, tie, DAY, ALL_OK, receipt="T-2")  # same instant, higher id
        older = make_facility(session, township=township, **ON_FILE)
        report(session, world, older, date(2026, 3, 1), ALL_OK | {"boundary": "problem"})
        report(session, world, older, date(2026, 4, 1), ALL_OK)
        waiting = make_facility(session, township=township, **ON_FILE)
        report(session, world, waiting, date(2026, 3, 1), ALL_OK)
        report(
            session,
            world,
            waiting,
            date(2026, 4, 1),
            ALL_OK | {"marker_sign": "problem"},
            status=ReviewStatus.submitted,
        )
        make_facility(session, township=township, **ON_FILE)  # no report: not met
        shares = township_shares(session, session.get(User, world.admin.id))
        brute = standings(session, [tie, older, waiting])
    assert all(brute[f.id].all_met for f in (tie, older, waiting))
    assert (shares[township.id].active, shares[township.id].all_met) == (4, 3)
