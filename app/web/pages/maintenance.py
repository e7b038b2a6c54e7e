"""Pages: maintenance orders (维护) by status, each order's page with its history, and
the actions the role allows: approve (county staff), start, complete with the actual
cost, cancel with a reason.

An action that would take a township's funds past zero answers the API's 409, shown in
Chinese next to the action; an admin is then offered the override, with a reason.
"""

from dataclasses import dataclass, field
from typing import Annotated, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app import access, listing
from app.audit import service as audit
from app.clock import local_today
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import AppError, InvalidInput
from app.funds import service as funds
from app.maintenance import service as maintenance
from app.maintenance.schemas import Cancellation, Completion
from app.models import MaintenanceOrder, OrderStatus, PhotoStage, Role, User
from app.schemas import Id, Offset
from app.townships import service as townships
from app.web import errors as web_errors
from app.web.i18n import N_
from app.web.pages.funds import (
    AmountError,
    is_overspend,
    parse_day,
    parse_yuan,
    validation_messages,
    yuan_text,
)
from app.web.pages.review import error_text
from app.web.session import Csrf, PageUser, safe_next
from app.web.templating import gettext, render

router = APIRouter()

ORDERS_PAGE = 30
#: the tabs above the list: every order, then each status in the order work moves
STATUS_TABS: tuple[OrderStatus | None, ...] = (None, *OrderStatus)
ORDER_BADGES = {
    OrderStatus.planned: "pending",
    OrderStatus.approved: "approved",
    OrderStatus.in_progress: "in-progress",
    OrderStatus.completed: "completed",
    OrderStatus.cancelled: "cancelled",
}
STAGE_LABELS = {PhotoStage.before: N_("Before the work"), PhotoStage.after: N_("After the work")}
HISTORY_LABELS = {
    "maintenance.create": N_("Order opened"),
    "maintenance.update": N_("Order changed"),
    "maintenance.approve": N_("Order approved"),
    "maintenance.start": N_("Work started"),
    "maintenance.complete": N_("Work completed"),
    "maintenance.correct_cost": N_("Actual cost corrected"),
    "maintenance.cancel": N_("Order cancelled"),
}
DONE_NOTICES = {
    "approve": N_("Order %(id)s was approved."),
    "start": N_("Work on order %(id)s has started."),
    "complete": N_("Order %(id)s was completed."),
    "cancel": N_("Order %(id)s was cancelled."),
}

web_errors.register(
    (
        r"Order (?P<order>\d+) is (?P<status>\w+); it cannot move to (?P<target>\w+) .*",
        N_("Order %(order)s has moved on meanwhile; this step no longer applies. Reload the page."),
    ),
    (
        r"The actual cost (?P<actual>.+) is above the approved plan \((?P<planned>.+)\);"
        r" county staff must complete this order",
        N_(
            "The actual cost %(actual)s is above the approved plan (%(planned)s);"
            " county staff must complete this order"
        ),
    ),
    (r"completed_on is in the future", N_("The completion date cannot be in the future")),
    (
        r"Order (?P<order>\d+)'s money is held by a township outside your division;"
        r" staff whose division holds it approve, complete, cancel or correct it",
        N_(
            "Order %(order)s's money is held by a township outside your division;"
            " staff whose division holds it approve, complete, cancel or correct it"
        ),
    ),
    (
        r"Facility (?P<facility>\d+) is (?P<status>\w+), not active; it takes no maintenance"
        r" orders and no funds",
        N_("The facility is no longer in use; it takes no maintenance orders and no funds"),
    ),
)


def actions_for(session: Session, user: User, order: MaintenanceOrder) -> set[str]:
    """What ``user`` may do with ``order`` now (the services refuse the rest anyway).
    Approving, completing and cancelling move the money of the township that opened the
    order (``maintenance.may_move_money``), which its facility may since have left."""
    allowed: set[str] = set()
    money = maintenance.may_move_money(session, user, order)
    if order.status is OrderStatus.planned and access.is_staff(user) and money:
        allowed.add("approve")
    if order.status is OrderStatus.approved:
        allowed.add("start")
    if order.status is OrderStatus.in_progress and money:
        allowed.add("complete")
    if order.status in maintenance.OPEN and money:
        allowed.add("cancel")
    return allowed


def with_params(url: str, **params: object) -> str:
    """``url`` (a path on this site) with ``params`` set in its query string."""
    parts = urlsplit(safe_next(url))
    kept = [(k, v) for k, v in parse_qsl(parts.query) if k not in params]
    query = urlencode(kept + [(k, str(v)) for k, v in params.items()])
    return urlunsplit(("", "", parts.path, query, ""))


