"""Pages: the dashboard (首页) — what a clerk or a township officer opens every morning.

Overdue sites by township (the ``/stats`` figures), the "六个一" share and the record's
completeness per township (``app.standard.township_shares``), the running or next campaign and its
progress, reports waiting for review, the year's fund execution (a chart and its table),
and the latest reports. A township officer sees the same for their own township only:
every figure comes from the services with the user's scope.
"""

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlmodel import Session

from app import access, listing, standard
from app.clock import local_today
from app.deps import SessionDep, SettingsDep
from app.funds import service as funds
from app.funds.money import rate
from app.inspections import service as inspections
from app.models import (
    Campaign,
    CampaignKind,
    FundAccount,
    Inspection,
    ReviewStatus,
    Township,
    User,
)
from app.reports import service as reports
from app.reports.schemas import TownshipOverdue
from app.schedule import campaigns
from app.schemas import TownshipRef
from app.web import charts
from app.web.i18n import format_money
from app.web.session import PageUser
from app.web.templating import gettext, render

router = APIRouter()

#: how many waiting reports and latest reports the dashboard lists
WAITING_SHOWN = 5
LATEST_SHOWN = 10
#: campaigns looked at to find the running or next one (newest first)
CAMPAIGNS_LOOKED_AT = 50


@dataclass
class CampaignView:
    campaign: Campaign
    phase: str  # "running", "upcoming" or "ended"
    rows: list[campaigns.TownshipCounts] = field(default_factory=list)

    @property
    def in_scope(self) -> int:
        return sum(r.in_scope for r in self.rows)

    @property
    def inspected(self) -> int:
        return sum(r.inspected for r in self.rows)

    @property
    def coverage(self) -> float | None:
        return rate(self.inspected, self.in_scope)


def _preference(campaign: Campaign) -> int:
    """Qingming and Martyrs' Day first; a custom window only when neither applies."""
    return 0 if campaign.kind in (CampaignKind.qingming, CampaignKind.martyrs_day) else 1


def pick_campaign(found: list[Campaign], today: date) -> tuple[Campaign, str] | None:
    """The running campaign, else the next to start, else the one that ended last."""
    running = [c for c in found if c.starts_on <= today <= c.ends_on]
    if running:
        return min(running, key=lambda c: (_preference(c), c.ends_on, c.id)), "running"
    upcoming = [c for c in found if c.starts_on > today]
    if upcoming:
        return min(upcoming, key=lambda c: (c.starts_on, _preference(c), c.id)), "upcoming"
    ended = [c for c in found if c.ends_on < today]
    if ended:
        return max(ended, key=lambda c: (c.ends_on, -_preference(c), c.id)), "ended"
    return None


def campaign_view(*, session: Session, user: User, today: date) -> CampaignView | None:
    found, _total = campaigns.list_campaigns(
        session=session, user=user, year=None, limit=CAMPAIGNS_LOOKED_AT, offset=0
    )
    picked = pick_campaign(found, today)
    if picked is None:
        return None
    campaign, phase = picked
    rows = campaigns.progress_counts(session=session, user=user, campaign=campaign)
    return CampaignView(campaign=campaign, phase=phase, rows=rows)


def next_default_window(today: date) -> tuple[CampaignKind, date, date]:
    """The next Qingming or Martyrs' Day window by the default rule (for the empty state)."""
    for year in (today.year, today.year + 1):
        for kind, _name, starts_on, ends_on in campaigns.default_windows(year):
            if ends_on >= today:
                return kind, starts_on, ends_on
    raise AssertionError("a default window always lies within a year")  # pragma: no cover


def waiting_reports(
    *, session: Session, user: User, count_limit: int | None = None
) -> listing.Listed[Inspection]:
    """The oldest few reports waiting for review, and how many wait (up to ``count_limit``:
    past it, ``total_over``)."""
    waiting = inspections.InspectionFilters(review_status=ReviewStatus.submitted)
    return inspections.list_inspections(
        session=session,
        user=user,
        filters=waiting,
        window=listing.Window(limit=WAITING_SHOWN, offset=0, count_limit=count_limit),
        oldest_first=True,
    )


