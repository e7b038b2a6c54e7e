"""The GeoJSON map feed: one FeatureCollection of every facility in the caller's scope."""

from datetime import UTC, datetime, timedelta

import geojson
import pytest
import time_machine
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlmodel import select

from app.models import (
    Condition,
    Facility,
    FacilityKind,
    FacilityStatus,
    MaintenanceCategory,
    MaintenanceOrder,
    OrderStatus,
    ReviewStatus,
    Tier,
)
from app.schedule import service as schedule
from tests.conftest import make_settings
from tests.factories import World, county_today, make_facility, make_inspection

FEED = "/api/v1/map/facilities.geojson"
PROPERTIES = {
    "code", "name", "kind", "tier", "status", "township_code", "township_name", "village",
    "last_inspected_at", "next_due_on", "overdue", "days_overdue", "last_condition",
    "open_maintenance",
}  # fmt: skip


def feed(client: TestClient, world: World, who: str = "admin", **params: object) -> dict:
    response = client.get(FEED, params=params, headers=world.headers(who))
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json"
    document = geojson.loads(response.text)
    assert document.is_valid, document.errors()
    return response.json()


def codes(document: dict) -> list[str]:
    return sorted(f["properties"]["code"] for f in document["features"])


def add_order(db, facility, status: OrderStatus) -> None:
    with db.begin() as session:
        session.add(
            MaintenanceOrder(
                facility_id=facility.id,
                township_id=facility.township_id,
                category=MaintenanceCategory.repair,
                title="修缮",
                planned_cost_fen=1000,
                status=status,
                year=county_today().year,
            )
        )


def test_the_feed_is_a_feature_collection_of_points_with_the_listed_properties(
    client: TestClient, world: World
) -> None:
    document = feed(client, world)
    assert document["type"] == "FeatureCollection"
    assert codes(document) == ["A-001", "B-001"]
    feature = next(f for f in document["features"] if f["properties"]["code"] == "B-001")
    assert feature["id"] == world.facility_b.id
    assert feature["geometry"] == {"type": "Point", "coordinates": [112.37, 35.82]}
    assert set(feature["properties"]) == PROPERTIES
    assert feature["properties"]["township_code"] == "140521103"
    assert feature["properties"]["township_name"] == "端氏镇"
    assert feature["properties"]["last_condition"] is None
    assert feature["properties"]["open_maintenance"] == 0


def test_coordinates_are_rounded_to_six_decimals(client: TestClient, world: World, db) -> None:
    with db.begin() as session:
        make_facility(
            session, township=world.township_a, code="R-1", lon=112.123456789, lat=35.987654321
        )
    document = feed(client, world, tier="unrated", bbox="112.12,35.98,112.13,35.99")
    assert [f["geometry"]["coordinates"] for f in document["features"]] == [[112.123457, 35.987654]]


def test_a_township_user_sees_only_their_township(client: TestClient, world: World) -> None:
    assert codes(feed(client, world, "township")) == ["A-001"]
    assert codes(feed(client, world, "other")) == ["B-001"]
    assert codes(feed(client, world, "township", township_code="140521103")) == []
    hidden = client.get(
        FEED, params={"township_id": world.township_b.id}, headers=world.headers("township")
    )
    assert hidden.status_code == 404


def test_the_feed_needs_a_sign_in(client: TestClient, world: World) -> None:
    response = client.get(FEED)
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"


def test_every_status_is_in_the_feed_and_overdue_only_for_active_sites(
    client: TestClient, world: World, db
) -> None:
    late = county_today() - timedelta(days=3)
    with db.begin() as session:
        make_facility(session, township=world.township_a, code="ARC", next_due_on=late,
                      status=FacilityStatus.archived)  # fmt: skip
        make_facility(session, township=world.township_a, code="LATE", next_due_on=late)
    document = feed(client, world)
    props = {f["properties"]["code"]: f["properties"] for f in document["features"]}
    assert props["ARC"]["status"] == "archived"
    assert (props["ARC"]["overdue"], props["ARC"]["days_overdue"]) == (False, 0)
    assert (props["LATE"]["overdue"], props["LATE"]["days_overdue"]) == (True, 3)
    assert props["LATE"]["next_due_on"] == late.isoformat()
    assert codes(feed(client, world, overdue="true")) == ["LATE"]
    assert codes(feed(client, world, overdue="false")) == ["A-001", "ARC", "B-001"]
    assert codes(feed(client, world, status="archived")) == ["ARC"]


