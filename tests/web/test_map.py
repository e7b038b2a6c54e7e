"""The map page (地图): a frame for the feed and the outline, the vendored Leaflet beside it,
filters by township, tier and state, and nothing inline for the CSP to refuse."""

import json
import re
from html import unescape
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import Database
from app.geo.outline import county_bbox
from app.main import create_app
from app.models import Township
from tests.conftest import make_settings
from tests.web.conftest import DEMO_PASSWORDS, sign_in

LEAFLET = Path(__file__).resolve().parents[2] / "app" / "static" / "vendor" / "leaflet"


def signed_in(client: TestClient, username: str) -> TestClient:
    sign_in(client, username, DEMO_PASSWORDS[username])
    return client


def map_data(html: str) -> dict[str, str]:
    """The data-* attributes of the map container, unescaped."""
    match = re.search(r'<div id="site-map"(.*?)></div>', html, re.S)
    assert match, "no map container"
    return {k: unescape(v) for k, v in re.findall(r'data-([a-z-]+)="([^"]*)"', match.group(1))}


def townships_by_name(db: Database) -> dict[str, int]:
    with db.session(write=False) as session:
        return {t.name: t.id for t in session.exec(select(Township)).all()}


def test_the_map_page_loads_leaflet_and_its_script_from_this_site(
    page_client: TestClient, seeded: Database
) -> None:
    page = signed_in(page_client, "county").get("/map")
    assert page.status_code == 200
    html = page.text
    assert '<link rel="stylesheet" href="/static/vendor/leaflet/leaflet.css">' in html
    assert '<script src="/static/vendor/leaflet/leaflet.js"></script>' in html
    assert '<script type="module" src="/static/web/map.js"></script>' in html
    data = map_data(html)
    assert data["feed"] == "/api/v1/map/facilities.geojson"
    assert data["outline"] == "/map/outline.geojson"
    assert json.loads(data["bbox"]) == pytest.approx(
        list(county_bbox(page_client.app.state.settings))
    )
    labels = json.loads(data["labels"])
    assert labels["tier"]["county"] == "县级" and labels["state"]["overdue"] == "逾期"
    assert labels["count"] == "共 %(total)s，逾期 %(overdue)s"
    assert 'aria-current="page"' in html.split('href="/map"', 1)[1][:30]


def test_the_page_has_nothing_inline_for_the_csp_to_refuse(
    page_client: TestClient, seeded: Database
) -> None:
    page = signed_in(page_client, "county").get("/map")
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "style-src 'self'" in csp
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page.text), "an inline script"
    assert not re.search(r"<style\b", page.text) and " style=" not in page.text
    assert not re.search(r"\son[a-z]+=", page.text), "an inline event handler"
    script = (LEAFLET.parents[1] / "web" / "map.js").read_text()
    assert "innerHTML =" not in script and "insertAdjacentHTML" not in script


@pytest.mark.parametrize("username", ["admin", "county"])
def test_county_staff_filter_by_every_township(
    page_client: TestClient, seeded: Database, username: str
) -> None:
    html = signed_in(page_client, username).get("/map").text
    select_html = re.search(r'<select name="township_id">(.*?)</select>', html, re.S).group(1)
    for name in townships_by_name(seeded):
        assert f">{name}</option>" in select_html
    for name in ('name="tier"', 'name="state"'):
        assert name in html
    labels = [label.strip() for label in re.findall(r"<label>([^<]+)<select", html)]
    assert labels == ["乡镇", "保护级别", "巡查状态"]


def test_a_township_officer_has_no_township_filter_and_no_other_township(
    page_client: TestClient, seeded: Database
) -> None:
    client = signed_in(page_client, "longgang")
    html = client.get("/map").text
    assert 'name="township_id"' not in html and 'name="tier"' in html
    ids = townships_by_name(seeded)
    assert "端氏镇" not in html
    assert client.get(f"/map?township_id={ids['龙港镇']}").status_code == 200
    other = client.get(f"/map?township_id={ids['端氏镇']}")
    assert other.status_code == 404 and "端氏镇" not in other.text


def test_the_filters_are_kept_in_the_url(page_client: TestClient, seeded: Database) -> None:
    client = signed_in(page_client, "county")
    township = townships_by_name(seeded)["端氏镇"]
    html = client.get(f"/map?township_id={township}&tier=county&state=due_soon").text
    assert f'<option value="{township}" selected>端氏镇</option>' in html
    assert '<option value="county" selected>县级</option>' in html
    assert '<option value="due_soon" selected>即将到期</option>' in html
    # what the form does not offer is ignored, not an error
    odd = client.get("/map?township_id=x&tier=bogus&state=lost")
    assert odd.status_code == 200 and " selected>" not in odd.text


def test_the_legend_names_every_state_in_words(page_client: TestClient, seeded: Database) -> None:
    html = signed_in(page_client, "county").get("/map").text
    legend = re.search(r'<ul class="map-legend"[^>]*>(.*?)</ul>', html, re.S).group(1)
    words = [w.strip() for w in re.findall(r"</span>([^<]+)<span", legend)]
    assert words == ["逾期", "即将到期", "正常", "已归档（不再巡查）"]


