"""Patrol schedule: policy intervals and each facility's next due date (DESIGN.md rule 2)."""

from collections.abc import Callable, Sequence
from datetime import date, datetime, timedelta, tzinfo
from typing import Any

from sqlalchemy import ColumnElement, Date, Select, case, delete, func, literal, select, update
from sqlalchemy.orm import selectinload
from sqlmodel import Session

from app import access, listing
from app.audit import service as audit
from app.clock import local_date
from app.errors import Forbidden
from app.models import (
    DEFAULT_INTERVAL_DAYS,
    Condition,
    County,
    CountyPatrolPolicy,
    Facility,
    FacilityStatus,
    Inspection,
    PatrolPolicy,
    ReviewStatus,
    Tier,
    Township,
    User,
)


def intervals(session: Session, county_id: int | None = None) -> dict[Tier, int]:
    """Interval in days per tier, as configured (defaults fill any gap); with ``county_id``,
    as that county's facilities follow them (its own intervals over the province's)."""
    configured = dict(session.execute(select(PatrolPolicy.tier, PatrolPolicy.interval_days)).all())
    if county_id is not None:
        configured |= county_intervals(session, county_id)
    return {tier: configured.get(tier, DEFAULT_INTERVAL_DAYS[tier]) for tier in Tier}


def county_intervals(session: Session, county_id: int) -> dict[Tier, int]:
    """The intervals a county sets for itself (only the tiers it overrides)."""
    rows = session.execute(
        select(CountyPatrolPolicy.tier, CountyPatrolPolicy.interval_days).where(
            CountyPatrolPolicy.county_id == county_id
        )
    )
    return {Tier(tier): days for tier, days in rows}


def _default_days(tier: Any) -> ColumnElement[Any]:
    """The built-in interval of ``tier`` (a column or a value), when no policy row says."""
    return case({t.value: days for t, days in DEFAULT_INTERVAL_DAYS.items()}, value=tier)


def interval_of(tier: Any, township_id: Any) -> ColumnElement[Any]:
    """The interval (days) of a site of ``tier`` in ``township_id`` (columns of the row being
    written, or values), in SQL: its county's own interval for the tier, else the province's,
    else the built-in default."""
    own = (
        select(CountyPatrolPolicy.interval_days)
        .join(Township, Township.county_id == CountyPatrolPolicy.county_id)
        .where(Township.id == township_id, CountyPatrolPolicy.tier == tier)
        .scalar_subquery()
    )
    province = select(PatrolPolicy.interval_days).where(PatrolPolicy.tier == tier).scalar_subquery()
    return func.coalesce(own, province, _default_days(tier))


def due_on(*, last_inspected_on: date | None, registered_on: date, interval_days: int) -> date:
    """Next due date: the last counted inspection's local date (or registration) + interval."""
    return (last_inspected_on or registered_on) + timedelta(days=interval_days)


def refresh_due(session: Session, facility: Facility) -> None:
    """Set ``facility.next_due_on`` from its own dates and its tier's interval (its county's
    own, else the province's)."""
    days = session.execute(
        select(interval_of(literal(Tier(facility.tier).value), literal(facility.township_id)))
    ).scalar_one()
    facility.next_due_on = due_on(
        last_inspected_on=facility.last_inspected_on,
        registered_on=facility.registered_on,
        interval_days=days,
    )