def test_last_condition_is_the_last_counted_report_and_open_maintenance_counts_unfinished(
    client: TestClient, world: World, db, settings
) -> None:
    now = datetime.now(UTC)
    with db.begin() as session:
        older = make_inspection(session, facility=world.facility_a, inspector=world.township_user,
                                inspected_at=now - timedelta(days=2), tz=settings.tz)  # fmt: skip
        older.condition = Condition.needs_repair
        newer = make_inspection(session, facility=world.facility_a, inspector=world.township_user,
                                inspected_at=now - timedelta(days=1), tz=settings.tz,
                                review_status=ReviewStatus.rejected)  # fmt: skip
        newer.condition = Condition.missing
        session.flush()
        # as the service does after a report or a review (DESIGN.md rule 2)
        schedule.refresh_last_inspection(
            session, session.get(Facility, world.facility_a.id), tz=settings.tz
        )
    for status in OrderStatus:  # planned, approved, in_progress count; completed, cancelled not
        add_order(db, world.facility_a, status)
    add_order(db, world.facility_b, OrderStatus.planned)
    props = feed(client, world, "township")["features"][0]["properties"]
    assert props["last_condition"] == "needs_repair"
    assert props["open_maintenance"] == 3


def test_filters_narrow_the_features(client: TestClient, world: World, db) -> None:
    with db.begin() as session:
        make_facility(session, township=world.township_b, code="NAT", tier=Tier.national,
                      kind=FacilityKind.monument, lon=112.5, lat=35.5)  # fmt: skip
    assert codes(feed(client, world, tier="national")) == ["NAT"]
    assert codes(feed(client, world, kind="monument")) == ["NAT"]
    assert codes(feed(client, world, township_id=world.township_a.id)) == ["A-001"]
    assert codes(feed(client, world, township_code="140521103")) == ["B-001", "NAT"]
    assert codes(feed(client, world, bbox="112.3,35.4,112.6,35.9")) == ["B-001", "NAT"]
    assert codes(feed(client, world, limit=1, offset=1)) == ["B-001"]


def test_updated_since_finds_sites_changed_or_reported_on_since(
    client: TestClient, world: World, db, settings
) -> None:
    since = datetime.now(UTC) + timedelta(seconds=1)
    assert codes(feed(client, world, updated_since=since.isoformat())) == []
    with time_machine.travel(since + timedelta(seconds=1), tick=True):
        with db.begin() as session:
            make_inspection(session, facility=world.facility_b, inspector=world.admin,
                            inspected_at=datetime.now(UTC), tz=settings.tz)  # fmt: skip
        add_order(db, world.facility_a, OrderStatus.planned)
    assert codes(feed(client, world, updated_since=since.isoformat())) == ["A-001", "B-001"]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("bbox", "1,2,3"),
        ("bbox", "a,b,c,d"),
        ("tier", "gold"),
        ("kind", "castle"),
        ("status", "gone"),
        ("overdue", "maybe"),
        ("township_id", "0"),
        ("township_code", "abc"),
        ("updated_since", "0"),
        ("updated_since", "2026-01-01T00:00:00"),
        ("limit", "0"),
        ("offset", "-1"),
    ],
)
def test_invalid_filters_are_422_naming_the_parameter(
    client: TestClient, world: World, name: str, value: str
) -> None:
    response = client.get(FEED, params={name: value}, headers=world.headers("admin"))
    assert response.status_code == 422, response.text
    assert any(error["loc"][-1] == name for error in response.json()["detail"])


def test_an_unchanged_feed_answers_304_to_its_etag(client: TestClient, world: World) -> None:
    first = client.get(FEED, headers=world.headers("admin"))
    tag = first.headers["etag"]
    assert first.headers["cache-control"] == "private, no-cache"
    for sent in (tag, f'"other", {tag}', "*", tag.removeprefix("W/")):
        again = client.get(FEED, headers=world.headers("admin") | {"If-None-Match": sent})
        assert again.status_code == 304, sent
        assert again.content == b""
        assert again.headers["etag"] == tag
    other = client.get(FEED, headers=world.headers("admin") | {"If-None-Match": '"nope"'})
    assert other.status_code == 200


