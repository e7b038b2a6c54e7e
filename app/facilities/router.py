from typing import Annotated

from fastapi import APIRouter, Query, status

from app.clock import local_today
from app.deps import CurrentUser, KeysetPageDep, SessionDep, SettingsDep, StaffUser
from app.errors import BODY, OTHER_TOWNSHIP, SIGNED_IN, error_responses
from app.facilities import service
from app.facilities.schemas import (
    FacilityCreate,
    FacilityRead,
    FacilitySort,
    FacilityUpdate,
    TownshipCompleteness,
)
from app.geo.query import query_bbox
from app.models import FacilityKind, FacilityStatus, Tier
from app.schemas import Id, Page, SafeText

router = APIRouter(prefix="/facilities", tags=["facilities"], responses=SIGNED_IN)


@router.get(
    "",
    response_model=Page[FacilityRead],
    responses=OTHER_TOWNSHIP,
    summary="Search the registry",
)
def list_facilities(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    page: KeysetPageDep,
    township_id: Id | None = None,
    tier: Tier | None = None,
    kind: FacilityKind | None = None,
    status: FacilityStatus | None = None,
    q: Annotated[
        SafeText | None,
        Query(max_length=100, description="matches name, code, village or a martyr's name"),
    ] = None,
    bbox: Annotated[
        str | None,
        Query(max_length=200, description="minLon,minLat,maxLon,maxLat (WGS-84)"),
    ] = None,
    overdue: Annotated[bool | None, Query(description="due before today (county time)")] = None,
    sort: FacilitySort = "code",
) -> Page[FacilityRead]:
    today = local_today(settings.tz)
    filters = service.FacilityFilters(
        township_id=township_id,
        tier=tier,
        kind=kind,
        status=status,
        q=q or None,
        bbox=query_bbox(bbox),
        overdue=overdue,
    )
    listed = service.list_facility_reads(
        session=session,
        user=user,
        filters=filters,
        sort=sort,
        window=page.window,
        today=today,
    )
    return Page.of(listed, listed.rows, page)


@router.get(
    "/completeness",
    response_model=list[TownshipCompleteness],
    summary="How much of the national collection's record each township's facilities hold",
)
def township_completeness(session: SessionDep, user: CurrentUser) -> list[TownshipCompleteness]:
    """Per township the caller sees (a township user: their own), its active facilities,
    how many have all the collection's fields filled, and the fields filled over the fields
    possible (facilities × fields), as a whole percent rounded down. Archived, merged and
    relocated facilities are not counted."""
    return service.township_completeness(session=session, user=user)


@router.post(
    "",
    response_model=FacilityRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*BODY, 403, 409),
    summary="Register a facility",
)
def create_facility(
    session: SessionDep, settings: SettingsDep, user: StaffUser, data: FacilityCreate
) -> FacilityRead:
    facility = service.create_facility(session=session, settings=settings, actor=user, data=data)
    return service.to_read(facility, today=local_today(settings.tz))


@router.get(
    "/{facility_id}",
    response_model=FacilityRead,
    responses=error_responses(404),
    summary="One facility",
)
def read_facility(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, facility_id: Id
) -> FacilityRead:
    facility = service.get_facility(session=session, user=user, facility_id=facility_id)
    return service.to_read(facility, today=local_today(settings.tz))


@router.patch(
    "/{facility_id}",
    response_model=FacilityRead,
    responses=error_responses(*BODY, 403, 404, 409),
    summary=(
        "Change a facility (township users: custodian, martyrs, notes, the collection's"
        " fields and the management rule only)"
    ),
)
def update_facility(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    facility_id: Id,
    data: FacilityUpdate,
) -> FacilityRead:
    facility = service.update_facility(
        session=session, settings=settings, actor=user, facility_id=facility_id, data=data
    )
    return service.to_read(facility, today=local_today(settings.tz))


@router.delete(
    "/{facility_id}",
    response_model=FacilityRead,
    responses=error_responses(403, 404, 413),
    summary="Archive a facility (status 'archived'; nothing is removed)",
)
def archive_facility(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, facility_id: Id
) -> FacilityRead:
    facility = service.archive_facility(session=session, actor=user, facility_id=facility_id)
    return service.to_read(facility, today=local_today(settings.tz))
