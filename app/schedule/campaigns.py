"""Campaigns (集中巡查): windows in which every in-scope active facility must be visited."""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import distinct, extract, func, select, tuple_
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlmodel import Session

from app import access, listing
from app.audit import service as audit
from app.counties import service as counties
from app.errors import Forbidden, InvalidInput, NotFound
from app.models import (
    Campaign,
    CampaignKind,
    CampaignTownship,
    County,
    Facility,
    FacilityStatus,
    Inspection,
    ReviewStatus,
    Tier,
    Township,
    User,
)
from app.schedule.qingming import qingming
from app.schedule.schemas import CampaignCreate

#: the default windows (DESIGN.md rule 3)
QINGMING_WINDOW_DAYS = 14
MARTYRS_DAY_WINDOW = ((9, 16), (9, 30))


def default_windows(year: int) -> list[tuple[CampaignKind, str, date, date]]:
    """The 14 days up to Qingming, and 16–30 September before Martyrs' Day (9·30)."""
    day = qingming(year)
    (sm, sd), (em, ed) = MARTYRS_DAY_WINDOW
    return [
        (
            CampaignKind.qingming,
            f"{year}年清明节集中巡查",
            day - timedelta(days=QINGMING_WINDOW_DAYS - 1),
            day,
        ),
        (
            CampaignKind.martyrs_day,
            f"{year}年烈士纪念日集中巡查",
            date(year, sm, sd),
            date(year, em, ed),
        ),
    ]


def _load(session: Session, campaign_id: int) -> Campaign | None:
    return session.execute(
        select(Campaign)
        .where(Campaign.id == campaign_id)
        .options(selectinload(Campaign.townships))
        .execution_options(populate_existing=True)
    ).scalar_one_or_none()


def get_campaign(*, session: Session, user: User, campaign_id: int) -> Campaign:
    campaign = _load(session, campaign_id)
    if campaign is None or not _visible(session, campaign, user):
        raise NotFound(f"Campaign {campaign_id} not found")
    return campaign


def county_of(session: Session, campaign: Campaign) -> County | None:
    """The county whose own campaign this is (None: every county's)."""
    return None if campaign.county_id is None else session.get(County, campaign.county_id)


def _visible(session: Session, campaign: Campaign, user: User) -> bool:
    """A campaign of every county, or of one the user reaches; when it names townships, at
    least one of them is the user's (``list_campaigns`` says the same in SQL)."""
    county = county_of(session, campaign)
    if county is not None and not counties.sees_county(user, county):
        return False
    return not campaign.townships or any(
        access.sees_township(session, user, t.id) for t in campaign.townships
    )


def shown_townships(session: Session, user: User, campaign: Campaign) -> list[Township]:
    """The townships the campaign names that ``user`` sees, in code order: a campaign of a
    province's staff may name townships of two cities, and neither city's users learn the
    other's."""
    return sorted(
        (t for t in campaign.townships if access.sees_township(session, user, t.id)),
        key=lambda t: t.code,
    )


def _visibility(user: User) -> list[Any]:
    """``_visible`` as SQL conditions on ``campaigns``."""
    if access.township_limit(user) is None and access.reach(user) == "":
        return []  # the whole country
    reached = select(County.id).where(*counties.code_conditions(access.reach(user)))
    linked = select(CampaignTownship.campaign_id).where(CampaignTownship.campaign_id == Campaign.id)
    theirs = access.scope(select(CampaignTownship.campaign_id), user, CampaignTownship.township_id)
    return [
        Campaign.county_id.is_(None) | Campaign.county_id.in_(reached),
        ~linked.exists() | Campaign.id.in_(theirs),
    ]


def list_campaigns(
    *, session: Session, user: User, year: int | None, limit: int, offset: int
) -> tuple[list[Campaign], int]:
    conditions: list[Any] = _visibility(user)
    if year is not None:
        conditions.append(extract("year", Campaign.ends_on) == year)
    total = session.execute(
        select(func.count()).select_from(Campaign).where(*conditions)
    ).scalar_one()
    rows = session.execute(
        select(Campaign)
        .where(*conditions)
        .options(selectinload(Campaign.townships))
        .order_by(Campaign.starts_on.desc(), Campaign.id.desc())
        .limit(limit)
        .offset(offset)
    ).scalars()
    return list(rows), total


