"""The annual report: the figures a bureau puts in its yearly report, and a paragraph
stating them in the bureau's own style — for a county, a township, or a whole region.

Every figure is an SQL aggregate (grouped by township, tier, category); what Python adds up
afterwards is one row per township, never the year's inspections (issue 12: a province's
year holds millions of them).
"""

from collections.abc import Callable, Sequence
from datetime import date
from typing import Any, TypeVar

from sqlalchemy import Text, case, distinct, exists, func, literal, or_, select
from sqlalchemy.dialects.postgresql import JSONB, JSONPATH
from sqlalchemy.sql import ColumnElement
from sqlmodel import Session

from app import access, regions, standard
from app.errors import NotFound
from app.funds import service as funds
from app.funds.money import amount_zh, rate
from app.funds.schemas import AccountRead, CountyTotals, Totals
from app.models import (
    Campaign,
    ChecklistAnswer,
    Condition,
    County,
    Facility,
    FacilityStatus,
    Inspection,
    MaintenanceCategory,
    MaintenanceOrder,
    OrderStatus,
    ReviewStatus,
    Tier,
    User,
)
from app.models.enums import TIER_LABELS_ZH
from app.reports.schemas import (
    AnnualReport,
    CampaignCoverage,
    CategoryFigures,
    CountyFacilities,
    CountyPatrols,
    FacilityFigures,
    FundFigures,
    MaintenanceFigures,
    PatrolFigures,
    ProblemFigures,
    TownshipFacilities,
    TownshipPatrols,
)
from app.schedule import campaigns
from app.schemas import CountyRef, TownshipRef

_DAMAGED = (Condition.needs_repair, Condition.severely_damaged, Condition.missing)

Row = TypeVar("Row")


def _per_county(counties: Sequence[County], rows: Sequence[Row], add: Callable[..., Any]) -> list:
    """``add(county, its rows)`` for each county, its rows those with its ``county_id``."""
    return [add(c, [r for r in rows if r.county_id == c.id]) for c in counties]  # type: ignore[attr-defined]


def _facilities(session: Session, area: regions.Area, end: date) -> FacilityFigures:
    """Active facilities registered by the year's end (their current tier and township)."""
    rows = session.execute(
        access.scope(
            select(Facility.township_id, Facility.tier, func.count())
            .where(Facility.status == FacilityStatus.active, Facility.registered_on <= end)
            .group_by(Facility.township_id, Facility.tier),
            area.viewer,
            Facility.township_id,
        )
    ).all()
    shares = standard.township_shares(session, area.viewer, registered_by=end, until=end)
    per_township: dict[int, dict[Tier, int]] = {
        t.id: dict.fromkeys(Tier, 0)  # type: ignore[misc]
        for t in area.townships
    }
    for township_id, tier, count in rows:
        per_township.setdefault(township_id, dict.fromkeys(Tier, 0))[Tier(tier)] = count
    by_tier = {tier: sum(c[tier] for c in per_township.values()) for tier in Tier}
    by_township = [
        TownshipFacilities(
            township=TownshipRef.model_validate(t),
            county_id=t.county_id,
            active=sum(per_township[t.id].values()),  # type: ignore[index]
            by_tier=per_township[t.id],  # type: ignore[index]
            **_six(shares.get(t.id)),  # type: ignore[arg-type]
        )
        for t in area.townships
    ]

    def county_row(county: County, rows: list[TownshipFacilities]) -> CountyFacilities:
        return CountyFacilities(
            county=CountyRef.model_validate(county),
            active=sum(r.active for r in rows),
            by_tier={tier: sum(r.by_tier[tier] for r in rows) for tier in Tier},
            **_six_summed([shares[r.township.id] for r in rows if r.township.id in shares]),
        )

    return FacilityFigures(
        active_total=sum(by_tier.values()),
        by_tier=by_tier,
        **_six_summed(list(shares.values())),
        by_township=by_township,
        by_county=_per_county(area.counties, by_township, county_row),
    )


