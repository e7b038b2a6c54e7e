"""A plate scanned with a phone, in a real browser (Debian's Chromium, a 360×740 phone):
a visitor reads the public page (martyrs, no custodian), screenshot and axe; the township's
inspector lands on the phone form with the site chosen; another township's on the 404 page."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Page

from app.config import Settings
from app.db import Database
from app.deps import SESSION_COOKIE
from app.models import Facility
from app.plates import codes
from tests import factories
from tests.conftest import make_settings
from tests.live import LiveServer, server  # noqa: F401  (fixture)
from tests.web.conftest import screenshot, serious_accessibility_violations

CUSTODIAN = "管护人钱守陵"
CUSTODIAN_PHONE = "13800135246"
MARTYR_NOTE = "1920年生于嘉峰村，1945年率队阻击日军时牺牲。乡亲们将他安葬在村东的山坡上。"


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url, public_map=True)


@pytest.fixture
def world(db: Database, settings: Settings) -> factories.World:
    world = factories.make_world(db, settings)
    with db.begin() as session:
        facility = session.get(Facility, world.facility_a.id)
        facility.name = "嘉峰村革命烈士纪念碑"
        facility.village = "嘉峰村"
        facility.year_built = 1958
        facility.commemorates = "抗日战争中牺牲的嘉峰籍烈士"
        facility.description = "纪念碑坐北朝南，碑身青石，正面刻“革命烈士永垂不朽”。"
        facility.martyrs = [
            {"name": "张振华", "note": MARTYR_NOTE},
            {"name": "刘秀英", "note": "1923年生，八路军卫生员，1943年牺牲。"},
        ]
        facility.custodian_name = CUSTODIAN
        facility.custodian_phone = CUSTODIAN_PHONE
    return world


@pytest.fixture
def phone(browser, server: LiveServer) -> Iterator[Page]:  # noqa: F811
    context = browser.new_context(
        viewport={"width": 360, "height": 740},
        device_scale_factor=2,
        is_mobile=True,
        has_touch=True,
        locale="zh-CN",
        base_url=server.url,
    )
    page = context.new_page()
    failed: list[str] = []
    page.on("pageerror", lambda exc: failed.append(str(exc)))
    page.on(
        "response",
        lambda r: (
            failed.append(f"{r.status} {r.url}")
            if r.status >= 400 and r.request.resource_type != "document"
            else None
        ),
    )
    outside: list[str] = []
    page.on(
        "request",
        lambda r: outside.append(r.url) if not r.url.startswith(server.url) else None,
    )
    yield page
    context.close()
    assert not failed, failed
    assert not outside, f"loaded from outside the site: {outside}"


def _sign_in_as(page: Page, server: LiveServer, settings: Settings, user) -> None:  # noqa: F811
    page.context.clear_cookies()
    page.context.add_cookies(
        [{"name": SESSION_COOKIE, "value": factories.token(settings, user), "url": server.url}]
    )


def test_a_visitor_reads_the_martyrs_story_on_a_phone(
    phone: Page,
    world: factories.World,
    database_url: str,
) -> None:
    code = codes.encode(world.facility_a.id)
    response = phone.goto(f"/f/{code}")
    assert response is not None and response.status == 200
    assert phone.locator("h1").inner_text() == "嘉峰村革命烈士纪念碑"
    body = phone.locator("body").inner_text()
    for shown in ("张振华", MARTYR_NOTE, "刘秀英", "龙港镇", "嘉峰村", "如发现设施损坏", "未定级"):
        assert shown in body
    for hidden in (CUSTODIAN, CUSTODIAN_PHONE, "测试用户"):
        assert hidden not in phone.content()
    # a phone's width: nothing scrolls sideways
    assert phone.evaluate("document.documentElement.scrollWidth") <= 360
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    screenshot(phone, f"plates_public_page_{backend}")
    assert serious_accessibility_violations(phone) == []


def test_the_inspector_lands_on_the_form_and_another_township_on_nothing(
    phone: Page,
    world: factories.World,
    settings: Settings,
    server: LiveServer,  # noqa: F811
) -> None:
    fid = world.facility_a.id
    code = codes.encode(fid)
    _sign_in_as(phone, server, settings, world.township_user)
    phone.goto(f"/f/{code.lower()}")
    assert phone.url == f"{server.url}/m/?site={fid}&plate={code}"
    phone.wait_for_load_state("networkidle")  # the form's own requests, signed in
    phone.goto("about:blank")

    _sign_in_as(phone, server, settings, world.other_township_user)
    response = phone.goto(f"/f/{code}")
    assert response is not None and response.status == 404
    assert "没有这个页面" in phone.locator("body").inner_text()
    assert "嘉峰村" not in phone.content()
