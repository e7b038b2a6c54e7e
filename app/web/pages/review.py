"""Pages: the review queue (审核) — patrol reports waiting for review, oldest first.

The oldest waiting report is open; county staff accept it, or reject it with a comment,
and the next one opens. A township officer sees their own township's queue, read-only
(the API's review route is for county staff).
"""

from dataclasses import dataclass
from typing import Annotated, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app import access, listing
from app.deps import SessionDep, SettingsDep
from app.errors import AppError
from app.inspections import service as inspections
from app.inspections.schemas import ReviewCreate
from app.models import ChecklistAnswer, ChecklistItem, Inspection, ReviewStatus, User
from app.schemas import Id, Offset
from app.townships import service as townships
from app.web import errors as web_errors
from app.web.i18n import N_, Gettext, enum_label
from app.web.session import Csrf, PageUser
from app.web.templating import gettext, locale_of, render

router = APIRouter()

#: waiting reports listed below the open one
QUEUE_PAGE = 20

FLAG_LABELS = {
    "off_site": N_("Off site"),
    "probable_gcj02": N_("Probably GCJ-02 (Mars) coordinates"),
    "no_position": N_("No position"),
    "low_accuracy": N_("Low position accuracy"),
    "scanned_plate": N_("Plate scanned"),
}
ANSWER_LABELS: dict[str, str] = {
    ChecklistAnswer.ok: N_("Sound"),
    ChecklistAnswer.problem: N_("Problem"),
    ChecklistAnswer.na: N_("Not applicable"),
}
REVIEW_BADGES = {
    ReviewStatus.submitted: "pending",
    ReviewStatus.accepted: "accepted",
    ReviewStatus.rejected: "rejected",
}

web_errors.register(
    (
        r"Say why the report is rejected \(comment\)",
        N_("Write why the report is rejected before rejecting it"),
    ),
)


def waiting(
    *,
    session: Session,
    user: User,
    township_id: int | None,
    window: listing.Window,
) -> listing.Listed[Inspection]:
    """Reports waiting for review, oldest first: the page ``window`` asks for."""
    filters = inspections.InspectionFilters(
        township_id=township_id, review_status=ReviewStatus.submitted
    )
    return inspections.list_inspections(
        session=session,
        user=user,
        filters=filters,
        window=window,
        oldest_first=True,
    )


def error_text(exc: AppError, _: Gettext) -> str:
    """An error's message alone (without the field it names), in the page's language."""
    detail = exc.detail
    if isinstance(detail, list):
        return "; ".join(
            web_errors.translate(str(item.get("msg", "")) if isinstance(item, dict) else item, _)
            for item in detail
        )
    return web_errors.translate(detail, _)


@dataclass
class Decision:
    """A decision that could not be taken, shown again next to the form."""

    comment: str = ""
    error: str | None = None


def _queue_page(
    request: Request,
    session: Session,
    user: User,
    *,
    township_id: int | None,
    report_id: int | None,
    offset: int,
    reviewed: int | None = None,
    decision: Decision | None = None,
    status_code: int = 200,
) -> Response:
    _ = gettext(request)
    visible = townships.visible(session, user)
    names = {t.id: t.name for t in visible}
    if township_id is not None:
        access.ensure_visible(session, user, township_id, f"Township {township_id}")
    count_limit = request.app.state.settings.count_limit
    listed = waiting(
        session=session,
        user=user,
        township_id=township_id,
        window=listing.Window(limit=QUEUE_PAGE, offset=offset, count_limit=count_limit),
    )
    queue = listed.rows
    if report_id is not None:
        current = inspections.get_inspection(session=session, user=user, inspection_id=report_id)
    elif offset == 0:
        current = queue[0] if queue else None
    else:
        oldest, _total = waiting(
            session=session,
            user=user,
            township_id=township_id,
            window=listing.Window(limit=1, offset=0, count_limit=count_limit),
        )
        current = oldest[0] if oldest else None
    notice = None
    if reviewed is not None:
        done = inspections.get_inspection(session=session, user=user, inspection_id=reviewed)
        if done.review_status is ReviewStatus.accepted:
            notice = _("Accepted the report on %(name)s.", name=done.facility.name)
        elif done.review_status is ReviewStatus.rejected:
            notice = _("Rejected the report on %(name)s.", name=done.facility.name)
    checklist = []
    if current is not None:
        for item in ChecklistItem:
            if item.value in current.checklist:
                answer = current.checklist[item.value]
                known = ANSWER_LABELS.get(answer)
                checklist.append((item, answer, _(known) if known else str(answer)))
    query = {"township_id": township_id} if township_id is not None else {}
    return render(
        request,
        "review/index.html",
        {
            "may_review": access.is_staff(user),
            "townships": visible,
            "township_names": names,
            "township_id": township_id,
            "queue": queue,
            "total": listed.total,
            "total_over": listed.total_over,
            "more": listed.next is not None,
            "offset": offset,
            "limit": QUEUE_PAGE,
            "query": query,
            "current": current,
            "checklist": checklist,
            "flag_labels": FLAG_LABELS,
            "review_badges": REVIEW_BADGES,
            "notice": notice,
            "decision": decision or Decision(),
        },
        status_code=status_code,
    )


@router.get("/review")
def review_queue(
    request: Request,
    session: SessionDep,
    user: PageUser,
    township_id: Id | None = None,
    report_id: Annotated[Id | None, Query(alias="id")] = None,
    offset: Offset = 0,
    reviewed: Id | None = None,
) -> Response:
    return _queue_page(
        request,
        session,
        user,
        township_id=township_id,
        report_id=report_id,
        offset=offset,
        reviewed=reviewed,
    )


@router.post("/review/{inspection_id}")
def decide(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    inspection_id: Id,
    decision: Annotated[Literal["accepted", "rejected"], Form()],
    comment: Annotated[str, Form(max_length=2000)] = "",
    township_id: Id | None = None,
    _csrf: None = Csrf,
) -> Response:
    """Accept or reject one report, then open the next waiting one."""
    _ = gettext(request)
    report = inspections.get_inspection(session=session, user=user, inspection_id=inspection_id)
    access.ensure_staff(user)  # after the 404 for another township's report
    again = {
        "township_id": township_id,
        "report_id": inspection_id,
        "offset": 0,
    }
    if report.review_status is not ReviewStatus.submitted:
        # Someone else decided meanwhile: say so rather than overwrite their decision.
        message = _(
            "This report was already reviewed (%(status)s); it is no longer waiting.",
            status=enum_label(report.review_status, locale_of(request)),
        )
        return _queue_page(
            request, session, user, **again, decision=Decision(comment, message), status_code=409
        )
    try:
        data = ReviewCreate(decision=decision, comment=comment.strip() or None)
    except ValidationError as exc:
        message = "; ".join(web_errors.translate(e["msg"], _) for e in exc.errors())
        return _queue_page(
            request, session, user, **again, decision=Decision(comment, message), status_code=422
        )
    try:
        inspections.review(
            session=session,
            settings=settings,
            user=user,
            inspection_id=inspection_id,
            data=data,
        )
    except AppError as exc:
        session.rollback()
        return _queue_page(
            request,
            session,
            user,
            **again,
            decision=Decision(comment, error_text(exc, _)),
            status_code=exc.status_code,
        )
    query = {"township_id": township_id} if township_id is not None else {}
    return RedirectResponse(
        "/review?" + urlencode(query | {"reviewed": inspection_id}), status_code=303
    )
