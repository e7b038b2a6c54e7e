from typing import Annotated

from fastapi import APIRouter, File, Query, Request, Response, UploadFile, status

from app.deps import (
    CurrentUser,
    DatabaseDep,
    KeysetPageDep,
    SessionDep,
    SettingsDep,
    UploadingUser,
)
from app.errors import BODY, OTHER_TOWNSHIP, SIGNED_IN, error_responses
from app.inspections import service
from app.inspections.schemas import InspectionCreate, InspectionRead, ReviewCreate
from app.models import Inspection, ReviewStatus
from app.photos import service as photos
from app.photos.router import UPLOAD_RESPONSES, receive_upload
from app.photos.schemas import PhotoRead
from app.schemas import Day, Id, Page, SafeText

router = APIRouter(prefix="/inspections", tags=["inspections"], responses=SIGNED_IN)


@router.post(
    "",
    response_model=InspectionRead,
    status_code=status.HTTP_201_CREATED,
    responses={
        200: {"model": InspectionRead, "description": "a replay: the stored report"},
        **error_responses(*BODY, 403, 404, 409),
    },
    summary="Submit a patrol report (send it again safely: same client_id, same answer)",
)
def submit_inspection(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    response: Response,
    data: InspectionCreate,
) -> InspectionRead:
    report, created = service.submit(session=session, settings=settings, user=user, data=data)
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return report


@router.get(
    "",
    response_model=Page[InspectionRead],
    responses=OTHER_TOWNSHIP,
    summary="Patrol reports, newest first",
)
def list_inspections(
    session: SessionDep,
    user: CurrentUser,
    page: KeysetPageDep,
    facility_id: Id | None = None,
    township_id: Id | None = None,
    inspector_id: Id | None = None,
    review_status: ReviewStatus | None = None,
    on_site: bool | None = None,
    since: Annotated[Day | None, Query(alias="from", description="inspected on or after")] = None,
    until: Annotated[Day | None, Query(alias="to", description="inspected on or before")] = None,
    receipt: Annotated[
        SafeText | None, Query(max_length=16, description="as read out: any case, dash optional")
    ] = None,
) -> Page[InspectionRead]:
    filters = service.InspectionFilters(
        facility_id=facility_id,
        township_id=township_id,
        inspector_id=inspector_id,
        review_status=review_status,
        on_site=on_site,
        since=since,
        until=until,
        receipt=service.normalize_receipt(receipt) if receipt else None,
    )
    listed = service.list_inspections(
        session=session,
        user=user,
        filters=filters,
        window=page.window,
    )
    return Page.of(listed, [service.to_read(i) for i in listed.rows], page)


@router.get(
    "/{inspection_id}",
    response_model=InspectionRead,
    responses=error_responses(404),
    summary="One patrol report",
)
def read_inspection(session: SessionDep, user: CurrentUser, inspection_id: Id) -> InspectionRead:
    return service.to_read(
        service.get_inspection(session=session, user=user, inspection_id=inspection_id)
    )


@router.post(
    "/{inspection_id}/review",
    response_model=InspectionRead,
    responses=error_responses(*BODY, 403, 404),
    summary="Accept or reject a report (a rejected report stops counting)",
)
def review_inspection(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,  # county staff: checked after the 404 for another township's report
    inspection_id: Id,
    data: ReviewCreate,
) -> InspectionRead:
    inspection = service.review(
        session=session, settings=settings, user=user, inspection_id=inspection_id, data=data
    )
    return service.to_read(inspection)


@router.post(
    "/{inspection_id}/photos",
    response_model=PhotoRead,
    status_code=status.HTTP_201_CREATED,
    responses=UPLOAD_RESPONSES,
    summary="Add one photo to a report (JPEG, PNG or WebP; at most 10 MiB, 40 MP, 8 per report)",
)
def upload_photo(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    user: UploadingUser,
    response: Response,
    inspection_id: Id,
    file: Annotated[UploadFile, File(description="the photo")],
) -> PhotoRead:
    with db.session(write=False) as session:
        inspection = service.get_inspection(session=session, user=user, inspection_id=inspection_id)
    owner = photos.PhotoOwner(
        column="inspection_id",
        id=inspection_id,
        facility_id=inspection.facility_id,
        model=Inspection,
        label=f"Inspection {inspection_id}",
    )
    return receive_upload(
        request=request,
        db=db,
        settings=settings,
        user=user,
        response=response,
        owner=owner,
        file=file,
    )
