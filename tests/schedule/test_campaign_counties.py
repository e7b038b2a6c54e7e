"""Campaigns at province scale (issue 12): progress counted by one SQL aggregate and equal to
a brute-force count, the missing sites as pages that cover them exactly, campaigns of one
county, and every answer scoped to the caller's division (a city, a county, a township)."""

import random
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from app.db import Database
from app.models import (
    AuditEntry,
    Campaign,
    CampaignTownship,
    County,
    Facility,
    FacilityStatus,
    Inspection,
    ReviewStatus,
    Role,
    Tier,
    Township,
    User,
)
from tests.factories import (
    World,
    auth,
    make_facility,
    make_inspection,
    make_township,
    make_user,
    report_body,
)

API = "/api/v1/campaigns"
START, END = date(2026, 3, 23), date(2026, 4, 5)


@dataclass
class Region:
    """Qinshui (the world's two townships) and Yangcheng (140522, two more), with a user of
    the city (1405), of each county, and of one Yangcheng township."""

    world: World
    yangcheng: County
    qinshui_id: int
    townships: dict[str, Township]
    users: dict[str, User]

    def headers(self, who: str) -> dict[str, str]:
        if who in self.users:
            return auth(self.world.settings, self.users[who])
        return self.world.headers(who)


def _user(session: Any, role: Role, division: str, township: Township | None = None) -> User:
    user = make_user(session, role=role, township=township)
    user.division_code = division
    session.flush()
    return user


@pytest.fixture
def region(db: Database, world: World) -> Region:
    with db.begin() as session:
        yangcheng = County(code="140522", name="阳城县")
        session.add(yangcheng)
        session.flush()
        townships = {
            t.code: t
            for t in session.execute(
                select(Township).where(Township.id.in_([world.township_a.id, world.township_b.id]))
            ).scalars()
        }
        for code, name in (("140522100", "凤城镇"), ("140522101", "北留镇")):
            townships[code] = make_township(session, code=code, name=name)
        qinshui_id = townships["140521100"].county_id
        users = {
            "city": _user(session, Role.county, "1405"),
            "qinshui": _user(session, Role.county, "140521"),
            "yangcheng": _user(session, Role.county, "140522"),
            "fengcheng": _user(session, Role.township, "140522100", townships["140522100"]),
            "yangcheng_admin": _user(session, Role.admin, "140522"),
        }
        session.expunge_all()
    assert yangcheng.id is not None and townships["140522100"].county_id == yangcheng.id
    return Region(world, yangcheng, qinshui_id, townships, users)


def at_noon(day: date, world: World) -> datetime:
    return datetime.combine(day, time(12), tzinfo=world.settings.tz).astimezone(UTC)


@pytest.fixture
def sites(db: Database, region: Region) -> Region:
    """A dozen sites in each of the four townships, of every tier and status, registered
    before and after the window's end, with reports inside and outside it, some rejected."""
    rng = random.Random(12)
    statuses = [FacilityStatus.active] * 4 + [FacilityStatus.relocated, FacilityStatus.archived]
    days = [
        START - timedelta(days=1),
        START,
        START + timedelta(days=6),
        END,
        END + timedelta(days=1),
    ]
    with db.begin() as session:
        inspector = session.get(User, region.world.county.id)
        for code, township in region.townships.items():
            for n in range(12):
                facility = make_facility(
                    session,
                    township=township,
                    code=f"{code}-{n:03d}",
                    tier=rng.choice(list(Tier)),
                    status=rng.choice(statuses),
                    registered_on=rng.choice([date(2020, 1, 1), END, END + timedelta(days=1)]),
                )
                for _ in range(rng.randrange(3)):
                    make_inspection(
                        session,
                        facility=facility,
                        inspector=inspector,
                        inspected_at=at_noon(rng.choice(days), region.world),
                        tz=region.world.settings.tz,
                        review_status=rng.choice(list(ReviewStatus)),
                    )
    return region


