"""Maintenance orders (维护): by status, each action as the role allows, and an overspend
that shows the API's 409 in Chinese with the override offered to an admin only."""

import re

from fastapi.testclient import TestClient
from sqlmodel import select

from app.clock import local_today
from app.config import Settings
from app.db import Database
from app.funds import service as funds
from app.maintenance import service as maintenance
from app.maintenance.schemas import OrderCreate
from app.models import (
    EntryKind,
    Facility,
    FacilityStatus,
    LedgerEntry,
    MaintenanceCategory,
    MaintenanceOrder,
    OrderStatus,
    Township,
    User,
)
from tests.web.conftest import DEMO_PASSWORDS, csrf_of, sign_in

OVERSPEND = "如确需超支，须由管理员填写理由后办理"


def signed_in(client: TestClient, username: str) -> TestClient:
    sign_in(client, username, DEMO_PASSWORDS[username])
    return client


def township_named(db: Database, name: str) -> Township:
    with db.session(write=False) as session:
        return session.exec(select(Township).where(Township.name == name)).one()


def open_order(
    db: Database, settings: Settings, *, township: str = "龙港镇", beyond_fen: int | None = None
) -> int:
    """A planned order at a facility of ``township`` for this year; with ``beyond_fen`` it
    costs that much more than the township has available, so approving it overspends."""
    year = local_today(settings.tz).year
    with db.session() as session:
        place = session.exec(select(Township).where(Township.name == township)).one()
        facility = session.exec(
            select(Facility)
            .where(Facility.township_id == place.id, Facility.status == FacilityStatus.active)
            .order_by(Facility.id)
        ).first()
        clerk = session.exec(select(User).where(User.username == "county")).one()
        available = funds.account(session, place.id, year).available_fen  # type: ignore[arg-type]
        cost = available + beyond_fen if beyond_fen is not None else 50_000
        order = maintenance.create_order(
            session=session,
            settings=settings,
            user=clerk,
            data=OrderCreate(
                facility_id=facility.id,  # type: ignore[union-attr]
                category=MaintenanceCategory.repair,
                title="【测试】碑体加固",
                planned_cost_fen=cost,
                year=year,
            ),
        )
        return order.id  # type: ignore[return-value]


def order_row(db: Database, order_id: int) -> MaintenanceOrder:
    with db.session(write=False) as session:
        order = session.get(MaintenanceOrder, order_id)
        assert order is not None
        return order


def post(client: TestClient, path: str, **data: str):
    page = client.get("/maintenance")
    return client.post(path, data={"csrf_token": csrf_of(page.text)} | data, follow_redirects=False)


def listed_orders(html: str) -> list[int]:
    return [int(i) for i in re.findall(r'<td><a href="/maintenance/(\d+)">', html)]


def test_orders_are_listed_by_status(page_client: TestClient, seeded: Database) -> None:
    with seeded.session(write=False) as session:
        orders = session.exec(select(MaintenanceOrder)).all()
    everything = signed_in(page_client, "county").get("/maintenance")
    assert everything.status_code == 200
    assert sorted(listed_orders(everything.text)) == sorted(o.id for o in orders)
    assert f"共 {len(orders)} 项" in everything.text
    for status in OrderStatus:
        page = page_client.get(f"/maintenance?status={status.value}")
        expected = sorted(o.id for o in orders if o.status is status)
        assert sorted(listed_orders(page.text)) == expected, status
        assert re.search(rf'status={status.value}" aria-current="page"', page.text)


def test_the_list_pages_through_the_orders(
    page_client: TestClient, seeded: Database, settings: Settings, monkeypatch
) -> None:
    from app.web.pages import maintenance as page_module

    for _ in range(3):
        open_order(seeded, settings)
    monkeypatch.setattr(page_module, "ORDERS_PAGE", 4)
    client = signed_in(page_client, "county")
    first, second = client.get("/maintenance"), client.get("/maintenance?offset=4")
    assert len(listed_orders(first.text)) == 4 and "下一页" in first.text
    assert not set(listed_orders(first.text)) & set(listed_orders(second.text))


def test_a_township_officer_sees_and_works_only_their_own_orders(
    page_client: TestClient, seeded: Database, settings: Settings
) -> None:
    own = open_order(seeded, settings, township="龙港镇")
    other = open_order(seeded, settings, township="端氏镇")
    longgang = township_named(seeded, "龙港镇")
    page = signed_in(page_client, "longgang").get("/maintenance")
    with seeded.session(write=False) as session:
        visible = session.exec(
            select(MaintenanceOrder.id)
            .join(Facility, Facility.id == MaintenanceOrder.facility_id)
            .where(Facility.township_id == longgang.id)
        ).all()
    assert sorted(listed_orders(page.text)) == sorted(visible)
    assert own in listed_orders(page.text) and other not in listed_orders(page.text)
    assert page_client.get(f"/maintenance/{other}").status_code == 404
    assert f'action="/maintenance/{own}/approve' not in page.text  # approval is county work
    assert f'href="/maintenance/{own}#cancel"' in page.text
    refused = post(page_client, f"/maintenance/{own}/approve")
    assert refused.status_code == 403
    assert order_row(seeded, own).status is OrderStatus.planned
    assert post(page_client, f"/maintenance/{other}/cancel", reason="x").status_code == 404


