"""The map in a real browser: as many markers as the feed has features for the user, filters
that change them, a popup that links to the facility, and no serious accessibility finding."""

from tests.web.conftest import browser_sign_in, screenshot, serious_accessibility_violations

FEED = "/api/v1/map/facilities.geojson"


def ready(page, *, other_than: str | None = None) -> int:
    """Wait until the map has drawn (a count other than ``other_than``); the marker count."""
    page.wait_for_function(
        "(old) => { const m = document.getElementById('site-map');"
        " return m.dataset.status === 'ready' && m.dataset.markerCount !== old; }",
        arg=other_than,
    )
    return int(page.get_attribute("#site-map", "data-marker-count"))


def feed_count(page, query: str = "") -> int:
    """How many features the feed gives this page's user (the session cookie)."""
    return page.evaluate(
        "async (url) => (await (await fetch(url)).json()).features.length",
        FEED + (f"?{query}" if query else ""),
    )


def test_the_county_sees_every_site_of_the_feed_and_filters_them(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/map")
    drawn = ready(page)
    total = feed_count(page)
    assert drawn == total > 0
    overdue = feed_count(page, "overdue=true")
    assert page.text_content("#map-count") == f"共 {total} 处，逾期 {overdue} 处"
    # the outline is drawn and the scale bar shows
    page.wait_for_selector(".leaflet-control-scale-line")
    assert page.get_attribute(".leaflet-control-zoom-in", "title") == "放大"
    assert (
        page.evaluate(
            "() => { let n = 0; document.getElementById('site-map').leafletMap"
            ".eachLayer((l) => { if (l.feature && l.feature.type === 'Feature'"
            " && l.feature.geometry.type !== 'Point') n += 1; }); return n; }"
        )
        == 1
    )
    assert not serious_accessibility_violations(page)
    screenshot(page, "map-county")

    # the state filter: exactly the feed's overdue sites
    page.select_option("select[name=state]", "overdue")
    assert ready(page, other_than=str(total)) == overdue
    assert page.url.endswith("/map?state=overdue")
    english = page.get_attribute(".lang-switch a[lang=en]", "href")
    assert english == "/lang/en?next=%2Fmap%3Fstate%3Doverdue"  # keeps the filters
    # and a township on top of it, through the feed's own parameter
    township = page.eval_on_selector("select[name=township_id]", "(s) => s.options[1].value")
    page.select_option("select[name=township_id]", township)
    expected = feed_count(page, f"township_id={township}&overdue=true")
    page.wait_for_function(
        "(n) => { const m = document.getElementById('site-map');"
        " return m.dataset.status === 'ready' && m.dataset.markerCount === String(n); }",
        arg=expected,
    )


def test_a_popup_names_the_site_and_links_to_its_page(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "county", next_path="/map?state=overdue")
    assert ready(page) > 0
    # click the first overdue marker where the map draws it
    point = page.evaluate(
        "() => { const map = document.getElementById('site-map').leafletMap; let found;"
        " map.eachLayer((l) => { if (!found && l.feature && l.state) found = l; });"
        " const p = map.latLngToContainerPoint(found.getLatLng());"
        " return {x: p.x, y: p.y, id: found.feature.id, name: found.feature.properties.name}; }"
    )
    box = page.locator("#site-map").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    popup = page.locator(".leaflet-popup-content")
    popup.wait_for()
    assert popup.locator("strong").text_content() == point["name"]
    assert "逾期" in popup.locator(".badge.overdue").text_content()
    link = popup.locator("a")
    assert link.get_attribute("href") == f"/facilities/{point['id']}"
    assert link.text_content() == "查看设施详情"


def test_a_township_officer_sees_their_own_sites_only(browser_page) -> None:
    page = browser_page
    browser_sign_in(page, "longgang", next_path="/map")
    drawn = ready(page)
    features = page.evaluate(
        "async (url) => (await (await fetch(url)).json()).features"
        ".map((f) => f.properties.township_name)",
        FEED,
    )
    assert drawn == len(features) > 0 and set(features) == {"龙港镇"}
    assert page.locator("select[name=township_id]").count() == 0
    # a keyboard user reaches the filters
    page.focus("select[name=tier]")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.name") == "state"
