"""Map clusters: the feed's sites counted on a grid in SQL, scoped and filtered like the feed."""

import math
from datetime import timedelta

import geojson
import pytest
from fastapi.testclient import TestClient

from app.config import BBox
from app.geo import clusters
from app.models import County, FacilityStatus, Role, Tier
from tests.factories import World, auth, county_today, make_facility, make_township, make_user

CLUSTERS = "/api/v1/map/clusters"
FEED = "/api/v1/map/facilities.geojson"
#: Qinshui and around: every site of these tests lies inside
COUNTY = "111.9,35.4,112.6,36.1"


def get_clusters(client: TestClient, world: World, who: str = "admin", **params: object) -> dict:
    response = client.get(CLUSTERS, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    document = geojson.loads(response.text)
    assert document.is_valid, document.errors()
    return response.json()


def feed_total(client: TestClient, world: World, who: str = "admin", **params: object) -> int:
    response = client.get(FEED, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return len(response.json()["features"])


def counts(document: dict) -> list[int]:
    return [f["properties"]["count"] for f in document["features"]]


def spread(db, world: World, *, n: int = 5) -> None:
    """``n`` × ``n`` sites of township A on a lattice 0.1° apart, some overdue, due soon,
    archived; and a close pair of township B."""
    today = county_today()
    with db.begin() as session:
        for i in range(n):
            for j in range(n):
                due = today + timedelta(days=(i * n + j) % 12 - 3)  # -3 … +8 days
                status = FacilityStatus.archived if (i + j) % 7 == 0 else FacilityStatus.active
                make_facility(session, township=world.township_a, code=f"L-{i}-{j}",
                              lon=112.0 + 0.1 * i, lat=35.5 + 0.1 * j, next_due_on=due,
                              status=status, tier=Tier.county if i % 2 else Tier.unrated)  # fmt: skip
        make_facility(session, township=world.township_b, code="B-2", lon=112.3701, lat=35.8201)


def test_clusters_are_points_whose_counts_add_up_to_the_feed_for_the_same_box(
    client: TestClient, world: World, db
) -> None:
    spread(db, world)
    for bbox in (COUNTY, "112.05,35.55,112.35,35.95", "112.15,35.45,112.25,35.65"):
        for zoom in (6, 9, 11, 14):
            document = get_clusters(client, world, bbox=bbox, zoom=zoom)
            expected = feed_total(client, world, bbox=bbox)
            assert sum(counts(document)) == document["total"] == expected, (bbox, zoom)
            assert sum(document["states"].values()) == expected
            for feature in document["features"]:
                assert feature["geometry"]["type"] == "Point"
                props = feature["properties"]
                assert sum(props["states"].values()) == props["count"] >= 1
    # with the feed's filters too
    filtered = get_clusters(client, world, bbox=COUNTY, zoom=8, tier="county")
    assert filtered["total"] == feed_total(client, world, bbox=COUNTY, tier="county") == 10
    overdue = get_clusters(client, world, bbox=COUNTY, zoom=8, overdue="true")
    assert overdue["total"] == feed_total(client, world, bbox=COUNTY, overdue="true")
    assert overdue["states"]["overdue"] == overdue["total"] > 0
    by_code = get_clusters(client, world, bbox=COUNTY, zoom=8, township_code="140521103")
    assert by_code["total"] == feed_total(client, world, township_code="140521103") == 2


def test_a_cell_sits_at_the_average_of_its_sites_and_a_lone_site_is_named(
    client: TestClient, world: World, db
) -> None:
    with db.begin() as session:
        one = make_facility(session, township=world.township_a, code="ONE", name="孤塚",
                            lon=110.01, lat=30.01)  # fmt: skip
        for lon, lat in ((110.41, 30.41), (110.42, 30.43)):
            make_facility(session, township=world.township_a, lon=lon, lat=lat)
    # zoom 8: cells of 360 / 256 / 4 ≈ 0.35°; the pair shares one, the lone site has its own
    document = get_clusters(client, world, bbox="110.0,30.0,110.9,30.9", zoom=8)
    by_count = {f["properties"]["count"]: f for f in document["features"]}
    assert sorted(by_count) == [1, 2]
    pair = by_count[2]
    assert pair["geometry"]["coordinates"] == [110.415, 30.42]
    assert "facility_id" not in pair["properties"]
    lone = by_count[1]
    assert lone["geometry"]["coordinates"] == [110.01, 30.01]
    assert lone["properties"] | {"cell": None} == {
        "count": 1,
        "state": "ok",
        "states": {"archived": 0, "ok": 1, "due_soon": 0, "overdue": 0},
        "cell": None,
        "facility_id": one.id,
        "code": "ONE",
        "name": "孤塚",
    }
    size = clusters.cell_degrees(8)
    assert lone["properties"]["cell"] == [math.floor(290.01 / size), math.floor(120.01 / size)]
    assert lone["id"] == "8/{}/{}".format(*lone["properties"]["cell"])


@pytest.mark.parametrize(
    ("states", "worst"),
    [
        (("archived", "ok", "due_soon", "overdue"), "overdue"),
        (("archived", "ok", "due_soon"), "due_soon"),
        (("ok", "archived"), "ok"),
        (("archived", "archived"), "archived"),
    ],
)
def test_a_cell_takes_the_most_urgent_state_of_its_sites(
    client: TestClient, world: World, db, states: tuple[str, ...], worst: str
) -> None:
    today = county_today()
    dues = {
        "overdue": today - timedelta(days=1),
        "due_soon": today + timedelta(days=clusters.DUE_SOON_DAYS),  # the last amber day
        "ok": today + timedelta(days=clusters.DUE_SOON_DAYS + 1),
        "archived": today - timedelta(days=30),  # overdue, were it still patrolled
    }
    with db.begin() as session:
        for n, state in enumerate(states):
            status = FacilityStatus.archived if state == "archived" else FacilityStatus.active
            make_facility(session, township=world.township_a, lon=112.51 + n * 1e-4, lat=36.0,
                          next_due_on=dues[state], status=status)  # fmt: skip
    document = get_clusters(client, world, bbox="112.45,35.95,112.55,36.05", zoom=10)
    [cell] = document["features"]
    assert cell["properties"]["state"] == worst
    assert cell["properties"]["states"] == {s: states.count(s) for s in clusters.STATES}
    # and the state the map would colour each site is the feed's: overdue exactly when the
    # feed says so
    overdue = feed_total(client, world, bbox="112.45,35.95,112.55,36.05", overdue="true")
    assert overdue == states.count("overdue")
    # the state filter keeps only that state's sites
    only = get_clusters(client, world, bbox="112.45,35.95,112.55,36.05", zoom=10, state=worst)
    assert only["total"] == states.count(worst)


def test_a_finer_zoom_makes_more_smaller_cells_on_the_documented_grid(
    client: TestClient, world: World, db
) -> None:
    spread(db, world)
    response = client.get(FEED, params={"bbox": COUNTY}, headers=world.headers("admin"))
    points = [f["geometry"]["coordinates"] for f in response.json()["features"]]
    cells = []
    for zoom in range(4, 13):
        size = clusters.cell_degrees(zoom)
        expected = {(math.floor((lon + 180) / size), math.floor((lat + 90) / size))
                    for lon, lat in points}  # fmt: skip
        document = get_clusters(client, world, bbox=COUNTY, zoom=zoom)
        assert document["grid"]["zoom"] == zoom
        assert {tuple(f["properties"]["cell"]) for f in document["features"]} == expected
        cells.append(len(expected))
    assert cells[0] == 1  # zoom 4: one cell of 5.6° holds the county
    assert cells == sorted(cells) and len(set(cells)) > 3
    assert cells[-1] == 27  # zoom 12: every site its own cell but B-2, 15 m from B-001


def test_a_township_user_counts_only_their_township(client: TestClient, world: World, db) -> None:
    spread(db, world)
    mine = get_clusters(client, world, "township", bbox=COUNTY, zoom=9)
    assert mine["total"] == feed_total(client, world, "township", bbox=COUNTY) == 26
    theirs = get_clusters(client, world, "other", bbox=COUNTY, zoom=9)
    assert theirs["total"] == 2  # B-001 and B-2
    assert {f["properties"].get("code") for f in theirs["features"]} <= {"B-001", "B-2", None}
    everyone = get_clusters(client, world, "county", bbox=COUNTY, zoom=9)
    assert everyone["total"] == 28
    hidden = client.get(
        CLUSTERS, params={"township_id": world.township_b.id}, headers=world.headers("township")
    )
    assert hidden.status_code == 404
    assert client.get(CLUSTERS).status_code == 401


def test_without_a_box_the_grid_spans_the_callers_own_sites(
    client: TestClient, world: World, db
) -> None:
    spread(db, world)
    document = get_clusters(client, world, "township", zoom=10)
    assert document["total"] == 26
    # the extent of township A's sites
    assert document["bbox"] == pytest.approx([112.0, 35.5, 112.4, 35.9])
    assert document["grid"]["zoom"] == 10
    # no zoom either: the finest the cell limit allows
    finest = get_clusters(client, world, "township")
    assert finest["grid"]["requested_zoom"] == clusters.MAX_ZOOM
    assert finest["grid"]["columns"] * finest["grid"]["rows"] <= clusters.MAX_CELLS
    assert finest["total"] == 26
    # and of the sites the filters select: a map fits itself to a township from this
    township_b = get_clusters(client, world, township_id=world.township_b.id, zoom=10)
    assert township_b["bbox"] == pytest.approx([112.37, 35.82, 112.3701, 35.8201])
    assert township_b["total"] == 2


def test_the_cell_limit_holds_for_any_box_and_zoom(client: TestClient, world: World, db) -> None:
    with db.begin() as session:  # two sites far apart: a fine grid between them is huge
        make_facility(session, township=world.township_a, lon=-170.0, lat=-80.0)
        make_facility(session, township=world.township_a, lon=170.0, lat=80.0)
    document = get_clusters(client, world, bbox="-180,-90,180,90", zoom=18)
    grid = document["grid"]
    assert grid["requested_zoom"] == 18 and grid["zoom"] == 4
    assert grid["columns"] * grid["rows"] <= clusters.MAX_CELLS
    assert document["total"] == feed_total(client, world, bbox="-180,-90,180,90") == 4
    for feature in document["features"]:  # SQL put every site in a cell of the grid
        column, row = feature["properties"]["cell"]
        assert 0 <= column < grid["columns"] and 0 <= row < grid["rows"]


@pytest.mark.parametrize(
    "box",
    [(-180, -90, 180, 90), (112.0, 35.5, 112.9, 36.4), (0, 0, 1e-6, 1e-6), (-1, -1, 1, 1),
     (179.9, 89.9, 180, 90), (100, 20, 125, 45)],
)  # fmt: skip
def test_the_grid_is_the_finest_that_fits_the_cell_limit(box: tuple[float, ...]) -> None:
    for zoom in range(clusters.MAX_ZOOM + 1):
        grid = clusters.grid_for(BBox(box), zoom)
        assert grid.cells <= clusters.MAX_CELLS
        assert grid.zoom <= zoom
        if grid.zoom < zoom:  # one finer would not fit
            assert clusters.Grid(BBox(box), grid.zoom + 1, zoom).cells > clusters.MAX_CELLS


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"zoom": 19}, "zoom"),
        ({"zoom": -1}, "zoom"),
        ({"zoom": "1.5"}, "zoom"),
        ({"zoom": "far"}, "zoom"),
        ({"bbox": "112,35,113"}, "bbox"),
        ({"bbox": "113,35,112,36"}, "bbox"),
        ({"bbox": "a,b,c,d"}, "bbox"),
        ({"bbox": "112,35,113,95"}, "bbox"),
        ({"state": "late"}, "state"),
    ],
)
def test_a_bad_box_or_zoom_is_a_422_naming_it(
    client: TestClient, world: World, params: dict, name: str
) -> None:
    response = client.get(CLUSTERS, params=params, headers=world.headers("admin"))
    assert response.status_code == 422, response.text
    assert [e["loc"] for e in response.json()["detail"]] == [["query", name]]
    chinese = client.get(
        CLUSTERS, params=params, headers=world.headers("admin") | {"Accept-Language": "zh-CN"}
    )
    label = {"zoom": "地图缩放级别", "bbox": "地图范围", "state": "巡查状态"}[name]
    [error] = chinese.json()["detail"]
    assert chinese.status_code == 422 and label in error["msg"], error


