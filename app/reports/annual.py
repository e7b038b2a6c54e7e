"""The annual report: the figures a bureau puts in its yearly report, and a paragraph
stating them in the bureau's own style."""

from datetime import date

from sqlalchemy import case, distinct, func, select
from sqlmodel import Session

from app import access
from app.errors import NotFound
from app.funds import service as funds
from app.funds.money import amount_zh, rate
from app.funds.schemas import AccountRead, Totals
from app.models import (
    Campaign,
    ChecklistAnswer,
    Condition,
    Facility,
    FacilityStatus,
    Inspection,
    MaintenanceCategory,
    MaintenanceOrder,
    OrderStatus,
    ReviewStatus,
    Tier,
    Township,
    User,
)
from app.models.enums import TIER_LABELS_ZH
from app.reports.schemas import (
    AnnualReport,
    CampaignCoverage,
    CategoryFigures,
    FacilityFigures,
    FundFigures,
    MaintenanceFigures,
    PatrolFigures,
    ProblemFigures,
    TownshipFacilities,
    TownshipPatrols,
)
from app.schedule import campaigns
from app.schemas import TownshipRef
from app.townships import service as township_service

_DAMAGED = (Condition.needs_repair, Condition.severely_damaged, Condition.missing)


def _facilities(
    session: Session, user: User, townships: list[Township], end: date
) -> FacilityFigures:
    """Active facilities registered by the year's end (their current tier and township)."""
    rows = session.execute(
        access.scope(
            select(Facility.township_id, Facility.tier, func.count())
            .where(Facility.status == FacilityStatus.active, Facility.registered_on <= end)
            .group_by(Facility.township_id, Facility.tier),
            user,
            Facility.township_id,
        )
    ).all()
    per_township: dict[int, dict[Tier, int]] = {t.id: dict.fromkeys(Tier, 0) for t in townships}  # type: ignore[misc]
    for township_id, tier, count in rows:
        per_township.setdefault(township_id, dict.fromkeys(Tier, 0))[Tier(tier)] = count
    by_tier = {tier: sum(c[tier] for c in per_township.values()) for tier in Tier}
    return FacilityFigures(
        active_total=sum(by_tier.values()),
        by_tier=by_tier,
        by_township=[
            TownshipFacilities(
                township=TownshipRef.model_validate(t),
                active=sum(per_township[t.id].values()),  # type: ignore[index]
                by_tier=per_township[t.id],  # type: ignore[index]
            )
            for t in townships
        ],
    )


def _patrols(
    session: Session, user: User, townships: list[Township], start: date, end: date
) -> PatrolFigures:
    counted = (Inspection.review_status != ReviewStatus.rejected) & Inspection.inspected_on.between(
        start, end
    )
    rows = {
        township_id: (n, sites, positioned, on_site)
        for township_id, n, sites, positioned, on_site in session.execute(
            access.scope(
                select(
                    Inspection.township_id,
                    func.count(),
                    func.count(distinct(Inspection.facility_id)),
                    func.count(Inspection.on_site),
                    func.sum(case((Inspection.on_site.is_(True), 1), else_=0)),
                )
                .where(counted)
                .group_by(Inspection.township_id),
                user,
                Inspection.township_id,
            )
        ).all()
    }
    by_township = []
    for t in townships:
        n, sites, positioned, on_site = rows.get(t.id, (0, 0, 0, 0))  # type: ignore[arg-type]
        by_township.append(
            TownshipPatrols(
                township=TownshipRef.model_validate(t),
                inspections=n,
                facilities_inspected=sites,
                on_site_rate=rate(int(on_site or 0), positioned),
            )
        )
    positioned = sum(r[2] for r in rows.values())
    on_site = sum(int(r[3] or 0) for r in rows.values())
    return PatrolFigures(
        total=sum(p.inspections for p in by_township),
        facilities_inspected=sum(p.facilities_inspected for p in by_township),
        on_site_rate=rate(on_site, positioned),
        by_township=by_township,
    )


def _campaigns(session: Session, user: User, year: int) -> list[CampaignCoverage]:
    ids = session.execute(
        select(Campaign.id)
        .where(Campaign.ends_on.between(date(year, 1, 1), date(year, 12, 31)))
        .order_by(Campaign.starts_on, Campaign.id)
    ).scalars()
    coverage = []
    for campaign_id in ids:
        try:
            campaign, rows = campaigns.progress(session=session, user=user, campaign_id=campaign_id)
        except NotFound:  # limited to other townships
            continue
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


def _problems(session: Session, user: User, start: date, end: date, year: int) -> ProblemFigures:
    reports = session.execute(
        access.scope(
            select(Inspection.facility_id, Inspection.condition, Inspection.checklist).where(
                Inspection.review_status != ReviewStatus.rejected,
                Inspection.inspected_on.between(start, end),
            ),
            user,
            Inspection.township_id,
        )
    ).all()
    with_problems = [
        facility_id
        for facility_id, condition, checklist in reports
        if condition in _DAMAGED or ChecklistAnswer.problem.value in (checklist or {}).values()
    ]
    opened, completed, from_reports = session.execute(
        access.scope(
            select(
                func.count(),
                func.sum(case((MaintenanceOrder.status == OrderStatus.completed, 1), else_=0)),
                func.sum(case((MaintenanceOrder.inspection_id.is_not(None), 1), else_=0)),
            ).where(
                MaintenanceOrder.year == year, MaintenanceOrder.status != OrderStatus.cancelled
            ),
            user,
            MaintenanceOrder.township_id,
        )
    ).one()
    return ProblemFigures(
        reports_with_problems=len(with_problems),
        facilities_with_problems=len(set(with_problems)),
        orders_opened=opened,
        orders_from_reports=int(from_reports or 0),
        orders_completed=int(completed or 0),
    )


def _maintenance(session: Session, user: User, year: int) -> MaintenanceFigures:
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
                user,
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


def _funds(session: Session, user: User, year: int) -> FundFigures:
    rows = [AccountRead.of(t, a) for t, a in funds.summary(session=session, user=user, year=year)]
    return FundFigures(townships=rows, totals=Totals.of(rows))


def _percent(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value * 100:.1f}".removesuffix(".0") + "%"


def narrative(report: AnnualReport, *, township: str | None) -> str:
    """The figures as a paragraph in the bureau's style (its 2025 report is the model)."""
    where = township or "全县"
    tiers = "、".join(
        f"{TIER_LABELS_ZH[tier]}{count}处"
        for tier, count in report.facilities.by_tier.items()
        if count
    )
    patrols = report.patrols
    parts = [
        f"{report.year}年，{where}纳入管理的零散烈士纪念设施共{report.facilities.active_total}处"
        + (f"（其中{tiers}）" if tiers else "")
        + "。",
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


def annual_report(*, session: Session, user: User, year: int) -> AnnualReport:
    start, end = date(year, 1, 1), date(year, 12, 31)
    townships = township_service.visible(session, user)
    report = AnnualReport(
        year=year,
        facilities=_facilities(session, user, townships, end),
        patrols=_patrols(session, user, townships, start, end),
        campaigns=_campaigns(session, user, year),
        problems=_problems(session, user, start, end, year),
        maintenance=_maintenance(session, user, year),
        funds=_funds(session, user, year),
        summary_zh="",
    )
    own = access.township_limit(user)
    township = next((t.name for t in townships if t.id == own), None) if own else None
    report.summary_zh = narrative(report, township=township)
    return report