def brute_force(db: Database, campaign_id: int, division: str) -> dict[str, tuple[int, int, list]]:
    """Township code → (in scope, visited, codes missing), counted in Python from every row."""
    with db.session(write=False) as session:
        campaign = session.get(Campaign, campaign_id)
        named = set(
            session.execute(
                select(CampaignTownship.township_id).where(
                    CampaignTownship.campaign_id == campaign_id
                )
            ).scalars()
        )
        townships = {
            t.id: t
            for t in session.execute(select(Township)).scalars()
            if t.code.startswith(division)
            and (not named or t.id in named)
            and (campaign.county_id is None or t.county_id == campaign.county_id)
        }
        visited = {
            i.facility_id
            for i in session.execute(select(Inspection)).scalars()
            if i.review_status != ReviewStatus.rejected
            and campaign.starts_on <= i.inspected_on <= campaign.ends_on
        }
        result = {t.code: (0, 0, []) for t in townships.values()}
        for f in session.execute(select(Facility).order_by(Facility.code)).scalars():
            township = townships.get(f.township_id)
            if (
                township is None
                or f.status != FacilityStatus.active
                or f.registered_on > campaign.ends_on
                or (campaign.tiers and f.tier.value not in campaign.tiers)
            ):
                continue
            in_scope, done, missing = result[township.code]
            if f.id in visited:
                result[township.code] = (in_scope + 1, done + 1, missing)
            else:
                result[township.code] = (in_scope + 1, done, [*missing, f.code])
        return result


def create(client: TestClient, region: Region, who: str = "admin", **body: Any) -> dict:
    document = {"name": "集中巡查", "starts_on": str(START), "ends_on": str(END)} | body
    response = client.post(API, json=document, headers=region.headers(who))
    assert response.status_code == 201, response.text
    return response.json()