def _plus_days(session: Session, day: Any, days: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(func.julianday(day) + days)
    return day + days  # PostgreSQL: date + integer is a date


def recompute_due_dates(
    session: Session, *, tiers: list[Tier] | None = None, county_id: int | None = None
) -> int:
    """Recompute ``next_due_on`` for every facility (of ``tiers``, of ``county_id``'s
    townships) in one UPDATE, each by its county's interval for its tier, else the
    province's; returns rows."""
    interval = interval_of(Facility.tier, Facility.township_id)
    base = func.coalesce(Facility.last_inspected_on, Facility.registered_on)
    statement = update(Facility).values(next_due_on=_plus_days(session, base, interval))
    if tiers is not None:
        statement = statement.where(Facility.tier.in_(tiers))
    if county_id is not None:
        statement = statement.where(
            Facility.township_id.in_(select(Township.id).where(Township.county_id == county_id))
        )
    result = session.execute(statement.execution_options(synchronize_session=False))
    return result.rowcount


def refresh_last_inspection(session: Session, facility: Facility, *, tz: tzinfo) -> None:
    """Set the facility's last counted inspection (not rejected), the condition it found,
    and its next due date.

    Call with the facility row locked (``with_for_update``), so that two reports of one
    facility committing together cannot leave the older one as "last".
    """
    last = session.execute(
        select(Inspection.inspected_at, Inspection.condition)
        .where(
            Inspection.facility_id == facility.id,
            Inspection.review_status != ReviewStatus.rejected,
        )
        .order_by(Inspection.inspected_at.desc(), Inspection.id.desc())
        .limit(1)
    ).first()
    latest, condition = last if last is not None else (None, None)
    facility.last_inspected_at = latest
    facility.last_inspected_on = local_date(latest, tz) if latest else None
    facility.last_condition = condition
    refresh_due(session, facility)


def note_new_inspection(
    session: Session,
    facility: Facility,
    *,
    inspected_at: datetime,
    condition: Condition,
    tz: tzinfo,
) -> None:
    """A new report of ``facility`` (locked, as for ``refresh_last_inspection``): if it is
    the latest, it becomes the last inspection and the next due date follows.

    The same result as ``refresh_last_inspection`` for one report added, without
    searching the reports or reading the policy into Python: the facility row already
    holds the last counted inspection (a new report is not rejected, and has the highest
    id, so it wins a tie), and the tier's interval is read by the UPDATE itself.
    """
    if facility.last_inspected_at is not None and inspected_at < facility.last_inspected_at:
        return
    inspected_on = local_date(inspected_at, tz)
    interval = interval_of(Facility.tier, Facility.township_id)
    session.execute(
        update(Facility)
        .where(Facility.id == facility.id)
        .values(
            last_inspected_at=inspected_at,
            last_inspected_on=inspected_on,
            last_condition=condition,
            next_due_on=_plus_days(session, literal(inspected_on, Date()), interval),
        )
        .execution_options(synchronize_session=False)
    )


def set_intervals(session: Session, *, actor: User, intervals_days: dict[Tier, int]) -> int:
    """Change policy intervals and recompute the affected facilities; returns rows changed.

    These are the defaults of every county of the installation: only an administrator who
    reaches all of it sets them (a county's own go to ``county_patrol_policies``)."""
    if not access.covers_installation(session, actor):
        raise Forbidden(
            "The default patrol intervals hold for every county of the installation; only an"
            " administrator of the whole installation changes them. Set your county's own"
            " with PUT /api/v1/counties/{county_id}/patrol-policies"
        )
    policies = {p.tier: p for p in session.execute(select(PatrolPolicy)).scalars()}
    changed: list[Tier] = []
    for tier, days in intervals_days.items():
        policy = policies.get(tier)
        if policy is None:
            policy = PatrolPolicy(tier=tier, interval_days=days)
            session.add(policy)
        elif policy.interval_days == days:
            continue
        before = policy.interval_days if tier in policies else None
        policy.interval_days = days
        changed.append(tier)
        audit.record(
            session=session,
            actor=actor,
            action="policy.update",
            object_type="patrol_policy",
            object_id=tier.value,
            before={"interval_days": before},
            after={"interval_days": days},
        )
    session.flush()
    count = recompute_due_dates(session, tiers=changed) if changed else 0
    session.commit()
    return count


def set_county_intervals(
    session: Session, *, actor: User, county: County, intervals_days: dict[Tier, int]
) -> int:
    """Set a county's own intervals (overriding the province's for its facilities) and
    recompute the due dates of its facilities of the changed tiers; returns rows changed."""
    own = {
        p.tier: p
        for p in session.execute(
            select(CountyPatrolPolicy).where(CountyPatrolPolicy.county_id == county.id)
        ).scalars()
    }
    changed: list[Tier] = []
    for tier, days in intervals_days.items():
        policy = own.get(tier)
        if policy is not None and policy.interval_days == days:
            continue
        before = None if policy is None else policy.interval_days
        if policy is None:
            policy = CountyPatrolPolicy(county_id=county.id, tier=tier, interval_days=days)  # type: ignore[arg-type]
            session.add(policy)
        policy.interval_days = days
        changed.append(tier)
        _audit_county_policy(session, actor, county, tier, before, days)
    session.flush()
    count = recompute_due_dates(session, tiers=changed, county_id=county.id) if changed else 0
    session.commit()
    return count


def clear_county_interval(session: Session, *, actor: User, county: County, tier: Tier) -> int:
    """Drop a county's own interval for ``tier``: its facilities follow the province's
    again (recomputed at once); returns rows changed (0: it had none)."""
    policy = session.get(CountyPatrolPolicy, (county.id, tier))
    if policy is None:
        return 0
    before = policy.interval_days
    session.execute(
        delete(CountyPatrolPolicy).where(
            CountyPatrolPolicy.county_id == county.id, CountyPatrolPolicy.tier == tier
        )
    )
    session.expunge(policy)
    _audit_county_policy(session, actor, county, tier, before, None)
    count = recompute_due_dates(session, tiers=[tier], county_id=county.id)
    session.commit()
    return count


def _audit_county_policy(
    session: Session, actor: User, county: County, tier: Tier, before: int | None, after: int | None
) -> None:
    audit.record(
        session=session,
        actor=actor,
        action="policy.county_update",
        object_type="county_patrol_policy",
        object_id=f"{county.code}:{tier.value}",
        before={"county": county.code, "tier": tier.value, "interval_days": before},
        after={"county": county.code, "tier": tier.value, "interval_days": after},
    )


def overdue_condition(as_of: date) -> Any:
    """Active and due before ``as_of``: served by ix_facilities_status_next_due_on."""
    return (Facility.status == FacilityStatus.active) & (Facility.next_due_on < as_of)


def overdue_conditions(
    *, session: Session, user: User, as_of: date, township_id: int | None, tier: Tier | None
) -> list[Any]:
    """The overdue list's filters (404 first for a township outside the user's division);
    the list, its count and its exports all use them, with ``access.scope``."""
    if township_id is not None:
        access.ensure_visible(session, user, township_id, f"Township {township_id}")
    conditions = [overdue_condition(as_of)]
    if township_id is not None:
        conditions.append(Facility.township_id == township_id)
    if tier is not None:
        conditions.append(Facility.tier == tier)
    return conditions


#: most overdue first: a range of the index on ``(next_due_on, id)`` for every page
#: (``ix_facilities_next_due_on_id``; within a township, the township's own index)
OVERDUE_ORDER = (listing.asc(Facility.next_due_on), listing.asc(Facility.id))


def overdue_facilities(
    *,
    session: Session,
    user: User,
    as_of: date,
    township_id: int | None,
    tier: Tier | None,
    window: listing.Window | None,
    read: Callable[[Select[Any]], Sequence[Any]] | None = None,
) -> listing.Listed[Any]:
    """Active facilities due before ``as_of``, most overdue first, a page at a time (by
    offset or cursor: ``window``, app.listing), read by ``read`` (default: with their
    townships); every one when ``window`` is None (the exports stream their own query)."""
    conditions = overdue_conditions(
        session=session, user=user, as_of=as_of, township_id=township_id, tier=tier
    )
    query = access.scope_by_ids(session, select(Facility), user, Facility.township_id)
    query = query.where(*conditions)

    def with_townships(paged: Select[Any]) -> Sequence[Facility]:
        return session.scalars(paged.options(selectinload(Facility.township))).all()

    return listing.page(
        session, query, sort=OVERDUE_ORDER, window=window, read=read or with_townships
    )
