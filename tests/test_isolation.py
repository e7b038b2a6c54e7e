"""Township isolation (DESIGN.md rule 8): what township A's user reads never carries
township B's ids or names; request bodies cannot set what the caller's role may not set;
another township's ``client_id`` is only "taken".

Township B's rows are given names (with the marker ``QZX7``) and ids (``98765xxxx``) found
nowhere else, so a search of the answer's bytes (the text inside XLSX and DOCX files too)
means something. They are written last, straight into the database, so nothing made after
them takes an id of their range.
"""

import io
import re
import uuid
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from html import unescape
from typing import Any

import pytest
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import Database
from app.deps import SESSION_COOKIE
from app.funds import service as funds
from app.models import (
    Campaign,
    CampaignKind,
    CampaignTownship,
    EntryKind,
    FacilityStatus,
    FundAllocation,
    FundSource,
    Inspection,
    MaintenanceCategory,
    MaintenanceOrder,
    OrderStatus,
    ReviewStatus,
    Role,
    Township,
    User,
)
from app.models.base import utcnow
from tests import factories
from tests.factories import World

YEAR = 2025
MARKER = "QZX7"
#: township B's ids: 98765 and four digits, in no other row
B_IDS = {
    "township": 987650001,
    "user": 987650002,
    "facility": 987650003,
    "inspection": 987650004,
    "order": 987650005,
    "allocation": 987650006,
    "campaign": 987650007,
}
B_CODE = "140521199"
B_NAMES = [
    f"乙镇{MARKER}",  # the township
    f"bsecret{MARKER.lower()}",  # its inspector's username
    f"乙镇巡查员{MARKER}",  # and name
    f"乙镇秘密烈士墓{MARKER}",  # its facility
    f"B-{MARKER}-001",  # the facility's code
    f"乙村{MARKER}",  # village
    f"乙管护人{MARKER}",  # custodian
    f"乙烈士{MARKER}",  # a martyr
    f"乙镇巡查备注{MARKER}",  # a report's notes
    f"乙镇整改{MARKER}",  # an order
    f"乙镇拨款文号{MARKER}",  # an allocation
    f"乙镇集中巡查{MARKER}",  # a campaign
]


def plain_text(body: bytes) -> str:
    """The answer as text to search: a ZIP (XLSX, DOCX) as the text of its XML parts."""
    if body[:4] == b"PK\x03\x04":
        with zipfile.ZipFile(io.BytesIO(body)) as archive:
            parts = [archive.read(name) for name in archive.namelist()]
        return unescape(b"\n".join(parts).decode("utf-8", "replace"))
    return unescape(body.decode("utf-8-sig", "replace"))


def leaks(text: str) -> list[str]:
    """Township B's names and ids found in ``text``."""
    found = [name for name in B_NAMES if name in text]
    found += [str(n) for n in [*B_IDS.values(), B_CODE] if re.search(rf"(?<!\d){n}(?!\d)", text)]
    found += [MARKER] if MARKER in text and not found else []
    return found


@dataclass
class Isolated:
    world: World
    campaign_a: int


