from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query

from app.clock import local_today
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.reports import service
from app.reports.schemas import Stats

router = APIRouter(tags=["reports"])


@router.get("/stats", response_model=Stats, summary="Dashboard figures")
def read_stats(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    as_of: Annotated[date | None, Query(description="default: today (county time)")] = None,
) -> Stats:
    return service.stats(session=session, user=user, as_of=as_of or local_today(settings.tz))
