"""Counties and regions (issue 12): counties are data, townships belong to them, and every
user reaches the townships under their division code — a county's (6 digits), a city's (4),
a province's (2), or the whole country ('').

The isolation search of ``tests/test_isolation.py`` runs again with township B moved into
another county (140302, of another city): a Qinshui county user and a Jincheng city user
(1405) never see it in any list, feed, export or page; a Shanxi province user (14) does.
"""

import json
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, text
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.db import Database
from app.deps import SESSION_COOKIE
from app.models import County, Role, Township, User
from tests import factories, test_isolation
from tests.factories import World
from tests.test_isolation import Isolated, leaks, plain_text, township_a_reads

#: a square of about 11 km around (112.9, 35.5): Yangcheng's stand-in, west of nothing real
YANGCHENG = "140522"
YANGCHENG_OUTLINE = {
    "type": "Polygon",
    "coordinates": [
        [[112.85, 35.45], [112.95, 35.45], [112.95, 35.55], [112.85, 35.55], [112.85, 35.45]]
    ],
}
#: a county of another city (Taiyuan's 1401 is as good as any; 1403 is Yangquan)
OTHER_CITY_COUNTY = "140302"


def add_county(db: Database, code: str, name: str, outline: dict[str, Any] | None = None) -> int:
    with db.begin() as session:
        county = County(code=code, name=name, outline=outline)
        session.add(county)
        session.flush()
        return county.id  # type: ignore[return-value]


def make_user(db: Database, division: str, *, role: Role = Role.county, name: str) -> User:
    with db.begin() as session:
        user = factories.make_user(session, role=role, username=name)
        user.division_code = division
        session.flush()
        session.expunge(user)
        return user


def headers(settings: Settings, user: User) -> dict[str, str]:
    return {"Authorization": f"Bearer {factories.token(settings, user)}"}


# --- counties, townships and the CLI -----------------------------------------------------


