from typing import Annotated

from fastapi import APIRouter, Query

from app.audit import service
from app.audit.schemas import AuditRead
from app.deps import KeysetPageDep, SessionDep, StaffUser
from app.errors import SIGNED_IN, error_responses
from app.schemas import Id, Instant, Page, SafeText

router = APIRouter(prefix="/audit", tags=["audit"], responses=SIGNED_IN)


@router.get(
    "",
    response_model=Page[AuditRead],
    responses=error_responses(403),
    summary="The audit log, newest first (a division's staff: the acts of its own users)",
)
def list_audit(
    session: SessionDep,
    user: StaffUser,
    page: KeysetPageDep,
    object_type: Annotated[SafeText | None, Query(max_length=32, examples=["facility"])] = None,
    object_id: Annotated[SafeText | None, Query(max_length=64)] = None,
    actor_id: Id | None = None,
    action: Annotated[SafeText | None, Query(max_length=64, examples=["facility.update"])] = None,
    since: Annotated[Instant | None, Query(alias="from")] = None,
    until: Annotated[Instant | None, Query(alias="to")] = None,
) -> Page[AuditRead]:
    listed = service.list_entries(
        session=session,
        object_type=object_type,
        object_id=object_id,
        actor_id=actor_id,
        action=action,
        since=since,
        until=until,
        window=page.window,
        viewer=user,
    )
    return Page.of(listed, [AuditRead.model_validate(r) for r in listed.rows], page)