# --- the list -----------------------------------------------------------------------------


@router.get("/maintenance")
def orders_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    status: OrderStatus | None = None,
    township_id: Id | None = None,
    offset: Offset = 0,
    done: Annotated[str | None, Query(max_length=20)] = None,
    order: Id | None = None,
) -> Response:
    _ = gettext(request)
    today = local_today(settings.tz)
    filters = maintenance.OrderFilters(township_id=township_id, status=status)
    listed = maintenance.list_orders(
        session=session,
        user=user,
        filters=filters,
        today=today,
        window=listing.Window(limit=ORDERS_PAGE, offset=offset, count_limit=settings.count_limit),
    )
    visible = townships.visible(session, user)
    query: dict[str, Any] = {}
    if status is not None:
        query["status"] = status.value
    if township_id is not None:
        query["township_id"] = township_id
    notice = _(DONE_NOTICES[done], id=order) if done in DONE_NOTICES and order else None
    return render(
        request,
        "maintenance/index.html",
        {
            "orders": [(o, actions_for(session, user, o)) for o in listed.rows],
            "total": listed.total,
            "total_over": listed.total_over,
            "more": listed.next is not None,
            "offset": offset,
            "limit": ORDERS_PAGE,
            "query": query,
            "status": status,
            "tabs": STATUS_TABS,
            "township_id": township_id,
            "townships": visible,
            "township_names": {t.id: t.name for t in visible},
            "badges": ORDER_BADGES,
            "today": today,
            "notice": notice,
        },
    )


# --- one order ----------------------------------------------------------------------------


@dataclass
class Failure:
    """An action that was refused, shown again next to its form."""

    action: str
    message: str | None = None
    fields: dict[str, str] = field(default_factory=dict)
    values: dict[str, str] = field(default_factory=dict)
    offer_override: bool = False


