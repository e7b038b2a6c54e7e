from fastapi import APIRouter, status

from app.deps import AdminUser, CurrentUser, KeysetPageDep, SessionDep
from app.errors import BODY, SIGNED_IN, error_responses
from app.models import Township
from app.schemas import Id, Page
from app.townships import service
from app.townships.schemas import TownshipCreate, TownshipDetail, TownshipRead, TownshipUpdate

router = APIRouter(prefix="/townships", tags=["townships"], responses=SIGNED_IN)


def _read(township: Township) -> TownshipRead:
    return TownshipRead.model_validate(township)


@router.get("", response_model=Page[TownshipRead], summary="Townships you can see")
def list_townships(
    session: SessionDep, user: CurrentUser, page: KeysetPageDep
) -> Page[TownshipRead]:
    listed = service.list_townships(
        session=session,
        user=user,
        window=page.window,
    )
    return Page.of(listed, [_read(t) for t in listed.rows], page)


@router.get(
    "/{township_id}",
    response_model=TownshipDetail,
    responses=error_responses(404),
    summary="One township, with its active facilities counted by tier",
)
def read_township(session: SessionDep, user: CurrentUser, township_id: Id) -> TownshipDetail:
    township = service.get_township(session=session, user=user, township_id=township_id)
    counts = service.active_counts_by_tier(session=session, township_id=township_id)
    return TownshipDetail(
        **_read(township).model_dump(exclude={"county_code"}),
        active_facilities_by_tier=counts,
        active_facilities=sum(counts.values()),
    )


@router.post(
    "",
    response_model=TownshipRead,
    status_code=status.HTTP_201_CREATED,
    responses=error_responses(*BODY, 403, 409),
    summary="Add a township",
)
def create_township(session: SessionDep, admin: AdminUser, data: TownshipCreate) -> TownshipRead:
    return _read(service.create_township(session=session, actor=admin, data=data))


@router.patch(
    "/{township_id}",
    response_model=TownshipRead,
    responses=error_responses(*BODY, 403, 404, 409),
    summary="Rename or recode a township",
)
def update_township(
    session: SessionDep, user: CurrentUser, township_id: Id, data: TownshipUpdate
) -> TownshipRead:
    # admins only: checked after the 404 for another township
    township = service.update_township(
        session=session, actor=user, township_id=township_id, data=data
    )
    return _read(township)
