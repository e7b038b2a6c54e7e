from datetime import date, timedelta

import pytest
from fastapi.testclient import TestClient

from app.db import Database
from app.geo.crs import wgs84_to_bd09, wgs84_to_gcj02
from app.geo.distance import haversine_m
from app.models import Facility, FacilityStatus, Tier
from tests.factories import World, county, county_today, make_facility, off_the_edge

API = "/api/v1/facilities"
ROLES = ["admin", "county", "township", "other", "anonymous"]


def new_facility(world: World, **overrides) -> dict:
    body = {
        "code": "QS-NEW-01",
        "name": "【样例】新登记烈士墓",
        "kind": "grave",
        "tier": "county",
        "township_id": world.township_a.id,
        "village": "样例村",
        "longitude": 112.2,
        "latitude": 35.7,
        "martyrs": [{"name": "样例烈士甲", "note": "示例"}],
        "custodian_name": "管护员",
        "custodian_phone": "13800000001",
        "year_built": 1958,
        "registered_on": "2025-03-01",
    }
    return body | overrides


# --- reading and searching ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status", "codes"),
    [
        ("admin", 200, ["A-001", "B-001"]),
        ("county", 200, ["A-001", "B-001"]),
        ("township", 200, ["A-001"]),
        ("other", 200, ["B-001"]),
        ("anonymous", 401, None),
    ],
)
def test_list_shows_each_role_what_it_may_see(
    client: TestClient, world: World, who: str, status: int, codes: list[str] | None
) -> None:
    response = client.get(API, headers=world.headers(who))
    assert response.status_code == status
    if codes is not None:
        body = response.json()
        assert [f["code"] for f in body["items"]] == codes
        assert body["total"] == len(codes)
        assert (body["limit"], body["offset"]) == (50, 0)


def test_a_facility_reads_in_the_documented_shape(client: TestClient, world: World) -> None:
    body = client.get(f"{API}/{world.facility_a.id}", headers=world.headers("county")).json()
    assert set(body) >= {
        "id", "code", "name", "kind", "tier", "status", "township", "village", "address",
        "longitude", "latitude", "source_crs", "martyrs", "custodian_name", "custodian_phone",
        "year_built", "description", "registered_on", "last_inspected_at", "next_due_on",
        "overdue", "days_overdue",
    }  # fmt: skip
    assert body["township"] == {"id": world.township_a.id, "code": "140521100", "name": "龙港镇"}


@pytest.mark.parametrize(
    ("who", "facility", "status"),
    [
        ("admin", "facility_b", 200),
        ("county", "facility_b", 200),
        ("township", "facility_a", 200),
        ("township", "facility_b", 404),
        ("other", "facility_a", 404),
        ("anonymous", "facility_a", 401),
    ],
)
def test_reading_one_facility_is_scoped_to_the_township(
    client: TestClient, world: World, who: str, facility: str, status: int
) -> None:
    target = getattr(world, facility)
    response = client.get(f"{API}/{target.id}", headers=world.headers(who))
    assert response.status_code == status
    if status == 404:
        assert response.json()["detail"] == f"Facility {target.id} not found"


def test_a_missing_facility_is_404(client: TestClient, world: World) -> None:
    assert client.get(f"{API}/99999", headers=world.headers("admin")).status_code == 404


def test_filtering_on_another_township_is_404_for_township_users(
    client: TestClient, world: World
) -> None:
    response = client.get(
        API, params={"township_id": world.township_b.id}, headers=world.headers("township")
    )
    assert response.status_code == 404


@pytest.fixture
def registry(db: Database, world: World) -> World:
    """A few more facilities in township A to search through."""
    with db.begin() as session:
        make_facility(
            session,
            township=world.township_a,
            code="A-002",
            name="红军纪念碑",
            kind="monument",
            tier=Tier.county,
            village="端村",
            martyrs=[{"name": "王二小", "note": None}],
            martyr_names="王二小",
            lon=112.25,
            lat=35.75,
        )
        make_facility(
            session,
            township=world.township_a,
            code="A-003",
            name="已迁烈士墓",
            status=FacilityStatus.relocated,
            next_due_on=county_today() - timedelta(days=100),
        )
        make_facility(
            session,
            township=world.township_a,
            code="A_100%",
            name="逾期烈士墓",
            next_due_on=county_today() - timedelta(days=3),
        )
    return world


