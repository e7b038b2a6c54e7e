"""County time: dates in the API and the schedule are local dates in the county's zone."""

from datetime import date, datetime, tzinfo

from app.models.base import utcnow


def local_date(moment: datetime, tz: tzinfo) -> date:
    return moment.astimezone(tz).date()


def local_today(tz: tzinfo) -> date:
    return local_date(utcnow(), tz)
