"""Maintenance orders: the state machine, the money each step moves, who may do what."""

import pytest
from fastapi.testclient import TestClient

from tests.factories import World, report_body
from tests.funds.helpers import (
    act,
    allocate,
    ledger,
    open_order,
    order_body,
    order_in,
    summary,
)
from tests.photos.images import jpeg

API = "/api/v1/maintenance"
STATES = ["planned", "approved", "in_progress", "completed", "cancelled"]
LEGAL = {
    ("planned", "approve"): "approved",
    ("approved", "start"): "in_progress",
    ("in_progress", "complete"): "completed",
    ("planned", "cancel"): "cancelled",
    ("approved", "cancel"): "cancelled",
    ("in_progress", "cancel"): "cancelled",
}


@pytest.fixture
def funded(client: TestClient, world: World) -> World:
    allocate(client, world, 1_000_000)
    return world


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", ["approve", "start", "complete", "cancel"])
def test_every_transition_legal_and_illegal(
    client: TestClient, funded: World, state: str, action: str
) -> None:
    order = order_in(client, funded, state)
    response = act(client, funded, order, action)
    target = LEGAL.get((state, action))
    if target:
        assert response.status_code == 200, response.text
        assert response.json()["status"] == target
    else:
        assert response.status_code == 409
        detail = response.json()["detail"]
        assert f"is {state}" in detail  # names the state it is in ...
        assert "cannot move to" in detail  # ... and the one asked for


def test_approval_commits_the_planned_cost(client: TestClient, funded: World) -> None:
    order = order_in(client, funded, "approved", planned_cost_fen=300_000)
    account = summary(client, funded)["140521100"]
    assert (account["allocated_fen"], account["committed_fen"], account["available_fen"]) == (
        1_000_000,
        300_000,
        700_000,
    )
    entries = ledger(client, funded, township_id=funded.township_a.id)
    assert [(e["kind"], e["amount_fen"], e["order_id"]) for e in entries] == [
        ("allocation", 1_000_000, None),
        ("commitment", -300_000, order["id"]),
    ]
    assert order["approved_by"]["username"] == "clerk"


def test_completion_turns_the_commitment_into_the_actual_spend(
    client: TestClient, funded: World
) -> None:
    order = order_in(client, funded, "in_progress", planned_cost_fen=100_000)
    done = act(client, funded, order, "complete", actual_cost_fen=85_050, who="township").json()
    assert (done["actual_cost_fen"], done["payee"], done["invoice_no"]) == (
        85_050,
        "某某建筑队",
        "No.0012345",
    )
    account = summary(client, funded)["140521100"]
    assert (account["committed_fen"], account["spent_fen"], account["available_fen"]) == (
        0,
        85_050,
        914_950,
    )
    assert account["execution_rate"] == 0.0851
    kinds = [(e["kind"], e["amount_fen"]) for e in ledger(client, funded)][-2:]
    assert kinds == [("release", 100_000), ("expenditure", -85_050)]


def test_cancelling_an_approved_order_releases_its_commitment(
    client: TestClient, funded: World
) -> None:
    order = order_in(client, funded, "approved", planned_cost_fen=200_000)
    cancelled = act(client, funded, order, "cancel", who="township", reason="资金另行安排").json()
    assert cancelled["cancel_reason"] == "资金另行安排"
    assert summary(client, funded)["140521100"]["available_fen"] == 1_000_000
    assert ledger(client, funded)[-1]["kind"] == "release"
    assert ledger(client, funded)[-1]["reason"] == "资金另行安排"


def test_cancelling_a_planned_order_moves_no_money(client: TestClient, funded: World) -> None:
    order_in(client, funded, "cancelled")
    assert [e["kind"] for e in ledger(client, funded)] == ["allocation"]


def test_a_cancellation_needs_a_reason(client: TestClient, funded: World) -> None:
    order = open_order(client, funded)
    assert act(client, funded, order, "cancel", reason="").status_code == 422


# --- the balance ------------------------------------------------------------------------------


def test_approving_past_the_balance_is_409_with_the_amounts(
    client: TestClient, funded: World
) -> None:
    order = open_order(client, funded, planned_cost_fen=1_200_000)
    response = act(client, funded, order, "approve")
    assert response.status_code == 409
    detail = response.json()["detail"]
    assert "12,000.00 元" in detail and "10,000.00 元" in detail and "龙港镇" in detail
    assert summary(client, funded)["140521100"]["committed_fen"] == 0