@pytest.mark.parametrize(
    ("params", "codes"),
    [
        ({"tier": "county"}, ["A-002"]),
        ({"kind": "monument"}, ["A-002"]),
        ({"status": "relocated"}, ["A-003"]),
        ({"q": "纪念碑"}, ["A-002"]),
        ({"q": "端村"}, ["A-002"]),
        ({"q": "王二小"}, ["A-002"]),
        ({"q": "a-00"}, ["A-001", "A-002", "A-003"]),
        ({"q": "%"}, ["A_100%"]),
        ({"q": "_1"}, ["A_100%"]),
        ({"bbox": "112.2,35.7,112.3,35.8"}, ["A-002"]),
        ({"overdue": "true"}, ["A_100%"]),
        ({"overdue": "false", "township_id": "TOWNSHIP_A"}, ["A-001", "A-002", "A-003"]),
    ],
)
def test_filters_narrow_the_list(
    client: TestClient, registry: World, params: dict, codes: list[str]
) -> None:
    if params.get("township_id") == "TOWNSHIP_A":
        params = params | {"township_id": registry.township_a.id}
    response = client.get(API, params=params, headers=registry.headers("county"))
    assert response.status_code == 200, response.text
    assert sorted(f["code"] for f in response.json()["items"]) == sorted(codes)


def test_overdue_facilities_say_by_how_many_days(client: TestClient, registry: World) -> None:
    items = client.get(API, params={"q": "逾期"}, headers=registry.headers("county")).json()
    assert items["items"][0]["overdue"] is True
    assert items["items"][0]["days_overdue"] == 3
    relocated = client.get(API, params={"q": "已迁"}, headers=registry.headers("county")).json()
    assert relocated["items"][0]["overdue"] is False  # only active facilities are tracked


def test_paging_and_sorting(client: TestClient, registry: World) -> None:
    headers = registry.headers("county")
    first = client.get(API, params={"limit": 2, "sort": "-code"}, headers=headers).json()
    second = client.get(API, params={"limit": 2, "offset": 2, "sort": "-code"}, headers=headers)
    assert first["total"] == 5
    assert [f["code"] for f in first["items"]] == ["B-001", "A_100%"]
    assert [f["code"] for f in second.json()["items"]] == ["A-003", "A-002"]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 501}, "limit"),
        ({"limit": 0}, "limit"),
        ({"offset": -1}, "offset"),
        ({"tier": "imperial"}, "tier"),
        ({"bbox": "1,2,3"}, "bbox"),
        ({"bbox": "112.3,35,112.2,36"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"overdue": "maybe"}, "overdue"),
        ({"sort": "password"}, "sort"),
        ({"township_id": "99999999999999999999"}, "township_id"),
    ],
)
def test_bad_list_parameters_are_422_naming_the_parameter(
    client: TestClient, world: World, params: dict, field: str
) -> None:
    response = client.get(API, params=params, headers=world.headers("county"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][-1] == field


# --- registering -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 201), ("county", 201), ("township", 403), ("other", 403), ("anonymous", 401)],
)
def test_only_county_staff_register_facilities(
    client: TestClient, world: World, who: str, status: int
) -> None:
    response = client.post(API, json=new_facility(world), headers=world.headers(who))
    assert response.status_code == status