def tag_of(client: TestClient, world: World, who: str = "admin") -> str:
    return client.get(FEED, headers=world.headers(who)).headers["etag"]


def test_the_etag_changes_with_what_the_features_show(
    client: TestClient, world: World, db, settings
) -> None:
    seen = {tag_of(client, world)}

    def changed() -> None:
        tag = tag_of(client, world)
        assert tag not in seen
        seen.add(tag)

    edit = client.patch(f"/api/v1/facilities/{world.facility_a.id}", json={"village": "东村"},
                        headers=world.headers("county"))  # fmt: skip
    assert edit.status_code == 200, edit.text
    changed()
    with db.begin() as session:
        report = make_inspection(session, facility=world.facility_b, inspector=world.admin,
                                 inspected_at=datetime.now(UTC), tz=settings.tz)  # fmt: skip
    changed()
    review = client.post(f"/api/v1/inspections/{report.id}/review",
                         json={"decision": "rejected", "comment": "照片不清"},
                         headers=world.headers("county"))  # fmt: skip
    assert review.status_code == 200, review.text
    changed()
    add_order(db, world.facility_a, OrderStatus.planned)
    changed()
    with db.begin() as session:
        order = session.exec(select(MaintenanceOrder)).one()
        order.status = OrderStatus.cancelled
    changed()
    policy = client.put("/api/v1/patrol-policies", json={"intervals": {"unrated": 45}},
                        headers=world.headers("admin"))  # fmt: skip
    assert policy.status_code == 200, policy.text
    changed()
    with time_machine.travel(datetime.now(UTC) + timedelta(days=1), tick=True):
        changed()  # the county day turned: overdue may have changed
    assert tag_of(client, world, "township") != tag_of(client, world, "other")


def test_a_township_tag_ignores_other_townships(client: TestClient, world: World, db) -> None:
    before = tag_of(client, world, "township")
    add_order(db, world.facility_b, OrderStatus.planned)
    assert tag_of(client, world, "township") == before
    assert tag_of(client, world, "other") != before