def _order_page(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    order_id: int,
    *,
    failure: Failure | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    order = maintenance.get_order(session=session, user=user, order_id=order_id)
    today = local_today(settings.tz)
    staff = access.is_staff(user)
    account = None
    if access.sees_township(session, user, order.township_id):
        account = funds.account(session, order.township_id, order.year)
    history = []
    if staff:  # the audit log is county reading (GET /api/v1/audit is for staff)
        history, _total = audit.list_entries(
            session=session,
            object_type="maintenance_order",
            object_id=str(order.id),
            actor_id=None,
            action=None,
            since=None,
            until=None,
            window=listing.Window(limit=100, offset=0),
        )
    values = {
        "actual_cost": yuan_text(order.planned_cost_fen),
        "completed_on": today.isoformat(),
    }
    if failure:
        values |= failure.values
    return render(
        request,
        "maintenance/order.html",
        {
            "order": order,
            "actions": actions_for(session, user, order),
            "badges": ORDER_BADGES,
            "overdue": bool(
                order.status in maintenance.OPEN and order.due_on and order.due_on < today
            ),
            "account": account,
            "history": history,
            "history_labels": HISTORY_LABELS,
            "stage_labels": STAGE_LABELS,
            "failure": failure or Failure(""),
            "values": values,
            "notice": notice,
            "today": today,
            "is_admin": user.role is Role.admin,
            "moved": order.township_id != order.facility.township_id,
        },
        status_code=status_code,
    )


@router.get("/maintenance/{order_id}")
def order_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    order_id: Id,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    _ = gettext(request)
    notice = _(DONE_NOTICES[done], id=order_id) if done in DONE_NOTICES else None
    return _order_page(request, session, settings, user, order_id, notice=notice)


def _done(next_url: str, order_id: int, action: str) -> Response:
    target = next_url or f"/maintenance/{order_id}"
    return RedirectResponse(with_params(target, done=action, order=order_id), status_code=303)


def _refused(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    order_id: int,
    exc: AppError,
    failure: Failure,
) -> Response:
    """Re-show the order with the service's refusal next to the action."""
    session.rollback()
    _ = gettext(request)
    failure.message = error_text(exc, _)
    failure.offer_override = is_overspend(exc) and user.role is Role.admin
    if isinstance(exc, InvalidInput) and isinstance(exc.detail, list):
        for item in exc.detail:
            name = str(item.get("loc", ["", ""])[-1])
            if name in ("completed_on", "actual_cost_fen", "payee", "invoice_no", "reason"):
                failure.fields["actual_cost" if name == "actual_cost_fen" else name] = (
                    failure.message
                )
                failure.message = None
    return _order_page(
        request, session, settings, user, order_id, failure=failure, status_code=exc.status_code
    )


def _override_missing(request: Request, override: str, override_reason: str) -> str | None:
    _ = gettext(request)
    if override and not override_reason.strip():
        return _("Write why the funds may go below zero")
    return None


@router.post("/maintenance/{order_id}/approve")
def approve(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    order_id: Id,
    override_reason: Annotated[str, Form(max_length=500)] = "",
    override: Annotated[str, Form(max_length=1)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
    _csrf: None = Csrf,
) -> Response:
    """Approve: commit the planned cost; past the balance only an admin, with a reason."""
    maintenance.get_order(session=session, user=user, order_id=order_id)  # 404 first
    access.ensure_staff(user)
    failure = Failure("approve", values={"override_reason": override_reason})
    if message := _override_missing(request, override, override_reason):
        failure.fields["override_reason"] = message
        failure.offer_override = True
        return _order_page(
            request, session, settings, user, order_id, failure=failure, status_code=422
        )
    try:
        maintenance.approve(
            session=session,
            user=user,
            order_id=order_id,
            override_reason=override_reason.strip() or None,
        )
    except AppError as exc:
        return _refused(request, session, settings, user, order_id, exc, failure)
    return _done(next, order_id, "approve")


@router.post("/maintenance/{order_id}/start")
def start(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    order_id: Id,
    next: Annotated[str, Form(max_length=2000)] = "",
    _csrf: None = Csrf,
) -> Response:
    try:
        maintenance.start(session=session, user=user, order_id=order_id)
    except AppError as exc:
        return _refused(request, session, settings, user, order_id, exc, Failure("start"))
    return _done(next, order_id, "start")


@router.post("/maintenance/{order_id}/complete")
def complete(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    order_id: Id,
    actual_cost: Annotated[str, Form(max_length=40)] = "",
    completed_on: Annotated[str, Form(max_length=12)] = "",
    payee: Annotated[str, Form(max_length=100)] = "",
    invoice_no: Annotated[str, Form(max_length=64)] = "",
    override_reason: Annotated[str, Form(max_length=500)] = "",
    override: Annotated[str, Form(max_length=1)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
    _csrf: None = Csrf,
) -> Response:
    """Complete: the actual cost (yuan), the date, the payee and the invoice."""
    _ = gettext(request)
    values = {
        "actual_cost": actual_cost,
        "completed_on": completed_on,
        "payee": payee,
        "invoice_no": invoice_no,
        "override_reason": override_reason,
    }
    failure = Failure("complete", values=values, offer_override=bool(override))
    parsed: dict[str, Any] = {
        "payee": payee,
        "invoice_no": invoice_no,
        "override_reason": override_reason.strip() or None,
    }
    try:
        parsed["actual_cost_fen"] = parse_yuan(actual_cost)
    except AmountError as exc:
        failure.fields["actual_cost"] = _(exc.args[0])
    try:
        parsed["completed_on"] = parse_day(completed_on)
    except ValueError:
        failure.fields["completed_on"] = _("Enter the date the work was finished")
    if not payee.strip():
        failure.fields["payee"] = _("Enter who was paid")
    if not invoice_no.strip():
        failure.fields["invoice_no"] = _("Enter the invoice number")
    if message := _override_missing(request, override, override_reason):
        failure.fields["override_reason"] = message
    if not failure.fields:
        try:
            data = Completion.model_validate(parsed)
        except ValidationError as exc:
            found = validation_messages(exc, _)
            failure.fields = {
                ("actual_cost" if k == "actual_cost_fen" else k): v for k, v in found.items()
            }
    if failure.fields:
        return _order_page(
            request, session, settings, user, order_id, failure=failure, status_code=422
        )
    try:
        maintenance.complete(
            session=session, settings=settings, user=user, order_id=order_id, data=data
        )
    except AppError as exc:
        return _refused(request, session, settings, user, order_id, exc, failure)
    return _done(next, order_id, "complete")


@router.post("/maintenance/{order_id}/cancel")
def cancel(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    order_id: Id,
    reason: Annotated[str, Form(max_length=500)] = "",
    next: Annotated[str, Form(max_length=2000)] = "",
    _csrf: None = Csrf,
) -> Response:
    """Cancel an open order with a reason; an approved one gives its money back."""
    _ = gettext(request)
    failure = Failure("cancel", values={"reason": reason})
    try:
        data = Cancellation(reason=reason)
    except ValidationError:
        failure.fields["reason"] = _("Write why the order is cancelled")
        return _order_page(
            request, session, settings, user, order_id, failure=failure, status_code=422
        )
    try:
        maintenance.cancel(session=session, user=user, order_id=order_id, reason=data.reason)
    except AppError as exc:
        return _refused(request, session, settings, user, order_id, exc, failure)
    return _done(next, order_id, "cancel")