def add_township_b(db: Database, settings: Settings, world: World) -> None:
    """Township B with a user, an overdue facility, a waiting report, an open order, an
    allocation (its account and ledger too) and a campaign of its own: all with B's ids."""
    now = utcnow()
    with db.begin() as session:
        township = Township(id=B_IDS["township"], code=B_CODE, name=B_NAMES[0])
        session.add(township)
        session.flush()
        user = User(
            id=B_IDS["user"],
            username=B_NAMES[1],
            full_name=B_NAMES[2],
            role=Role.township,
            township_id=township.id,
            password_hash="x",
        )
        session.add(user)
        facility = factories.make_facility(
            session,
            township=township,
            id=B_IDS["facility"],
            name=B_NAMES[3],
            code=B_NAMES[4],
            village=B_NAMES[5],
            custodian_name=B_NAMES[6],
            martyrs=[{"name": B_NAMES[7]}],
            martyr_names=B_NAMES[7],
            next_due_on=date(2020, 1, 1),
            lon=112.37,
            lat=35.82,
        )
        inspected_at = now - timedelta(hours=2)
        session.add(
            Inspection(
                id=B_IDS["inspection"],
                client_id=uuid.uuid4(),
                facility_id=facility.id,
                township_id=township.id,
                inspector_id=user.id,
                inspected_at=inspected_at,
                inspected_on=inspected_at.astimezone(settings.tz).date(),
                condition="needs_repair",
                checklist={"headstone": "problem"},
                notes=B_NAMES[8],
                review_status=ReviewStatus.submitted,
                receipt="QZX7-0000",
                payload_sha256="0" * 64,
                flags=["no_position"],
            )
        )
        session.add(
            MaintenanceOrder(
                id=B_IDS["order"],
                facility_id=facility.id,
                township_id=township.id,
                category=MaintenanceCategory.repair,
                title=B_NAMES[9],
                planned_cost_fen=12_345,
                status=OrderStatus.planned,
                year=YEAR,
                due_on=date(2020, 6, 1),
                created_by_id=user.id,
            )
        )
        allocation = FundAllocation(
            id=B_IDS["allocation"],
            township_id=township.id,
            year=YEAR,
            amount_fen=7_654_321,
            source=FundSource.county,
            document_no=B_NAMES[10],
            allocated_on=date(YEAR, 3, 1),
        )
        session.add(allocation)
        session.flush()
        movement = funds.Movement(township.id, YEAR, "B", allocated=allocation.amount_fen)  # type: ignore[arg-type]
        funds.move(session, movement, actor=None, override_reason=None)
        funds.record(
            session,
            kind=EntryKind.allocation,
            amount_fen=allocation.amount_fen,
            township_id=township.id,  # type: ignore[arg-type]
            year=YEAR,
            actor=None,
            allocation_id=allocation.id,
            reason=B_NAMES[10],
        )
        session.add(
            Campaign(
                id=B_IDS["campaign"],
                name=B_NAMES[11],
                kind=CampaignKind.custom,
                starts_on=date(YEAR, 3, 1),
                ends_on=date(YEAR, 12, 31),
            )
        )
        session.flush()
        session.add(CampaignTownship(campaign_id=B_IDS["campaign"], township_id=township.id))


@pytest.fixture
def isolated(client: TestClient, db: Database, settings: Settings, world: World) -> Isolated:
    return make_isolated(client, db, settings, world)


def make_isolated(client: TestClient, db: Database, settings: Settings, world: World) -> Isolated:
    """Township A with one of everything (made through the API), then township B."""
    county = world.headers("county")

    def post(path: str, **kwargs: Any) -> dict[str, Any]:
        response = client.post(path, headers=county, **kwargs)
        assert response.status_code in (200, 201), response.text
        return response.json()

    a = world.township_a.id
    allocation = {"township_id": a, "year": YEAR, "amount_fen": 500_000, "source": "county"}
    post(
        "/api/v1/fund-allocations",
        json=allocation | {"document_no": "甲文号", "allocated_on": f"{YEAR}-03-02"},
    )
    report = factories.report_body(world.facility_a)
    client.post("/api/v1/inspections", json=report, headers=world.headers("township"))
    order = {"facility_id": world.facility_a.id, "category": "repair", "title": "甲镇整改"}
    post("/api/v1/maintenance", json=order | {"planned_cost_fen": 1000, "year": YEAR})
    window = {"starts_on": f"{YEAR}-03-01", "ends_on": f"{YEAR}-12-31"}
    campaign = post("/api/v1/campaigns", json={"name": "全县集中巡查"} | window)
    add_township_b(db, settings, world)
    return Isolated(world, campaign["id"])