def test_large_feeds_are_gzipped_when_the_client_accepts_it(
    client: TestClient, world: World, db
) -> None:
    with db.begin() as session:
        for n in range(20):
            make_facility(session, township=world.township_a, code=f"G-{n:03d}")
    plain = client.get(FEED, headers=world.headers("admin") | {"Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert plain.headers["vary"] == "Accept-Encoding"
    zipped = client.get(FEED, headers=world.headers("admin") | {"Accept-Encoding": "gzip"})
    assert zipped.headers["content-encoding"] == "gzip"
    assert zipped.json() == plain.json()  # httpx decodes it once: compressed exactly once
    weighed = client.get(FEED, headers=world.headers("admin") | {"Accept-Encoding": "br, *;q=0.5"})
    assert weighed.headers["content-encoding"] == "gzip"
    refused = client.get(FEED, headers=world.headers("admin") | {"Accept-Encoding": "gzip;q=0"})
    assert "content-encoding" not in refused.headers


def test_small_feeds_are_not_compressed(client: TestClient, world: World) -> None:
    answer = client.get(
        FEED,
        params={"tier": "national"},
        headers=world.headers("admin") | {"Accept-Encoding": "gzip"},
    )
    assert len(answer.content) < 1024
    assert "content-encoding" not in answer.headers


def test_the_public_map_is_off_by_default(client: TestClient, world: World) -> None:
    assert client.get("/public/facilities.geojson").status_code == 404


@pytest.fixture
def public_client(tmp_path, database_url: str) -> TestClient:
    from app.main import create_app

    application: FastAPI = create_app(make_settings(tmp_path, database_url, public_map=True))
    with TestClient(application) as test_client:
        yield test_client
    application.state.db.dispose()


def test_the_public_map_carries_public_properties_only(
    public_client: TestClient, world: World, db
) -> None:
    add_order(db, world.facility_a, OrderStatus.planned)
    response = public_client.get("/public/facilities.geojson")
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/geo+json"
    assert response.headers["etag"]
    assert geojson.loads(response.text).is_valid
    document = response.json()
    assert codes(document) == ["A-001", "B-001"]
    for feature in document["features"]:
        assert set(feature["properties"]) == {"code", "name", "kind", "tier", "status",
                                              "township_name"}  # fmt: skip
    assert public_client.get("/public/facilities.geojson?tier=gold").status_code == 422


def test_a_large_feed_is_built_once_while_nothing_changes(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Asked again without If-None-Match, an unchanged feed comes from the app's cache,
    gzipped or not; after a change it is built afresh."""
    from app.geo import features, responses

    monkeypatch.setattr(responses, "CACHE_MIN_BYTES", 0)
    builds = []
    real = features.collection_bytes
    monkeypatch.setattr(features, "collection_bytes", lambda **kw: builds.append(1) or real(**kw))
    plain = {"Accept-Encoding": "identity"}
    first = client.get(FEED, headers=world.headers("admin") | plain)
    again_gzip = client.get(FEED, headers=world.headers("admin"))  # TestClient accepts gzip
    again_plain = client.get(FEED, headers=world.headers("admin") | plain)
    assert len(builds) == 1
    assert first.json() == again_gzip.json() == again_plain.json()
    assert again_gzip.headers["content-encoding"] == "gzip"
    assert "content-encoding" not in again_plain.headers

    changed = client.patch(
        f"/api/v1/facilities/{world.facility_a.id}",
        json={"name": "改名后的烈士墓"},
        headers=world.headers("county"),
    )
    assert changed.status_code == 200
    after = client.get(FEED, headers=world.headers("admin"))
    assert len(builds) == 2
    names = {f["properties"]["name"] for f in after.json()["features"]}
    assert "改名后的烈士墓" in names
    # another scope never gets the admin's cached body
    township = client.get(FEED, headers=world.headers("township"))
    assert len(builds) == 3
    assert len(township.json()["features"]) < len(after.json()["features"])


def test_a_facility_moved_between_townships_moves_both_townships_tags(
    client: TestClient, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The old township stops seeing the site (no 304, no cached body) and the new one
    starts; a rename of a third party's township moves neither."""
    from app.geo import responses

    monkeypatch.setattr(responses, "CACHE_MIN_BYTES", 0)
    before = {who: client.get(FEED, headers=world.headers(who)) for who in ("township", "other")}
    rename = client.patch(
        f"/api/v1/townships/{world.township_b.id}",
        json={"name": "端氏镇（更名）"},
        headers=world.headers("admin"),
    )
    assert rename.status_code == 200, rename.text
    unchanged = client.get(FEED, headers=world.headers("township"))
    assert unchanged.headers["etag"] == before["township"].headers["etag"]

    moved = client.patch(
        f"/api/v1/facilities/{world.facility_a.id}",
        json={"township_id": world.township_b.id},
        headers=world.headers("county"),
    )
    assert moved.status_code == 200, moved.text
    for who, gained in (("township", False), ("other", True)):
        stale = before[who].headers["etag"]
        revalidated = client.get(FEED, headers=world.headers(who) | {"If-None-Match": stale})
        assert revalidated.status_code == 200, who
        assert revalidated.headers["etag"] != stale
        held = world.facility_a.code in codes(revalidated.json())
        assert held is gained, who


def test_a_rejected_last_report_gives_the_previous_condition_back(
    client: TestClient, world: World
) -> None:
    """Through the API, as county staff review: last_condition follows the review."""
    from tests.factories import report_body

    def report(condition: str, hours_ago: int) -> dict:
        body = report_body(
            world.facility_a,
            condition=condition,
            inspected_at=(datetime.now(UTC) - timedelta(hours=hours_ago)).isoformat(),
        )
        response = client.post("/api/v1/inspections", json=body, headers=world.headers("township"))
        assert response.status_code == 201, response.text
        return response.json()

    def last_condition() -> str | None:
        document = feed(client, world, "township")
        (site,) = [f for f in document["features"] if f["id"] == world.facility_a.id]
        return site["properties"]["last_condition"]

    report("good", hours_ago=3)
    latest = report("missing", hours_ago=1)
    assert last_condition() == "missing"
    rejected = client.post(
        f"/api/v1/inspections/{latest['id']}/review",
        json={"decision": "rejected", "comment": "照片与设施不符"},
        headers=world.headers("county"),
    )
    assert rejected.status_code == 200, rejected.text
    assert last_condition() == "good"
