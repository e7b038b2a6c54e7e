from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select

from app.clock import local_today
from app.counties import service as counties
from app.deps import (
    AdminUser,
    CurrentUser,
    KeysetPageDep,
    PageDep,
    SessionDep,
    SettingsDep,
    StaffUser,
)
from app.errors import BODY, OTHER_TOWNSHIP, SIGNED_IN, Forbidden, error_responses
from app.facilities import service as facilities
from app.funds.money import rate
from app.models import Campaign, County, CountyPatrolPolicy, PatrolPolicy, Role, Tier, User
from app.schedule import campaigns, service
from app.schedule.schemas import (
    CampaignCreate,
    CampaignProgressRead,
    CampaignRead,
    CountyPoliciesRead,
    CountyPolicyRead,
    GeneratedCampaigns,
    MissingFacilityRead,
    MissingPage,
    OverdueItem,
    OverdueRead,
    PoliciesRead,
    PoliciesUpdate,
    PolicyRead,
    TownshipProgressRead,
)
from app.schemas import CountyRef, Day, Id, Page, TownshipRef

router = APIRouter(tags=["schedule"], responses=SIGNED_IN)

Year = Annotated[int, Query(ge=1900, le=2100)]


def _policies(session: SessionDep, recomputed: int = 0) -> PoliciesRead:
    rows = session.execute(select(PatrolPolicy)).scalars()
    order = list(Tier)
    items = sorted(
        (PolicyRead.model_validate(p, from_attributes=True) for p in rows),
        key=lambda p: order.index(p.tier),
    )
    return PoliciesRead(items=items, recomputed=recomputed)


@router.get("/patrol-policies", response_model=PoliciesRead, summary="Patrol interval per tier")
def read_policies(session: SessionDep, _user: CurrentUser) -> PoliciesRead:
    return _policies(session)


@router.put(
    "/patrol-policies",
    response_model=PoliciesRead,
    responses=error_responses(*BODY, 403),
    summary="Change patrol intervals; due dates of the affected facilities follow at once",
)
def update_policies(session: SessionDep, admin: AdminUser, data: PoliciesUpdate) -> PoliciesRead:
    count = service.set_intervals(session, actor=admin, intervals_days=data.intervals)
    return _policies(session, recomputed=count)


@router.get(
    "/overdue",
    response_model=OverdueRead,
    responses=OTHER_TOWNSHIP,
    summary="Overdue facilities, most overdue first",
)
def read_overdue(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    page: KeysetPageDep,
    as_of: Annotated[Day | None, Query(description="default: today (county time)")] = None,
    township_id: Id | None = None,
    tier: Tier | None = None,
) -> OverdueRead:
    as_of = as_of or local_today(settings.tz)
    listed = service.overdue_facilities(
        session=session,
        user=user,
        as_of=as_of,
        township_id=township_id,
        tier=tier,
        window=page.window,
        read=lambda paged: facilities.reads_of(session, paged, today=as_of),
    )
    items = [
        OverdueItem(
            facility=f,
            last_inspected_at=f.last_inspected_at,
            next_due_on=f.next_due_on,
            days_overdue=(as_of - f.next_due_on).days,
        )
        for f in listed.rows
    ]
    return OverdueRead.of(listed, items, page, as_of=as_of)


def campaign_read(session: SessionDep, user: User, campaign: Campaign) -> CampaignRead:
    """The campaign as ``user`` sees it: of the townships it names, only theirs."""
    townships = [
        TownshipRef.model_validate(t) for t in campaigns.shown_townships(session, user, campaign)
    ]
    county = campaigns.county_of(session, campaign)
    return CampaignRead(
        id=campaign.id,  # type: ignore[arg-type]
        name=campaign.name,
        kind=campaign.kind,
        starts_on=campaign.starts_on,
        ends_on=campaign.ends_on,
        tiers=[Tier(t) for t in campaign.tiers] if campaign.tiers else None,
        county=None if county is None else CountyRef.model_validate(county),
        townships=townships or None,
        created_at=campaign.created_at,
    )


@router.post(
    "/campaigns",
    response_model=CampaignRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*BODY, 403, 404, why={404: "county_id names no county you reach"}),
    tags=["campaigns"],
    summary="Create a campaign window",
)
def create_campaign(session: SessionDep, user: StaffUser, data: CampaignCreate) -> CampaignRead:
    return campaign_read(
        session, user, campaigns.create_campaign(session=session, actor=user, data=data)
    )


@router.get(
    "/campaigns", response_model=Page[CampaignRead], tags=["campaigns"], summary="Campaigns"
)
def list_campaigns(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    year: Annotated[int | None, Query(ge=1900, le=2100, description="ending in this year")] = None,
) -> Page[CampaignRead]:
    rows, total = campaigns.list_campaigns(
        session=session, user=user, year=year, limit=page.limit, offset=page.offset
    )
    items = [campaign_read(session, user, c) for c in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/campaigns/generate",
    response_model=GeneratedCampaigns,
    responses={201: {"model": GeneratedCampaigns}, **error_responses(403, 413)},
    tags=["campaigns"],
    summary="Create the year's Qingming and Martyrs' Day campaigns (once; 201 when created)",
)
def generate_campaigns(
    session: SessionDep, user: StaffUser, response: Response, year: Year
) -> GeneratedCampaigns:
    rows, created = campaigns.generate(session=session, actor=user, year=year)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return GeneratedCampaigns(
        year=year, created=created, items=[campaign_read(session, user, c) for c in rows]
    )