def _campaign_county(session: Session, actor: User, county_id: int | None) -> County | None:
    """The county a new campaign belongs to: the one named (404 unless the actor reaches
    it), else the actor's own when they reach within one county, else none."""
    if county_id is not None:
        return counties.get_county(session=session, user=actor, county_id=county_id)
    prefix = access.reach(actor)
    return counties.by_code(session, prefix[:6]) if len(prefix) >= 6 else None


def _reached_townships(session: Session, actor: User) -> list[Township]:
    """Every township ``actor`` reaches: the scope of a campaign a city's or a province's
    staff make without naming a county or townships (only the whole country's make one of
    every county: a campaign with neither a county nor townships is everyone's)."""
    found = list(
        session.execute(
            access.scope(select(Township), actor, Township.id).order_by(Township.code)
        ).scalars()
    )
    if not found:
        raise InvalidInput(
            ("body", "township_ids"),
            f"Division {access.reach(actor)} has no township for a campaign to cover",
        )
    return found


def create_campaign(*, session: Session, actor: User, data: CampaignCreate) -> Campaign:
    county = _campaign_county(session, actor, data.county_id)
    townships: list[Township] = []
    if county is None and not data.township_ids and access.reach(actor) != "":
        townships = _reached_townships(session, actor)
    elif data.township_ids:
        townships = list(
            session.execute(
                access.scope(select(Township), actor, Township.id).where(
                    Township.id.in_(sorted(data.township_ids))
                )
            ).scalars()
        )  # another division's township is as absent as a missing one
        missing = sorted(set(data.township_ids) - {t.id for t in townships})
        if missing:
            raise InvalidInput(("body", "township_ids"), f"No township with id {missing[0]}")
        if county is not None:
            outside = sorted(t.id for t in townships if t.county_id != county.id)
            if outside:
                raise InvalidInput(
                    ("body", "township_ids"),
                    f"Township {outside[0]} is not in county {county.code} ({county.name})",
                )
    campaign = Campaign(
        name=data.name,
        kind=CampaignKind.custom,
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        county_id=None if county is None else county.id,
        tiers=[t.value for t in Tier if t in data.tiers] if data.tiers else None,
        created_by_id=actor.id,
        townships=townships,
    )
    session.add(campaign)
    session.flush()
    audit.record(
        session=session,
        actor=actor,
        action="campaign.create",
        object_type="campaign",
        object_id=campaign.id,
        after=_snapshot(campaign),
    )
    session.commit()
    return get_campaign(session=session, user=actor, campaign_id=campaign.id)  # type: ignore[arg-type]


def _snapshot(campaign: Campaign) -> dict[str, Any]:
    return audit.snapshot(campaign) | {"township_ids": sorted(t.id for t in campaign.townships)}


def generate(*, session: Session, actor: User, year: int) -> tuple[list[Campaign], int]:
    """Create the year's default campaigns once, however often (or concurrently) asked.

    They hold for every county of the installation, so only staff whose division holds
    every county create them; a smaller division makes its own (``create_campaign``)."""
    if not access.covers_installation(session, actor):
        raise Forbidden(
            "The year's Qingming and 9·30 campaigns hold for every county of the installation;"
            " staff of a smaller division create their own with POST /api/v1/campaigns"
        )
    created = 0
    result: list[Campaign] = []
    for kind, name, starts_on, ends_on in default_windows(year):
        key = f"{kind.value}-{year}"
        existing = session.execute(
            select(Campaign.id).where(Campaign.generated_key == key)
        ).scalar_one_or_none()
        if existing is None:
            try:
                with session.begin_nested():
                    campaign = Campaign(
                        name=name,
                        kind=kind,
                        starts_on=starts_on,
                        ends_on=ends_on,
                        generated_key=key,
                        created_by_id=actor.id,
                        townships=[],
                    )
                    session.add(campaign)
                    session.flush()
                    audit.record(
                        session=session,
                        actor=actor,
                        action="campaign.generate",
                        object_type="campaign",
                        object_id=campaign.id,
                        after=_snapshot(campaign),
                    )
                existing = campaign.id
                created += 1
            except IntegrityError:  # another request generated it first
                existing = session.execute(
                    select(Campaign.id).where(Campaign.generated_key == key)
                ).scalar_one()
        result.append(existing)  # type: ignore[arg-type]
    session.commit()
    return [get_campaign(session=session, user=actor, campaign_id=i) for i in result], created  # type: ignore[arg-type]