def _six(share: standard.TownshipShare | None) -> dict[str, Any]:
    """A township's "六个一" figures (none without active sites)."""
    if share is None:
        return {"six_met": 0, "six_rate": None, "completeness": None}
    return {
        "six_met": share.all_met,
        "six_rate": share.share,
        "completeness": share.completeness,
    }


def _six_summed(shares: list[standard.TownshipShare]) -> dict[str, Any]:
    """The "六个一" figures of several townships together."""
    active = sum(s.active for s in shares)
    met = sum(s.all_met for s in shares)
    filled = sum(s.fields_filled for s in shares)
    asked = sum(s.fields_total for s in shares)
    return {"six_met": met, "six_rate": rate(met, active), "completeness": rate(filled, asked)}


def _counted(start: date, end: date) -> ColumnElement[bool]:
    """A counted report of the year: not rejected, inspected (county date) in it."""
    return (Inspection.review_status != ReviewStatus.rejected) & Inspection.inspected_on.between(
        start, end
    )


def _patrols(session: Session, area: regions.Area, start: date, end: date) -> PatrolFigures:
    rows = {
        township_id: (n, sites, positioned, int(on_site or 0))
        for township_id, n, sites, positioned, on_site in session.execute(
            access.scope(
                select(
                    Inspection.township_id,
                    func.count(),
                    func.count(distinct(Inspection.facility_id)),
                    func.count(Inspection.on_site),
                    func.sum(case((Inspection.on_site.is_(True), 1), else_=0)),
                )
                .where(_counted(start, end))
                .group_by(Inspection.township_id),
                area.viewer,
                Inspection.township_id,
            )
        ).all()
    }
    by_township = []
    positioned_of: dict[int, tuple[int, int]] = {}
    for t in area.townships:
        n, sites, positioned, on_site = rows.get(t.id, (0, 0, 0, 0))  # type: ignore[arg-type]
        positioned_of[t.id] = (positioned, on_site)  # type: ignore[index]
        by_township.append(
            TownshipPatrols(
                township=TownshipRef.model_validate(t),
                county_id=t.county_id,
                inspections=n,
                facilities_inspected=sites,
                on_site_rate=rate(on_site, positioned),
            )
        )

    def county_row(county: County, rows: list[TownshipPatrols]) -> CountyPatrols:
        figures = [positioned_of[r.township.id] for r in rows]
        return CountyPatrols(
            county=CountyRef.model_validate(county),
            inspections=sum(r.inspections for r in rows),
            facilities_inspected=sum(r.facilities_inspected for r in rows),
            on_site_rate=rate(sum(f[1] for f in figures), sum(f[0] for f in figures)),
        )

    # reports of a township no longer seen (a facility moved away) count in the totals, as
    # they always have: every grouped row, not only the listed townships'
    positioned = sum(r[2] for r in rows.values())
    on_site = sum(r[3] for r in rows.values())
    return PatrolFigures(
        total=sum(p.inspections for p in by_township),
        facilities_inspected=sum(p.facilities_inspected for p in by_township),
        on_site_rate=rate(on_site, positioned),
        by_township=by_township,
        by_county=_per_county(area.counties, by_township, county_row),
    )