def test_registering_stores_the_facility_and_its_first_due_date(
    client: TestClient, world: World
) -> None:
    response = client.post(API, json=new_facility(world), headers=world.headers("county"))
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "active"
    assert body["registered_on"] == "2025-03-01"
    assert body["next_due_on"] == "2025-03-31"  # county tier: 30 days
    assert body["last_inspected_at"] is None
    assert body["martyrs"] == [{"name": "样例烈士甲", "note": "示例"}]
    assert client.get(f"{API}/{body['id']}", headers=world.headers("township")).json() == body


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_coordinates_from_chinese_map_apps_are_stored_as_wgs84(
    client: TestClient, world: World, crs: str
) -> None:
    wgs = (112.2, 35.7)
    given = wgs84_to_gcj02(*wgs) if crs == "gcj02" else wgs84_to_bd09(*wgs)
    body = new_facility(world, longitude=given[0], latitude=given[1], crs=crs)
    stored = client.post(API, json=body, headers=world.headers("county")).json()
    assert haversine_m(stored["longitude"], stored["latitude"], *wgs) < 1
    assert stored["source_crs"] == crs
    assert (stored["source_longitude"], stored["source_latitude"]) == given


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"longitude": 116.4, "latitude": 39.9}, "longitude"),  # Beijing
        ({"latitude": 36.5}, "latitude"),
        ({"kind": "pyramid"}, "kind"),
        ({"tier": "imperial"}, "tier"),
        ({"status": "lost"}, "status"),
        ({"crs": "osgb36"}, "crs"),
        ({"longitude": "east"}, "longitude"),
        ({"latitude": None}, "latitude"),
        ({"longitude": 200}, "longitude"),
        ({"code": ""}, "code"),
        ({"code": "has space"}, "code"),
        ({"code": "x" * 33}, "code"),
        ({"name": "名" * 101}, "name"),
        ({"custodian_phone": "call me"}, "custodian_phone"),
        ({"year_built": 1700}, "year_built"),
        ({"registered_on": "2999-01-01"}, "registered_on"),
        ({"township_id": 12345}, "township_id"),
        ({"martyrs": [{"name": ""}]}, "name"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_bad_facility_input_is_422_naming_the_field(
    client: TestClient, world: World, overrides: dict, field: str
) -> None:
    response = client.post(
        API, json=new_facility(world, **overrides), headers=world.headers("county")
    )
    assert response.status_code == 422, response.text
    assert field in response.json()["detail"][0]["loc"], response.json()


@pytest.mark.parametrize("missing", ["code", "name", "kind", "township_id", "longitude"])
def test_missing_required_fields_are_named(client: TestClient, world: World, missing: str) -> None:
    body = new_facility(world)
    del body[missing]
    response = client.post(API, json=body, headers=world.headers("county"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", missing]


# --- the county's outline: points near its edge ------------------------------------------


def register(client: TestClient, world: World, point: tuple[float, float], **overrides):
    body = new_facility(world, longitude=point[0], latitude=point[1], **overrides)
    return client.post(API, json=body, headers=world.headers("county"))


def test_a_point_just_inside_the_outline_is_accepted(client: TestClient, world: World) -> None:
    assert register(client, world, off_the_edge(-50)).status_code == 201


def test_a_point_just_outside_the_outline_but_within_the_margin_is_accepted(
    client: TestClient, world: World
) -> None:
    point = off_the_edge(1500)
    assert county().distance_outside_m(*point) > 1000
    assert register(client, world, point).status_code == 201


def test_a_point_beyond_the_margin_is_refused_naming_the_field_and_the_distance(
    client: TestClient, world: World
) -> None:
    response = register(client, world, off_the_edge(2500, facing=(1.0, 0.0)))  # east of it
    assert response.status_code == 422
    problem = response.json()["detail"][0]
    assert problem["loc"] == ["body", "longitude"]
    assert "2.5 km outside the county 沁水县" in problem["msg"]
    assert "more than the 2 km allowed" in problem["msg"]
    assert "coordinate system" in problem["msg"]


def test_the_margin_is_configured_in_metres(client: TestClient, world: World, settings) -> None:
    settings.county_margin_m = 1000
    response = register(client, world, off_the_edge(1500))
    assert response.status_code == 422
    assert "more than the 1 km allowed" in response.json()["detail"][0]["msg"]


def test_a_point_inside_the_old_box_but_outside_the_county_is_refused(
    client: TestClient, world: World
) -> None:
    point = (112.75, 35.35)  # in the box 111.9–112.8 × 35.3–36.2, south-east of the county
    assert county().distance_outside_m(*point) > 5000
    assert register(client, world, point).status_code == 422


def _shift(crs: str) -> tuple[float, float]:
    """Which way (east, north) a map app's coordinates lie from WGS-84 in the county."""
    lon, lat = county().geometry.centroid.coords[0]
    moved = wgs84_to_gcj02(lon, lat) if crs == "gcj02" else wgs84_to_bd09(lon, lat)
    return moved[0] - lon, moved[1] - lat


def _as(crs: str, point: tuple[float, float]) -> tuple[float, float]:
    return wgs84_to_gcj02(*point) if crs == "gcj02" else wgs84_to_bd09(*point)


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_map_app_point_is_judged_after_conversion_inside(
    client: TestClient, world: World, crs: str
) -> None:
    """1.8 km out in WGS-84 (allowed); the same numbers read as WGS-84 would be too far."""
    wgs = off_the_edge(1800, facing=_shift(crs))
    given = _as(crs, wgs)
    assert county().distance_outside_m(*given) > 2100
    accepted = register(client, world, given, crs=crs)
    assert accepted.status_code == 201, accepted.text
    assert haversine_m(accepted.json()["longitude"], accepted.json()["latitude"], *wgs) < 1
    assert register(client, world, given, code="QS-NEW-02").status_code == 422


@pytest.mark.parametrize("crs", ["gcj02", "bd09"])
def test_a_map_app_point_is_judged_after_conversion_outside(
    client: TestClient, world: World, crs: str
) -> None:
    """2.3 km out in WGS-84 (refused); the same numbers read as WGS-84 would be allowed."""
    east, north = _shift(crs)
    wgs = off_the_edge(2300, facing=(-east, -north))
    given = _as(crs, wgs)
    assert county().distance_outside_m(*given) < 1900
    refused = register(client, world, given, crs=crs)
    assert refused.status_code == 422
    assert f"converted from {crs}" in refused.json()["detail"][0]["msg"]
    assert register(client, world, given).status_code == 201


def test_the_out_of_county_message_says_where_the_point_is(
    client: TestClient, world: World
) -> None:
    body = new_facility(world, longitude=116.4, latitude=39.9)
    message = client.post(API, json=body, headers=world.headers("county")).json()["detail"][0]
    assert "outside the county" in message["msg"]
    assert "116.4" in message["msg"]


def test_a_duplicate_code_is_409(client: TestClient, world: World) -> None:
    response = client.post(
        API, json=new_facility(world, code="A-001"), headers=world.headers("county")
    )
    assert response.status_code == 409
    assert "A-001" in response.json()["detail"]


# --- changing ----------------------------------------------------------------------------


def test_county_staff_change_any_field_and_the_due_date_follows_the_tier(
    client: TestClient, world: World
) -> None:
    response = client.patch(
        f"{API}/{world.facility_b.id}",
        json={"tier": "national", "name": "更名", "township_id": world.township_a.id},
        headers=world.headers("county"),
    )
    assert response.status_code == 200
    body = response.json()
    registered = date.fromisoformat(body["registered_on"])
    assert body["next_due_on"] == (registered + timedelta(days=7)).isoformat()
    assert body["township"]["id"] == world.township_a.id
    assert body["name"] == "更名"


def test_township_users_may_correct_custodian_and_notes_of_their_own_facilities(
    client: TestClient, world: World
) -> None:
    response = client.patch(
        f"{API}/{world.facility_a.id}",
        json={"custodian_phone": "13900000002", "description": "碑文已重新描红"},
        headers=world.headers("township"),
    )
    assert response.status_code == 200, response.text
    assert response.json()["custodian_phone"] == "13900000002"


def test_only_county_staff_move_a_facility(client: TestClient, world: World) -> None:
    """Reports are judged on site against the location: the reporters may not move it."""
    gcj = wgs84_to_gcj02(112.21, 35.71)
    move = {"longitude": gcj[0], "latitude": gcj[1], "crs": "gcj02"}
    refused = client.patch(
        f"{API}/{world.facility_a.id}", json=move, headers=world.headers("township")
    )
    assert refused.status_code == 403
    moved = client.patch(f"{API}/{world.facility_a.id}", json=move, headers=world.headers("county"))
    body = moved.json()
    assert haversine_m(body["longitude"], body["latitude"], 112.21, 35.71) < 1


@pytest.mark.parametrize("field", ["tier", "status", "code", "township_id", "longitude"])
def test_township_users_may_not_change_what_the_county_decides(
    client: TestClient, world: World, field: str
) -> None:
    value = {
        "tier": "national",
        "status": "archived",
        "code": "X",
        "township_id": world.township_b.id,
    }
    body = {"longitude": 112.3, "latitude": 35.7} if field == "longitude" else {field: value[field]}
    response = client.patch(
        f"{API}/{world.facility_a.id}",
        json=body,
        headers=world.headers("township"),
    )
    assert response.status_code == 403
    assert field in response.json()["detail"]


@pytest.mark.parametrize(("who", "status"), [("other", 404), ("anonymous", 401), ("county", 200)])
def test_changing_another_townships_facility_is_404(
    client: TestClient, world: World, who: str, status: int
) -> None:
    response = client.patch(
        f"{API}/{world.facility_a.id}", json={"description": "x"}, headers=world.headers(who)
    )
    assert response.status_code == status


@pytest.mark.parametrize(
    "change",
    [{"longitude": 112.2}, {"crs": "gcj02"}, {"name": None}, {"tier": None}, {"code": "B-001"}],
)
def test_incoherent_changes_are_refused(client: TestClient, world: World, change: dict) -> None:
    response = client.patch(
        f"{API}/{world.facility_a.id}", json=change, headers=world.headers("county")
    )
    assert response.status_code == (409 if "code" in change else 422)


# --- archiving ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "status"),
    [("admin", 200), ("county", 200), ("township", 403), ("other", 404), ("anonymous", 401)],
)
def test_only_county_staff_archive(client: TestClient, world: World, who: str, status: int) -> None:
    response = client.delete(f"{API}/{world.facility_a.id}", headers=world.headers(who))
    assert response.status_code == status


def test_archiving_keeps_the_facility_and_takes_it_off_the_schedule(
    client: TestClient, world: World, db: Database
) -> None:
    with db.begin() as session:
        facility = session.get(Facility, world.facility_a.id)
        facility.next_due_on = county_today() - timedelta(days=5)
    response = client.delete(f"{API}/{world.facility_a.id}", headers=world.headers("county"))
    assert response.json()["status"] == "archived"
    assert response.json()["overdue"] is False
    again = client.get(f"{API}/{world.facility_a.id}", headers=world.headers("township"))
    assert again.status_code == 200
    assert again.json()["status"] == "archived"


def test_every_change_is_audited_with_before_and_after(client: TestClient, world: World) -> None:
    headers = world.headers("county")
    created = client.post(API, json=new_facility(world), headers=headers).json()
    client.patch(f"{API}/{created['id']}", json={"tier": "municipal"}, headers=headers)
    client.delete(f"{API}/{created['id']}", headers=headers)
    log = client.get(
        "/api/v1/audit",
        params={"object_type": "facility", "object_id": created["id"]},
        headers=headers,
    ).json()
    actions = [e["action"] for e in log["items"]]
    assert actions == ["facility.archive", "facility.update", "facility.create"]
    update = log["items"][1]
    assert update["before"]["tier"] == "county"
    assert update["after"]["tier"] == "municipal"
    assert update["actor_username"] == "clerk"
