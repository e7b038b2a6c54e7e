"""Overdue: next due date < as-of date, in county time; policy changes recompute at once."""

import csv
import io
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from fastapi.testclient import TestClient
from openpyxl import load_workbook
from sqlalchemy import select

from app.db import Database
from app.models import Facility, FacilityStatus, Tier
from app.schedule import service as schedule
from tests.factories import World, make_facility, report_body

SHANGHAI = ZoneInfo("Asia/Shanghai")
AS_OF = date(2026, 6, 15)


@pytest.fixture
def due(db: Database, world: World) -> World:
    """Facilities in township A due yesterday, today and tomorrow (relative to AS_OF)."""
    with db.begin() as session:
        session.get(Facility, world.facility_a.id).next_due_on = AS_OF + timedelta(days=400)
        session.get(Facility, world.facility_b.id).next_due_on = AS_OF - timedelta(days=40)
        for code, offset in (("YESTERDAY", -1), ("TODAY", 0), ("TOMORROW", 1)):
            make_facility(
                session,
                township=world.township_a,
                code=code,
                next_due_on=AS_OF + timedelta(days=offset),
            )
        make_facility(
            session,
            township=world.township_a,
            code="ARCHIVED",
            status=FacilityStatus.archived,
            next_due_on=AS_OF - timedelta(days=100),
        )
    return world


def overdue(client: TestClient, world: World, who: str = "county", **params):
    return client.get(
        "/api/v1/overdue", params={"as_of": AS_OF.isoformat()} | params, headers=world.headers(who)
    )


def test_due_yesterday_is_overdue_today_and_tomorrow_are_not(
    client: TestClient, due: World
) -> None:
    body = overdue(client, due).json()
    assert body["as_of"] == AS_OF.isoformat()
    assert [(i["facility"]["code"], i["days_overdue"]) for i in body["items"]] == [
        ("B-001", 40),
        ("YESTERDAY", 1),
    ]  # most overdue first; archived facilities are not tracked
    assert body["total"] == 2
    assert body["items"][0]["facility"]["overdue"] is True


def test_overdue_is_scoped_and_filtered(client: TestClient, due: World) -> None:
    township = overdue(client, due, who="township").json()
    assert [i["facility"]["code"] for i in township["items"]] == ["YESTERDAY"]
    assert overdue(client, due, who="other", township_id=due.township_a.id).status_code == 404
    by_tier = overdue(client, due, tier="national").json()
    assert by_tier["total"] == 0
    paged = overdue(client, due, limit=1, offset=1).json()
    assert [i["facility"]["code"] for i in paged["items"]] == ["YESTERDAY"]
    assert paged["total"] == 2
    assert overdue(client, due, who="anonymous").status_code == 401
    assert overdue(client, due, as_of="2026-13-01").status_code == 422


@pytest.mark.parametrize(
    ("local_time", "local_day"),
    [
        ("2026-06-10T23:30:00+08:00", date(2026, 6, 10)),
        ("2026-06-11T00:30:00+08:00", date(2026, 6, 11)),  # still June 10 in UTC
        ("2026-06-10T16:30:00+00:00", date(2026, 6, 11)),  # 00:30 on June 11 in Shanghai
    ],
)
def test_the_due_date_counts_from_the_local_date_of_the_report(
    client: TestClient, world: World, local_time: str, local_day: date, monkeypatch
) -> None:
    from app.inspections import service as inspections

    monkeypatch.setattr(
        inspections, "utcnow", lambda: datetime(2026, 6, 12, 12, 0, tzinfo=SHANGHAI)
    )
    body = report_body(world.facility_a, inspected_at=local_time)
    assert (
        client.post("/api/v1/inspections", json=body, headers=world.headers("township")).status_code
        == 201
    )
    facility = client.get(
        f"/api/v1/facilities/{world.facility_a.id}", headers=world.headers("county")
    ).json()
    assert facility["next_due_on"] == (local_day + timedelta(days=30)).isoformat()
    due_on = date.fromisoformat(facility["next_due_on"])
    codes = lambda as_of: [  # noqa: E731
        i["facility"]["code"]
        for i in client.get(
            "/api/v1/overdue", params={"as_of": as_of}, headers=world.headers("county")
        ).json()["items"]
    ]
    assert "A-001" not in codes(due_on.isoformat())
    assert "A-001" in codes((due_on + timedelta(days=1)).isoformat())


# --- patrol policy ---------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["admin", "county", "township", "anonymous"])
def test_everyone_signed_in_reads_the_policy(client: TestClient, world: World, who: str) -> None:
    response = client.get("/api/v1/patrol-policies", headers=world.headers(who))
    if who == "anonymous":
        assert response.status_code == 401
        return
    assert [(p["tier"], p["interval_days"]) for p in response.json()["items"]] == [
        ("national", 7), ("provincial", 14), ("municipal", 30), ("county", 30), ("unrated", 30),
    ]  # fmt: skip


