"""Pages: the annual report (年度报告) — a year's figures, the paragraph for the bureau's
report, and its downloads (Word, Excel). A township officer sees their own township's."""

from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from app import access
from app.clock import local_today
from app.deps import SessionDep, SettingsDep
from app.exports.docx import annual_title
from app.funds.router import ReportYear
from app.models import FundAllocation, Inspection, Tier, User
from app.reports import annual
from app.reports.schemas import AnnualReport, TownshipFacilities, TownshipPatrols
from app.web.session import PageUser
from app.web.templating import render

router = APIRouter()

FIRST_YEAR = 2000  # the reports' own lower bound (app.funds.router.report_year)


@router.get("/annual")
def annual_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    year: ReportYear,
) -> Response:
    """The year asked for, or the latest year with allocations (DESIGN.md rule 10)."""
    report = annual.annual_report(session=session, user=user, year=year)
    own = access.township_limit(user)
    township = next((r.township.name for r in report.funds.townships if r.township.id == own), None)
    this_year = local_today(settings.tz).year
    query = {"year": year}
    return render(
        request,
        "annual/index.html",
        {
            "report": report,
            "year": year,
            "township": township,
            "print_title": annual_title(county=settings.county_name, township=township, year=year),
            "years": _years(session, user, selected=year, this_year=this_year),
            "tiers": list(Tier),
            "township_rows": _by_township(report),
            "percent": annual._percent,
            "starts_on": date(year, 1, 1),
            # to date in the current year; a past or a planned (future) year whole
            "ends_on": local_today(settings.tz) if year == this_year else date(year, 12, 31),
            "is_current_year": year == this_year,
            "docx_url": "/api/v1/exports/annual.docx?" + urlencode(query),
            "xlsx_url": "/api/v1/exports/annual.xlsx?" + urlencode(query),
            "orders_total": sum(c.orders for c in report.maintenance.by_category),
            "orders_completed": sum(c.completed for c in report.maintenance.by_category),
            "is_empty": (
                report.facilities.active_total == 0
                and report.patrols.total == 0
                and report.funds.totals.allocated_fen == 0
            ),
        },
    )


def _by_township(report: AnnualReport) -> list[tuple[TownshipFacilities, TownshipPatrols]]:
    """Each township's facilities beside its patrols."""
    patrols = {row.township.id: row for row in report.patrols.by_township}
    return [(row, patrols[row.township.id]) for row in report.facilities.by_township]


def _years(session: SessionDep, user: User, *, selected: int, this_year: int) -> list[int]:
    """The years worth offering, newest first: from the first with allocations or patrols
    (in the user's reach) to this one."""
    first_allocation = session.execute(
        access.scope(select(func.min(FundAllocation.year)), user, FundAllocation.township_id)
    ).scalar_one()
    first_patrol = session.execute(
        access.scope(select(func.min(Inspection.inspected_on)), user, Inspection.township_id)
    ).scalar_one()
    starts = [this_year, selected]
    if first_allocation is not None:
        starts.append(int(first_allocation))
    if first_patrol is not None:
        # SQLite may hand the aggregate back as text
        starts.append(int(str(first_patrol)[:4]))
    first = max(FIRST_YEAR, min(starts))
    return list(range(max(this_year, selected), first - 1, -1))
