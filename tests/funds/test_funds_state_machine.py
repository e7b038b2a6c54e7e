"""A Hypothesis state machine over allocate / open / approve / start / complete / cancel /
reverse / correct a completed order's cost. It keeps its own account of what the rules allow, takes only steps that are legal
for an order's state, and checks each answer: a step the rules allow must succeed, and a
refusal is expected exactly where the balance would go below zero (or where a step does
not apply to the order's state). After every step the ledger sums to the account, the
account matches the orders and the model, and nothing goes below zero unless an admin
override is on the ledger. At the end, the runs must have exercised every transition."""

from collections import Counter
from dataclasses import dataclass
from datetime import date
from itertools import count

import pytest
from hypothesis import HealthCheck, event
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import func, select

from app.config import Settings
from app.db import Database
from app.errors import AppError
from app.funds import service as funds
from app.funds.schemas import AllocationCreate
from app.maintenance import service as maintenance
from app.maintenance.schemas import Completion, CostCorrection, OrderCreate
from app.models import (
    EntryKind,
    FundAccount,
    FundSource,
    LedgerEntry,
    MaintenanceOrder,
    OrderStatus,
    Role,
    User,
)
from tests.factories import make_facility, make_township, make_user

YEAR = 2025
_townships = count(1)
COMMITTED = (OrderStatus.approved, OrderStatus.in_progress)
# which actions apply to an order in each state (the rest must be refused)
APPLIES = {
    "approve": (OrderStatus.planned,),
    "start": (OrderStatus.approved,),
    "complete": (OrderStatus.in_progress,),
    "cancel": (OrderStatus.planned, *COMMITTED),
}


@dataclass
class Order:
    planned_fen: int
    status: OrderStatus = OrderStatus.planned
    actual_fen: int = 0


