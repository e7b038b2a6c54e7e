from datetime import date
from typing import Annotated

from fastapi import APIRouter, Body, File, Form, Query, Request, Response, UploadFile, status
from sqlmodel import Session

from app import access
from app.clock import local_today
from app.deps import (
    CurrentUser,
    DatabaseDep,
    KeysetPageDep,
    SessionDep,
    SettingsDep,
    UploadingUser,
)
from app.errors import BODY, OTHER_TOWNSHIP, SIGNED_IN, error_responses
from app.maintenance import service
from app.maintenance.schemas import (
    Cancellation,
    Completion,
    CostCorrection,
    FacilityRef,
    OrderCreate,
    OrderFromReport,
    OrderRead,
    OrderUpdate,
    Override,
)
from app.models import (
    MaintenanceCategory,
    MaintenanceOrder,
    OrderStatus,
    PhotoStage,
    User,
)
from app.photos import service as photos
from app.photos.router import UPLOAD_RESPONSES, receive_upload
from app.photos.schemas import PhotoRead
from app.schemas import Id, Page, TownshipRef, UserRef

router = APIRouter(tags=["maintenance"], responses=SIGNED_IN)
#: what a change to an order can meet: not found, a role or state that forbids it, money
_CHANGE = error_responses(*BODY, 403, 404, 409)


def to_read(
    order: MaintenanceOrder,
    *,
    today: date,
    session: Session | None = None,
    user: User | None = None,
) -> OrderRead:
    """The API shape of an order loaded with ``service._LOAD``. With ``session`` and
    ``user``: the township whose funds it draws on is shown only to those who reach it (a
    facility moved to another county keeps drawing on its old township's money)."""
    funds_shown = session is None or user is None
    funds_shown = funds_shown or access.sees_township(session, user, order.township_id)
    return OrderRead(
        **order.model_dump(
            exclude={"facility_id", "township_id", "approved_by_id", "created_by_id"}
        ),
        facility=FacilityRef.model_validate(order.facility, from_attributes=True),
        township=TownshipRef.model_validate(order.facility.township),
        funds_township=TownshipRef.model_validate(order.township) if funds_shown else None,
        overdue=bool(order.status in service.OPEN and order.due_on and order.due_on < today),
        approved_by=UserRef.model_validate(order.approved_by) if order.approved_by else None,
        photos=[PhotoRead.of(p) for p in order.photos],
        inspection_photos=[PhotoRead.of(p) for p in order.inspection_photos],
    )