def fund_year(*, session: Session, user: User, today: date) -> int:
    """This year when it has allocations, else the latest year that has (DESIGN rule 10)."""
    year = today.year
    if any(a.allocated_fen for _t, a in funds.summary(session=session, user=user, year=year)):
        return year
    return funds.default_year(session, fallback=year, user=user)


def fund_chart(request: Request, rows: list[tuple[Township, FundAccount]], year: int) -> Any:
    _ = gettext(request)
    series = [
        (_("Allocated"), *charts.ALLOCATED),
        (_("Committed"), *charts.COMMITTED),
        (_("Spent"), *charts.SPENT),
    ]
    chart = charts.grouped_bars(
        title=_("Fund execution by township, %(year)s", year=year),
        labels=[t.name for t, _a in rows],
        series=series,
        values=[[a.allocated_fen, a.committed_fen, a.spent_fen] for _t, a in rows],
        format_value=format_money,
        width=760,
    )
    return chart, charts.legend(series)


def six_view(
    *, session: Session, user: User, sites: list[TownshipOverdue]
) -> tuple[list[tuple[TownshipRef, standard.TownshipShare]], standard.TownshipShare]:
    """Per township the user sees (those of the overdue table), the "六个一" share and the
    record's completeness (``app.standard.township_shares``), and the total."""
    shares = standard.township_shares(session, user)
    rows = [
        (
            row.township,
            shares.get(row.township.id) or standard.TownshipShare(row.township.id, 0, 0, 0),
        )
        for row in sites
    ]
    total = standard.TownshipShare(
        0,
        sum(s.active for _t, s in rows),
        sum(s.all_met for _t, s in rows),
        sum(s.fields_filled for _t, s in rows),
    )
    return rows, total


@router.get("/")
def dashboard(
    request: Request, user: PageUser, session: SessionDep, settings: SettingsDep
) -> Response:
    today = local_today(settings.tz)
    figures = reports.stats(session=session, user=user, as_of=today)  # as GET /stats
    sites = figures.overdue_by_township
    waiting = waiting_reports(session=session, user=user, count_limit=settings.count_limit)
    latest, _total = inspections.list_inspections(
        session=session,
        user=user,
        filters=inspections.InspectionFilters(),
        window=listing.Window(limit=LATEST_SHOWN, offset=0, count_limit=settings.count_limit),
    )
    year = fund_year(session=session, user=user, today=today)
    accounts = funds.summary(session=session, user=user, year=year)
    allocated = sum(a.allocated_fen for _t, a in accounts)
    spent = sum(a.spent_fen for _t, a in accounts)
    chart, legend = fund_chart(request, accounts, year)
    campaign = campaign_view(session=session, user=user, today=today)
    six_rows, six_total = six_view(session=session, user=user, sites=sites)
    next_kind, next_starts, next_ends = next_default_window(today)
    return render(
        request,
        "dashboard/index.html",
        {
            "today": today,
            "is_staff": access.is_staff(user),
            "sites": sites,
            "active_total": figures.active_total,
            "overdue_total": figures.overdue_total,
            "waiting_total": waiting.total,
            "waiting_over": waiting.total_over,
            "waiting": waiting.rows,
            "latest": latest,
            "township_names": {r.township.id: r.township.name for r in sites},
            "campaign": campaign,
            "next_window": {"kind": next_kind, "starts_on": next_starts, "ends_on": next_ends},
            "fund_year": year,
            "accounts": accounts,
            "fund_totals": {
                "allocated": allocated,
                "committed": sum(a.committed_fen for _t, a in accounts),
                "spent": spent,
                "available": sum(a.available_fen for _t, a in accounts),
                "rate": rate(spent, allocated),
            },
            "rate_of": rate,
            "fund_chart": chart,
            "six_rows": six_rows,
            "six_total": six_total,
            "fund_legend": legend,
        },
    )
