"""An order keeps drawing on the funds of the township that opened it when its facility
moves to another county (issue 12's review, H7): the new county's clerk sees the order by its
facility, but approving, completing, cancelling it or correcting its cost moves money on a
township outside their division — a 403 that does not name that township, and no ledger
entry. Staff whose division holds both townships (the province's) move it."""

from fastapi.testclient import TestClient
from sqlalchemy import func, select

from app.db import Database
from app.maintenance import service as maintenance
from app.models import (
    AuditEntry,
    County,
    Facility,
    FundAccount,
    LedgerEntry,
    MaintenanceOrder,
    Role,
    User,
)
from app.web.pages.maintenance import actions_for
from tests import factories
from tests.factories import World, auth
from tests.funds.helpers import allocate, order_in

API = "/api/v1/maintenance"


def _clerk(db: Database, division: str) -> User:
    with db.begin() as session:
        user = factories.make_user(session, role=Role.county)
        user.division_code = division
        session.flush()
        session.expunge(user)
        return user


def _move_to_yangcheng(db: Database, world: World) -> None:
    """Facility A (of Qinshui's township A) now belongs to a township of county 140522."""
    with db.begin() as session:
        session.add(County(code="140522", name="阳城县"))
        session.flush()
        township = factories.make_township(session, code="140522100", name="凤城镇")
        session.get(Facility, world.facility_a.id).township_id = township.id  # type: ignore[union-attr]


def _money_rows(db: Database) -> tuple[int, int, list[tuple[int, str]], list[tuple]]:
    with db.session(write=False) as session:
        entries = session.execute(select(func.count()).select_from(LedgerEntry)).scalar_one()
        accounts = session.execute(
            select(FundAccount.township_id, FundAccount.committed_fen, FundAccount.spent_fen)
        ).all()
        audits = session.execute(select(func.count()).select_from(AuditEntry)).scalar_one()
        orders = session.execute(
            select(MaintenanceOrder.id, MaintenanceOrder.status).order_by(MaintenanceOrder.id)
        ).all()
        return entries, audits, [(i, s.value) for i, s in orders], sorted(map(tuple, accounts))


def test_another_countys_clerk_moves_no_money_of_a_moved_order(
    client: TestClient, db: Database, world: World
) -> None:
    allocate(client, world, 1_000_000)
    planned = order_in(client, world, "planned")
    running = order_in(client, world, "in_progress")
    done = order_in(client, world, "completed")
    _move_to_yangcheng(db, world)
    yangcheng_user = _clerk(db, "140522")
    yangcheng = auth(world.settings, yangcheng_user)
    qinshui = auth(world.settings, _clerk(db, "140521"))
    province_user = _clerk(db, "14")
    province = auth(world.settings, province_user)

    # the order follows its facility: the new county's clerk sees it, the old one's does not
    assert client.get(f"{API}/{planned['id']}", headers=yangcheng).status_code == 200
    assert client.get(f"{API}/{planned['id']}", headers=qinshui).status_code == 404

    before = _money_rows(db)
    completion = {
        "actual_cost_fen": 90_000,
        "completed_on": "2025-09-18",
        "payee": "某某建筑队",
        "invoice_no": "No.0012345",
    }
    attempts = [
        (planned, "approve", None),
        (running, "complete", completion),
        (running, "cancel", {"reason": "并入县级项目"}),
        (planned, "cancel", {"reason": "并入县级项目"}),
        (done, "correct-cost", {"actual_cost_fen": 80_000, "reason": "发票金额录入有误"}),
    ]
    for order, action, body in attempts:
        refused = client.post(f"{API}/{order['id']}/{action}", json=body, headers=yangcheng)
        assert refused.status_code == 403, (action, refused.text)
        detail = refused.json()["detail"]
        assert "held by a township outside your division" in detail, detail
        assert world.township_a.name not in detail and world.township_a.code not in detail
    assert _money_rows(db) == before  # no ledger entry, no audit entry, no state change

    # the page offers the new county's clerk none of the money steps, the province's all
    with db.session(write=False) as session:
        clerk = session.get(User, yangcheng_user.id)
        head = session.get(User, province_user.id)
        for order, theirs, ours in (
            (planned, set(), {"approve", "cancel"}),
            (running, set(), {"complete", "cancel"}),
        ):
            row = maintenance.get_order(session=session, user=head, order_id=order["id"])
            assert actions_for(session, clerk, row) == theirs
            assert actions_for(session, head, row) == ours

    # the province's staff reach both townships: they approve, on township A's account
    approved = client.post(f"{API}/{planned['id']}/approve", headers=province)
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "approved"
    with db.session(write=False) as session:
        commitment = session.execute(
            select(LedgerEntry).where(LedgerEntry.order_id == planned["id"])
        ).scalar_one()
        assert (commitment.township_id, commitment.amount_fen) == (world.township_a.id, -100_000)
    cancelled = client.post(
        f"{API}/{running['id']}/cancel", json={"reason": "并入县级项目"}, headers=province
    )
    assert cancelled.status_code == 200, cancelled.text
