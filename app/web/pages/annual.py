"""Pages: the annual report (年度报告) — a year's figures, the paragraph for the bureau's
report, and its downloads (Word, Excel). A township officer sees their own township's; a
region's staff see their region's, per county, or one county's (the division chosen)."""

from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from sqlalchemy import func, select

from app import access, regions
from app.clock import local_today
from app.counties import service as counties
from app.deps import SessionDep, SettingsDep
from app.funds.router import ReportYear
from app.models import FundAllocation, Inspection, Tier, User
from app.reports import annual
from app.reports.schemas import AnnualReport, TownshipFacilities, TownshipPatrols
from app.web.session import PageUser
from app.web.templating import render

router = APIRouter()

FIRST_YEAR = 2000  # the reports' own lower bound (app.funds.router.report_year)
#: the most counties the county selector offers (a province has about 120)
MAX_CHOICES = 300
#: the API's division, or '' (the county selector's "all counties": the caller's own reach)
PageDivision = Annotated[str | None, Query(max_length=9, pattern=rf"^$|{regions.DIVISION_PATTERN}")]


@router.get("/annual")
def annual_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    settings: SettingsDep,
    year: ReportYear,
    division: PageDivision = None,
) -> Response:
    """The year asked for, or the latest year with allocations (DESIGN.md rule 10)."""
    division = division or None
    report = annual.annual_report(session=session, user=user, year=year, division=division)
    this_year = local_today(settings.tz).year
    query: dict[str, Any] = {"year": year}
    if division is not None:
        query["division"] = division
    return render(
        request,
        "annual/index.html",
        {
            "report": report,
            "year": year,
            "division": division,
            "area": report.area_zh or settings.county_name,
            "township": report.township.name if report.township else None,
            "print_title": annual.title_zh(report, fallback=settings.county_name),
            "years": _years(session, user, selected=year, this_year=this_year),
            "counties": _counties(session, user),
            "tiers": list(Tier),
            "township_rows": _by_township(report),
            "county_rows": _by_county(report),
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


def _by_county(report: AnnualReport) -> list[tuple[Any, Any, Any]]:
    """A region's counties: facilities, patrols and funds side by side (none for one county)."""
    if len(report.counties) < 2:
        return []
    return list(
        zip(
            report.facilities.by_county,
            report.patrols.by_county,
            report.funds.counties,
            strict=True,
        )
    )


def _counties(session: SessionDep, user: User) -> list[Any]:
    """The counties a region's staff may choose one of (none for a county or a township;
    none past a province's worth: the country's staff give ``?division=`` instead)."""
    if access.township_limit(user) is not None or len(access.reach(user)) >= 6:
        return []
    found, total = counties.list_counties(session=session, user=user, limit=MAX_CHOICES, offset=0)
    return found if 1 < total <= MAX_CHOICES else []


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
