"""Patrol schedule: policy intervals and each facility's next due date (DESIGN.md rule 2)."""

from datetime import date, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, select, update
from sqlmodel import Session

from app.models import DEFAULT_INTERVAL_DAYS, Facility, PatrolPolicy, Tier


def intervals(session: Session) -> dict[Tier, int]:
    """Interval in days per tier, as configured (defaults fill any gap)."""
    configured = dict(session.execute(select(PatrolPolicy.tier, PatrolPolicy.interval_days)).all())
    return {tier: configured.get(tier, DEFAULT_INTERVAL_DAYS[tier]) for tier in Tier}


def due_on(*, last_inspected_on: date | None, registered_on: date, interval_days: int) -> date:
    """Next due date: the last counted inspection's local date (or registration) + interval."""
    return (last_inspected_on or registered_on) + timedelta(days=interval_days)


def refresh_due(session: Session, facility: Facility) -> None:
    """Set ``facility.next_due_on`` from its own dates and its tier's interval."""
    facility.next_due_on = due_on(
        last_inspected_on=facility.last_inspected_on,
        registered_on=facility.registered_on,
        interval_days=intervals(session)[facility.tier],
    )


def _plus_days(session: Session, day: Any, days: Any) -> ColumnElement[Any]:
    if session.get_bind().dialect.name == "sqlite":
        return func.date(func.julianday(day) + days)
    return day + days  # PostgreSQL: date + integer is a date


def recompute_due_dates(session: Session, *, tiers: list[Tier] | None = None) -> int:
    """Recompute ``next_due_on`` for every facility (of ``tiers``) in one UPDATE; returns rows."""
    interval = (
        select(PatrolPolicy.interval_days)
        .where(PatrolPolicy.tier == Facility.tier)
        .scalar_subquery()
    )
    base = func.coalesce(Facility.last_inspected_on, Facility.registered_on)
    statement = update(Facility).values(next_due_on=_plus_days(session, base, interval))
    if tiers is not None:
        statement = statement.where(Facility.tier.in_(tiers))
    result = session.execute(statement.execution_options(synchronize_session=False))
    return result.rowcount