def township_a_reads(isolated: Isolated) -> list[str]:
    """Every list, feed, export, figure and page township A's user reads."""
    year = f"year={YEAR}"
    return [
        "/api/v1/facilities?limit=500",
        "/api/v1/facilities?limit=500&q=秘密烈士墓",
        "/api/v1/inspections?limit=500",
        "/api/v1/maintenance?limit=500",
        "/api/v1/fund-allocations?limit=500",
        f"/api/v1/funds/summary?{year}",
        "/api/v1/funds/ledger?limit=500",
        "/api/v1/townships",
        "/api/v1/overdue?as_of=2100-01-01&limit=500",
        "/api/v1/campaigns",
        f"/api/v1/campaigns/{isolated.campaign_a}/progress",
        "/api/v1/stats",
        "/api/v1/stats?as_of=2100-01-01",
        f"/api/v1/reports/annual?{year}",
        "/api/v1/map/facilities.geojson",
        "/api/v1/exports/overdue.csv?as_of=2100-01-01",
        "/api/v1/exports/overdue.xlsx?as_of=2100-01-01",
        f"/api/v1/exports/funds.xlsx?{year}",
        f"/api/v1/exports/annual.xlsx?{year}",
        f"/api/v1/exports/annual.docx?{year}",
        "/ogc/collections",
        "/ogc/collections/facilities",
        "/ogc/collections/facilities/items?limit=1000",
        "/api/v1/me",
        "/",
        "/map",
        "/facilities",
        "/facilities?q=秘密烈士墓",
        "/review",
        "/overdue",
        "/overdue?as_of=2100-01-01",
        f"/campaigns?{year}",
        f"/campaigns/{isolated.campaign_a}",
        "/maintenance",
        f"/funds?{year}",
        f"/funds/ledger?{year}",
        f"/annual?{year}",
        "/m/",
    ]


def test_township_b_never_shows_in_what_township_a_reads(
    client: TestClient, isolated: Isolated
) -> None:
    world = isolated.world
    token = factories.token(world.settings, world.township_user)
    client.cookies.set(SESSION_COOKIE, token)
    headers = {"Authorization": f"Bearer {token}"}
    found: dict[str, list[str]] = {}
    for path in township_a_reads(isolated):
        response = client.get(path, headers=headers, follow_redirects=False)
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
        text = plain_text(response.content)
        if leaks(text):
            found[path] = leaks(text)
    assert not found, f"township B shows in township A's reads: {found}"


def test_the_same_reads_show_township_b_to_the_county(
    client: TestClient, isolated: Isolated
) -> None:
    """The search means something: the county, reading the same answers, sees B's rows."""
    world = isolated.world
    token = factories.token(world.settings, world.county)
    client.cookies.set(SESSION_COOKIE, token)
    headers = {"Authorization": f"Bearer {token}"}
    expected = {
        "/api/v1/facilities?limit=500": B_NAMES[3],
        "/api/v1/inspections?limit=500": B_NAMES[8],
        "/api/v1/maintenance?limit=500": B_NAMES[9],
        "/api/v1/fund-allocations?limit=500": B_NAMES[10],
        f"/api/v1/funds/summary?year={YEAR}": B_NAMES[0],
        "/api/v1/campaigns": B_NAMES[11],
        "/api/v1/map/facilities.geojson": B_NAMES[3],
        "/api/v1/exports/overdue.csv?as_of=2100-01-01": B_NAMES[3],
        "/api/v1/exports/overdue.xlsx?as_of=2100-01-01": B_NAMES[3],
        f"/api/v1/exports/funds.xlsx?year={YEAR}": B_NAMES[0],
        f"/api/v1/exports/annual.docx?year={YEAR}": B_NAMES[0],
        "/ogc/collections/facilities/items?limit=1000": B_NAMES[3],
        "/facilities": B_NAMES[3],
        "/review": B_NAMES[3],
        f"/funds?year={YEAR}": B_NAMES[0],
    }
    missing = []
    for path, name in expected.items():
        response = client.get(path, headers=headers)
        assert response.status_code == 200, f"{path}: {response.text[:300]}"
        if name not in plain_text(response.content):
            missing.append(path)
    assert not missing, f"the county does not see township B in {missing}"


def test_township_a_cannot_reach_township_b_by_id(client: TestClient, isolated: Isolated) -> None:
    headers = isolated.world.headers("township")
    for path in [
        f"/api/v1/facilities/{B_IDS['facility']}",
        f"/api/v1/inspections/{B_IDS['inspection']}",
        f"/api/v1/maintenance/{B_IDS['order']}",
        f"/api/v1/fund-allocations/{B_IDS['allocation']}",
        f"/api/v1/campaigns/{B_IDS['campaign']}",
        f"/api/v1/campaigns/{B_IDS['campaign']}/progress",
        f"/api/v1/townships/{B_IDS['township']}",
        f"/api/v1/facilities?township_id={B_IDS['township']}",
        f"/api/v1/overdue?township_id={B_IDS['township']}",
        f"/ogc/collections/facilities/items/{B_IDS['facility']}",
    ]:
        response = client.get(path, headers=headers)
        assert response.status_code == 404, f"{path}: {response.status_code}"
        # the id asked for comes back in the message; nothing else of B does
        assert not [n for n in B_NAMES if n in response.text], f"{path}: {response.text}"