def _campaigns(session: Session, area: regions.Area, year: int) -> list[CampaignCoverage]:
    """The campaigns that ended in the year, for every county or for one reported on."""
    county_ids = sorted(c.id for c in area.counties)  # type: ignore[type-var]
    ids = session.execute(
        select(Campaign.id)
        .where(
            Campaign.ends_on.between(date(year, 1, 1), date(year, 12, 31)),
            or_(Campaign.county_id.is_(None), Campaign.county_id.in_(county_ids)),
        )
        .order_by(Campaign.starts_on, Campaign.id)
    ).scalars()
    coverage = []
    for campaign_id in ids:
        try:
            campaign = campaigns.get_campaign(
                session=session, user=area.viewer, campaign_id=campaign_id
            )
        except NotFound:  # limited to other townships
            continue
        rows = campaigns.progress_counts(session=session, user=area.viewer, campaign=campaign)
        in_scope = sum(r.in_scope for r in rows)
        inspected = sum(r.inspected for r in rows)
        coverage.append(
            CampaignCoverage(
                id=campaign.id,  # type: ignore[arg-type]
                name=campaign.name,
                kind=campaign.kind,
                starts_on=campaign.starts_on,
                ends_on=campaign.ends_on,
                in_scope=in_scope,
                inspected=inspected,
                coverage=rate(inspected, in_scope),
            )
        )
    return coverage


def has_problem(dialect: str) -> ColumnElement[bool]:
    """A report that found a problem: a damaged condition, or a checklist item answered
    'problem' — read inside the JSON by the database, not in Python."""
    problem = ChecklistAnswer.problem.value
    # the word in the stored text first (cheap, and most reports have no problem); then
    # whether it is an answer, not a key
    mentioned = Inspection.checklist.cast(Text).contains(f'"{problem}"', autoescape=True)
    if dialect == "postgresql":
        answered = func.jsonb_path_exists(
            Inspection.checklist.cast(JSONB),
            literal(f'$.* ? (@ == "{problem}")', JSONPATH),
        )
    else:
        answers = func.json_each(Inspection.checklist).table_valued("value", "type")
        answered = exists(
            select(1)
            .select_from(answers)
            .where(answers.c.type == "text", answers.c.value == problem)
        )
    return Inspection.condition.in_(_DAMAGED) | (mentioned & answered)


def _problems(
    session: Session, area: regions.Area, start: date, end: date, year: int
) -> ProblemFigures:
    dialect = session.get_bind().dialect.name
    reports, facilities = session.execute(
        access.scope(
            select(func.count(), func.count(distinct(Inspection.facility_id))).where(
                _counted(start, end), has_problem(dialect)
            ),
            area.viewer,
            Inspection.township_id,
        )
    ).one()
    opened, completed, from_reports = session.execute(
        access.scope(
            select(
                func.count(),
                func.sum(case((MaintenanceOrder.status == OrderStatus.completed, 1), else_=0)),
                func.sum(case((MaintenanceOrder.inspection_id.is_not(None), 1), else_=0)),
            ).where(
                MaintenanceOrder.year == year, MaintenanceOrder.status != OrderStatus.cancelled
            ),
            area.viewer,
            MaintenanceOrder.township_id,
        )
    ).one()
    return ProblemFigures(
        reports_with_problems=reports,
        facilities_with_problems=facilities,
        orders_opened=opened,
        orders_from_reports=int(from_reports or 0),
        orders_completed=int(completed or 0),
    )


def _maintenance(session: Session, area: regions.Area, year: int) -> MaintenanceFigures:
    rows = {
        category: (n, done, spent)
        for category, n, done, spent in session.execute(
            access.scope(
                select(
                    MaintenanceOrder.category,
                    func.count(),
                    func.sum(case((MaintenanceOrder.status == OrderStatus.completed, 1), else_=0)),
                    func.coalesce(func.sum(MaintenanceOrder.actual_cost_fen), 0),
                )
                .where(
                    MaintenanceOrder.year == year,
                    MaintenanceOrder.status != OrderStatus.cancelled,
                )
                .group_by(MaintenanceOrder.category),
                area.viewer,
                MaintenanceOrder.township_id,
            )
        ).all()
    }
    by_category = [
        CategoryFigures(
            category=category,
            orders=rows.get(category, (0, 0, 0))[0],
            completed=int(rows.get(category, (0, 0, 0))[1] or 0),
            spent_fen=int(rows.get(category, (0, 0, 0))[2] or 0),
        )
        for category in MaintenanceCategory
    ]
    return MaintenanceFigures(
        by_category=by_category, spent_fen=sum(c.spent_fen for c in by_category)
    )


