"""Maintenance orders and their money: approval commits the planned cost, completion
turns the commitment into the actual spend, cancellation releases it — each a ledger
entry in the same transaction as the state change (DESIGN.md rule 7)."""

from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload
from sqlmodel import Session

from app import access, listing
from app.audit import service as audit
from app.clock import local_today
from app.config import Settings
from app.errors import Conflict, Forbidden, InvalidInput, NotFound, unique_key_violated
from app.facilities import service as facilities
from app.funds import service as funds
from app.funds.money import yuan
from app.inspections import service as inspections
from app.maintenance.schemas import (
    Completion,
    CostCorrection,
    OrderCreate,
    OrderFromReport,
    OrderUpdate,
)
from app.models import (
    ChecklistAnswer,
    ChecklistItem,
    Condition,
    EntryKind,
    Facility,
    FacilityStatus,
    Inspection,
    MaintenanceCategory,
    MaintenanceOrder,
    OrderStatus,
    User,
)
from app.models.base import utcnow
from app.models.enums import CHECKLIST_PROBLEMS_ZH, CONDITION_LABELS_ZH

#: unfinished orders: work (and possibly money) still ahead; see ``UNFINISHED_SQL``
OPEN = (OrderStatus.planned, OrderStatus.approved, OrderStatus.in_progress)
#: the partial unique index that allows one unfinished order per report
UNFINISHED_PER_REPORT = "uq_maintenance_orders_unfinished_per_report"
#: the unique index on the client's ``client_id``
CLIENT_ID_KEY = "ix_maintenance_orders_client_id"
#: action → (states it may start from, state it leads to)
TRANSITIONS: dict[str, tuple[tuple[OrderStatus, ...], OrderStatus]] = {
    "approve": ((OrderStatus.planned,), OrderStatus.approved),
    "start": ((OrderStatus.approved,), OrderStatus.in_progress),
    "complete": ((OrderStatus.in_progress,), OrderStatus.completed),
    "cancel": (OPEN, OrderStatus.cancelled),
}
_STRUCTURAL = {
    ChecklistItem.marker_sign,
    ChecklistItem.biography_plaque,
    ChecklistItem.headstone,
    ChecklistItem.inscription_legible,
    ChecklistItem.structure_sound,
    ChecklistItem.boundary,
}
_SURROUNDINGS = {
    ChecklistItem.access_path,
    ChecklistItem.surroundings_tidy,
    ChecklistItem.no_encroachment,
    ChecklistItem.fire_safety,
}


#: everything an order's read shape shows, loaded in a fixed number of queries
_LOAD = (
    selectinload(MaintenanceOrder.facility).selectinload(Facility.township),
    selectinload(MaintenanceOrder.township),
    selectinload(MaintenanceOrder.approved_by),
    selectinload(MaintenanceOrder.photos),
    selectinload(MaintenanceOrder.inspection_photos),
)


def _load(session: Session, order_id: int, *, for_update: bool = False) -> MaintenanceOrder | None:
    query = select(MaintenanceOrder).where(MaintenanceOrder.id == order_id)
    if for_update:
        query = query.with_for_update(of=MaintenanceOrder)  # type: ignore[arg-type]
    return session.execute(
        query.options(*_LOAD).execution_options(populate_existing=True)
    ).scalar_one_or_none()


def get_order(
    *, session: Session, user: User, order_id: int, for_update: bool = False
) -> MaintenanceOrder:
    order = _load(session, order_id, for_update=for_update)
    if order is None:
        raise NotFound(f"Maintenance order {order_id} not found")
    # Orders belong to the township that owns their facility now (DESIGN.md rule 8).
    access.ensure_visible(
        session, user, order.facility.township_id, f"Maintenance order {order_id}"
    )
    return order


def _snapshot(order: MaintenanceOrder) -> dict[str, Any]:
    return audit.snapshot(order, exclude=("approved_at",))


def _check_inspection(session: Session, user: User, inspection_id: int, facility_id: int) -> None:
    inspection = inspections.get_inspection(session=session, user=user, inspection_id=inspection_id)
    if inspection.facility_id != facility_id:
        raise InvalidInput(
            ("body", "inspection_id"),
            f"Inspection {inspection_id} is of facility {inspection.facility_id},"
            f" not of facility {facility_id}",
        )


def _ensure_takes_work(facility: Facility) -> None:
    """Only an active facility gets new work or money, as only it takes reports."""
    if facility.status is not FacilityStatus.active:
        raise Conflict(
            f"Facility {facility.id} is {facility.status.value}, not active; it takes no"
            " maintenance orders and no funds"
        )


