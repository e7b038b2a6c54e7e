from typing import Annotated

from fastapi import APIRouter, Query

from app.clock import local_today
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.errors import SIGNED_IN
from app.funds.router import OTHER_DIVISION, ReportDivision, ReportYear
from app.reports import annual, service
from app.reports.schemas import AnnualReport, Stats
from app.schemas import Day

router = APIRouter(tags=["reports"], responses=SIGNED_IN)


@router.get("/stats", response_model=Stats, summary="Dashboard figures")
def read_stats(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    as_of: Annotated[Day | None, Query(description="default: today (county time)")] = None,
) -> Stats:
    return service.stats(session=session, user=user, as_of=as_of or local_today(settings.tz))


@router.get(
    "/reports/annual",
    response_model=AnnualReport,
    responses=OTHER_DIVISION,
    summary="The year's figures per township and county, with a paragraph in Chinese for the"
    " bureau's report",
)
def read_annual_report(
    session: SessionDep, user: CurrentUser, year: ReportYear, division: ReportDivision = None
) -> AnnualReport:
    return annual.annual_report(session=session, user=user, year=year, division=division)
