"""Dashboard figures: SQL aggregates (one pass over the sites, one over the month's reports,
one over the reports awaiting review), all scoped to what the caller may see."""

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlmodel import Session

from app import access
from app.models import Facility, FacilityStatus, Inspection, ReviewStatus, Tier, User
from app.reports.schemas import Stats, TownshipOverdue
from app.schemas import TownshipRef
from app.townships import service as township_service

#: a local date lies within this many hours of the same UTC date (UTC-12 to UTC+14)
_ZONE_SLACK = timedelta(hours=14)


def _around(first: date, last: date) -> list[Any]:
    """Conditions on ``inspected_at`` holding every report whose local date (any county's
    time zone) is within ``first``..``last``: a range of the inspected_at index, which the
    exact ``inspected_on`` condition then narrows."""
    start = datetime.combine(first, time(0), tzinfo=UTC) - _ZONE_SLACK
    end = datetime.combine(last + timedelta(days=1), time(0), tzinfo=UTC) + _ZONE_SLACK
    return [Inspection.inspected_at >= start, Inspection.inspected_at < end]


def stats(*, session: Session, user: User, as_of: date) -> Stats:
    """The dashboard as of ``as_of``: what was registered and reported by then.

    The registry keeps no history of a facility's status, tier or township, nor of a
    report's review: those are taken as they stand now. A site counts as overdue when its
    due date, from the patrols recorded by now, fell before ``as_of`` (as ``/overdue``
    does); for a past date that is the sites overdue then and not visited since.
    """
    active = (Facility.status == FacilityStatus.active) & (Facility.registered_on <= as_of)
    overdue = case((Facility.next_due_on < as_of, 1), else_=0)
    # One pass over the sites the user sees: per township and tier, active and overdue.
    by_tier: dict[Tier, int] = {}
    per_township: dict[int, tuple[int, int]] = {}
    for township_id, tier, n, late in session.execute(
        access.scope(
            select(Facility.township_id, Facility.tier, func.count(), func.sum(overdue))
            .where(active)
            .group_by(Facility.township_id, Facility.tier),
            user,
            Facility.township_id,
        )
    ).all():
        by_tier[tier] = by_tier.get(tier, 0) + n
        had, had_late = per_township.get(township_id, (0, 0))
        per_township[township_id] = (had + n, had_late + int(late or 0))
    townships = township_service.visible(session, user)
    overdue_by_township = [
        TownshipOverdue(
            township=TownshipRef.model_validate(t),
            active=per_township.get(t.id, (0, 0))[0],
            overdue=per_township.get(t.id, (0, 0))[1],
        )
        for t in townships
    ]
    window = Inspection.inspected_on.between(as_of - timedelta(days=29), as_of)
    recent, with_position, on_site = session.execute(
        access.scope_by_facility(
            select(
                func.count(),
                func.count(Inspection.on_site),
                func.sum(case((Inspection.on_site.is_(True), 1), else_=0)),
            ).where(window, *_around(as_of - timedelta(days=29), as_of)),
            user,
            Inspection.facility_id,
        )
    ).one()
    awaiting = session.execute(
        access.scope_by_facility(
            select(func.count()).where(
                Inspection.review_status == ReviewStatus.submitted,
                Inspection.inspected_on <= as_of,
            ),
            user,
            Inspection.facility_id,
        )
    ).scalar_one()
    active_by_tier = {tier: by_tier.get(tier, 0) for tier in Tier}
    return Stats(
        as_of=as_of,
        active_by_tier=active_by_tier,
        active_total=sum(active_by_tier.values()),
        overdue_total=sum(t.overdue for t in overdue_by_township),
        overdue_by_township=overdue_by_township,
        inspections_last_30_days=recent,
        on_site_rate=round((on_site or 0) / with_position, 4) if with_position else None,
        awaiting_review=awaiting,
    )