@pytest.mark.slow
def test_funds_state_machine(db: Database, settings: Settings) -> None:
    with db.begin() as session:
        admin = make_user(session, role=Role.admin, username="sm-admin")
        clerk = make_user(session, role=Role.county, username="sm-clerk")
    seen: Counter[str] = Counter()

    class Funds(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            with db.begin() as session:
                township = make_township(
                    # in Qinshui (140521), the county the tests' database holds
                    session,
                    code=f"140521{next(_townships) % 1000:03d}",
                    name="状态机乡",
                )
                facility = make_facility(session, township=township)
            self.township_id, self.facility_id = township.id, facility.id
            self.orders: dict[int, Order] = {}
            self.allocations: dict[int, int] = {}  # id → amount, while not reversed
            self.overridden = False
            self.reversals = 0

        # --- the model: what the rules say the balance is ---------------------------------

        @property
        def available(self) -> int:
            committed = sum(o.planned_fen for o in self.orders.values() if o.status in COMMITTED)
            spent = sum(o.actual_fen for o in self.orders.values())
            return sum(self.allocations.values()) - committed - spent

        def fits(self, need_fen: int) -> bool:
            """A step that takes no money always passes; one that does needs the balance."""
            return need_fen <= max(self.available, 0)

        def _in(self, *states: OrderStatus) -> list[int]:
            return sorted(i for i, o in self.orders.items() if o.status in states)

        def _user(self, as_admin: bool) -> User:
            return admin if as_admin else clerk

        def _expect(self, outcome: str, allowed: bool, as_admin: bool, operation, **kwargs) -> bool:
            """Run ``operation``; it must succeed when ``allowed`` (or overridden by an admin)
            and be refused with a 409 otherwise. Returns whether it went through."""
            with db.session() as session:
                try:
                    operation(session=session, **kwargs)
                except AppError as error:
                    assert not allowed and not as_admin, f"{outcome} refused: {error.detail}"
                    assert error.status_code == 409, error.detail
                    seen[f"{outcome} refused"] += 1
                    event(f"{outcome} refused")
                    return False
            assert allowed or as_admin, f"{outcome} went through past the balance"
            self.overridden |= not allowed
            seen[outcome] += 1
            event(outcome)
            return True

        # --- steps the rules allow -----------------------------------------------------------

        # a few allocations and planned orders at a time, so most steps move orders along
        @precondition(lambda self: len(self.allocations) < 3)
        @rule(amount=st.integers(1, 500_000))
        def allocate(self, amount: int) -> None:
            with db.session() as session:
                allocation = funds.allocate(
                    session=session,
                    actor=clerk,
                    data=AllocationCreate(
                        township_id=self.township_id,
                        year=YEAR,
                        amount_fen=amount,
                        source=FundSource.county,
                        document_no="状态机",
                        allocated_on=date(YEAR, 1, 2),
                    ),  # fmt: skip
                )
            self.allocations[allocation.id] = amount
            seen["allocate"] += 1

        @precondition(lambda self: len(self._in(OrderStatus.planned)) < 3)
        @rule(cost=st.integers(0, 400_000))
        def open_order(self, cost: int) -> None:
            with db.session() as session:
                order = maintenance.create_order(
                    session=session,
                    settings=settings,
                    user=clerk,
                    data=OrderCreate(
                        facility_id=self.facility_id,
                        category="repair",
                        title="修缮",
                        planned_cost_fen=cost,
                        year=YEAR,
                    ),  # fmt: skip
                )
            self.orders[order.id] = Order(planned_fen=cost)

        @precondition(lambda self: self._in(OrderStatus.planned))
        @rule(data=st.data(), as_admin=st.booleans())
        def approve(self, data: st.DataObject, as_admin: bool) -> None:
            order_id = data.draw(st.sampled_from(self._in(OrderStatus.planned)), label="order")
            order = self.orders[order_id]
            if self._expect(
                "approve", self.fits(order.planned_fen), as_admin, maintenance.approve,
                user=self._user(as_admin), order_id=order_id,
                override_reason="状态机超支" if as_admin else None,
            ):  # fmt: skip
                order.status = OrderStatus.approved

        @precondition(lambda self: self._in(OrderStatus.approved))
        @rule(data=st.data())
        def start(self, data: st.DataObject) -> None:
            order_id = data.draw(st.sampled_from(self._in(OrderStatus.approved)), label="order")
            self._expect("start", True, False, maintenance.start, user=clerk, order_id=order_id)
            self.orders[order_id].status = OrderStatus.in_progress

        @precondition(lambda self: self._in(OrderStatus.in_progress))
        @rule(data=st.data(), actual=st.integers(0, 600_000), as_admin=st.booleans())
        def complete(self, data: st.DataObject, actual: int, as_admin: bool) -> None:
            order_id = data.draw(st.sampled_from(self._in(OrderStatus.in_progress)), label="order")
            order = self.orders[order_id]
            # the commitment comes back as the spend goes out: only the excess needs money
            allowed = self.fits(actual - order.planned_fen)
            completion = Completion(
                actual_cost_fen=actual, completed_on=date(YEAR, 6, 1), payee="施工队", invoice_no="1",
                override_reason="状态机超支" if as_admin else None,
            )  # fmt: skip
            if self._expect(
                "complete", allowed, as_admin, maintenance.complete,
                settings=settings, user=self._user(as_admin), order_id=order_id, data=completion,
            ):  # fmt: skip
                order.status, order.actual_fen = OrderStatus.completed, actual

        @precondition(lambda self: self._in(OrderStatus.planned))
        @rule(data=st.data(), actual=st.integers(0, 600_000))
        def see_it_through(self, data: st.DataObject, actual: int) -> None:
            """Approve, start and complete in a row (random single steps rarely line up)."""
            self.approve(data, as_admin=False)
            if self._in(OrderStatus.approved):
                self.start(data)
            if self._in(OrderStatus.in_progress):
                self.complete(data, actual, as_admin=False)

        @precondition(lambda self: self._in(OrderStatus.completed))
        @rule(data=st.data(), actual=st.integers(0, 600_000), as_admin=st.booleans())
        def correct_cost(self, data: st.DataObject, actual: int, as_admin: bool) -> None:
            order_id = data.draw(st.sampled_from(self._in(OrderStatus.completed)), label="order")
            order = self.orders[order_id]
            if actual == order.actual_fen:  # the same cost is no correction (422)
                actual += 1
            correction = CostCorrection(
                actual_cost_fen=actual, reason="发票录入错误",
                override_reason="状态机更正" if as_admin else None,
            )  # fmt: skip
            if self._expect(
                "correct_cost", self.fits(actual - order.actual_fen), as_admin,
                maintenance.correct_cost, user=self._user(as_admin), order_id=order_id,
                data=correction,
            ):  # fmt: skip
                order.actual_fen = actual

        @precondition(lambda self: len(self._in(*APPLIES["cancel"])) >= 3)  # now and then
        @rule(data=st.data())
        def cancel(self, data: st.DataObject) -> None:
            order_id = data.draw(st.sampled_from(self._in(*APPLIES["cancel"])), label="order")
            self._expect(
                "cancel", True, False, maintenance.cancel, user=clerk, order_id=order_id, reason="取消"
            )  # fmt: skip
            self.orders[order_id].status = OrderStatus.cancelled

        # two reversals a run at most: otherwise allocate/reverse can eat a run's steps
        @precondition(lambda self: len(self.allocations) >= 2 and self.reversals < 2)
        @rule(data=st.data(), as_admin=st.booleans())
        def reverse(self, data: st.DataObject, as_admin: bool) -> None:
            self.reversals += 1
            allocation_id = data.draw(st.sampled_from(sorted(self.allocations)), label="allocation")
            if self._expect(
                "reverse", self.fits(self.allocations[allocation_id]), as_admin,
                funds.reverse, actor=self._user(as_admin), allocation_id=allocation_id,
                reason="冲销", override_reason="状态机冲销" if as_admin else None,
            ):  # fmt: skip
                del self.allocations[allocation_id]

        # --- steps the rules refuse, whatever the balance ------------------------------------

        @precondition(lambda self: self.orders)
        @rule(data=st.data(), action=st.sampled_from(sorted(APPLIES)))
        def out_of_order(self, data: st.DataObject, action: str) -> None:
            """A transition that does not apply to the order's state is a 409 and changes nothing."""
            wrong = [i for i, o in self.orders.items() if o.status not in APPLIES[action]]
            if not wrong:
                return
            order_id = data.draw(st.sampled_from(sorted(wrong)), label="order")
            operation = {
                "approve": lambda **kw: maintenance.approve(**kw, override_reason=None),
                "start": maintenance.start,
                "complete": lambda **kw: maintenance.complete(
                    **kw, settings=settings,
                    data=Completion(
                        actual_cost_fen=0, completed_on=date(YEAR, 6, 1), payee="施工队", invoice_no="1"
                    ),
                ),
                "cancel": lambda **kw: maintenance.cancel(**kw, reason="取消"),
            }[action]  # fmt: skip
            self._expect(
                f"{action} out of order", False, False, operation, user=clerk, order_id=order_id
            )

        # --- what must hold after every step -------------------------------------------------

        @invariant()
        def ledger_and_account_agree(self) -> None:
            with db.session() as session:
                entries = (
                    session.execute(
                        select(LedgerEntry).where(LedgerEntry.township_id == self.township_id)
                    )
                    .scalars()
                    .all()
                )
                account = funds.account(session, self.township_id, YEAR)
                orders = (
                    session.execute(
                        select(MaintenanceOrder).where(
                            MaintenanceOrder.township_id == self.township_id
                        )
                    )
                    .scalars()
                    .all()
                )
                accounts = session.execute(
                    select(func.count())
                    .select_from(FundAccount)
                    .where(FundAccount.township_id == self.township_id)
                ).scalar_one()
            by_kind = {
                kind: sum(e.amount_fen for e in entries if e.kind is kind) for kind in EntryKind
            }
            # a reversal undoes an allocation, or the spend of an order whose cost was corrected
            reversed_allocations = sum(
                e.amount_fen for e in entries if e.kind is EntryKind.reversal and e.allocation_id
            )
            reversed_spending = sum(
                e.amount_fen for e in entries if e.kind is EntryKind.reversal and e.order_id
            )
            assert reversed_allocations + reversed_spending == by_kind[EntryKind.reversal]
            assert accounts <= 1
            assert {o.id: o.status for o in orders} == {i: o.status for i, o in self.orders.items()}
            assert account.available_fen == self.available
            assert sum(by_kind.values()) == account.available_fen
            assert account.allocated_fen == by_kind[EntryKind.allocation] + reversed_allocations
            assert account.committed_fen == -(
                by_kind[EntryKind.commitment] + by_kind[EntryKind.release]
            )
            assert account.spent_fen == -(by_kind[EntryKind.expenditure] + reversed_spending)
            open_commitments = sum(
                o.planned_cost_fen
                for o in orders
                if o.status in (OrderStatus.approved, OrderStatus.in_progress)
            )
            assert account.committed_fen == open_commitments
            assert account.spent_fen == sum(
                o.actual_cost_fen or 0 for o in orders if o.status is OrderStatus.completed
            )
            assert account.committed_fen >= 0 and account.spent_fen >= 0
            assert any(e.override_reason for e in entries) == self.overridden
            if not self.overridden:
                assert account.available_fen >= 0

    run_state_machine_as_test(
        Funds,
        settings=hypothesis_settings(
            max_examples=40,
            # the same runs every time: the closing counts must not depend on luck in CI
            derandomize=True,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
    # every transition ran, and the balance refused some steps (the rules, not luck)
    for outcome in ("approve", "start", "complete", "cancel", "reverse", "approve refused"):
        assert seen[outcome] >= 5, seen
    assert seen["correct_cost"] >= 3, seen
    for action in APPLIES:
        assert seen[f"{action} out of order refused"] >= 1, seen