def _townships_of(campaign: Campaign) -> list[Any]:
    """Conditions on ``townships``: the campaign's county's, and the ones it names (if any)."""
    conditions: list[Any] = []
    if campaign.county_id is not None:
        conditions.append(Township.county_id == campaign.county_id)
    if campaign.townships:
        conditions.append(Township.id.in_([t.id for t in campaign.townships]))
    return conditions


def _in_scope(campaign: Campaign) -> list[Any]:
    """The campaign's sites: active, registered by the window's end, in its tiers, its
    county and its townships (when it names any)."""
    conditions: list[Any] = [
        Facility.status == FacilityStatus.active,
        Facility.registered_on <= campaign.ends_on,  # not yet registered: not in scope
    ]
    if campaign.tiers:
        conditions.append(Facility.tier.in_(campaign.tiers))
    if campaign.townships:
        conditions.append(Facility.township_id.in_([t.id for t in campaign.townships]))
    if campaign.county_id is not None:
        conditions.append(
            Facility.township_id.in_(
                select(Township.id).where(Township.county_id == campaign.county_id)
            )
        )
    return conditions


#: a local date lies within this many hours of the same UTC date (UTC-12 to UTC+14)
_ZONE_SLACK = timedelta(hours=14)


def _instants_around(campaign: Campaign) -> tuple[datetime, datetime]:
    """Instants holding every report whose local date (in any time zone) is in the window:
    a range of the inspected_at indexes, which the local date then narrows."""
    start = datetime.combine(campaign.starts_on, time(0), tzinfo=UTC) - _ZONE_SLACK
    end = datetime.combine(campaign.ends_on + timedelta(days=1), time(0), tzinfo=UTC)
    return start, end + _ZONE_SLACK


def _counted_in(campaign: Campaign, start: datetime, end: datetime) -> list[Any]:
    """A counted visit: a report not rejected, dated (local date) inside the window."""
    return [
        Inspection.inspected_at >= start,
        Inspection.inspected_at < end,
        Inspection.review_status != ReviewStatus.rejected,
        Inspection.inspected_on.between(campaign.starts_on, campaign.ends_on),
    ]


def _visit_of(campaign: Campaign) -> Any:
    """One counted visit of the site (NULL: none). A scalar subquery with LIMIT 1, not
    EXISTS: PostgreSQL then probes each site's reports on the (facility_id, inspected_at)
    index, where an EXISTS may hash every report of the window in the country — what a
    page of missing sites wants (it stops at the page's end)."""
    return (
        select(Inspection.id)
        .where(
            Inspection.facility_id == Facility.id,
            *_counted_in(campaign, *_instants_around(campaign)),
        )
        .limit(1)
        .scalar_subquery()
    )


def _not_visited(campaign: Campaign) -> Any:
    """The site had no counted visit in the window."""
    return _visit_of(campaign).is_(None)


@dataclass
class TownshipCounts:
    township: Township
    in_scope: int = 0
    inspected: int = 0

    @property
    def missing(self) -> int:
        return self.in_scope - self.inspected


