"""Dashboard figures, each one query, all scoped to what the caller may see."""

from datetime import date, timedelta

from sqlalchemy import case, func, select
from sqlmodel import Session

from app import access
from app.models import Facility, FacilityStatus, Inspection, ReviewStatus, Tier, User
from app.reports.schemas import Stats, TownshipOverdue
from app.schemas import TownshipRef
from app.townships import service as township_service


def stats(*, session: Session, user: User, as_of: date) -> Stats:
    """The dashboard as of ``as_of``: what was registered and reported by then.

    The registry keeps no history of a facility's status, tier or township, nor of a
    report's review: those are taken as they stand now. A site counts as overdue when its
    due date, from the patrols recorded by now, fell before ``as_of`` (as ``/overdue``
    does); for a past date that is the sites overdue then and not visited since.
    """
    active = (Facility.status == FacilityStatus.active) & (Facility.registered_on <= as_of)
    by_tier = dict(
        session.execute(
            access.scope(
                select(Facility.tier, func.count()).where(active).group_by(Facility.tier),
                user,
                Facility.township_id,
            )
        ).all()
    )
    overdue = case((Facility.next_due_on < as_of, 1), else_=0)
    per_township = {
        township_id: (n, late)
        for township_id, n, late in session.execute(
            access.scope(
                select(Facility.township_id, func.count(), func.sum(overdue))
                .where(active)
                .group_by(Facility.township_id),
                user,
                Facility.township_id,
            )
        ).all()
    }
    townships = township_service.visible(session, user)
    overdue_by_township = [
        TownshipOverdue(
            township=TownshipRef.model_validate(t),
            active=per_township.get(t.id, (0, 0))[0],
            overdue=int(per_township.get(t.id, (0, 0))[1] or 0),
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
            ).where(window),
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