def progress_of(client: TestClient, region: Region, campaign_id: int, who: str) -> dict:
    response = client.get(f"{API}/{campaign_id}/progress", headers=region.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


def pages_by_cursor(
    client: TestClient, region: Region, campaign_id: int, who: str, limit: int, **query: Any
) -> list[list[str]]:
    pages, after = [], None
    while True:
        params = {"limit": limit} | query | ({"after_id": after} if after else {})
        body = client.get(
            f"{API}/{campaign_id}/missing", params=params, headers=region.headers(who)
        ).json()
        pages.append([f["code"] for f in body["items"]])
        assert len(pages[-1]) <= limit
        after = body["next_after_id"]
        if after is None:
            return pages
        assert len(pages[-1]) == limit
        assert len(pages) < 100


@pytest.mark.parametrize(
    ("who", "division", "scope"),
    [
        ("admin", "", "everywhere"),
        ("city", "1405", "tiers"),
        ("city", "1405", "townships"),
        ("qinshui", "140521", "townships"),
        ("yangcheng", "140522", "everywhere"),
        ("fengcheng", "140522100", "townships"),
        ("township", "140521100", "tiers"),
    ],
)
def test_progress_per_township_is_the_brute_force_count(
    client: TestClient, db: Database, sites: Region, who: str, division: str, scope: str
) -> None:
    body: dict[str, Any] = {}
    if scope == "tiers":
        body["tiers"] = ["county", "unrated"]
    if scope == "townships":  # one of each county: a township user sees their own or none
        body["township_ids"] = [sites.townships["140521100"].id, sites.townships["140522100"].id]
    campaign = create(client, sites, **body)
    expected = brute_force(db, campaign["id"], division)
    progress = progress_of(client, sites, campaign["id"], who)
    got = {
        t["township"]["code"]: (t["in_scope"], t["inspected"], t["missing"])
        for t in progress["townships"]
    }
    assert got == {code: (n, done, len(missing)) for code, (n, done, missing) in expected.items()}
    assert [t["township"]["code"] for t in progress["townships"]] == sorted(expected)
    assert progress["in_scope"] == sum(n for n, _d, _m in expected.values())
    assert progress["missing"] == sum(len(m) for _n, _d, m in expected.values())
    assert progress["missing_url"] == f"/api/v1/campaigns/{campaign['id']}/missing"
    assert sum(n for n, _d, _m in expected.values()) > 0 or division == "140521100"

    # the missing sites: pages that cover them exactly, in township and code order
    everyone = [code for township in sorted(expected) for code in expected[township][2]]
    by_cursor = pages_by_cursor(client, sites, campaign["id"], who, limit=4)
    flat = [code for page in by_cursor for code in page]
    assert flat == everyone and len(set(flat)) == len(flat)
    by_offset = []
    for offset in range(0, len(everyone) + 4, 4):
        page = client.get(
            f"{API}/{campaign['id']}/missing",
            params={"limit": 4, "offset": offset},
            headers=sites.headers(who),
        ).json()
        assert page["total"] == len(everyone)
        by_offset += [f["code"] for f in page["items"]]
    assert by_offset == everyone


def test_one_townships_missing_sites_by_cursor(
    client: TestClient, db: Database, sites: Region
) -> None:
    campaign = create(client, sites)
    township = sites.townships["140522101"]
    expected = brute_force(db, campaign["id"], "")["140522101"][2]
    pages = pages_by_cursor(client, sites, campaign["id"], "city", 2, township_id=township.id)
    assert [code for page in pages for code in page] == expected
    first = client.get(
        f"{API}/{campaign['id']}/missing",
        params={"township_id": township.id, "limit": 2},
        headers=sites.headers("city"),
    ).json()
    assert first["items"][0]["township"]["code"] == "140522101"
    assert first["total"] == len(expected)


def test_missing_list_refuses_bad_cursors(client: TestClient, db: Database, sites: Region) -> None:
    campaign = create(client, sites)
    url = f"{API}/{campaign['id']}/missing"
    with_both = client.get(url, params={"after_id": 1, "offset": 4}, headers=sites.headers("admin"))
    assert with_both.status_code == 422
    assert with_both.json()["detail"][0]["loc"] == ["query", "after_id"]
    # a site of another county names no position in a Qinshui user's list: as if absent
    with db.session(write=False) as session:
        theirs = session.execute(
            select(Facility.id).where(Facility.code == "140522100-000")
        ).scalar_one()
    foreign = client.get(url, params={"after_id": theirs}, headers=sites.headers("qinshui"))
    absent = client.get(url, params={"after_id": 2_000_000}, headers=sites.headers("qinshui"))
    assert foreign.status_code == absent.status_code == 422
    assert foreign.json()["detail"][0]["msg"].replace(str(theirs), "X") == absent.json()["detail"][
        0
    ]["msg"].replace("2000000", "X")
    for bad in ({"after_id": 0}, {"limit": 501}, {"after_id": "x"}):
        assert client.get(url, params=bad, headers=sites.headers("admin")).status_code == 422
    # another township's list is a 404, before anything else
    other = sites.townships["140521103"].id
    assert (
        client.get(url, params={"township_id": other}, headers=sites.headers("fengcheng"))
    ).status_code == 404


def test_a_county_campaign_is_its_countys_only(client: TestClient, sites: Region) -> None:
    yangcheng = sites.yangcheng.id
    campaign = create(client, sites, "yangcheng", name="阳城县专项巡查", county_id=yangcheng)
    assert campaign["county"] == {"id": yangcheng, "code": "140522", "name": "阳城县"}
    path = f"{API}/{campaign['id']}"
    for who in ("qinshui", "township", "other"):  # another county's users: as if absent
        for suffix in ("", "/progress", "/missing"):
            assert client.get(path + suffix, headers=sites.headers(who)).status_code == 404
        assert campaign["id"] not in [
            c["id"] for c in client.get(API, headers=sites.headers(who)).json()["items"]
        ]
    for who in ("admin", "city", "yangcheng", "fengcheng"):
        assert client.get(path, headers=sites.headers(who)).status_code == 200
        listed = client.get(API, headers=sites.headers(who)).json()
        assert campaign["id"] in [c["id"] for c in listed["items"]]
    # its scope: the county's townships, whoever asks
    seen = progress_of(client, sites, campaign["id"], "admin")
    assert [t["township"]["code"] for t in seen["townships"]] == ["140522100", "140522101"]
    mine = progress_of(client, sites, campaign["id"], "fengcheng")
    assert [t["township"]["code"] for t in mine["townships"]] == ["140522100"]


def test_a_county_clerks_campaign_is_their_countys(client: TestClient, sites: Region) -> None:
    campaign = create(client, sites, "qinshui", name="沁水县专项巡查")
    assert campaign["county"]["code"] == "140521"
    assert (
        client.get(f"{API}/{campaign['id']}", headers=sites.headers("yangcheng")).status_code == 404
    )


def add_yangquan(db: Database, region: Region) -> Township:
    """Another city (1403, Yangquan) with a county and a township, and a clerk of that city
    and one of the province (14)."""
    with db.begin() as session:
        session.add(County(code="140302", name="城区"))
        session.flush()
        township = make_township(session, code="140302100", name="上章召街道")
        region.users["yangquan"] = _user(session, Role.county, "1403")
        region.users["province"] = _user(session, Role.county, "14")
        session.expunge_all()
    return township


def ids_listed(client: TestClient, region: Region, who: str) -> list[int]:
    response = client.get(API, params={"limit": 500}, headers=region.headers(who))
    assert response.status_code == 200, response.text
    return [c["id"] for c in response.json()["items"]]


def test_a_city_clerks_campaign_is_their_citys_only(
    client: TestClient, db: Database, sites: Region
) -> None:
    """A city's staff naming no county make a campaign of their city's townships: another
    city's users see nothing of it (it was everyone's before issue 12's review, H6)."""
    add_yangquan(db, sites)
    city = create(client, sites, "city", name="全市集中巡查")
    assert city["county"] is None
    codes = ["140521100", "140521103", "140522100", "140522101"]
    assert [t["code"] for t in city["townships"]] == codes
    path = f"{API}/{city['id']}"
    for suffix in ("", "/progress", "/missing"):
        assert client.get(path + suffix, headers=sites.headers("yangquan")).status_code == 404
    assert city["id"] not in ids_listed(client, sites, "yangquan")
    for who in ("city", "qinshui", "other", "admin", "province"):
        assert client.get(path, headers=sites.headers(who)).status_code == 200, who
        assert city["id"] in ids_listed(client, sites, who)
    seen = progress_of(client, sites, city["id"], "city")
    assert [t["township"]["code"] for t in seen["townships"]] == codes
    # its townships as a brute-force count sees them, the new rows of campaign_townships
    assert sorted(brute_force(db, city["id"], "1405")) == codes
    # a province's staff naming no county make one of the province's townships; only an
    # administrator of the whole country makes one of every township, present and future
    province = create(client, sites, "province", name="全省集中巡查")
    assert [t["code"] for t in province["townships"]] == ["140302100", *codes]
    everyone = create(client, sites, "admin", name="全国集中巡查")
    assert everyone["county"] is None and everyone["townships"] is None
    assert everyone["id"] in ids_listed(client, sites, "yangquan")


def test_a_division_with_no_township_makes_no_campaign(
    client: TestClient, db: Database, region: Region
) -> None:
    with db.begin() as session:
        region.users["empty"] = _user(session, Role.county, "1409")
        session.expunge_all()
    body = {"name": "x", "starts_on": str(START), "ends_on": str(END)}
    refused = client.post(API, json=body, headers=region.headers("empty"))
    assert refused.status_code == 422, refused.text
    assert refused.json()["detail"][0]["loc"] == ["body", "township_ids"]
    assert ids_listed(client, region, "admin") == []


def test_a_campaign_shows_each_user_only_the_townships_they_see(
    client: TestClient, db: Database, region: Region
) -> None:
    """A province's campaign naming a Qinshui township and one of another city (M1): a
    Qinshui clerk reads only Qinshui's, in the campaign, the list and the progress."""
    yangquan = add_yangquan(db, region)
    both = [region.world.township_a.id, yangquan.id]
    campaign = create(client, region, "province", name="两地专项巡查", township_ids=both)
    assert [t["code"] for t in campaign["townships"]] == ["140302100", "140521100"]
    for who, codes in (
        ("qinshui", ["140521100"]),
        ("township", ["140521100"]),
        ("yangquan", ["140302100"]),
        ("province", ["140302100", "140521100"]),
        ("admin", ["140302100", "140521100"]),
    ):
        path = f"{API}/{campaign['id']}"
        one = client.get(path, headers=region.headers(who)).json()
        assert [t["code"] for t in one["townships"]] == codes, who
        listed = client.get(API, headers=region.headers(who)).json()["items"]
        (row,) = [c for c in listed if c["id"] == campaign["id"]]
        assert [t["code"] for t in row["townships"]] == codes, who
        shown = progress_of(client, region, campaign["id"], who)["campaign"]
        assert [t["code"] for t in shown["townships"]] == codes, who
    # a Yangcheng clerk sees neither township: the campaign is not theirs at all
    assert (
        client.get(f"{API}/{campaign['id']}", headers=region.headers("yangcheng")).status_code
        == 404
    )


def test_a_campaign_names_a_county_its_creator_reaches(client: TestClient, sites: Region) -> None:
    body = {"name": "x", "starts_on": str(START), "ends_on": str(END)}
    refused = client.post(
        API, json=body | {"county_id": sites.yangcheng.id}, headers=sites.headers("qinshui")
    )
    unknown = client.post(
        API, json=body | {"county_id": 2_000_000}, headers=sites.headers("qinshui")
    )
    assert refused.status_code == unknown.status_code == 404
    # a township outside the campaign's county, or outside the creator's reach: 422
    outside = client.post(
        API,
        json=body | {"county_id": sites.yangcheng.id, "township_ids": [sites.world.township_a.id]},
        headers=sites.headers("city"),
    )
    assert outside.status_code == 422 and outside.json()["detail"][0]["loc"] == [
        "body",
        "township_ids",
    ]
    foreign = client.post(
        API,
        json=body | {"township_ids": [sites.townships["140522100"].id]},
        headers=sites.headers("qinshui"),
    )
    assert foreign.status_code == 422
    assert (
        client.post(API, json=body | {"county_id": 0}, headers=sites.headers("city")).status_code
        == 422
    )


def test_the_years_generated_campaigns_stay_every_countys(
    client: TestClient, sites: Region
) -> None:
    refused = client.post(
        f"{API}/generate", params={"year": 2026}, headers=sites.headers("yangcheng")
    )
    assert refused.status_code == 403  # a county does not make every county's campaigns
    made = client.post(
        f"{API}/generate", params={"year": 2026}, headers=sites.headers("admin")
    ).json()
    assert [c["county"] for c in made["items"]] == [None, None]
    qingming = made["items"][0]["id"]
    for who, codes in (
        ("qinshui", ["140521100", "140521103"]),
        ("yangcheng", ["140522100", "140522101"]),
        ("city", ["140521100", "140521103", "140522100", "140522101"]),
    ):
        progress = progress_of(client, sites, qingming, who)
        assert [t["township"]["code"] for t in progress["townships"]] == codes


# --- a county's own patrol intervals -------------------------------------------------------


def due_dates(db: Database) -> dict[str, date]:
    with db.session(write=False) as session:
        return dict(session.execute(select(Facility.code, Facility.next_due_on)).all())


def test_a_countys_own_interval_moves_its_due_dates_only(
    client: TestClient, db: Database, region: Region
) -> None:
    with db.begin() as session:
        for code in ("140521100", "140522100"):
            township = session.get(Township, region.townships[code].id)
            make_facility(
                session,
                township=township,
                code=f"{code}-N",
                tier=Tier.national,
                registered_on=date(2026, 1, 1),
            )
            make_facility(
                session,
                township=township,
                code=f"{code}-U",
                tier=Tier.unrated,
                registered_on=date(2026, 1, 1),
            )
    before = due_dates(db)
    url = f"/api/v1/counties/{region.yangcheng.id}/patrol-policies"
    response = client.put(
        url, json={"intervals": {"national": 3}}, headers=region.headers("yangcheng_admin")
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["recomputed"] == 1
    rows = {p["tier"]: p for p in body["items"]}
    assert rows["national"]["interval_days"] == 3 and rows["national"]["overridden"]
    assert rows["national"]["province_days"] != 3
    assert not rows["unrated"]["overridden"]
    after = due_dates(db)
    assert after["140522100-N"] == date(2026, 1, 4)
    assert {k: v for k, v in after.items() if k != "140522100-N"} == {
        k: v for k, v in before.items() if k != "140522100-N"
    }
    # the province's default changing leaves the county's own interval alone
    assert (
        client.put(
            "/api/v1/patrol-policies",
            json={"intervals": {"national": 20}},
            headers=region.headers("admin"),
        ).status_code
        == 200
    )
    after = due_dates(db)
    assert (after["140522100-N"], after["140521100-N"]) == (date(2026, 1, 4), date(2026, 1, 21))
    # a report in the county follows the county's interval (the one-UPDATE path)
    with db.begin() as session:
        facility = session.execute(
            select(Facility).where(Facility.code == "140522100-N")
        ).scalar_one()
    report = client.post(
        "/api/v1/inspections",
        json=report_body(facility),
        headers=region.headers("yangcheng_admin"),
    )
    assert report.status_code == 201, report.text
    seen = due_dates(db)["140522100-N"]
    with db.session(write=False) as session:
        last = session.get(Facility, facility.id).last_inspected_on
    assert seen == last + timedelta(days=3)
    # dropped: the province's again
    dropped = client.delete(f"{url}/national", headers=region.headers("yangcheng_admin"))
    assert dropped.status_code == 200 and dropped.json()["recomputed"] == 1
    assert due_dates(db)["140522100-N"] == last + timedelta(days=20)
    again = client.delete(f"{url}/national", headers=region.headers("yangcheng_admin"))
    assert again.json()["recomputed"] == 0
    with db.session(write=False) as session:
        audited = session.execute(
            select(AuditEntry.object_id, AuditEntry.before, AuditEntry.after).where(
                AuditEntry.action == "policy.county_update"
            )
        ).all()
    assert [(o, b["interval_days"], a["interval_days"]) for o, b, a in audited] == [
        ("140522:national", None, 3),
        ("140522:national", 3, None),
    ]


def test_who_reads_and_writes_a_countys_intervals(client: TestClient, region: Region) -> None:
    yangcheng = f"/api/v1/counties/{region.yangcheng.id}/patrol-policies"
    qinshui = f"/api/v1/counties/{region.qinshui_id}/patrol-policies"
    missing = "/api/v1/counties/2000000/patrol-policies"
    body = {"intervals": {"county": 10}}
    for who, reads in (("city", 200), ("yangcheng", 200), ("fengcheng", 200), ("qinshui", 404)):
        assert client.get(yangcheng, headers=region.headers(who)).status_code == reads
    assert client.get(missing, headers=region.headers("admin")).status_code == 404
    # 404 before 403: another county's admin is not told the county is there
    for url in (qinshui, missing):
        assert (
            client.put(url, json=body, headers=region.headers("yangcheng_admin")).status_code == 404
        )
        assert (
            client.delete(f"{url}/county", headers=region.headers("yangcheng_admin")).status_code
            == 404
        )
    for who in ("city", "yangcheng", "fengcheng"):
        assert client.put(yangcheng, json=body, headers=region.headers(who)).status_code == 403
        assert client.delete(f"{yangcheng}/county", headers=region.headers(who)).status_code == 403
    for bad in ({"intervals": {"county": 0}}, {"intervals": {}}, {"intervals": {"royal": 3}}):
        assert client.put(yangcheng, json=bad, headers=region.headers("admin")).status_code == 422
    assert client.delete(f"{yangcheng}/royal", headers=region.headers("admin")).status_code == 422
    assert client.put(yangcheng, json=body, headers=region.headers("admin")).status_code == 200