def test_without_a_tile_server_the_page_says_so(page_client: TestClient, seeded: Database) -> None:
    html = signed_in(page_client, "admin").get("/map").text
    assert map_data(html)["tile-url"] == ""
    assert "未设置底图" in html and "MEMORIAL_TILE_URL" in html
    page_client.cookies.clear()
    assert "MEMORIAL_TILE_URL" not in signed_in(page_client, "county").get("/map").text


def test_the_tile_server_reaches_the_page_and_the_csp(
    seeded: Database, database_url: str, tmp_path: Path
) -> None:
    url = "https://t{s}.tianditu.gov.cn/vec_w/wmts?x={x}&y={y}&l={z}&tk=KEY"
    settings = make_settings(
        tmp_path, database_url, tile_url=url, tile_attribution="© 天地图 & <测绘>"
    )
    app = create_app(settings)
    try:
        with TestClient(app, base_url="http://127.0.0.1") as client:
            page = signed_in(client, "county").get("/map")
    finally:
        app.state.db.dispose()
    data = map_data(page.text)
    assert data["tile-url"] == url and data["tile-attribution"] == "© 天地图 & <测绘>"
    assert "&lt;测绘&gt;" in page.text  # escaped in the attribute, shown as text by map.js
    assert (
        "img-src 'self' data: blob: https://*.tianditu.gov.cn"
        in page.headers["content-security-policy"]
    )
    assert "未设置底图" not in page.text


def test_the_outline_is_the_countys_feature(page_client: TestClient, seeded: Database) -> None:
    client = signed_in(page_client, "longgang")
    answer = client.get("/map/outline.geojson")
    assert answer.status_code == 200
    assert answer.headers["content-type"] == "application/geo+json"
    assert "content-security-policy" in answer.headers
    assert answer.headers["x-content-type-options"] == "nosniff"
    collection = answer.json()  # the user's counties: Qinshui alone here
    assert collection["type"] == "FeatureCollection"
    [feature] = collection["features"]
    assert (feature["id"], feature["properties"]["name"]) == ("140521", "沁水县")
    assert feature["geometry"]["type"] in ("Polygon", "MultiPolygon")
    ring = feature["geometry"]["coordinates"]
    while isinstance(ring[0][0], list):
        ring = ring[0]
    lons, lats = [p[0] for p in ring], [p[1] for p in ring]
    min_lon, min_lat, max_lon, max_lat = county_bbox(page_client.app.state.settings)
    assert min_lon <= min(lons) and max(lons) <= max_lon
    assert min_lat <= min(lats) and max(lats) <= max_lat


def test_the_outline_needs_a_session(page_client: TestClient, seeded: Database) -> None:
    answer = page_client.get("/map/outline.geojson", follow_redirects=False)
    assert answer.status_code == 303
    assert answer.headers["location"].startswith("/signin?next=/map/outline.geojson")


@pytest.mark.parametrize(
    ("username", "own"), [("county", None), ("longgang", "龙港镇"), ("duanshi", "端氏镇")]
)
def test_the_session_cookie_reads_the_feed_in_the_users_scope(
    page_client: TestClient, seeded: Database, username: str, own: str | None
) -> None:
    client = signed_in(page_client, username)
    answer = client.get("/api/v1/map/facilities.geojson")
    assert answer.status_code == 200
    assert "content-security-policy" in answer.headers
    features = answer.json()["features"]
    names = {f["properties"]["township_name"] for f in features}
    if own is None:
        assert len(names) == len(townships_by_name(seeded))
    else:
        assert names == {own}
    # the filters map.js sends
    overdue = client.get("/api/v1/map/facilities.geojson?overdue=true").json()["features"]
    assert overdue and all(f["properties"]["overdue"] for f in overdue)
    assert len(overdue) < len(features)


def test_the_map_speaks_english_when_asked(page_client: TestClient, seeded: Database) -> None:
    client = signed_in(page_client, "county")
    client.cookies.set("mp_lang", "en")
    html = client.get("/map").text
    labels = json.loads(map_data(html)["labels"])
    assert labels["tier"]["county"] == "county" and labels["state"]["overdue"] == "Overdue"
    assert "Patrol state" in html


# --- the vendored Leaflet --------------------------------------------------------------------


def test_leaflet_is_served_with_its_licence_beside_it(client: TestClient) -> None:
    script = client.get("/static/vendor/leaflet/leaflet.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert 'version="1.9.4"' in script.text
    css = client.get("/static/vendor/leaflet/leaflet.css")
    assert css.status_code == 200 and ".leaflet-container" in css.text
    licence = client.get("/static/vendor/leaflet/LICENSE")
    assert licence.status_code == 200
    assert "Volodymyr Agafonkin" in licence.text and "Redistribution" in licence.text
    version = client.get("/static/vendor/leaflet/VERSION")
    assert version.status_code == 200 and "1.9.4" in version.text


def test_every_image_leafletcss_names_is_there() -> None:
    css = (LEAFLET / "leaflet.css").read_text()
    for name in re.findall(r"url\((images/[^)]+)\)", css):
        assert (LEAFLET / name).is_file(), name