# --- request bodies cannot set what the role may not set -------------------------------------


def test_a_report_body_cannot_set_what_the_server_decides(client: TestClient, world: World) -> None:
    """on_site, distance, flags, review status, receipt, inspector and township are the
    server's: a report naming any of them is refused, naming the field; none is stored."""
    for field, value in [
        ("on_site", True),
        ("distance_m", 0),
        ("flags", []),
        ("review_status", "accepted"),
        ("receipt", "AAAA-BBBB"),
        ("inspector_id", world.county.id),
        ("township_id", world.township_b.id),
    ]:
        body = factories.report_body(world.facility_a) | {field: value}
        response = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
        assert response.status_code == 422, f"{field}: {response.text}"
        [error] = response.json()["detail"]
        assert error["loc"] == ["body", field] and error["type"] == "extra_forbidden"
    listed = client.get("/api/v1/inspections", headers=world.headers("county")).json()
    assert listed["total"] == 0


def test_on_site_is_computed_by_the_server(client: TestClient, world: World) -> None:
    far = {"longitude": world.facility_a.longitude, "latitude": world.facility_a.latitude + 0.05}
    body = factories.report_body(world.facility_a, position=far)
    stored = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    assert stored.status_code == 201, stored.text
    assert stored.json()["on_site"] is False and "off_site" in stored.json()["flags"]
    assert stored.json()["review_status"] == "submitted"


@pytest.mark.parametrize(
    ("field", "value"),
    [("tier", "national"), ("status", "archived"), ("township_id", "b"), ("code", "X-1")],
)
def test_a_township_user_cannot_set_county_fields_of_a_facility(
    client: TestClient, world: World, field: str, value: str
) -> None:
    value_of: Any = world.township_b.id if value == "b" else value
    path = f"/api/v1/facilities/{world.facility_a.id}"
    before = client.get(path, headers=world.headers("county")).json()
    response = client.patch(path, json={field: value_of}, headers=world.headers("township"))
    assert response.status_code == 403
    assert field in response.json()["detail"]
    assert client.get(path, headers=world.headers("county")).json() == before
    # and on another township's facility the same body is a 404: nothing said of the fields
    other = f"/api/v1/facilities/{world.facility_b.id}"
    refused = client.patch(other, json={field: value_of}, headers=world.headers("township"))
    assert refused.status_code == 404
    assert refused.json()["detail"] == f"Facility {world.facility_b.id} not found"


def test_role_and_township_are_the_admins_to_set(client: TestClient, world: World) -> None:
    """A user cannot give themself a role or a township: not through the users API, not
    through the own-password change."""
    me = world.township_user
    for who in ("township", "county"):
        response = client.patch(
            f"/api/v1/users/{me.id}",
            json={"role": "admin", "township_id": world.township_b.id},
            headers=world.headers(who),
        )
        assert response.status_code == 403
    changed = client.post(
        "/api/v1/me/password",
        json={
            "current_password": factories.PASSWORD,
            "new_password": "Another-Pass-2025!",
            "role": "admin",
        },
        headers=world.headers("township"),
    )
    assert changed.status_code == 422
    assert changed.json()["detail"][0]["loc"] == ["body", "role"]
    mine = client.get("/api/v1/me", headers=world.headers("township")).json()
    assert mine["role"] == "township" and mine["township"]["id"] == world.township_a.id


def test_review_status_is_set_by_county_review_only(
    client: TestClient, world: World, db: Database, settings: Settings
) -> None:
    with db.begin() as session:
        report = factories.make_inspection(
            session,
            facility=world.facility_a,
            inspector=world.township_user,
            inspected_at=datetime.now(UTC) - timedelta(hours=1),
            tz=settings.tz,
        )
    path = f"/api/v1/inspections/{report.id}/review"
    refused = client.post(path, json={"decision": "accepted"}, headers=world.headers("township"))
    assert refused.status_code == 403
    odd = client.post(
        path, json={"decision": "accepted", "reviewed_by_id": 1}, headers=world.headers("county")
    )
    assert odd.status_code == 422 and odd.json()["detail"][0]["loc"] == ["body", "reviewed_by_id"]
    stored = client.get(f"/api/v1/inspections/{report.id}", headers=world.headers("county"))
    assert stored.json()["review_status"] == "submitted"


