"""OGC API – Features (Part 1 Core, GeoJSON) under /ogc: documents, items, errors, scope."""

from datetime import UTC, datetime, timedelta

import geojson
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.models import Tier
from tests.conftest import make_settings
from tests.factories import World, make_facility

ITEMS = "/ogc/collections/facilities/items"
CRS84 = "<http://www.opengis.net/def/crs/OGC/1.3/CRS84>"


def get(client: TestClient, world: World, path: str, who: str = "admin", **params) -> dict:
    response = client.get(path, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    return response.json()


def items(client: TestClient, world: World, who: str = "admin", **params) -> dict:
    response = client.get(ITEMS, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["content-crs"] == CRS84
    assert geojson.loads(response.text).is_valid
    return response.json()


def codes(document: dict) -> list[str]:
    return sorted(f["properties"]["code"] for f in document["features"])


def rels(document: dict) -> dict[str, dict]:
    return {link["rel"]: link for link in document["links"]}


def test_the_landing_page_links_the_api_conformance_and_data(
    client: TestClient, world: World
) -> None:
    links = rels(get(client, world, "/ogc"))
    assert links["self"]["href"] == "http://testserver/ogc"
    assert links["service-desc"]["href"] == "http://testserver/ogc/api"
    assert links["conformance"]["href"].endswith("/ogc/conformance")
    assert links["data"]["href"].endswith("/ogc/collections")
    conforms = get(client, world, "/ogc/conformance")["conformsTo"]
    assert {c.rsplit("/", 1)[1] for c in conforms} == {"core", "geojson", "oas30"}


def test_the_api_definition_is_openapi_3_with_the_paging_limits(
    client: TestClient, world: World
) -> None:
    document = get(client, world, "/ogc/api")
    assert document["openapi"].startswith("3.0")
    operation = document["paths"]["/collections/{collectionId}/items"]["get"]
    limit = next(p for p in operation["parameters"] if p["name"] == "limit")
    assert (limit["schema"]["maximum"], limit["schema"]["default"]) == (10_000, 100)


def test_collections_describe_facilities_with_their_extent_and_the_county(
    client: TestClient, world: World
) -> None:
    found = {c["id"]: c for c in get(client, world, "/ogc/collections")["collections"]}
    assert set(found) == {"facilities", "county"}
    assert found["facilities"]["extent"]["spatial"]["bbox"] == [[112.19, 35.69, 112.37, 35.82]]
    mine = get(client, world, "/ogc/collections/facilities", "township")
    assert mine["extent"]["spatial"]["bbox"] == [[112.19, 35.69, 112.19, 35.69]]
    assert rels(mine)["items"]["type"] == "application/geo+json"
    queryables = get(client, world, "/ogc/collections/facilities/queryables")
    assert set(queryables["properties"]) >= {"tier", "township_code", "status", "overdue"}


def test_items_page_with_counts_and_links(client: TestClient, world: World, db) -> None:
    with db.begin() as session:
        for n in range(3):
            make_facility(session, township=world.township_a, code=f"P-{n}")
    first = items(client, world, limit=2)
    assert (first["numberMatched"], first["numberReturned"]) == (5, 2)
    assert datetime.fromisoformat(first["timeStamp"]) <= datetime.now(UTC)
    links = rels(first)
    assert "prev" not in links
    assert links["alternate"]["href"].startswith("http://testserver/api/v1/map/facilities.geojson")
    second = client.get(links["next"]["href"], headers=world.headers("admin")).json()
    assert second["numberReturned"] == 2 and "prev" in rels(second)
    last = client.get(rels(second)["next"]["href"], headers=world.headers("admin")).json()
    assert last["numberReturned"] == 1 and "next" not in rels(last)
    assert items(client, world, limit=50_000)["numberReturned"] == 5  # clamped, not refused


def test_items_filter_by_property_bbox_and_datetime(client: TestClient, world: World, db) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with db.begin() as session:
        make_facility(session, township=world.township_b, code="NAT", tier=Tier.national,
                      last_inspected_at=now - timedelta(days=2))  # fmt: skip
        make_facility(session, township=world.township_b, code="OLD",
                      last_inspected_at=now - timedelta(days=40))  # fmt: skip
    assert codes(items(client, world, tier="national")) == ["NAT"]
    assert codes(items(client, world, township_code="140521100")) == ["A-001"]
    assert codes(items(client, world, status="archived")) == []
    assert codes(items(client, world, overdue="false")) == ["A-001", "B-001", "NAT", "OLD"]
    assert codes(items(client, world, bbox="112.3,35.8,112.4,35.9")) == ["B-001"]
    assert codes(items(client, world, bbox="112.3,35.8,0,112.4,35.9,100")) == ["B-001"]
    week = (now - timedelta(days=7)).isoformat()
    assert codes(items(client, world, datetime=f"{week}/..")) == ["NAT"]
    assert codes(items(client, world, datetime=f"../{week}")) == ["OLD"]
    month = f"{(now - timedelta(days=60)).date()}/{now.date()}"
    assert codes(items(client, world, datetime=month)) == ["NAT", "OLD"]
    instant = (now - timedelta(days=2)).isoformat().replace("+00:00", "Z")
    assert codes(items(client, world, datetime=instant)) == ["NAT"]


def test_one_feature_by_id_and_unknown_ones_are_404(client: TestClient, world: World) -> None:
    path = f"{ITEMS}/{world.facility_a.id}"
    feature = get(client, world, path, "township")
    assert feature["properties"]["code"] == "A-001"
    assert geojson.loads(client.get(path, headers=world.headers("admin")).text).is_valid
    for missing in (f"{ITEMS}/{world.facility_b.id}", f"{ITEMS}/999999", f"{ITEMS}/abc",
                    f"{ITEMS}/-1", "/ogc/collections/roads", "/ogc/collections/roads/items"):  # fmt: skip
        response = client.get(missing, headers=world.headers("township"))
        assert response.status_code == 404, missing
        assert set(response.json()) == {"code", "description"}


def test_the_county_collection_is_one_outline_feature(client: TestClient, world: World) -> None:
    document = get(client, world, "/ogc/collections/county/items")
    assert document["numberMatched"] == 1
    [feature] = document["features"]
    assert feature["type"] == "Feature"
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    assert get(client, world, "/ogc/collections/county/items/county")["type"] == "Feature"


def test_a_township_token_sees_its_own_township(client: TestClient, world: World) -> None:
    document = items(client, world, "township")
    assert codes(document) == ["A-001"] and document["numberMatched"] == 1
    assert codes(items(client, world, "township", township_code="140521103")) == []


def test_without_a_token_the_answer_is_401_with_a_challenge(
    client: TestClient, world: World
) -> None:
    for path in ("/ogc", ITEMS, "/ogc/collections"):
        response = client.get(path)
        assert response.status_code == 401, path
        assert response.headers["www-authenticate"] == "Bearer"
        assert set(response.json()) == {"code", "description"}
    bad = client.get(ITEMS, headers={"Authorization": "Bearer nonsense"})
    assert bad.status_code == 401


@pytest.fixture
def public_client(tmp_path, database_url: str):
    from app.main import create_app

    application: FastAPI = create_app(make_settings(tmp_path, database_url, public_map=True))
    with TestClient(application) as test_client:
        yield test_client
    application.state.db.dispose()


def test_with_the_public_map_on_no_token_gets_public_properties(
    public_client: TestClient, world: World
) -> None:
    response = public_client.get(ITEMS)
    assert response.status_code == 200
    document = response.json()
    assert codes(document) == ["A-001", "B-001"]
    assert set(document["features"][0]["properties"]) == {
        "code", "name", "kind", "tier", "status", "township_name"}  # fmt: skip
    assert rels(document)["alternate"]["href"].endswith("/public/facilities.geojson")
    assert public_client.get(ITEMS, params={"overdue": "true"}).status_code == 400
    signed_in = public_client.get(ITEMS, headers=world.headers("township")).json()
    assert codes(signed_in) == ["A-001"] and "overdue" in signed_in["features"][0]["properties"]
    # nothing of the schedule on the public map: no temporal extent, no overdue queryable
    collection = public_client.get("/ogc/collections/facilities").json()
    assert "temporal" not in collection["extent"]
    assert "schedule" not in collection["description"]
    queryables = public_client.get("/ogc/collections/facilities/queryables").json()
    assert "overdue" not in queryables["properties"]
    signed_in_queryables = public_client.get(
        "/ogc/collections/facilities/queryables", headers=world.headers("township")
    ).json()
    assert "overdue" in signed_in_queryables["properties"]


JUNK = ["", "0", "-1", "abc", "1e999", "nan", "1,2,3", "1,2,3,4,5", "../..", "/", "%00", "%ED%A0%80", "%FF", "%",
        "9" * 40, "true", "2026-13-45", "2026-01-01T00:00:00", "a/b/c", "180%2C90%2C-180%2C-90", "1%2C2%2C3", "%2E%2E/%2E%2E",
        "0001-01-01", "0001-01-01/..", "../9999-12-31", "9999-12-31T23:59:59Z"]  # fmt: skip
PARAMS = ["limit", "offset", "bbox", "bbox-crs", "datetime", "tier", "kind", "status",
          "township_code", "overdue", "f", "junk"]  # fmt: skip


@pytest.mark.parametrize("name", PARAMS)
def test_no_query_string_makes_a_500(client: TestClient, world: World, name: str) -> None:
    for value in JUNK:
        # sent as written: percent escapes that decode to nothing valid included
        response = client.get(f"{ITEMS}?{name}={value}", headers=world.headers("admin"))
        assert response.status_code in (200, 400), (name, value, response.text)
        if response.status_code == 400:
            body = response.json()
            assert body["code"] == "InvalidParameterValue" and body["description"]


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=abc",
        "bbox=1,2,3",
        "bbox=a,b,c,d",
        "limit=1&limit=2",
        "foo=1",
        "datetime=2026-02-01/2026-01-01",
        "bbox-crs=EPSG:4326&bbox=1,2,3,4",
    ],  # fmt: skip
)
def test_invalid_parameters_are_400_with_an_exception_body(
    client: TestClient, world: World, query: str
) -> None:
    response = client.get(f"{ITEMS}?{query}", headers=world.headers("admin"))
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidParameterValue"


def test_the_feed_answers_304_to_its_etag(client: TestClient, world: World) -> None:
    first = client.get(ITEMS, headers=world.headers("admin"))
    again = client.get(
        ITEMS, headers=world.headers("admin") | {"If-None-Match": first.headers["etag"]}
    )
    assert again.status_code == 304
