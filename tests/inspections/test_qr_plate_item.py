"""The QR plate (二维码标牌) is a checklist item like the others: a report may find it damaged
or missing, and a maintenance order opens from that problem like from any other."""

from fastapi.testclient import TestClient

from tests.factories import World, report_body


def test_a_damaged_plate_opens_a_maintenance_order(client: TestClient, world: World) -> None:
    body = report_body(
        world.facility_a,
        condition="minor_issues",
        checklist={"qr_plate": "problem", "headstone": "ok"},
        notes="标牌被雨水冲掉一角，扫不出来",
    )
    report = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    assert report.status_code == 201, report.text
    assert report.json()["checklist"] == {"qr_plate": "problem", "headstone": "ok"}

    response = client.post(
        f"/api/v1/inspections/{report.json()['id']}/maintenance",
        json={"planned_cost_fen": 8_000},
        headers=world.headers("township"),
    )
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["inspection_id"] == report.json()["id"]
    assert order["facility"]["id"] == world.facility_a.id
    assert "二维码标牌损坏或缺失" in order["description"]
    assert "墓碑" not in order["description"]  # only the problems are listed
    assert "扫不出来" in order["description"]