def _unfinished_order_of(session: Session, inspection_id: int) -> MaintenanceOrder | None:
    return session.execute(
        select(MaintenanceOrder).where(
            MaintenanceOrder.inspection_id == inspection_id,
            MaintenanceOrder.status.in_(OPEN),
        )
    ).scalar_one_or_none()


def _report_taken(inspection_id: int, order: MaintenanceOrder) -> Conflict:
    return Conflict(
        f"Report {inspection_id} already has maintenance order {order.id}, which is"
        f" {order.status.value}; carry on with that order, or cancel it (with a reason) before"
        " opening another for this report",
        headers={"Location": f"/api/v1/maintenance/{order.id}"},
    )


def create_order(
    *, session: Session, settings: Settings, user: User, data: OrderCreate
) -> MaintenanceOrder:
    """Open an order (see ``create_order_once``)."""
    return create_order_once(session=session, settings=settings, user=user, data=data)[0]


#: what an order says: a replay under the same ``client_id`` says the same
_CONTENT = (
    "facility_id",
    "inspection_id",
    "category",
    "title",
    "description",
    "planned_cost_fen",
    "due_on",
    "assignee",
)


def _replay(session: Session, user: User, data: OrderCreate) -> MaintenanceOrder | None:
    """The stored order for this ``client_id`` if this is a replay of it; 409 if it differs.

    Another township's order is not the caller's to see: its 409 says only that the id is
    taken (nothing of the order)."""
    taken = (
        f"The client_id {data.client_id} is already taken; give this order a new client_id"
        " and send it again"
    )
    existing_id = access.claimed_by(session, user, MaintenanceOrder, data.client_id, taken)
    if existing_id is None:
        return None
    existing = _load(session, existing_id)
    assert existing is not None
    differs = any(getattr(existing, name) != getattr(data, name) for name in _CONTENT)
    if differs or data.year not in (None, existing.year):
        raise Conflict(
            f"A different maintenance order was already opened with client_id {data.client_id}"
            f" (order {existing.id}); give a new order a new client_id"
        )
    return existing


def create_order_once(
    *, session: Session, settings: Settings, user: User, data: OrderCreate
) -> tuple[MaintenanceOrder, bool]:
    """Open an order (True), or return the stored one a retry with the same ``client_id``
    replays (False). One unfinished order per report: the database holds the rule (a
    partial unique index), so of two concurrent requests one gets a 409 naming the other's
    order; a completed or cancelled order no longer blocks a new one. The ``client_id`` is
    a unique index too: of two concurrent sends of one order, the second replays the first."""
    if data.client_id is not None and (existing := _replay(session, user, data)) is not None:
        return existing, False
    facility = facilities.get_facility(session=session, user=user, facility_id=data.facility_id)
    _ensure_takes_work(facility)
    if data.inspection_id is not None:
        _check_inspection(session, user, data.inspection_id, facility.id)  # type: ignore[arg-type]
        if (existing := _unfinished_order_of(session, data.inspection_id)) is not None:
            # A concurrent send of this same order may have committed since the replay check
            # above (READ COMMITTED sees it now): that is a replay, not a second order.
            if (
                existing.client_id is not None
                and existing.client_id == data.client_id
                and (replayed := _replay(session, user, data)) is not None
            ):
                return replayed, False
            raise _report_taken(data.inspection_id, existing)
    order = MaintenanceOrder.model_validate(
        data.model_dump(exclude={"year"}),
        update={
            "township_id": facility.township_id,
            "year": data.year or local_today(settings.tz).year,
            "status": OrderStatus.planned,
            "created_by_id": user.id,
        },
    )
    try:
        with session.begin_nested():
            session.add(order)
    except IntegrityError as exc:
        key = unique_key_violated(exc)
        # A concurrent send of the same order committed first: answer with it.
        replayed = (
            _replay(session, user, data)
            if key in (CLIENT_ID_KEY, UNFINISHED_PER_REPORT) and data.client_id is not None
            else None
        )
        if replayed is not None:
            session.commit()
            return replayed, False
        if key != UNFINISHED_PER_REPORT or data.inspection_id is None:
            raise
        # A concurrent request opened it first, and has committed: name its order.
        existing = _unfinished_order_of(session, data.inspection_id)
        if existing is None:
            raise
        raise _report_taken(data.inspection_id, existing) from None
    audit.record(
        session=session,
        actor=user,
        action="maintenance.create",
        object_type="maintenance_order",
        object_id=order.id,
        after=_snapshot(order),
    )
    session.commit()
    return get_order(session=session, user=user, order_id=order.id), True  # type: ignore[arg-type]