def test_an_unchanged_answer_is_a_304(client: TestClient, world: World, db) -> None:
    spread(db, world)
    params = {"bbox": COUNTY, "zoom": 9}
    first = client.get(CLUSTERS, params=params, headers=world.headers("county"))
    tag = first.headers["etag"]
    again = client.get(
        CLUSTERS, params=params, headers=world.headers("county") | {"If-None-Match": tag}
    )
    assert again.status_code == 304
    with db.begin() as session:
        make_facility(session, township=world.township_a, lon=112.2, lat=35.7)
    moved = client.get(
        CLUSTERS, params=params, headers=world.headers("county") | {"If-None-Match": tag}
    )
    assert moved.status_code == 200 and moved.json()["total"] == first.json()["total"] + 1


def test_a_division_user_counts_the_townships_under_their_code(
    client: TestClient, world: World, db
) -> None:
    """Qinshui's staff (140521) count Qinshui; Jincheng city's (1405) also Yangcheng
    (140522); Shanxi's (14) also a county of another city (140302)."""
    with db.begin() as session:
        for code, name in (("140522", "阳城县"), ("140302", "另一市的县")):
            session.add(County(code=code, name=name))
        session.flush()
        yangcheng = make_township(session, code="140522100", name="凤城镇")
        elsewhere = make_township(session, code="140302100", name="别处镇")
        for n in range(3):
            make_facility(session, township=yangcheng, lon=112.41 + n * 0.01, lat=35.48)
        make_facility(session, township=elsewhere, lon=112.5, lat=35.5)
        users = {}
        for division in ("140521", "1405", "14"):
            user = make_user(session, role=Role.county, username=f"d{division}")
            user.division_code = division
            users[division] = auth(world.settings, user)
    for division, expected in (("140521", 2), ("1405", 5), ("14", 6)):
        headers = users[division]
        answer = client.get(CLUSTERS, params={"bbox": COUNTY, "zoom": 9}, headers=headers)
        assert answer.status_code == 200, answer.text
        feed = client.get(FEED, params={"bbox": COUNTY}, headers=headers)
        assert answer.json()["total"] == len(feed.json()["features"]) == expected, division
        # without a box: the extent of the division's own sites
        whole = client.get(CLUSTERS, params={"zoom": 9}, headers=headers).json()
        assert whole["total"] == expected
    hidden = client.get(CLUSTERS, params={"township_id": yangcheng.id}, headers=users["140521"])
    assert hidden.status_code == 404