def test_ledger_amounts_follow_the_order_not_the_body(client: TestClient, world: World) -> None:
    """An order's ledger amounts are the server's: a body cannot carry a status, an actual
    cost before completion, or a township whose funds it draws on."""
    base = {"facility_id": world.facility_a.id, "category": "repair", "title": "修补"}
    base |= {"planned_cost_fen": 1000, "year": YEAR}
    for field, value in [
        ("status", "completed"),
        ("actual_cost_fen", 1),
        ("township_id", world.township_b.id),
        ("amount_fen", 5),
    ]:
        response = client.post(
            "/api/v1/maintenance", json=base | {field: value}, headers=world.headers("township")
        )
        assert response.status_code == 422, f"{field}: {response.text}"
        assert response.json()["detail"][0]["loc"] == ["body", field]
    for who in ("township", "other"):
        allocation = {"township_id": world.township_a.id, "year": YEAR, "amount_fen": 100}
        allocation |= {"source": "county", "document_no": "X", "allocated_on": f"{YEAR}-01-02"}
        response = client.post(
            "/api/v1/fund-allocations", json=allocation, headers=world.headers(who)
        )
        assert response.status_code == 403
    ledger = client.get("/api/v1/funds/ledger", headers=world.headers("county")).json()
    assert ledger["total"] == 0


def test_an_archived_facility_is_archived_by_the_county_only(
    client: TestClient, world: World
) -> None:
    path = f"/api/v1/facilities/{world.facility_a.id}"
    assert client.delete(path, headers=world.headers("township")).status_code == 403
    assert (
        client.delete(
            f"/api/v1/facilities/{world.facility_b.id}", headers=world.headers("township")
        ).status_code
        == 404
    )
    facility = client.get(path, headers=world.headers("county")).json()
    assert facility["status"] == FacilityStatus.active.value


# --- client_id: another township's is only "taken" ------------------------------------------


def test_another_townships_client_id_is_only_taken(client: TestClient, world: World) -> None:
    body = factories.report_body(world.facility_a)
    stored = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    assert stored.status_code == 201
    receipt = stored.json()["receipt"]
    # the same id from township B: for a copy of the report and for a report of its own
    answers = [
        client.post("/api/v1/inspections", json=sent, headers=world.headers("other"))
        for sent in (body, factories.report_body(world.facility_b, client_id=body["client_id"]))
    ]
    for answer in answers:
        assert answer.status_code == 409
        assert answer.headers["x-client-id-taken"] == "true"
        assert answer.json() == {
            "detail": f"The client_id {body['client_id']} is already taken; give this report a"
            " new client_id and send it again"
        }
        assert receipt not in answer.text
    # both answers alike: nothing says whether the content matched
    assert answers[0].json() == answers[1].json()
    # township A's replay is still the stored report, as it now stands
    replay = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    assert replay.status_code == 200 and replay.json()["id"] == stored.json()["id"]
    # a new id from township B goes through
    renewed = body | {"client_id": str(uuid.uuid4()), "facility_id": world.facility_b.id}
    renewed["position"] = {
        "longitude": world.facility_b.longitude,
        "latitude": world.facility_b.latitude,
    }
    sent = client.post("/api/v1/inspections", json=renewed, headers=world.headers("other"))
    assert sent.status_code == 201, sent.text


def test_the_same_township_still_hears_of_its_own_report(client: TestClient, world: World) -> None:
    """A changed report under a client_id of one's own township names that report (as before)."""
    body = factories.report_body(world.facility_a)
    stored = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    changed = client.post(
        "/api/v1/inspections", json=body | {"condition": "missing"}, headers=world.headers("county")
    )
    assert changed.status_code == 409
    assert stored.json()["receipt"] in changed.json()["detail"]
    assert "x-client-id-taken" not in changed.headers