def test_add_county_from_the_command_line(
    settings: Settings, db: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in settings.model_dump().items():
        if isinstance(value, str | int | float | bool | Path) and value is not None:
            monkeypatch.setenv(f"MEMORIAL_{name.upper()}", str(value))
    outline = tmp_path / "yangcheng.geojson"
    outline.write_text(json.dumps({"type": "Feature", "geometry": YANGCHENG_OUTLINE}))
    runner = CliRunner()
    args = ["add-county", YANGCHENG, "--name", "阳城县", "--outline", str(outline)]
    result = runner.invoke(cli, args)
    assert result.exit_code == 0, result.output
    assert "阳城县" in result.output
    with db.session(write=False) as session:
        county = session.execute(select(County).where(County.code == YANGCHENG)).scalar_one()
        assert (county.name, county.timezone) == ("阳城县", "Asia/Shanghai")
        assert county.outline == YANGCHENG_OUTLINE
    again = runner.invoke(cli, args)
    assert again.exit_code == 1 and "already exists" in again.output
    bad = tmp_path / "line.geojson"
    bad.write_text(json.dumps({"type": "LineString", "coordinates": [[112, 35], [113, 36]]}))
    result = runner.invoke(cli, ["add-county", "140523", "--name", "陵川县", "--outline", str(bad)])
    assert result.exit_code == 1 and "Polygon or MultiPolygon" in result.output
    result = runner.invoke(
        cli, ["add-county", "14052", "--name", "短码", "--outline", str(outline)]
    )
    assert result.exit_code == 1 and "6 digits" in result.output
    result = runner.invoke(
        cli,
        [
            "add-county",
            "140524",
            "--name",
            "某县",
            "--outline",
            str(outline),
            "--timezone",
            "Mars/Olympus",
        ],
    )
    assert result.exit_code == 1 and "time zone" in result.output


def test_a_township_is_added_under_any_known_county(
    client: TestClient, db: Database, world: World
) -> None:
    yangcheng = add_county(db, YANGCHENG, "阳城县", YANGCHENG_OUTLINE)
    admin = world.headers("admin")
    created = client.post(
        "/api/v1/townships", json={"code": "140522100", "name": "凤城镇"}, headers=admin
    )
    assert created.status_code == 201, created.text
    assert created.json()["county_id"] == yangcheng
    assert created.json()["county_code"] == YANGCHENG
    unknown = client.post(
        "/api/v1/townships", json={"code": "140599100", "name": "无县镇"}, headers=admin
    )
    assert unknown.status_code == 422
    assert "no county with code 140599" in unknown.text
    counties = client.get("/api/v1/counties", headers=admin).json()
    assert [c["code"] for c in counties["items"]] == ["140521", YANGCHENG]


def test_an_admin_adds_townships_only_in_their_division(
    client: TestClient, db: Database, world: World
) -> None:
    add_county(db, YANGCHENG, "阳城县")
    qinshui_admin = make_user(db, "140521", role=Role.admin, name="qsadmin")
    answer = client.post(
        "/api/v1/townships",
        json={"code": "140522101", "name": "北留镇"},
        headers=headers(world.settings, qinshui_admin),
    )
    assert answer.status_code == 403
    assert "outside your division" in answer.text


def test_a_facility_must_lie_in_its_own_countys_outline(
    client: TestClient, db: Database, world: World
) -> None:
    add_county(db, YANGCHENG, "阳城县", YANGCHENG_OUTLINE)
    admin = world.headers("admin")
    township = client.post(
        "/api/v1/townships", json={"code": "140522100", "name": "凤城镇"}, headers=admin
    ).json()
    body = {
        "code": "YC-001",
        "name": "阳城烈士墓",
        "kind": "grave",
        "tier": "county",
        "longitude": 112.9,
        "latitude": 35.5,
    }
    in_yangcheng = client.post(
        "/api/v1/facilities", json=body | {"township_id": township["id"]}, headers=admin
    )
    assert in_yangcheng.status_code == 201, in_yangcheng.text
    in_qinshui = client.post(
        "/api/v1/facilities",
        json=body | {"code": "QS-999", "township_id": world.township_a.id},
        headers=admin,
    )
    assert in_qinshui.status_code == 422
    assert "outside the county 沁水县" in in_qinshui.text
    # moved to a Qinshui township, the Yangcheng site would lie outside its county
    moved = client.patch(
        f"/api/v1/facilities/{in_yangcheng.json()['id']}",
        json={"township_id": world.township_a.id},
        headers=admin,
    )
    assert moved.status_code == 422, moved.text


# --- users and their division --------------------------------------------------------------


def test_users_carry_a_division_code(client: TestClient, db: Database, world: World) -> None:
    add_county(db, YANGCHENG, "阳城县")
    admin = world.headers("admin")
    password = "correct-horse-battery"
    base = {"full_name": "晋城市民政局", "role": "county", "password": password}
    city = client.post(
        "/api/v1/users", json=base | {"username": "jcclerk", "division_code": "1405"}, headers=admin
    )
    assert city.status_code == 201, city.text
    assert city.json()["division_code"] == "1405"
    township_user = client.post(
        "/api/v1/users",
        json=base | {"username": "lgclerk", "role": "township", "township_id": world.township_a.id},
        headers=admin,
    )
    assert township_user.json()["division_code"] == world.township_a.code
    for division, why in [
        ("140521100", "Only township users"),
        ("1406", "no county under division code 1406"),
        ("14052", "division_code"),
    ]:
        refused = client.post(
            "/api/v1/users",
            json=base | {"username": "x" + division, "division_code": division},
            headers=admin,
        )
        assert refused.status_code == 422, (division, refused.text)
        assert why in refused.text, (division, refused.text)
    # a Qinshui admin gives no one more than Qinshui
    qinshui_admin = make_user(db, "140521", role=Role.admin, name="qsadmin")
    wider = client.post(
        "/api/v1/users",
        json=base | {"username": "jc2", "division_code": "1405"},
        headers=headers(world.settings, qinshui_admin),
    )
    assert wider.status_code == 422 and "outside yours" in wider.text
    # ... and does not see the city's user
    assert (
        client.get(
            f"/api/v1/users/{city.json()['id']}", headers=headers(world.settings, qinshui_admin)
        ).status_code
        == 404
    )
    listed = client.get("/api/v1/users?limit=500", headers=headers(world.settings, qinshui_admin))
    assert "jcclerk" not in listed.text and "lgclerk" in listed.text


def test_a_changed_division_signs_the_user_out(
    client: TestClient, db: Database, world: World
) -> None:
    clerk = make_user(db, "1405", name="jcclerk")
    own = headers(world.settings, clerk)
    assert client.get("/api/v1/me", headers=own).status_code == 200
    changed = client.patch(
        f"/api/v1/users/{clerk.id}",
        json={"division_code": "140521"},
        headers=world.headers("admin"),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["division_code"] == "140521"
    assert client.get("/api/v1/me", headers=own).status_code == 401


def test_create_user_takes_a_division(
    settings: Settings, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name, value in settings.model_dump().items():
        if isinstance(value, str | int | float | bool | Path) and value is not None:
            monkeypatch.setenv(f"MEMORIAL_{name.upper()}", str(value))
    result = CliRunner().invoke(
        cli,
        [
            "create-user",
            "--username",
            "jcadmin",
            "--password",
            "Jincheng-2026!",
            "--role",
            "admin",
            "--division",
            "1405",
        ],
    )
    assert result.exit_code == 0, result.output
    with db.session(write=False) as session:
        user = session.execute(select(User).where(User.username == "jcadmin")).scalar_one()
        assert user.division_code == "1405"
    result = CliRunner().invoke(
        cli,
        [
            "create-user",
            "--username",
            "bad",
            "--password",
            "Jincheng-2026!",
            "--role",
            "county",
            "--division",
            "99",
        ],
    )
    assert result.exit_code == 1 and "no county under division code 99" in result.output


# --- isolation across counties and cities -------------------------------------------------


@pytest.fixture
def region(
    client: TestClient,
    db: Database,
    settings: Settings,
    world: World,
    monkeypatch: pytest.MonkeyPatch,
) -> Isolated:
    """Township B in county 140302 (another city), with everything of its own."""
    add_county(db, OTHER_CITY_COUNTY, "城区")
    add_county(db, YANGCHENG, "阳城县")
    monkeypatch.setattr(test_isolation, "B_CODE", f"{OTHER_CITY_COUNTY}199")
    return test_isolation.make_isolated(client, db, settings, world)


@pytest.mark.parametrize("division", ["140521", "1405"])
def test_another_citys_township_never_shows(
    client: TestClient, db: Database, region: Isolated, division: str
) -> None:
    viewer = make_user(db, division, name=f"viewer{division}")
    token = factories.token(region.world.settings, viewer)
    client.cookies.set(SESSION_COOKIE, token)
    found: dict[str, list[str]] = {}
    for path in township_a_reads(region):
        if path in ("/m/", "/api/v1/me"):  # the phone's; the viewer's own id follows B's
            continue
        response = client.get(
            path, headers={"Authorization": f"Bearer {token}"}, follow_redirects=False
        )
        assert response.status_code == 200, f"{path}: {response.status_code} {response.text[:300]}"
        if leaks(text := plain_text(response.content)):
            found[path] = leaks(text)
    assert not found, f"another city's township shows to division {division}: {found}"
    for path in [
        f"/api/v1/facilities/{test_isolation.B_IDS['facility']}",
        f"/api/v1/inspections/{test_isolation.B_IDS['inspection']}",
        f"/api/v1/townships/{test_isolation.B_IDS['township']}",
        f"/api/v1/facilities?township_id={test_isolation.B_IDS['township']}",
    ]:
        answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert answer.status_code == 404, f"{path}: {answer.status_code}"


def test_the_province_sees_every_city(client: TestClient, db: Database, region: Isolated) -> None:
    viewer = make_user(db, "14", name="shanxi")
    token = factories.token(region.world.settings, viewer)
    auth = {"Authorization": f"Bearer {token}"}
    for path in [
        "/api/v1/facilities?limit=500",
        "/api/v1/map/facilities.geojson",
        "/api/v1/townships",
    ]:
        assert leaks(client.get(path, headers=auth).text), path
    counties = client.get("/api/v1/counties", headers=auth).json()
    assert {c["code"] for c in counties["items"]} == {"140521", YANGCHENG, OTHER_CITY_COUNTY}
    city = make_user(db, "1405", name="jincheng")
    counties = client.get("/api/v1/counties", headers=headers(region.world.settings, city)).json()
    assert {c["code"] for c in counties["items"]} == {"140521", YANGCHENG}


def test_a_city_user_sees_both_its_counties(client: TestClient, db: Database, world: World) -> None:
    add_county(db, YANGCHENG, "阳城县")
    with db.begin() as session:
        township = factories.make_township(session, code="140522100", name="凤城镇")
        facility = factories.make_facility(
            session, township=township, code="YC-001", name="阳城烈士墓"
        )
        facility_id = facility.id
    city = make_user(db, "1405", name="jincheng")
    county = make_user(db, "140521", name="qinshui")
    city_sees = client.get("/api/v1/facilities?limit=500", headers=headers(world.settings, city))
    assert {f["code"] for f in city_sees.json()["items"]} == {"A-001", "B-001", "YC-001"}
    county_sees = client.get(
        "/api/v1/facilities?limit=500", headers=headers(world.settings, county)
    )
    assert {f["code"] for f in county_sees.json()["items"]} == {"A-001", "B-001"}
    assert (
        client.get(
            f"/api/v1/facilities/{facility_id}", headers=headers(world.settings, county)
        ).status_code
        == 404
    )
    with db.session(write=False) as session:
        assert session.get(Township, township.id).county_id is not None  # type: ignore[union-attr]


def test_the_maps_draw_the_outlines_of_the_users_counties(
    client: TestClient, db: Database, world: World
) -> None:
    add_county(db, YANGCHENG, "阳城县", YANGCHENG_OUTLINE)
    add_county(db, OTHER_CITY_COUNTY, "城区", YANGCHENG_OUTLINE)
    city = headers(world.settings, make_user(db, "1405", name="jincheng"))
    qinshui = headers(world.settings, make_user(db, "140521", name="qinshui"))
    outlines = client.get("/ogc/collections/county/items", headers=city).json()
    assert [f["id"] for f in outlines["features"]] == ["140521", YANGCHENG]
    assert outlines["numberMatched"] == 2
    one = client.get(f"/ogc/collections/county/items/{YANGCHENG}", headers=city)
    assert one.json()["properties"]["name"] == "阳城县"
    assert client.get("/ogc/collections/county/items/county", headers=city).status_code == 404
    assert (
        client.get(f"/ogc/collections/county/items/{YANGCHENG}", headers=qinshui).status_code == 404
    )
    alone = client.get("/ogc/collections/county/items/county", headers=qinshui).json()
    assert alone["id"] == "140521"


def test_a_township_renumbered_into_another_county_takes_its_patrol_interval(
    client: TestClient, db: Database, world: World
) -> None:
    yangcheng = add_county(db, YANGCHENG, "阳城县")
    admin = world.headers("admin")
    set_policy = client.put(
        f"/api/v1/counties/{yangcheng}/patrol-policies",
        json={"intervals": {"unrated": 3}},
        headers=admin,
    )
    assert set_policy.status_code == 200, set_policy.text
    before = client.get(f"/api/v1/facilities/{world.facility_a.id}", headers=admin).json()
    moved = client.patch(
        f"/api/v1/townships/{world.township_a.id}", json={"code": "140522100"}, headers=admin
    )
    assert moved.status_code == 200, moved.text
    assert moved.json()["county_id"] == yangcheng
    after = client.get(f"/api/v1/facilities/{world.facility_a.id}", headers=admin).json()
    registered = date.fromisoformat(after["registered_on"])
    assert date.fromisoformat(after["next_due_on"]) == registered + timedelta(days=3)
    assert after["next_due_on"] != before["next_due_on"]
    # its inspector now reaches the township by its new code
    with db.session(write=False) as session:
        user = session.get(User, world.township_user.id)
        assert user is not None and user.division_code == "140522100"


def test_no_write_reaches_outside_the_writers_division(
    client: TestClient, db: Database, region: Isolated
) -> None:
    """A Qinshui admin and a Jincheng clerk act on a township of another city (B, 140302):
    every write is refused as if the township did not exist, and nothing is stored."""
    world = region.world
    b = test_isolation.B_IDS["township"]
    qinshui_admin = headers(world.settings, make_user(db, "140521", role=Role.admin, name="qsa"))
    city_clerk = headers(world.settings, make_user(db, "1405", name="jcc"))

    def counts() -> tuple[int, ...]:
        with db.session(write=False) as session:
            return tuple(
                session.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()
                for table in ("users", "facilities", "fund_allocations", "patrol_policies")
            ) + (
                session.execute(
                    text("SELECT count(*) FROM facilities WHERE township_id = :b"), {"b": b}
                ).scalar_one(),
            )

    before = counts()
    user = {"username": "outsider", "full_name": "外人", "role": "township", "township_id": b}
    answer = client.post(
        "/api/v1/users", json=user | {"password": "correct-horse-battery"}, headers=qinshui_admin
    )
    assert answer.status_code == 422 and f"no township with id {b}" in answer.text
    facility = {
        "code": "OUT-001",
        "name": "外市烈士墓",
        "kind": "grave",
        "tier": "county",
        "township_id": b,
        "longitude": 112.37,
        "latitude": 35.82,
    }
    for who in (qinshui_admin, city_clerk):
        answer = client.post("/api/v1/facilities", json=facility, headers=who)
        assert answer.status_code == 422 and f"no township with id {b}" in answer.text
        moved = client.patch(
            f"/api/v1/facilities/{world.facility_a.id}", json={"township_id": b}, headers=who
        )
        assert moved.status_code == 422, moved.text
        allocation = {"township_id": b, "year": 2025, "amount_fen": 100, "source": "county"}
        allocation |= {"document_no": "外市拨款", "allocated_on": "2025-03-01"}
        answer = client.post("/api/v1/fund-allocations", json=allocation, headers=who)
        assert answer.status_code == 422 and f"no township with id {b}" in answer.text
    policy = client.put(
        "/api/v1/patrol-policies", json={"intervals": {"unrated": 5}}, headers=qinshui_admin
    )
    assert policy.status_code == 403 and "whole installation" in policy.text
    assert counts() == before


def test_the_audit_log_of_a_division_is_its_own_users_acts(
    client: TestClient, db: Database, region: Isolated
) -> None:
    world = region.world
    outsider = headers(world.settings, make_user(db, OTHER_CITY_COUNTY, role=Role.admin, name="oa"))
    made = client.post(
        "/api/v1/townships",
        json={"code": f"{OTHER_CITY_COUNTY}188", "name": "外市乙镇"},
        headers=outsider,
    )
    assert made.status_code == 201, made.text
    qinshui_clerk = make_user(db, "140521", name="qsc")
    own = client.post(  # an act of Qinshui's own
        "/api/v1/fund-allocations",
        json={
            "township_id": world.township_a.id,
            "year": 2025,
            "amount_fen": 100,
            "source": "county",
            "document_no": "沁民〔2025〕1号",
            "allocated_on": "2025-03-01",
        },
        headers=headers(world.settings, qinshui_clerk),
    )
    assert own.status_code == 201, own.text
    seen = client.get(
        "/api/v1/audit?limit=500", headers=headers(world.settings, qinshui_clerk)
    ).json()
    assert "外市乙镇" not in json.dumps(seen, ensure_ascii=False)
    assert {e["action"] for e in seen["items"]} == {"allocation.create"}
    province = make_user(db, "14", name="sx")
    wide = client.get("/api/v1/audit?limit=500", headers=headers(world.settings, province))
    assert "外市乙镇" in wide.text


def test_the_admin_of_the_only_county_still_sets_the_default_intervals(
    client: TestClient, db: Database, world: World
) -> None:
    """Users that existed before counties reach Qinshui: while it is the installation's
    only county its admin keeps every power, the defaults and the whole audit log too."""
    qinshui_admin = headers(world.settings, make_user(db, "140521", role=Role.admin, name="qsa"))
    body = {"intervals": {"unrated": 20}}
    assert (
        client.put("/api/v1/patrol-policies", json=body, headers=qinshui_admin).status_code == 200
    )
    made = client.post(  # by the installation's admin (division '')
        "/api/v1/townships",
        json={"code": "140521188", "name": "新设镇"},
        headers=world.headers("admin"),
    )
    assert made.status_code == 201, made.text
    audit = client.get("/api/v1/audit?limit=500", headers=qinshui_admin).json()
    assert {"policy.update", "township.create"} <= {e["action"] for e in audit["items"]}
    add_county(db, YANGCHENG, "阳城县")  # now Qinshui is one county of two
    body = {"intervals": {"unrated": 25}}
    refused = client.put("/api/v1/patrol-policies", json=body, headers=qinshui_admin)
    assert refused.status_code == 403


def test_only_staff_of_the_whole_installation_generate_the_default_campaigns(
    client: TestClient, db: Database, world: World
) -> None:
    """The generated Qingming and 9·30 campaigns are every county's: a county's clerk of a
    province's installation does not set them for the others."""
    add_county(db, OTHER_CITY_COUNTY, "城区")
    qinshui = headers(world.settings, make_user(db, "140521", name="qsc"))
    refused = client.post("/api/v1/campaigns/generate?year=2027", headers=qinshui)
    assert refused.status_code == 403 and "every county" in refused.text
    with db.session(write=False) as session:
        assert session.execute(text("SELECT count(*) FROM campaigns")).scalar_one() == 0
    made = client.post("/api/v1/campaigns/generate?year=2027", headers=world.headers("county"))
    assert made.status_code == 201, made.text


def test_the_top_bar_names_the_users_counties(
    client: TestClient, db: Database, world: World
) -> None:
    add_county(db, YANGCHENG, "阳城县")
    for division, name in [("1405", "沁水县、阳城县"), ("140522", "阳城县")]:
        viewer = make_user(db, division, name=f"v{division}")
        client.cookies.set(SESSION_COOKIE, factories.token(world.settings, viewer))
        page = client.get("/")
        assert page.status_code == 200
        assert f"{name} · " in page.text, (division, page.text[:400])