def prefill_from_report(inspection: Inspection, facility_name: str) -> dict[str, Any]:
    """Category, title and description for an order opened from a report's problems."""
    problems = [
        ChecklistItem(item)
        for item, answer in inspection.checklist.items()
        if answer == ChecklistAnswer.problem
    ]
    damaged = inspection.condition in (
        Condition.needs_repair,
        Condition.severely_damaged,
        Condition.missing,
    )
    if damaged or _STRUCTURAL & set(problems):
        category = MaintenanceCategory.repair
    elif _SURROUNDINGS & set(problems):
        category = MaintenanceCategory.environment
    else:
        category = MaintenanceCategory.routine_care
    found = "、".join(CHECKLIST_PROBLEMS_ZH[p] for p in problems) or "未勾选具体问题项"
    lines = [
        f"巡查发现问题（{inspection.inspected_on}，回执 {inspection.receipt}）：{found}",
        f"设施状况：{CONDITION_LABELS_ZH[inspection.condition]}",
    ]
    if inspection.notes:
        lines.append(f"巡查备注：{inspection.notes}")
    return {
        "category": category,
        "title": f"整改：{facility_name}"[:100],
        "description": "\n".join(lines),
    }


def create_from_report(
    *, session: Session, settings: Settings, user: User, inspection_id: int, data: OrderFromReport
) -> MaintenanceOrder:
    """Open an order from a patrol report, prefilled from its ``problem`` checklist items.

    One unfinished order per report: a second request (a double click) is a 409 naming the
    first; once that order is completed or cancelled, the report may get another.
    """
    inspection = inspections.get_inspection(session=session, user=user, inspection_id=inspection_id)
    if (existing := _unfinished_order_of(session, inspection_id)) is not None:
        raise _report_taken(inspection_id, existing)
    facility = facilities.get_facility(
        session=session, user=user, facility_id=inspection.facility_id
    )
    given = data.model_dump(exclude_unset=True)
    prefilled = prefill_from_report(inspection, facility.name) | {
        k: v for k, v in given.items() if v is not None
    }
    create = OrderCreate.model_validate(
        {
            "planned_cost_fen": data.planned_cost_fen,
            **prefilled,
            "facility_id": facility.id,
            "inspection_id": inspection.id,
        }
    )
    return create_order(session=session, settings=settings, user=user, data=create)


def update_order(
    *, session: Session, user: User, order_id: int, data: OrderUpdate
) -> MaintenanceOrder:
    order = get_order(session=session, user=user, order_id=order_id, for_update=True)
    if order.status is not OrderStatus.planned:
        raise Conflict(
            f"Order {order_id} is {order.status.value}; only a planned order can be edited"
        )
    changes = data.model_dump(exclude_unset=True)
    for required in ("category", "title", "planned_cost_fen", "year"):
        if required in changes and changes[required] is None:
            raise InvalidInput(("body", required), f"{required} cannot be empty")
    before = _snapshot(order)
    for field, value in changes.items():
        setattr(order, field, value)
    audit.record(
        session=session,
        actor=user,
        action="maintenance.update",
        object_type="maintenance_order",
        object_id=order.id,
        before=before,
        after=_snapshot(order),
    )
    session.commit()
    return get_order(session=session, user=user, order_id=order_id)


def _advance(order: MaintenanceOrder, action: str) -> OrderStatus:
    allowed, target = TRANSITIONS[action]
    if order.status not in allowed:
        needed = " or ".join(s.value for s in allowed)
        raise Conflict(
            f"Order {order.id} is {order.status.value}; it cannot move to {target.value}"
            f" ({action} applies only to an order that is {needed})"
        )
    return target


def may_move_money(session: Session, user: User, order: MaintenanceOrder) -> bool:
    """Whether ``user`` may move the money of ``order``: approve, complete, cancel it or
    correct its cost. Its money is on the account of the township that opened it, which an
    order keeps when its facility moves (to another township, or another county): only who
    sees that township moves it, never a user who sees the order by its facility alone."""
    return access.sees_township(session, user, order.township_id)


def _ensure_may_move_money(session: Session, user: User, order: MaintenanceOrder) -> None:
    """403 unless ``may_move_money``; the message names no township the user cannot see."""
    if not may_move_money(session, user, order):
        raise Forbidden(
            f"Order {order.id}'s money is held by a township outside your division;"
            " staff whose division holds it approve, complete, cancel or correct it"
        )