def test_an_admin_override_goes_ahead_and_is_recorded_on_the_entry(
    client: TestClient, funded: World
) -> None:
    order = open_order(client, funded, planned_cost_fen=1_200_000)
    reason = "抢险修复，县长办公会议定"
    response = act(client, funded, order, "approve", who="admin", override_reason=reason)
    assert response.status_code == 200
    assert summary(client, funded)["140521100"]["available_fen"] == -200_000
    entry = ledger(client, funded)[-1]
    assert (entry["kind"], entry["override_reason"], entry["actor_username"]) == (
        "commitment",
        reason,
        "admin",
    )


def test_county_staff_cannot_override(client: TestClient, funded: World) -> None:
    order = open_order(client, funded, planned_cost_fen=1_200_000)
    response = act(client, funded, order, "approve", override_reason="想批")
    assert response.status_code == 403


def test_an_override_that_is_not_needed_is_not_recorded(client: TestClient, funded: World) -> None:
    order = open_order(client, funded, planned_cost_fen=100)
    act(client, funded, order, "approve", who="admin", override_reason="以防万一")
    assert ledger(client, funded)[-1]["override_reason"] is None


def test_township_users_cannot_complete_above_the_approved_plan(
    client: TestClient, funded: World
) -> None:
    """Otherwise a plan of 0, approved, could be completed at any cost without the county."""
    order = order_in(client, funded, "in_progress", planned_cost_fen=0)
    refused = act(client, funded, order, "complete", who="township", actual_cost_fen=1_000_000)
    assert refused.status_code == 403
    assert "above the approved plan" in refused.json()["detail"]
    assert (
        act(client, funded, order, "complete", who="county", actual_cost_fen=50_000).status_code
        == 200
    )


def test_completing_above_plan_past_the_balance_is_409(client: TestClient, funded: World) -> None:
    order = order_in(client, funded, "in_progress", planned_cost_fen=900_000)
    response = act(client, funded, order, "complete", actual_cost_fen=1_100_001)
    assert response.status_code == 409
    assert "11,000.01 元" in response.json()["detail"]
    ok = act(client, funded, order, "complete", actual_cost_fen=1_000_000)  # exactly what is there
    assert ok.status_code == 200
    assert summary(client, funded)["140521100"]["available_fen"] == 0


def test_an_order_with_no_allocation_cannot_be_approved(client: TestClient, world: World) -> None:
    order = open_order(client, world, planned_cost_fen=1)
    response = act(client, world, order, "approve")
    assert response.status_code == 409
    assert "0.00 元 available" in response.json()["detail"]


def test_orders_draw_on_their_own_year(client: TestClient, funded: World) -> None:
    body = order_body(funded.facility_a, 10_000, year=2026)
    order = client.post(API, json=body, headers=funded.headers("county")).json()
    assert act(client, funded, order, "approve").status_code == 409  # 2026 has nothing


# --- opening and editing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "facility", "status"),
    [
        ("township", "facility_a", 201),
        ("other", "facility_a", 404),
        ("county", "facility_b", 201),
        ("admin", "facility_a", 201),
        ("anonymous", "facility_a", 401),
    ],
)
def test_township_users_open_orders_for_their_own_township(
    client: TestClient, world: World, who: str, facility: str, status: int
) -> None:
    body = order_body(getattr(world, facility))
    assert client.post(API, json=body, headers=world.headers(who)).status_code == status


def test_an_order_defaults_to_the_current_year(client: TestClient, world: World) -> None:
    from app.clock import local_today

    body = order_body(world.facility_a)
    del body["year"]
    order = client.post(API, json=body, headers=world.headers("township")).json()
    assert order["year"] == local_today(world.settings.tz).year


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"planned_cost_fen": -1}, "planned_cost_fen"),
        ({"planned_cost_fen": 100.5}, "planned_cost_fen"),
        ({"planned_cost_fen": 100.0}, "planned_cost_fen"),
        ({"planned_cost_fen": "100"}, "planned_cost_fen"),
        ({"planned_cost_fen": 10**13}, "planned_cost_fen"),
        ({"year": 1999}, "year"),
        ({"year": 2101}, "year"),
        ({"category": "bribes"}, "category"),
        ({"title": ""}, "title"),
        ({"due_on": "soon"}, "due_on"),
        ({"inspection_id": 99999}, "inspection_id"),
    ],
)
def test_bad_orders_are_422(client: TestClient, world: World, overrides: dict, field: str) -> None:
    response = client.post(
        API, json=order_body(world.facility_a, **overrides), headers=world.headers("county")
    )
    if field == "inspection_id":
        assert response.status_code == 404
        return
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"][0]["loc"]


