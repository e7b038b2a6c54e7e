"""A Hypothesis state machine over allocate / open / approve / start / complete / cancel /
reverse: after every step the ledger sums to the account, the account matches the orders,
and nothing goes below zero unless an admin override is on the ledger."""

from datetime import date
from itertools import count

import pytest
from hypothesis import HealthCheck
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    invariant,
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
from app.maintenance.schemas import Completion, OrderCreate
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


@pytest.mark.slow
def test_funds_state_machine(db: Database, settings: Settings) -> None:
    with db.begin() as session:
        admin = make_user(session, role=Role.admin, username="sm-admin")
        clerk = make_user(session, role=Role.county, username="sm-clerk")

    class Funds(RuleBasedStateMachine):
        allocations = Bundle("allocations")
        orders = Bundle("orders")

        def __init__(self) -> None:
            super().__init__()
            with db.begin() as session:
                township = make_township(
                    session, code=f"14052{next(_townships):04d}", name="状态机乡"
                )
                facility = make_facility(session, township=township)
            self.township_id, self.facility_id = township.id, facility.id

        def _user(self, as_admin: bool) -> User:
            return admin if as_admin else clerk

        @rule(target=allocations, amount=st.integers(1, 500_000))
        def allocate(self, amount: int) -> int:
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
                return allocation.id

        @rule(target=orders, cost=st.integers(0, 400_000))
        def open_order(self, cost: int) -> int:
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
                return order.id

        @rule(order=orders, as_admin=st.booleans())
        def approve(self, order: int, as_admin: bool) -> None:
            self._try(
                maintenance.approve, user=self._user(as_admin), order_id=order,
                override_reason="状态机超支" if as_admin else None,
            )  # fmt: skip

        @rule(order=orders)
        def start(self, order: int) -> None:
            self._try(maintenance.start, user=clerk, order_id=order)

        @rule(order=orders, actual=st.integers(0, 600_000), as_admin=st.booleans())
        def complete(self, order: int, actual: int, as_admin: bool) -> None:
            data = Completion(
                actual_cost_fen=actual, completed_on=date(YEAR, 6, 1), payee="施工队", invoice_no="1",
                override_reason="状态机超支" if as_admin else None,
            )  # fmt: skip
            self._try(
                maintenance.complete,
                settings=settings,
                user=self._user(as_admin),
                order_id=order,
                data=data,
            )

        @rule(order=orders, actual=st.integers(0, 600_000))
        def see_it_through(self, order: int, actual: int) -> None:
            """Approve, start and complete in a row (random single steps rarely line up)."""
            self.approve(order, as_admin=False)
            self.start(order)
            self.complete(order, actual, as_admin=False)

        @rule(order=orders)
        def cancel(self, order: int) -> None:
            self._try(maintenance.cancel, user=clerk, order_id=order, reason="取消")

        @rule(allocation=allocations, as_admin=st.booleans())
        def reverse(self, allocation: int, as_admin: bool) -> None:
            self._try(
                funds.reverse, actor=self._user(as_admin), allocation_id=allocation, reason="冲销",
                override_reason="状态机冲销" if as_admin else None,
            )  # fmt: skip

        def _try(self, operation, **kwargs) -> None:
            with db.session() as session:
                try:
                    operation(session=session, **kwargs)
                except AppError as error:
                    # overrides are only ever passed by the admin: refusals are all 409s
                    assert error.status_code == 409, error.detail

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
            assert accounts <= 1
            assert sum(by_kind.values()) == account.available_fen
            assert (
                account.allocated_fen == by_kind[EntryKind.allocation] + by_kind[EntryKind.reversal]
            )
            assert account.committed_fen == -(
                by_kind[EntryKind.commitment] + by_kind[EntryKind.release]
            )
            assert account.spent_fen == -by_kind[EntryKind.expenditure]
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
            if not any(e.override_reason for e in entries):
                assert account.available_fen >= 0

    run_state_machine_as_test(
        Funds,
        settings=hypothesis_settings(
            max_examples=30,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
        ),
    )