@router.get(
    "/campaigns/{campaign_id}",
    response_model=CampaignRead,
    responses=error_responses(404),
    tags=["campaigns"],
    summary="A campaign",
)
def read_campaign(session: SessionDep, user: CurrentUser, campaign_id: Id) -> CampaignRead:
    return campaign_read(
        session, user, campaigns.get_campaign(session=session, user=user, campaign_id=campaign_id)
    )


@router.get(
    "/campaigns/{campaign_id}/progress",
    response_model=CampaignProgressRead,
    responses=error_responses(404),
    tags=["campaigns"],
    summary="Per township you see: sites in scope, sites inspected in the window, sites missing",
    description="Counts only: the missing sites themselves are the pages of"
    " `GET /campaigns/{campaign_id}/missing` (`missing_url`).",
)
def campaign_progress(
    session: SessionDep, user: CurrentUser, campaign_id: Id
) -> CampaignProgressRead:
    campaign, rows = campaigns.progress(session=session, user=user, campaign_id=campaign_id)
    townships = [
        TownshipProgressRead(
            township=TownshipRef.model_validate(row.township),
            in_scope=row.in_scope,
            inspected=row.inspected,
            missing=row.missing,
            coverage=rate(row.inspected, row.in_scope),
        )
        for row in rows
    ]
    in_scope = sum(t.in_scope for t in townships)
    inspected = sum(t.inspected for t in townships)
    return CampaignProgressRead(
        campaign=campaign_read(session, user, campaign),
        in_scope=in_scope,
        inspected=inspected,
        missing=in_scope - inspected,
        coverage=rate(inspected, in_scope),
        missing_url=f"/api/v1/campaigns/{campaign.id}/missing",
        townships=townships,
    )


@router.get(
    "/campaigns/{campaign_id}/missing",
    response_model=MissingPage,
    responses=error_responses(
        404, why={404: "no such campaign, or township_id names a township not yours"}
    ),
    tags=["campaigns"],
    summary="The sites not yet visited in the window, a page at a time, by township and code",
)
def campaign_missing(
    session: SessionDep,
    user: CurrentUser,
    page: PageDep,
    campaign_id: Id,
    township_id: Id | None = None,
    after_id: Annotated[
        Id | None,
        Query(description="the next page after this site (next_after_id); not with offset"),
    ] = None,
) -> MissingPage:
    campaign = campaigns.get_campaign(session=session, user=user, campaign_id=campaign_id)
    found = campaigns.missing_sites(
        session=session,
        user=user,
        campaign=campaign,
        township_id=township_id,
        limit=page.limit,
        offset=page.offset,
        after_id=after_id,
        count_limit=page.count_limit,
    )
    return MissingPage(
        items=[MissingFacilityRead.model_validate(f, from_attributes=True) for f in found.rows],
        total=found.total,
        total_over=found.total_over,
        limit=page.limit,
        offset=page.offset,
        next_after_id=found.next_after_id,
    )


# --- a county's own patrol intervals ---------------------------------------------------------


def _county_policies(
    session: SessionDep, county: County, recomputed: int = 0
) -> CountyPoliciesRead:
    province = service.intervals(session)
    own = {
        p.tier: p
        for p in session.execute(
            select(CountyPatrolPolicy).where(CountyPatrolPolicy.county_id == county.id)
        ).scalars()
    }
    items = [
        CountyPolicyRead(
            tier=tier,
            interval_days=own[tier].interval_days if tier in own else province[tier],
            province_days=province[tier],
            overridden=tier in own,
            updated_at=own[tier].updated_at if tier in own else None,
        )
        for tier in Tier
    ]
    return CountyPoliciesRead(
        county=CountyRef.model_validate(county), items=items, recomputed=recomputed
    )


def _admin_of(session: SessionDep, user: CurrentUser, county_id: int) -> County:
    """The county (404 unless the user reaches it: before any role check), for its admin."""
    county = counties.get_county(session=session, user=user, county_id=county_id)
    if user.role != Role.admin:
        raise Forbidden(f"This needs the admin role; you are a {user.role.value} user")
    return county


@router.get(
    "/counties/{county_id}/patrol-policies",
    response_model=CountyPoliciesRead,
    responses=error_responses(404),
    tags=["counties"],
    summary="A county's patrol interval per tier: its own, else the province's",
)
def read_county_policies(
    session: SessionDep, user: CurrentUser, county_id: Id
) -> CountyPoliciesRead:
    county = counties.get_county(session=session, user=user, county_id=county_id)
    return _county_policies(session, county)


@router.put(
    "/counties/{county_id}/patrol-policies",
    response_model=CountyPoliciesRead,
    responses=error_responses(*BODY, 403, 404),
    tags=["counties"],
    summary="Set a county's own intervals; the due dates of its facilities follow at once",
)
def update_county_policies(
    session: SessionDep, user: CurrentUser, county_id: Id, data: PoliciesUpdate
) -> CountyPoliciesRead:
    county = _admin_of(session, user, county_id)
    count = service.set_county_intervals(
        session, actor=user, county=county, intervals_days=data.intervals
    )
    return _county_policies(session, county, recomputed=count)


@router.delete(
    "/counties/{county_id}/patrol-policies/{tier}",
    response_model=CountyPoliciesRead,
    responses=error_responses(403, 404),
    tags=["counties"],
    summary="Drop a county's own interval for a tier: it follows the province's again",
)
def delete_county_policy(
    session: SessionDep, user: CurrentUser, county_id: Id, tier: Tier
) -> CountyPoliciesRead:
    county = _admin_of(session, user, county_id)
    count = service.clear_county_interval(session, actor=user, county=county, tier=tier)
    return _county_policies(session, county, recomputed=count)
