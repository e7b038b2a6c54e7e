"""Pages: campaigns (集中巡查) — a year's Qingming and Martyrs' Day (9·30) campaigns, their
progress per township, and the sites each township has still to visit.

The campaigns themselves come from ``app/schedule/campaigns.py`` (the default windows, the
list, one campaign, setting up the year's two, and the progress: counts per township in
one grouped query, ``progress_counts``, and a township's missing sites as a paged query,
``missing_sites``), so the page costs the same at 60 sites or 50,000.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Annotated

from annotated_types import Ge, Le
from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlmodel import Session

from app import access
from app.clock import local_today
from app.deps import SessionDep, SettingsDep
from app.errors import Forbidden
from app.models import (
    Campaign,
    CampaignKind,
    County,
    Township,
    User,
)
from app.schedule import campaigns
from app.schemas import Id, Offset
from app.web import errors as web_errors
from app.web.forms import Blank
from app.web.i18n import N_
from app.web.session import Csrf, PageUser
from app.web.templating import render

router = APIRouter()

PAGE_SIZE = 50
#: the years the year picker offers around this one
YEARS_BACK, YEARS_AHEAD = 5, 1
Year = Annotated[int, Ge(2000), Le(2100)]

KIND_LABELS = {
    CampaignKind.qingming: N_("Qingming campaign"),
    CampaignKind.martyrs_day: N_("Martyrs' Day campaign (30 September)"),
    CampaignKind.custom: N_("Other campaign"),
}

web_errors.register(
    (r"Campaign (?P<id>\d+) not found", N_("Campaign %(id)s was not found")),
    (
        r"Only county staff may set up campaigns",
        N_("Only county staff may set up campaigns"),
    ),
    # the API's (Accept-Language: zh): campaigns of one county, the missing sites' pages
    (r"No township with id (?P<id>\d+)", N_("There is no township with id %(id)s")),
    (
        r"Township (?P<id>\d+) is not in county (?P<code>\d+) \((?P<name>.*)\)",
        N_("Township %(id)s is not in county %(code)s (%(name)s)"),
    ),
    (r"Give after_id or offset, not both", N_("Give after_id or offset, not both")),
    (
        r"Division (?P<code>\d+) has no township for a campaign to cover",
        N_("Division %(code)s has no township for a campaign to cover"),
    ),
    (
        r"after_id (?P<id>\d+) names no site of yours",
        N_("after_id %(id)s names no site you can see"),
    ),
)


@dataclass
class Window:
    """A campaign window of the year: a campaign, or a default window not yet set up."""

    kind: CampaignKind
    starts_on: date
    ends_on: date
    campaign: Campaign | None = None
    phase: str = "upcoming"
    rows: list[campaigns.TownshipCounts] = field(default_factory=list)
    #: the window to look at now: its township table shows open, the others folded
    is_focus: bool = False
    #: the county whose own campaign this is (None: every county's, or not set up)
    county: County | None = None
    #: the townships the campaign names that the viewer sees (``campaigns.shown_townships``)
    townships: list[Township] = field(default_factory=list)

    @property
    def in_scope(self) -> int:
        return sum(r.in_scope for r in self.rows)

    @property
    def inspected(self) -> int:
        return sum(r.inspected for r in self.rows)


def phase_of(starts_on: date, ends_on: date, today: date) -> str:
    if today < starts_on:
        return "upcoming"
    return "ended" if today > ends_on else "running"


# --- the pages -----------------------------------------------------------------------------


def windows_of(session: Session, user: User, year: int, today: date) -> list[Window]:
    """The year's Qingming and 9·30 windows (set up or not), then its other campaigns."""
    found, _ = campaigns.list_campaigns(session=session, user=user, year=year, limit=100, offset=0)
    by_key = {c.generated_key: c for c in found if c.generated_key}
    windows = []
    for kind, _name, starts_on, ends_on in campaigns.default_windows(year):
        campaign = by_key.get(f"{kind.value}-{year}")
        windows.append(Window(kind, starts_on, ends_on, campaign))
    others = sorted((c for c in found if not c.generated_key), key=lambda c: (c.starts_on, c.id))
    windows += [Window(c.kind, c.starts_on, c.ends_on, c) for c in others]
    for window in windows:
        if window.campaign is not None:
            window.starts_on, window.ends_on = window.campaign.starts_on, window.campaign.ends_on
            window.rows = campaigns.progress_counts(
                session=session, user=user, campaign=window.campaign
            )
            window.county = campaigns.county_of(session, window.campaign)
            window.townships = campaigns.shown_townships(session, user, window.campaign)
        window.phase = phase_of(window.starts_on, window.ends_on, today)
    focus = (
        next((w for w in windows if w.phase == "running"), None)
        or min((w for w in windows if w.phase == "upcoming"), key=_start, default=None)
        or max(windows, key=_end, default=None)
    )
    if focus is not None:
        focus.is_focus = True
    return windows