def test_an_order_cannot_cite_another_facilitys_report(client: TestClient, world: World) -> None:
    report = client.post(
        "/api/v1/inspections", json=report_body(world.facility_b), headers=world.headers("county")
    ).json()
    body = order_body(world.facility_a, inspection_id=report["id"])
    response = client.post(API, json=body, headers=world.headers("county"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "inspection_id"]


def test_a_planned_order_can_be_edited_then_no_more(client: TestClient, funded: World) -> None:
    order = open_order(client, funded)
    edited = client.patch(
        f"{API}/{order['id']}",
        json={"planned_cost_fen": 55_500, "assignee": "村委会"},
        headers=funded.headers("township"),
    )
    assert edited.status_code == 200
    assert (edited.json()["planned_cost_fen"], edited.json()["assignee"]) == (55_500, "村委会")
    act(client, funded, order, "approve")
    late = client.patch(
        f"{API}/{order['id']}", json={"planned_cost_fen": 1}, headers=funded.headers("county")
    )
    assert late.status_code == 409
    assert "approved" in late.json()["detail"]


def test_an_order_opened_from_a_report_is_prefilled_from_its_problems(
    client: TestClient, world: World
) -> None:
    body = report_body(
        world.facility_a,
        condition="needs_repair",
        checklist={"headstone": "problem", "inscription_legible": "problem", "fire_safety": "ok"},
        notes="碑体右侧裂缝",
    )
    report = client.post("/api/v1/inspections", json=body, headers=world.headers("township")).json()
    client.post(
        f"/api/v1/inspections/{report['id']}/photos",
        files={"file": ("p.jpg", jpeg(), "image/jpeg")},
        headers=world.headers("township"),
    )
    response = client.post(
        f"/api/v1/inspections/{report['id']}/maintenance",
        json={"planned_cost_fen": 250_000},
        headers=world.headers("township"),
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["category"] == "repair"
    assert order["inspection_id"] == report["id"]
    assert order["facility"]["id"] == world.facility_a.id
    assert order["planned_cost_fen"] == 250_000
    assert "墓碑/碑体损坏、碑文模糊不清" in order["description"]
    assert "碑体右侧裂缝" in order["description"]
    assert report["receipt"] in order["description"]
    assert len(order["inspection_photos"]) == 1  # the report's photos show on the order


def test_surroundings_problems_make_an_environment_order(client: TestClient, world: World) -> None:
    body = report_body(
        world.facility_a, checklist={"surroundings_tidy": "problem", "access_path": "problem"}
    )
    report = client.post("/api/v1/inspections", json=body, headers=world.headers("county")).json()
    order = client.post(
        f"/api/v1/inspections/{report['id']}/maintenance", headers=world.headers("county")
    ).json()
    assert order["category"] == "environment"
    assert order["planned_cost_fen"] == 0
    other = client.post(
        f"/api/v1/inspections/{report['id']}/maintenance", headers=world.headers("other")
    )
    assert other.status_code == 404


# --- who may run orders ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 200), ("county", 200), ("township", 403), ("other", 404), ("anonymous", 401)],
)
def test_only_county_staff_approve(
    client: TestClient, funded: World, who: str, status: int
) -> None:
    order = open_order(client, funded)
    assert act(client, funded, order, "approve", who=who).status_code == status


@pytest.mark.parametrize("action", ["start", "complete", "cancel"])
@pytest.mark.parametrize(("who", "status"), [("township", 200), ("other", 404), ("anonymous", 401)])
def test_township_users_run_their_own_orders(
    client: TestClient, funded: World, action: str, who: str, status: int
) -> None:
    state = {"start": "approved", "complete": "in_progress", "cancel": "approved"}[action]
    order = order_in(client, funded, state)
    assert act(client, funded, order, action, who=who).status_code == status


@pytest.mark.parametrize(
    ("who", "visible"), [("admin", True), ("county", True), ("township", True), ("other", False)]
)
def test_reading_orders_is_scoped(
    client: TestClient, funded: World, who: str, visible: bool
) -> None:
    order = open_order(client, funded)
    assert client.get(f"{API}/{order['id']}", headers=funded.headers(who)).status_code == (
        200 if visible else 404
    )
    listed = client.get(API, headers=funded.headers(who)).json()
    assert [o["id"] for o in listed["items"]] == ([order["id"]] if visible else [])
    edit = client.patch(f"{API}/{order['id']}", json={"title": "x"}, headers=funded.headers(who))
    assert edit.status_code == (200 if visible else 404)


def test_order_filters(client: TestClient, funded: World) -> None:
    late = open_order(client, funded)  # due 2025-09-20: overdue now
    done = order_in(client, funded, "completed")
    body = order_body(funded.facility_b, category="environment", due_on="2099-01-01")
    future = client.post(API, json=body, headers=funded.headers("county")).json()
    headers = funded.headers("county")

    def ids(**params) -> list[int]:
        return sorted(
            o["id"] for o in client.get(API, params=params, headers=headers).json()["items"]
        )

    assert ids(overdue="true") == [late["id"]]
    assert ids(status="completed") == [done["id"]]
    assert ids(category="environment") == [future["id"]]
    assert ids(facility_id=funded.facility_b.id) == [future["id"]]
    assert ids(township_id=funded.township_a.id) == sorted([late["id"], done["id"]])
    assert ids(year=2024) == []
    assert client.get(f"{API}/{late['id']}", headers=headers).json()["overdue"] is True
    assert client.get(f"{API}/{done['id']}", headers=headers).json()["overdue"] is False


# --- before / after photos --------------------------------------------------------------------


def upload(client: TestClient, world: World, order: dict, data: bytes, who="township", **form):
    return client.post(
        f"{API}/{order['id']}/photos",
        files={"file": ("p.jpg", data, "image/jpeg")},
        data=form,
        headers=world.headers(who),
    )


def test_before_and_after_photos(client: TestClient, funded: World) -> None:
    order = open_order(client, funded)
    before = upload(client, funded, order, jpeg(colour=(1, 2, 3)))
    assert before.status_code == 201
    assert before.json()["stage"] == "before"
    started = order_in(client, funded, "in_progress")
    after = upload(client, funded, started, jpeg(colour=(9, 9, 9)))
    assert after.json()["stage"] == "after"
    explicit = upload(client, funded, started, jpeg(colour=(5, 5, 5)), stage="before")
    assert explicit.json()["stage"] == "before"
    again = upload(client, funded, started, jpeg(colour=(5, 5, 5)), stage="after")
    assert (again.status_code, again.json()["id"]) == (200, explicit.json()["id"])
    shown = client.get(f"{API}/{started['id']}", headers=funded.headers("county")).json()
    assert sorted(p["stage"] for p in shown["photos"]) == ["after", "before"]
    served = client.get(after.json()["url"], headers=funded.headers("township"))
    assert served.status_code == 200
    assert client.get(after.json()["url"], headers=funded.headers("other")).status_code == 404


def test_maintenance_photos_follow_the_same_rules(client: TestClient, funded: World) -> None:
    order = open_order(client, funded)
    assert upload(client, funded, order, b"GIF89a....").status_code == 415
    assert upload(client, funded, order, jpeg(), stage="during").status_code == 422
    assert upload(client, funded, order, jpeg(), who="other").status_code == 404
    for i in range(8):
        assert upload(client, funded, order, jpeg(colour=(i * 30, 0, 0))).status_code == 201
    assert upload(client, funded, order, jpeg(colour=(0, 99, 0))).status_code == 409
    assert upload(client, funded, order, jpeg(colour=(0, 99, 0)), stage="after").status_code == 201


def test_order_changes_are_audited(client: TestClient, funded: World) -> None:
    order = order_in(client, funded, "completed")
    log = client.get(
        "/api/v1/audit",
        params={"object_type": "maintenance_order", "object_id": order["id"]},
        headers=funded.headers("admin"),
    ).json()
    assert [e["action"] for e in log["items"]] == [
        "maintenance.complete", "maintenance.start", "maintenance.approve", "maintenance.create",
    ]  # fmt: skip
    assert log["items"][0]["after"]["status"] == "completed"