@pytest.mark.parametrize(("who", "status"), [("admin", 200), ("county", 403), ("township", 403)])
def test_only_admins_change_the_policy(
    client: TestClient, world: World, who: str, status: int
) -> None:
    response = client.put(
        "/api/v1/patrol-policies", json={"intervals": {"unrated": 60}}, headers=world.headers(who)
    )
    assert response.status_code == status


def test_a_policy_change_recomputes_the_affected_facilities(
    client: TestClient, world: World, db: Database
) -> None:
    with db.begin() as session:
        make_facility(session, township=world.township_a, tier=Tier.county, code="C-1")
    before = {
        f["code"]: f["next_due_on"]
        for f in client.get("/api/v1/facilities", headers=world.headers("county")).json()["items"]
    }
    response = client.put(
        "/api/v1/patrol-policies",
        json={"intervals": {"unrated": 14, "national": 7}},
        headers=world.headers("admin"),
    )
    assert response.json()["recomputed"] == 2  # the two unrated facilities; national unchanged
    after = {
        f["code"]: f
        for f in client.get("/api/v1/facilities", headers=world.headers("county")).json()["items"]
    }
    registered = date.fromisoformat(after["A-001"]["registered_on"])
    assert after["A-001"]["next_due_on"] == (registered + timedelta(days=14)).isoformat()
    assert after["C-1"]["next_due_on"] == before["C-1"]
    log = client.get(
        "/api/v1/audit", params={"object_type": "patrol_policy"}, headers=world.headers("admin")
    )
    assert [(e["object_id"], e["before"], e["after"]) for e in log.json()["items"]] == [
        ("unrated", {"interval_days": 30}, {"interval_days": 14})
    ]


@pytest.mark.parametrize(
    "body",
    [
        {"intervals": {"unrated": 0}},
        {"intervals": {"unrated": 400}},
        {"intervals": {"royal": 7}},
        {"intervals": {}},
        {},
    ],
)
def test_bad_policies_are_422(client: TestClient, world: World, body: dict) -> None:
    assert (
        client.put("/api/v1/patrol-policies", json=body, headers=world.headers("admin")).status_code
        == 422
    )


def test_the_sql_recompute_agrees_with_the_python_rule(
    client: TestClient, world: World, db: Database
) -> None:
    """recompute-due (one UPDATE) and the per-facility rule give the same dates."""
    for hours in (5, 24 * 20):
        body = report_body(
            world.facility_a,
            inspected_at=(datetime.now(SHANGHAI) - timedelta(hours=hours)).isoformat(),
        )
        client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
    with db.begin() as session:
        for facility in session.execute(select(Facility)).scalars():
            facility.next_due_on = date(2000, 1, 1)
    with db.begin() as session:
        assert schedule.recompute_due_dates(session) == 2
    with db.session() as session:
        intervals = schedule.intervals(session)
        for facility in session.execute(select(Facility)).scalars():
            expected = schedule.due_on(
                last_inspected_on=facility.last_inspected_on,
                registered_on=facility.registered_on,
                interval_days=intervals[facility.tier],
            )
            assert facility.next_due_on == expected


# --- exports ---------------------------------------------------------------------------------


def test_overdue_csv_has_chinese_headers_and_a_bom(client: TestClient, due: World) -> None:
    response = client.get(
        "/api/v1/exports/overdue.csv",
        params={"as_of": AS_OF.isoformat()},
        headers=due.headers("county"),
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "filename*=UTF-8''" in response.headers["content-disposition"]
    assert response.content.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(response.content.decode("utf-8-sig"))))
    assert rows[0][:3] == ["编号", "名称", "乡镇"]
    assert [(r[0], r[4], r[8]) for r in rows[1:]] == [
        ("B-001", "未定级", "40"),
        ("YESTERDAY", "未定级", "1"),
    ]


def test_overdue_xlsx_matches_the_list_and_is_scoped(client: TestClient, due: World) -> None:
    response = client.get(
        "/api/v1/exports/overdue.xlsx",
        params={"as_of": AS_OF.isoformat()},
        headers=due.headers("township"),
    )
    assert response.status_code == 200
    sheet = load_workbook(io.BytesIO(response.content)).active
    rows = list(sheet.iter_rows(values_only=True))
    assert rows[0][8] == "逾期天数"
    assert sheet.freeze_panes == "A2" and sheet.auto_filter.ref == "A1:V2"
    assert rows[1][7].date() == AS_OF - timedelta(days=1)  # a real date cell, not text
    assert 'filename="overdue_2026-06-15.xlsx"' in response.headers["content-disposition"]
    assert [(r[0], r[2], r[8]) for r in rows[1:]] == [("YESTERDAY", "龙港镇", 1)]