def _start(window: Window) -> date:
    return window.starts_on


def _end(window: Window) -> date:
    return window.ends_on


@router.get("/campaigns")
def campaign_overview(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    year: Annotated[Year | None, Blank, Query()] = None,
) -> Response:
    today = local_today(settings.tz)
    year = year or today.year
    windows = windows_of(session, user, year, today)
    first = min(year, today.year) - YEARS_BACK
    return render(
        request,
        "campaigns/overview.html",
        {
            "year": year,
            "years": list(range(max(first, 2000), max(year, today.year) + YEARS_AHEAD + 1)),
            "windows": windows,
            "kind_labels": KIND_LABELS,
            "is_staff": access.is_staff(user),
            "not_set_up": [w for w in windows if w.campaign is None],
            "today": today,
        },
    )


@router.post("/campaigns/set-up")
def set_up(
    session: SessionDep,
    user: PageUser,
    year: Annotated[Year, Form()],
    _csrf: None = Csrf,
) -> Response:
    """Set up the year's Qingming and 9·30 campaigns (once; as ``POST /campaigns/generate``)."""
    if not access.is_staff(user):
        raise Forbidden("Only county staff may set up campaigns")
    campaigns.generate(session=session, actor=user, year=year)
    return RedirectResponse(f"/campaigns?year={year}", status_code=303)


@router.get("/campaigns/{campaign_id}")
def campaign_missing(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    campaign_id: Id,
    township_id: Annotated[Id | None, Blank, Query()] = None,
    offset: Annotated[Offset, Query()] = 0,
) -> Response:
    campaign = campaigns.get_campaign(session=session, user=user, campaign_id=campaign_id)
    today = local_today(settings.tz)
    missing = campaigns.missing_sites(
        session=session,
        user=user,
        campaign=campaign,
        township_id=township_id,
        limit=PAGE_SIZE,
        offset=offset,
        count_limit=settings.count_limit,
    )
    progress = campaigns.progress_counts(session=session, user=user, campaign=campaign)
    window = Window(
        campaign.kind,
        campaign.starts_on,
        campaign.ends_on,
        campaign,
        phase_of(campaign.starts_on, campaign.ends_on, today),
        progress,
        county=campaigns.county_of(session, campaign),
        townships=campaigns.shown_townships(session, user, campaign),
    )
    query = {"township_id": township_id} if township_id else {}
    return render(
        request,
        "campaigns/missing.html",
        {
            "w": window,
            "rows": missing.rows,
            "total": missing.total,
            "total_over": missing.total_over,
            "more": missing.next_after_id is not None,
            "offset": offset,
            "limit": PAGE_SIZE,
            "query": query,
            "township_id": township_id,
            "townships": [p.township for p in progress],
            "kind_labels": KIND_LABELS,
            "is_staff": access.is_staff(user),
            "today": today,
        },
    )