def _entry_keys(order: MaintenanceOrder, user: User) -> dict[str, Any]:
    """What every ledger entry of ``order`` carries: its account, its actor, the order."""
    return {
        "township_id": order.township_id,
        "year": order.year,
        "actor": user,
        "order_id": order.id,
    }


def _finish(
    session: Session, user: User, order: MaintenanceOrder, action: str, before: dict
) -> MaintenanceOrder:
    audit.record(
        session=session,
        actor=user,
        action=f"maintenance.{action}",
        object_type="maintenance_order",
        object_id=order.id,
        before=before,
        after=_snapshot(order),
    )
    session.commit()
    return get_order(session=session, user=user, order_id=order.id)  # type: ignore[arg-type]


def approve(
    *, session: Session, user: User, order_id: int, override_reason: str | None
) -> MaintenanceOrder:
    """Approve: commit the planned cost against the township's funds for the order's year.
    County work; another township's order is a 404 first."""
    order = get_order(session=session, user=user, order_id=order_id, for_update=True)
    access.ensure_staff(user)
    _ensure_may_move_money(session, user, order)
    target = _advance(order, "approve")
    _ensure_takes_work(order.facility)
    before = _snapshot(order)
    overridden = funds.move(
        session,
        funds.Movement(
            order.township_id,
            order.year,
            f"Approving order {order.id} ({yuan(order.planned_cost_fen)} planned)",
            committed=order.planned_cost_fen,
        ),
        actor=user,
        override_reason=override_reason,
    )
    funds.record(
        session,
        kind=EntryKind.commitment,
        amount_fen=-order.planned_cost_fen,
        township_id=order.township_id,
        year=order.year,
        actor=user,
        order_id=order.id,
        override_reason=overridden,
    )
    order.status, order.approved_by_id, order.approved_at = target, user.id, utcnow()
    return _finish(session, user, order, "approve", before)


def start(*, session: Session, user: User, order_id: int) -> MaintenanceOrder:
    order = get_order(session=session, user=user, order_id=order_id, for_update=True)
    before = _snapshot(order)
    order.status = _advance(order, "start")
    return _finish(session, user, order, "start", before)


def complete(
    *, session: Session, settings: Settings, user: User, order_id: int, data: Completion
) -> MaintenanceOrder:
    """Complete: release the commitment and record the actual spend (checked if it is more)."""
    order = get_order(session=session, user=user, order_id=order_id, for_update=True)
    target = _advance(order, "complete")
    _ensure_may_move_money(session, user, order)
    if data.actual_cost_fen > order.planned_cost_fen and not access.is_staff(user):
        raise Forbidden(
            f"The actual cost {yuan(data.actual_cost_fen)} is above the approved plan"
            f" ({yuan(order.planned_cost_fen)}); county staff must complete this order"
        )
    if data.completed_on > local_today(settings.tz):
        raise InvalidInput(("body", "completed_on"), "completed_on is in the future")
    before = _snapshot(order)
    overridden = funds.move(
        session,
        funds.Movement(
            order.township_id,
            order.year,
            f"Completing order {order.id} at {yuan(data.actual_cost_fen)}"
            f" ({yuan(order.planned_cost_fen)} planned)",
            committed=-order.planned_cost_fen,
            spent=data.actual_cost_fen,
        ),
        actor=user,
        override_reason=data.override_reason,
    )
    common = _entry_keys(order, user)
    funds.record(session, kind=EntryKind.release, amount_fen=order.planned_cost_fen, **common)
    funds.record(
        session,
        kind=EntryKind.expenditure,
        amount_fen=-data.actual_cost_fen,
        reason=f"{data.payee}；发票 {data.invoice_no}",
        override_reason=overridden,
        **common,
    )
    order.status = target
    order.actual_cost_fen = data.actual_cost_fen
    order.completed_on = data.completed_on
    order.payee = data.payee
    order.invoice_no = data.invoice_no
    return _finish(session, user, order, "complete", before)