def test_an_order_goes_through_approval_start_and_completion(
    page_client: TestClient, seeded: Database, settings: Settings
) -> None:
    order_id = open_order(seeded, settings)
    client = signed_in(page_client, "county")
    approved = post(client, f"/maintenance/{order_id}/approve", next="/maintenance?status=planned")
    assert approved.status_code == 303
    assert (
        approved.headers["location"] == f"/maintenance?status=planned&done=approve&order={order_id}"
    )
    assert f"工单 {order_id} 已批准" in client.get(approved.headers["location"]).text
    assert order_row(seeded, order_id).status is OrderStatus.approved

    started = post(client, f"/maintenance/{order_id}/start")
    assert started.headers["location"] == f"/maintenance/{order_id}?done=start&order={order_id}"
    assert order_row(seeded, order_id).status is OrderStatus.in_progress

    page = client.get(f"/maintenance/{order_id}")
    assert 'id="complete"' in page.text
    today = local_today(settings.tz).isoformat()
    done = post(
        client,
        f"/maintenance/{order_id}/complete",
        actual_cost="432.1",
        completed_on=today,
        payee="沁水县某建筑队",
        invoice_no="No.0001",
    )
    assert done.status_code == 303
    order = order_row(seeded, order_id)
    assert order.status is OrderStatus.completed
    assert order.actual_cost_fen == 43_210 and order.payee == "沁水县某建筑队"
    history = client.get(f"/maintenance/{order_id}")
    for step in ("开具工单", "批准", "开工", "竣工"):
        assert step in history.text
    assert 'id="complete"' not in history.text and "此工单已办结" in history.text


def test_a_completion_with_a_bad_amount_shows_the_error_by_the_field(
    page_client: TestClient, seeded: Database, settings: Settings
) -> None:
    order_id = open_order(seeded, settings)
    client = signed_in(page_client, "county")
    post(client, f"/maintenance/{order_id}/approve")
    post(client, f"/maintenance/{order_id}/start")
    for amount, message in (
        ("12.345", "最多两位小数"),
        ("一百", "最多两位小数"),
        ("", "请填写金额"),
    ):
        answer = post(
            client,
            f"/maintenance/{order_id}/complete",
            actual_cost=amount,
            completed_on=local_today(settings.tz).isoformat(),
            payee="某施工队",
            invoice_no="1",
        )
        assert answer.status_code == 422
        assert message in answer.text
        assert 'id="complete-actual_cost-error"' in answer.text
        assert order_row(seeded, order_id).status is OrderStatus.in_progress


def test_cancelling_needs_a_reason(
    page_client: TestClient, seeded: Database, settings: Settings
) -> None:
    order_id = open_order(seeded, settings)
    client = signed_in(page_client, "county")
    refused = post(client, f"/maintenance/{order_id}/cancel", reason="  ")
    assert refused.status_code == 422 and "请填写取消原因" in refused.text
    assert order_row(seeded, order_id).status is OrderStatus.planned
    assert post(client, f"/maintenance/{order_id}/cancel", reason="并入县级项目").status_code == 303
    order = order_row(seeded, order_id)
    assert order.status is OrderStatus.cancelled and order.cancel_reason == "并入县级项目"


def test_an_overspend_shows_the_chinese_message_and_changes_nothing(
    page_client: TestClient, seeded: Database, settings: Settings
) -> None:
    order_id = open_order(seeded, settings, beyond_fen=100)
    client = signed_in(page_client, "county")
    answer = post(client, f"/maintenance/{order_id}/approve")
    assert answer.status_code == 409
    assert f"批准工单 {order_id}" in answer.text and OVERSPEND in answer.text
    assert "An admin may override" not in answer.text
    assert 'name="override_reason"' not in answer.text  # not offered to county staff
    assert order_row(seeded, order_id).status is OrderStatus.planned


def test_county_staff_cannot_override_the_balance(
    page_client: TestClient, seeded: Database, settings: Settings
) -> None:
    order_id = open_order(seeded, settings, beyond_fen=100)
    client = signed_in(page_client, "county")
    answer = post(client, f"/maintenance/{order_id}/approve", override="1", override_reason="急需")
    assert answer.status_code == 403
    assert "只有管理员可以超出可用余额办理" in answer.text
    assert order_row(seeded, order_id).status is OrderStatus.planned


def test_an_admin_overrides_the_balance_with_a_reason(
    page_client: TestClient, seeded: Database, settings: Settings
) -> None:
    order_id = open_order(seeded, settings, beyond_fen=100)
    client = signed_in(page_client, "admin")
    first = post(client, f"/maintenance/{order_id}/approve")
    assert first.status_code == 409 and OVERSPEND in first.text
    assert 'name="override_reason"' in first.text and 'name="override" value="1"' in first.text
    blank = post(client, f"/maintenance/{order_id}/approve", override="1", override_reason=" ")
    assert blank.status_code == 422 and "请填写超出可用余额的理由" in blank.text
    assert order_row(seeded, order_id).status is OrderStatus.planned
    passed = post(
        client, f"/maintenance/{order_id}/approve", override="1", override_reason="汛期抢修"
    )
    assert passed.status_code == 303
    assert order_row(seeded, order_id).status is OrderStatus.approved
    with seeded.session(write=False) as session:
        entry = session.exec(
            select(LedgerEntry).where(
                LedgerEntry.order_id == order_id, LedgerEntry.kind == EntryKind.commitment
            )
        ).one()
    assert entry.override_reason == "汛期抢修"


def test_an_action_without_the_form_token_is_refused(
    page_client: TestClient, seeded: Database, settings: Settings
) -> None:
    order_id = open_order(seeded, settings)
    signed_in(page_client, "county").get("/maintenance")
    answer = page_client.post(f"/maintenance/{order_id}/approve", data={})
    assert answer.status_code == 403
    assert order_row(seeded, order_id).status is OrderStatus.planned
