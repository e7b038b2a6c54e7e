"""Reports, orders and photos belong to the township that owns their facility *now*
(DESIGN.md rule 8): when the county moves a facility, its history moves with it, while the
record keeps whose work it was and whose money the order draws on."""

from fastapi.testclient import TestClient

from tests.factories import World, report_body
from tests.funds.helpers import YEAR, act, allocate, open_order, summary
from tests.photos.images import jpeg


def _history_of_facility_a(client: TestClient, world: World) -> tuple[dict, dict, dict]:
    """A report with a photo and an approved order, made by township A."""
    allocate(client, world, 500_000)
    headers = world.headers("township")
    report = client.post(
        "/api/v1/inspections", json=report_body(world.facility_a), headers=headers
    ).json()
    photo = client.post(
        f"/api/v1/inspections/{report['id']}/photos",
        files={"file": ("p.jpg", jpeg(), "image/jpeg")},
        headers=headers,
    ).json()
    order = open_order(client, world, 100_000)
    assert act(client, world, order, "approve").status_code == 200
    return report, photo, order


def _move_facility_a_to_b(client: TestClient, world: World) -> None:
    response = client.patch(
        f"/api/v1/facilities/{world.facility_a.id}",
        json={"township_id": world.township_b.id},
        headers=world.headers("county"),
    )
    assert response.status_code == 200, response.text


def _ids(client: TestClient, world: World, who: str, path: str, **params) -> list[int]:
    response = client.get(f"/api/v1/{path}", params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def test_after_a_move_the_new_township_sees_the_history_and_the_old_one_does_not(
    client: TestClient, world: World
) -> None:
    report, photo, order = _history_of_facility_a(client, world)
    _move_facility_a_to_b(client, world)

    old, new = "township", "other"  # users of townships A and B
    for path in (
        f"inspections/{report['id']}",
        f"maintenance/{order['id']}",
        f"photos/{photo['id']}",
        f"photos/{photo['id']}/thumbnail",
    ):
        assert client.get(f"/api/v1/{path}", headers=world.headers(old)).status_code == 404, path
        assert client.get(f"/api/v1/{path}", headers=world.headers(new)).status_code == 200, path

    assert report["id"] not in _ids(client, world, old, "inspections")
    assert order["id"] not in _ids(client, world, old, "maintenance")
    assert report["id"] in _ids(client, world, new, "inspections")
    assert order["id"] in _ids(client, world, new, "maintenance")
    tb = world.township_b.id
    assert report["id"] in _ids(client, world, "county", "inspections", township_id=tb)
    assert order["id"] in _ids(client, world, "county", "maintenance", township_id=tb)
    ta = world.township_a.id
    assert report["id"] not in _ids(client, world, "county", "inspections", township_id=ta)


def test_after_a_move_only_the_new_township_works_the_order(
    client: TestClient, world: World
) -> None:
    _report, _photo, order = _history_of_facility_a(client, world)
    _move_facility_a_to_b(client, world)

    assert act(client, world, order, "start", who="township").status_code == 404
    started = act(client, world, order, "start", who="other")
    assert started.status_code == 200, started.text
    # the money stays on A's account: completing or cancelling it there is county work
    for action in ("complete", "cancel"):
        refused = act(client, world, order, action, who="other")
        assert refused.status_code == 403, refused.text
        detail = refused.json()["detail"]
        assert "held by a township outside your division" in detail and "龙港镇" not in detail
    extra = client.post(
        f"/api/v1/maintenance/{order['id']}/photos",
        files={"file": ("p.jpg", jpeg(), "image/jpeg")},
        headers=world.headers("township"),
    )
    assert extra.status_code == 404


def test_the_record_keeps_whose_work_and_whose_money_it_was(
    client: TestClient, world: World
) -> None:
    report, _photo, order = _history_of_facility_a(client, world)
    _move_facility_a_to_b(client, world)

    seen = client.get(f"/api/v1/inspections/{report['id']}", headers=world.headers("county")).json()
    assert seen["township_id"] == world.township_b.id
    assert seen["township_id_at_report"] == world.township_a.id

    seen_order = client.get(
        f"/api/v1/maintenance/{order['id']}", headers=world.headers("county")
    ).json()
    assert seen_order["township"]["id"] == world.township_b.id
    assert seen_order["funds_township"]["id"] == world.township_a.id
    # township B's inspector sees the order, not whose money (A's) it draws on
    theirs = client.get(f"/api/v1/maintenance/{order['id']}", headers=world.headers("other"))
    assert theirs.json()["funds_township"] is None, theirs.text
    # The commitment stays on the account it was approved against, and completing it there
    # moves A's money, not B's.
    assert act(client, world, order, "start", who="other").status_code == 200
    done = act(client, world, order, "complete", who="county", actual_cost_fen=80_000)
    assert done.status_code == 200, done.text
    accounts = summary(client, world, year=YEAR)
    assert accounts["140521100"]["spent_fen"] == 80_000
    assert accounts["140521100"]["committed_fen"] == 0
    assert accounts[world.township_b.code]["spent_fen"] == 0


def test_a_replay_after_a_move_shows_the_old_township_nothing(
    client: TestClient, world: World
) -> None:
    """A's phone resending after the move is refused (409) rather than shown B's record."""
    body = report_body(world.facility_a)
    first = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    assert first.status_code == 201
    _move_facility_a_to_b(client, world)
    replay_old = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    assert replay_old.status_code == 409
    assert "township_id" not in replay_old.text
