from typing import Annotated

from fastapi import APIRouter, Query, Response, status
from sqlalchemy import select

from app.clock import local_today
from app.deps import AdminUser, CurrentUser, PageDep, SessionDep, SettingsDep, StaffUser
from app.errors import BODY, OTHER_TOWNSHIP, SIGNED_IN, error_responses
from app.facilities import service as facilities
from app.funds.money import rate
from app.models import Campaign, PatrolPolicy, Tier
from app.schedule import campaigns, service
from app.schedule.schemas import (
    CampaignCreate,
    CampaignProgressRead,
    CampaignRead,
    GeneratedCampaigns,
    MissingFacility,
    OverdueItem,
    OverdueRead,
    PoliciesRead,
    PoliciesUpdate,
    PolicyRead,
    TownshipProgressRead,
)
from app.schemas import Day, Id, Page, TownshipRef

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
    page: PageDep,
    as_of: Annotated[Day | None, Query(description="default: today (county time)")] = None,
    township_id: Id | None = None,
    tier: Tier | None = None,
) -> OverdueRead:
    today = local_today(settings.tz)
    as_of = as_of or today
    query, total = service.overdue_query(
        session=session, user=user, as_of=as_of, township_id=township_id, tier=tier
    )
    page_of = query.limit(page.limit).offset(page.offset)
    items = [
        OverdueItem(
            facility=f,
            last_inspected_at=f.last_inspected_at,
            next_due_on=f.next_due_on,
            days_overdue=(as_of - f.next_due_on).days,
        )
        for f in facilities.reads_of(session, page_of, today=as_of)
    ]
    return OverdueRead(as_of=as_of, total=total, limit=page.limit, offset=page.offset, items=items)


def campaign_read(campaign: Campaign) -> CampaignRead:
    townships = [TownshipRef.model_validate(t) for t in campaign.townships]
    return CampaignRead(
        id=campaign.id,  # type: ignore[arg-type]
        name=campaign.name,
        kind=campaign.kind,
        starts_on=campaign.starts_on,
        ends_on=campaign.ends_on,
        tiers=[Tier(t) for t in campaign.tiers] if campaign.tiers else None,
        townships=sorted(townships, key=lambda t: t.code) or None,
        created_at=campaign.created_at,
    )


@router.post(
    "/campaigns",
    response_model=CampaignRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*BODY, 403),
    tags=["campaigns"],
    summary="Create a campaign window",
)
def create_campaign(session: SessionDep, user: StaffUser, data: CampaignCreate) -> CampaignRead:
    return campaign_read(campaigns.create_campaign(session=session, actor=user, data=data))


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
    items = [campaign_read(c) for c in rows]
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
    return GeneratedCampaigns(year=year, created=created, items=[campaign_read(c) for c in rows])


@router.get(
    "/campaigns/{campaign_id}",
    response_model=CampaignRead,
    responses=error_responses(404),
    tags=["campaigns"],
    summary="A campaign",
)
def read_campaign(session: SessionDep, user: CurrentUser, campaign_id: Id) -> CampaignRead:
    return campaign_read(
        campaigns.get_campaign(session=session, user=user, campaign_id=campaign_id)
    )


@router.get(
    "/campaigns/{campaign_id}/progress",
    response_model=CampaignProgressRead,
    responses=error_responses(404),
    tags=["campaigns"],
    summary="Per township: sites in scope, sites inspected in the window, sites still missing",
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
            coverage=rate(row.inspected, row.in_scope),
            missing=[MissingFacility.model_validate(f, from_attributes=True) for f in row.missing],
        )
        for row in rows
    ]
    in_scope = sum(t.in_scope for t in townships)
    inspected = sum(t.inspected for t in townships)
    return CampaignProgressRead(
        campaign=campaign_read(campaign),
        in_scope=in_scope,
        inspected=inspected,
        coverage=rate(inspected, in_scope),
        townships=townships,
    )