def _funds(session: Session, area: regions.Area, year: int) -> FundFigures:
    accounts = funds.summary(
        session=session, user=area.viewer, year=year, townships_seen=area.townships
    )
    rows = [AccountRead.of(t, a) for t, a in accounts]
    return FundFigures(
        townships=rows,
        counties=CountyTotals.per_county(area.counties, rows),
        totals=Totals.of(rows),
    )


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}".removesuffix(".0") + "%"


def narrative(report: AnnualReport, *, township: str | None, whole: str = "全县") -> str:
    """The figures as a paragraph in the bureau's style (its 2025 report is the model);
    ``whole`` says 'the whole county' (全县) or the region's word for itself (全市, 全省)."""
    where = township or whole
    tiers = "、".join(
        f"{TIER_LABELS_ZH[tier]}{count}处"
        for tier, count in report.facilities.by_tier.items()
        if count
    )
    patrols = report.patrols
    facilities = report.facilities
    parts = [
        f"{report.year}年，{where}纳入管理的零散烈士纪念设施共{report.facilities.active_total}处"
        + (f"（其中{tiers}）" if tiers else "")
        + "。",
        (
            f"对照“六个一”标准，达标设施{facilities.six_met}处，"
            f"达标率{_percent(facilities.six_rate)}。"
            if facilities.active_total
            else ""
        ),
        f"全年共巡查{patrols.total}次，覆盖设施{patrols.facilities_inspected}处"
        + (
            f"，巡查到位率{_percent(patrols.on_site_rate)}"
            if patrols.on_site_rate is not None
            else ""
        )
        + "。",
    ]
    if report.campaigns:
        parts.append(
            "；".join(f"{c.name}覆盖率{_percent(c.coverage)}" for c in report.campaigns) + "。"
        )
    problems = report.problems
    parts.append(
        f"巡查发现存在问题的设施{problems.facilities_with_problems}处，"
        f"建立维修整改工单{problems.orders_opened}件，已完成{problems.orders_completed}件。"
    )
    totals = report.funds.totals
    receiver = township or "各乡镇人民政府"
    parts.append(
        f"下拨{receiver}零散烈士纪念设施保护经费{amount_zh(totals.allocated_fen)}，"
        f"已支出{amount_zh(totals.spent_fen)}，执行率{_percent(totals.execution_rate)}。"
    )
    return "".join(parts)


def title_zh(report: AnnualReport, *, fallback: str) -> str:
    """The report's title, naming its county (or its region's counties) and its township:
    ``沁水县2025年度零散烈士纪念设施保护管理工作情况``; ``fallback`` names a deployment
    without townships yet."""
    from app.exports.docx import annual_title  # the document's module imports this one

    return annual_title(
        county=report.area_zh or fallback,
        township=report.township.name if report.township else None,
        year=report.year,
    )


def annual_report(
    *, session: Session, user: User, year: int, division: str | None = None
) -> AnnualReport:
    """The year's report for ``division`` (a code within the caller's reach; default: the
    caller's own). 404 for a division outside the reach."""
    area = regions.area(session, user, division)
    start, end = date(year, 1, 1), date(year, 12, 31)
    report = AnnualReport(
        year=year,
        division=area.division,
        area_zh=area.name_zh,
        township=TownshipRef.model_validate(area.township) if area.township else None,
        counties=[CountyRef.model_validate(c) for c in area.counties],
        facilities=_facilities(session, area, end),
        patrols=_patrols(session, area, start, end),
        campaigns=_campaigns(session, area, year),
        problems=_problems(session, area, start, end, year),
        maintenance=_maintenance(session, area, year),
        funds=_funds(session, area, year),
        summary_zh="",
    )
    report.summary_zh = narrative(
        report, township=area.township.name if area.township else None, whole=area.whole_zh
    )
    return report
