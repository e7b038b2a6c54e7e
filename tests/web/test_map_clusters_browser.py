"""The map in a real browser with more sites in view than it draws one by one: clusters
(the count on a circle in the most urgent site's colour, a Chinese tooltip, a click that
zooms in), and single markers again once zoomed in. The demo has 60 sites, so the page's
threshold is lowered with ``?clusters_above=``."""

from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations

FEED = "/api/v1/map/facilities.geojson"
CLUSTERS = "/api/v1/map/clusters"


def drawn(page, mode: str) -> dict:
    """Wait until the map has drawn in ``mode`` ('clusters' or 'sites'); what it shows."""
    page.wait_for_function(
        "(mode) => { const m = document.getElementById('site-map');"
        " return m.dataset.status === 'ready' && m.dataset.mode === mode; }",
        arg=mode,
    )
    return page.evaluate(
        "() => { const d = document.getElementById('site-map').dataset;"
        " return {sites: Number(d.markerCount), clusters: Number(d.clusterCount || 0)}; }"
    )


def view_box(page) -> str:
    """The box the page asks for: its view with a fifth more on each side."""
    return page.evaluate(
        "() => { const b = document.getElementById('site-map').leafletMap.getBounds().pad(0.2);"
        " const r = (v) => Math.round(v * 1e6) / 1e6;"
        " return [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()].map(r).join(','); }"
    )


def fetch_json(page, url: str) -> dict:
    return page.evaluate("async (url) => (await fetch(url)).json()", url)


def test_a_full_view_shows_clusters_and_zooming_in_shows_each_site(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/map?clusters_above=10")
    shown = drawn(page, "clusters")
    total = len(fetch_json(page, FEED)["features"])
    assert shown["sites"] == total == 60  # every site of the county is in some cluster
    assert page.text_content("#map-message") == "设施较多，按区域汇总显示：放大地图可查看单个设施。"
    # one circle per cell of two or more sites, its count written on it
    circles = page.locator(".site-cluster")
    assert circles.count() == shown["clusters"] > 0
    counts = [int(text) for text in circles.all_text_contents()]
    assert all(n >= 2 for n in counts) and sum(counts) <= total
    # coloured by the most urgent site: the server's answer for the same view says which
    zoom = page.evaluate(
        "() => Math.floor(document.getElementById('site-map').leafletMap.getZoom())"
    )
    answer = fetch_json(page, f"{CLUSTERS}?bbox={view_box(page)}&zoom={zoom}")
    expected = sorted(
        (f["properties"]["count"], f["properties"]["state"])
        for f in answer["features"]
        if f["properties"]["count"] > 1
    )
    classes = circles.evaluate_all(
        "(nodes) => nodes.map((n) => [Number(n.textContent),"
        " ['overdue', 'due_soon', 'ok', 'archived'].find((s) => n.classList.contains(s))])"
    )
    assert sorted(tuple(c) for c in classes) == expected
    assert page.text_content("#map-count") == (
        f"共 {total} 处，逾期 {answer['states']['overdue']} 处"
    )
    # a Chinese tooltip on the biggest
    biggest = circles.nth(counts.index(max(counts)))
    biggest.hover()
    tooltip = page.locator(".leaflet-tooltip")
    tooltip.wait_for()
    assert tooltip.text_content().startswith(f"此处共 {max(counts)} 处：")
    assert tooltip.text_content().endswith("点击放大。")
    assert not serious_accessibility_violations(page)
    screenshot(page, "map-clusters")

    # a click zooms into that cluster
    before = page.evaluate("() => document.getElementById('site-map').leafletMap.getZoom()")
    biggest.click()
    # Leaflet sets the new zoom as its 250 ms zoom animation starts, and sets it again when
    # the animation ends: a view set before then is undone, so wait for the end
    page.wait_for_function(
        "(z) => { const m = document.getElementById('site-map');"
        " return m.leafletMap.getZoom() > z && !m.leafletMap._animatingZoom"
        " && m.dataset.status === 'ready'; }",
        arg=before,
    )
    # and close enough, each site on its own again: exactly the feed's sites in the box
    [lon, lat] = fetch_json(page, FEED)["features"][0]["geometry"]["coordinates"]
    page.evaluate(
        "([lat, lon]) => document.getElementById('site-map').leafletMap"
        ".setView([lat, lon], 15, { animate: false })",
        [lat, lon],
    )
    shown = drawn(page, "sites")
    in_view = len(fetch_json(page, f"{FEED}?bbox={view_box(page)}")["features"])
    assert shown["sites"] == in_view >= 1
    assert page.locator(".site-cluster").count() == 0
    screenshot(page, "map-clusters-zoomed-in")


def test_the_usual_threshold_draws_the_demo_site_by_site(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/map")
    shown = drawn(page, "sites")
    assert shown["sites"] == 60
    assert page.locator(".site-cluster").count() == 0