def progress_counts(*, session: Session, user: User, campaign: Campaign) -> list[TownshipCounts]:
    """Per township of the campaign the user sees (in code order): its sites in scope and
    how many had a counted visit in the window; a township with no site in scope counts 0
    of 0. One statement, never a loop over sites: the townships joined to two grouped
    subqueries, the sites in scope per township and the visited ones (the window's reports
    joined to their sites: PostgreSQL reads a region's reports by the sites' index, and
    the whole country's by the inspected_at index, whichever is smaller)."""
    start, end = _instants_around(campaign)
    sites = access.scope(
        select(Facility.township_id, func.count().label("n"))
        .where(*_in_scope(campaign))
        .group_by(Facility.township_id),
        user,
        Facility.township_id,
    ).subquery("sites")
    visited = access.scope(
        select(Facility.township_id, func.count(distinct(Inspection.facility_id)).label("n"))
        .join(Facility, Facility.id == Inspection.facility_id)
        .where(*_in_scope(campaign), *_counted_in(campaign, start, end))
        .group_by(Facility.township_id),
        user,
        Facility.township_id,
    ).subquery("visited")
    query = (
        select(Township, func.coalesce(sites.c.n, 0), func.coalesce(visited.c.n, 0))
        .select_from(Township)
        .outerjoin(sites, sites.c.township_id == Township.id)
        .outerjoin(visited, visited.c.township_id == Township.id)
        .where(*_townships_of(campaign))
        .order_by(Township.code)
    )
    rows = session.execute(access.scope(query, user, Township.id)).all()
    return [TownshipCounts(township, total, done) for township, total, done in rows]


def progress(
    *, session: Session, user: User, campaign_id: int
) -> tuple[Campaign, list[TownshipCounts]]:
    """The campaign (404 unless the user sees it) and its counts per township
    (``progress_counts``); the sites still missing are ``missing_sites``' pages."""
    campaign = get_campaign(session=session, user=user, campaign_id=campaign_id)
    return campaign, progress_counts(session=session, user=user, campaign=campaign)


@dataclass
class MissingPage:
    rows: list[Facility]
    #: the sites missing in all pages (None on a page asked for ``after_id``: not counted
    #: again, and when there are more than ``total_over``)
    total: int | None
    #: the last site of this page when another follows (``after_id`` of the next page)
    next_after_id: int | None
    #: the count limit, when more sites than it are missing (app.listing.counted)
    total_over: int | None = None


def _position_of(session: Session, user: User, facility_id: int) -> tuple[int, str]:
    """(township, code) of the site ``after_id`` names: where the next page starts."""
    found = session.execute(
        access.scope(
            select(Facility.township_id, Facility.code).where(Facility.id == facility_id),
            user,
            Facility.township_id,
        )
    ).first()
    if found is None:  # another division's site is as unknown as a missing one
        raise InvalidInput(("query", "after_id"), f"after_id {facility_id} names no site of yours")
    return found[0], found[1]


def missing_sites(
    *,
    session: Session,
    user: User,
    campaign: Campaign,
    township_id: int | None,
    limit: int,
    offset: int = 0,
    after_id: int | None = None,
    count_limit: int | None = None,
) -> MissingPage:
    """A page of the in-scope sites the user sees with no counted visit in the window, by
    township and code: ``offset`` for small lists, or ``after_id`` (the last site of the
    page before: keyset, as fast on page 1,000 as on page 1). A first page counts the
    missing sites up to ``count_limit`` (app.listing.counted): a country's unvisited sites
    are hundreds of thousands, and counting them all cost seconds."""
    if township_id is not None:
        access.ensure_visible(session, user, township_id, f"Township {township_id}")
    if after_id is not None and offset:
        raise InvalidInput(("query", "after_id"), "Give after_id or offset, not both")
    conditions = [*_in_scope(campaign), _not_visited(campaign)]
    if township_id is not None:
        conditions.append(Facility.township_id == township_id)
    total = total_over = None
    if after_id is None:
        missing = access.scope(select(Facility.id), user, Facility.township_id)
        total, total_over = listing.counted(session, missing.where(*conditions), limit=count_limit)
    else:
        after = _position_of(session, user, after_id)
        conditions.append(tuple_(Facility.township_id, Facility.code) > tuple_(*after))
    rows = list(
        session.execute(
            access.scope(select(Facility), user, Facility.township_id)
            .where(*conditions)
            .options(selectinload(Facility.township))
            .order_by(Facility.township_id, Facility.code)
            .limit(limit + 1)
            .offset(offset)
        ).scalars()
    )
    more = len(rows) > limit
    rows = rows[:limit]
    return MissingPage(rows, total, rows[-1].id if more else None, total_over)
