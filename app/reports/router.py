from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from app.clock import local_today
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.funds import service as funds
from app.reports import annual, service
from app.reports.schemas import AnnualReport, Stats

router = APIRouter(tags=["reports"])


@router.get("/stats", response_model=Stats, summary="Dashboard figures")
def read_stats(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    as_of: Annotated[date | None, Query(description="default: today (county time)")] = None,
) -> Stats:
    return service.stats(session=session, user=user, as_of=as_of or local_today(settings.tz))


@router.get(
    "/reports/annual",
    response_model=AnnualReport,
    summary="The year's figures, with a paragraph in Chinese for the bureau's report",
)
def read_annual_report(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    year: Annotated[
        int | None, Query(ge=2000, le=2100, description="default: the latest year with allocations")
    ] = None,
) -> AnnualReport:
    year = year or funds.default_year(session, fallback=local_today(settings.tz).year)
    return annual.annual_report(session=session, user=user, year=year)