def correct_cost(
    *, session: Session, user: User, order_id: int, data: CostCorrection
) -> MaintenanceOrder:
    """Put right a completed order's actual cost (DESIGN.md rule 7: a correction is a
    reversal entry). The ledger gains a reversal of the recorded spend and a new spend at
    the correct cost, both with the reason; a higher cost is guarded by the balance like
    any spend. County work (after the 404 for another township's order)."""
    order = get_order(session=session, user=user, order_id=order_id, for_update=True)
    access.ensure_staff(user)
    _ensure_may_move_money(session, user, order)
    if order.status is not OrderStatus.completed or order.actual_cost_fen is None:
        raise Conflict(
            f"Order {order.id} is {order.status.value}; only a completed order's cost can be"
            " corrected (change a planned order with PATCH)"
        )
    recorded = order.actual_cost_fen
    if data.actual_cost_fen == recorded and data.invoice_no in (None, order.invoice_no):
        raise InvalidInput(
            ("body", "actual_cost_fen"),
            f"The order's actual cost is already {yuan(recorded)}; nothing to correct",
        )
    before = _snapshot(order)
    overridden = funds.move(
        session,
        funds.Movement(
            order.township_id,
            order.year,
            f"Correcting order {order.id} from {yuan(recorded)} to {yuan(data.actual_cost_fen)}",
            spent=data.actual_cost_fen - recorded,
        ),
        actor=user,
        override_reason=data.override_reason,
    )
    common = _entry_keys(order, user)
    funds.record(
        session,
        kind=EntryKind.reversal,
        amount_fen=recorded,
        reason=f"更正：冲销原支出 {yuan(recorded)}。{data.reason}",
        **common,
    )
    if data.invoice_no is not None:
        order.invoice_no = data.invoice_no
    funds.record(
        session,
        kind=EntryKind.expenditure,
        amount_fen=-data.actual_cost_fen,
        reason=f"更正后支出：{order.payee}；发票 {order.invoice_no}。{data.reason}",
        override_reason=overridden,
        **common,
    )
    order.actual_cost_fen = data.actual_cost_fen
    return _finish(session, user, order, "correct_cost", before)


def cancel(*, session: Session, user: User, order_id: int, reason: str) -> MaintenanceOrder:
    """Cancel an open order; an approved one gives its commitment back."""
    order = get_order(session=session, user=user, order_id=order_id, for_update=True)
    committed = order.status in (OrderStatus.approved, OrderStatus.in_progress)
    target = _advance(order, "cancel")
    _ensure_may_move_money(session, user, order)
    before = _snapshot(order)
    if committed:
        funds.move(
            session,
            funds.Movement(
                order.township_id,
                order.year,
                f"Cancelling order {order.id}",
                committed=-order.planned_cost_fen,
            ),  # fmt: skip
            actor=user,
            override_reason=None,
        )
        funds.record(
            session,
            kind=EntryKind.release,
            amount_fen=order.planned_cost_fen,
            township_id=order.township_id,
            year=order.year,
            actor=user,
            order_id=order.id,
            reason=reason,
        )
    order.status, order.cancel_reason = target, reason
    return _finish(session, user, order, "cancel", before)


@dataclass(frozen=True)
class OrderFilters:
    facility_id: int | None = None
    township_id: int | None = None
    status: OrderStatus | None = None
    category: MaintenanceCategory | None = None
    year: int | None = None
    overdue: bool | None = None


def overdue_condition(today: date) -> Any:
    return MaintenanceOrder.status.in_(OPEN) & (MaintenanceOrder.due_on < today)


#: the order of the order list: newest first
NEWEST_FIRST = (listing.desc(MaintenanceOrder.created_at), listing.desc(MaintenanceOrder.id))


def list_orders(
    *,
    session: Session,
    user: User,
    filters: OrderFilters,
    today: date,
    window: listing.Window,
) -> listing.Listed[MaintenanceOrder]:
    if filters.township_id is not None:
        access.ensure_visible(session, user, filters.township_id, f"Township {filters.township_id}")
    conditions: list[Any] = []
    if filters.township_id is not None:
        conditions.append(
            MaintenanceOrder.facility_id.in_(access.facilities_of(filters.township_id))
        )
    for column, value in (
        (MaintenanceOrder.facility_id, filters.facility_id),
        (MaintenanceOrder.status, filters.status),
        (MaintenanceOrder.category, filters.category),
        (MaintenanceOrder.year, filters.year),
    ):
        if value is not None:
            conditions.append(column == value)
    if filters.overdue is True:
        conditions.append(overdue_condition(today))
    elif filters.overdue is False:
        conditions.append(~overdue_condition(today) | MaintenanceOrder.due_on.is_(None))
    query = access.scope_by_facility(
        select(MaintenanceOrder), user, MaintenanceOrder.facility_id
    ).where(*conditions)
    return listing.page(
        session,
        query,
        sort=NEWEST_FIRST,
        window=window,
        read=lambda paged: session.scalars(paged.options(*_LOAD)).all(),
    )