@router.post(
    "/maintenance",
    responses={200: {"model": OrderRead, "description": "a replay: the stored order"}, **_CHANGE},
    response_model=OrderRead,
    status_code=status.HTTP_201_CREATED,
    summary="Plan maintenance work on a facility (send it again safely with a client_id)",
)
def create_order(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    response: Response,
    data: OrderCreate,
) -> OrderRead:
    order, created = service.create_order_once(
        session=session, settings=settings, user=user, data=data
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return to_read(order, today=local_today(settings.tz), session=session, user=user)


@router.post(
    "/inspections/{inspection_id}/maintenance",
    responses=_CHANGE,
    response_model=OrderRead,
    status_code=status.HTTP_201_CREATED,
    summary="Open an order from a patrol report, prefilled from its problems",
)
def create_order_from_report(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    inspection_id: Id,
    data: Annotated[OrderFromReport | None, Body()] = None,
) -> OrderRead:
    order = service.create_from_report(
        session=session,
        settings=settings,
        user=user,
        inspection_id=inspection_id,
        data=data or OrderFromReport(),
    )
    return to_read(order, today=local_today(settings.tz), session=session, user=user)


@router.get(
    "/maintenance",
    response_model=Page[OrderRead],
    responses=OTHER_TOWNSHIP,
    summary="Maintenance orders",
)
def list_orders(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    page: KeysetPageDep,
    facility_id: Id | None = None,
    township_id: Id | None = None,
    status: OrderStatus | None = None,
    category: MaintenanceCategory | None = None,
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None,
    overdue: bool | None = None,
) -> Page[OrderRead]:
    today = local_today(settings.tz)
    filters = service.OrderFilters(
        facility_id=facility_id,
        township_id=township_id,
        status=status,
        category=category,
        year=year,
        overdue=overdue,
    )
    listed = service.list_orders(
        session=session,
        user=user,
        filters=filters,
        today=today,
        window=page.window,
    )
    return Page.of(
        listed, [to_read(o, today=today, session=session, user=user) for o in listed.rows], page
    )


@router.get(
    "/maintenance/{order_id}",
    response_model=OrderRead,
    responses=error_responses(404),
    summary="One order",
)
def read_order(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, order_id: Id
) -> OrderRead:
    order = service.get_order(session=session, user=user, order_id=order_id)
    return to_read(order, today=local_today(settings.tz), session=session, user=user)


@router.patch(
    "/maintenance/{order_id}",
    response_model=OrderRead,
    responses=_CHANGE,
    summary="Change an order still planned",
)
def update_order(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, order_id: Id, data: OrderUpdate
) -> OrderRead:
    order = service.update_order(session=session, user=user, order_id=order_id, data=data)
    return to_read(order, today=local_today(settings.tz), session=session, user=user)


@router.post(
    "/maintenance/{order_id}/approve",
    responses=_CHANGE,
    response_model=OrderRead,
    summary="Approve: commit the planned cost (409 past the available balance)",
)
def approve_order(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,  # county staff: checked after the 404 for another township's order
    order_id: Id,
    data: Annotated[Override | None, Body()] = None,
) -> OrderRead:
    override = data.override_reason if data else None
    order = service.approve(session=session, user=user, order_id=order_id, override_reason=override)
    return to_read(order, today=local_today(settings.tz), session=session, user=user)


@router.post(
    "/maintenance/{order_id}/start",
    response_model=OrderRead,
    responses=error_responses(403, 404, 409, 413),
    summary="Start the work",
)
def start_order(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, order_id: Id
) -> OrderRead:
    order = service.start(session=session, user=user, order_id=order_id)
    return to_read(order, today=local_today(settings.tz), session=session, user=user)


@router.post(
    "/maintenance/{order_id}/complete",
    responses=_CHANGE,
    response_model=OrderRead,
    summary="Complete: record the actual cost, payee and invoice",
)
def complete_order(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, order_id: Id, data: Completion
) -> OrderRead:
    order = service.complete(
        session=session, settings=settings, user=user, order_id=order_id, data=data
    )
    return to_read(order, today=local_today(settings.tz), session=session, user=user)


@router.post(
    "/maintenance/{order_id}/correct-cost",
    responses=_CHANGE,
    response_model=OrderRead,
    summary="Correct a completed order's actual cost: a reversal entry and a new spend",
)
def correct_order_cost(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,  # county staff: checked after the 404 for another township's order
    order_id: Id,
    data: CostCorrection,
) -> OrderRead:
    order = service.correct_cost(session=session, user=user, order_id=order_id, data=data)
    return to_read(order, today=local_today(settings.tz), session=session, user=user)


@router.post(
    "/maintenance/{order_id}/cancel",
    responses=_CHANGE,
    response_model=OrderRead,
    summary="Cancel an open order (an approved one gives its commitment back)",
)
def cancel_order(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, order_id: Id, data: Cancellation
) -> OrderRead:
    order = service.cancel(session=session, user=user, order_id=order_id, reason=data.reason)
    return to_read(order, today=local_today(settings.tz), session=session, user=user)


@router.post(
    "/maintenance/{order_id}/photos",
    response_model=PhotoRead,
    status_code=status.HTTP_201_CREATED,
    responses=UPLOAD_RESPONSES,
    summary="Add a before/after photo (same rules as report photos; 8 per stage)",
)
def upload_photo(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    user: UploadingUser,
    response: Response,
    order_id: Id,
    file: Annotated[UploadFile, File(description="the photo")],
    stage: Annotated[
        PhotoStage | None,
        Form(description="before or after the work; default: after once work has started"),
    ] = None,
) -> PhotoRead:
    with db.session(write=False) as session:
        order = service.get_order(session=session, user=user, order_id=order_id)
    if stage is None:
        started = order.status in (OrderStatus.in_progress, OrderStatus.completed)
        stage = PhotoStage.after if started else PhotoStage.before
    owner = photos.PhotoOwner(
        column="maintenance_order_id",
        id=order_id,
        facility_id=order.facility_id,
        model=MaintenanceOrder,
        label=f"Order {order_id} ({stage.value})",
        stage=stage,
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
