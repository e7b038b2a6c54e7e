"""Pages: overdue (逾期) — active facilities past their next due date, most overdue first.

The list is ``app/schedule/service.overdue_facilities`` (as ``GET /api/v1/overdue``); the
export buttons link to ``/api/v1/exports/overdue.csv`` and ``.xlsx`` with the same
township, tier and date (the session cookie authenticates those GETs). A township officer
sees their own township only.
"""

from datetime import date, timedelta
from typing import Annotated

from annotated_types import Ge, Le
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from app import access, listing
from app.clock import local_today
from app.deps import SessionDep, SettingsDep
from app.models import Tier
from app.schedule import service as schedule
from app.schemas import Day, Id, Offset
from app.townships import service as townships
from app.web.forms import Blank
from app.web.session import PageUser
from app.web.templating import render

router = APIRouter()

PAGE_SIZE = 50
MinDays = Annotated[int, Ge(1), Le(36500)]
#: "overdue by at least" choices of the filter, in days
MIN_DAYS_CHOICES = (7, 30, 90, 180, 365)


@router.get("/overdue")
def overdue_list(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    township_id: Annotated[Id | None, Blank, Query()] = None,
    tier: Annotated[Tier | None, Blank, Query()] = None,
    min_days: Annotated[MinDays | None, Blank, Query()] = None,
    as_of: Annotated[Day | None, Blank, Query()] = None,
    offset: Annotated[Offset, Query()] = 0,
) -> Response:
    today = local_today(settings.tz)
    day = as_of or today
    # "at least N days overdue" on ``day`` is "overdue" on the date N - 1 days earlier
    cutoff = day - timedelta(days=(min_days or 1) - 1)
    listed = schedule.overdue_facilities(
        session=session,
        user=user,
        as_of=cutoff,
        township_id=township_id,
        tier=tier,
        window=listing.Window(limit=PAGE_SIZE, offset=offset, count_limit=settings.count_limit),
    )
    query = {
        key: value
        for key, value in (
            ("township_id", township_id),
            ("tier", tier),
            ("min_days", min_days),
            ("as_of", as_of.isoformat() if as_of else None),
        )
        if value is not None
    }
    return render(
        request,
        "overdue/list.html",
        {
            "rows": [(f, (day - f.next_due_on).days) for f in listed.rows],
            "total": listed.total,
            "total_over": listed.total_over,
            "more": listed.next is not None,
            "offset": offset,
            "limit": PAGE_SIZE,
            "query": query,
            "export_query": export_query(township_id=township_id, tier=tier, as_of=as_of),
            "day": day,
            "today": today,
            "as_of": as_of,
            "min_days": min_days,
            "min_days_choices": sorted({*MIN_DAYS_CHOICES, *([min_days] if min_days else [])}),
            "townships": townships.visible(session, user),
            "is_staff": access.is_staff(user),
            "tiers": list(Tier),
        },
    )


def export_query(*, township_id: int | None, tier: Tier | None, as_of: date | None) -> dict:
    """The filters the export endpoints take (``app/exports/router.py``: as_of, township_id,
    tier); "at least N days" is the page's own and does not travel."""
    return {
        key: value
        for key, value in (
            ("township_id", township_id),
            ("tier", tier),
            ("as_of", as_of.isoformat() if as_of else None),
        )
        if value is not None
    }
