"""What ``/f/{code}`` opens for whoever scans a plate: the phone form for the township's own
inspector, the county page for staff who see the site, the 404 page for anyone who does not,
and for a visitor the public page (public map on) or the sign-in (off)."""

from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from app.config import Settings
from app.db import Database
from app.deps import SESSION_COOKIE
from app.main import create_app
from app.models import Facility, Role, User
from app.plates import codes
from tests import factories
from tests.conftest import make_settings
from tests.factories import World

CUSTODIAN = "管护人赵守义"
CUSTODIAN_PHONE = "13912345678"
MARTYR = "李向前"
MARTYR_NOTE = "1922年生于土沃村，1947年在解放沁水战斗中牺牲，年仅二十五岁。"


@pytest.fixture
def public_app(tmp_path: Path, database_url: str) -> FastAPI:
    application = create_app(make_settings(tmp_path, database_url, public_map=True))
    yield application
    application.state.db.dispose()


@pytest.fixture
def public_client(public_app: FastAPI):
    with TestClient(public_app) as client:
        yield client


def _world(app: FastAPI) -> World:
    world = factories.make_world(app.state.db, app.state.settings)
    with app.state.db.begin() as session:
        facility = session.get(Facility, world.facility_a.id)
        facility.name = "王家庄先烈之墓"
        facility.village = "王家庄村"
        facility.description = "墓为青石砌筑，1985年重修。"
        facility.martyrs = [{"name": MARTYR, "note": MARTYR_NOTE}, {"name": "无名烈士"}]
        facility.martyr_names = f"{MARTYR} 无名烈士"
        facility.custodian_name = CUSTODIAN
        facility.custodian_phone = CUSTODIAN_PHONE
    return world


def _get(client: TestClient, settings: Settings, user: User | None, path: str, *, cookie: bool):
    """As a browser (the session cookie) or an API client (a bearer token)."""
    client.cookies.clear()
    headers = {}
    if user is not None:
        token = factories.token(settings, user)
        if cookie:
            client.cookies.set(SESSION_COOKIE, token)
        else:
            headers["Authorization"] = f"Bearer {token}"
    return client.get(path, headers=headers, follow_redirects=False)


def _staff_of_another_county(db: Database) -> User:
    with db.begin() as session:
        user = factories.make_user(session, role=Role.county)
        user.division_code = "140522"  # Yangcheng: not the townships' county (Qinshui)
        return user


@pytest.mark.parametrize("cookie", [True, False], ids=["cookie", "bearer"])
def test_a_signed_in_scan_goes_where_the_user_can_act(
    public_client: TestClient, public_app: FastAPI, cookie: bool
) -> None:
    world = _world(public_app)
    settings = public_app.state.settings
    fid = world.facility_a.id
    code = codes.encode(fid)
    path = f"/f/{code}"

    inspector = _get(public_client, settings, world.township_user, path, cookie=cookie)
    assert inspector.status_code == 303
    assert inspector.headers["location"] == f"/m/?site={fid}&plate={code}"

    for staff in (world.admin, world.county):
        answer = _get(public_client, settings, staff, path, cookie=cookie)
        assert answer.status_code == 303
        assert answer.headers["location"] == f"/facilities/{fid}"

    # a lower-case code typed by hand is the same plate; the form gets it canonical
    lower = _get(public_client, settings, world.township_user, path.lower(), cookie=cookie)
    assert lower.headers["location"] == f"/m/?site={fid}&plate={code}"

    strangers = (world.other_township_user, _staff_of_another_county(public_app.state.db))
    for stranger in strangers:
        answer = _get(public_client, settings, stranger, path, cookie=cookie)
        assert answer.status_code == 404
        assert "text/html" in answer.headers["content-type"]
        assert MARTYR not in answer.text and "王家庄" not in answer.text
        missing = codes.encode(10**6)
        nothing = _get(public_client, settings, stranger, f"/f/{missing}", cookie=cookie)
        assert nothing.status_code == 404
        # no hint that the other site exists (the language switch links back to the path)
        assert answer.text.replace(code, missing) == nothing.text


# "EWWCYRQR" is a well-formed code of id 2**31, past PostgreSQL's integer: a 404, not a 500
@pytest.mark.parametrize(
    "code", ["GPR87BM", "GPR87BMB", "0PR87BMA", "x" * 40, "%E7%83%88", "EWWCYRQR"]
)
def test_a_code_that_names_nothing_is_the_404_page(public_client: TestClient, code: str) -> None:
    response = public_client.get(f"/f/{code}", follow_redirects=False)
    assert response.status_code == 404
    assert "text/html" in response.headers["content-type"]
    assert "没有这个页面" in response.text or "There is no such page" in response.text


def test_a_valid_code_of_no_facility_is_the_404_page(
    public_client: TestClient, public_app: FastAPI
) -> None:
    world = _world(public_app)
    response = public_client.get(f"/f/{codes.encode(world.facility_b.id + 1000)}")
    assert response.status_code == 404


def test_a_visitor_reads_the_martyrs_and_nothing_personal(
    public_client: TestClient, public_app: FastAPI
) -> None:
    world = _world(public_app)
    code = codes.encode(world.facility_a.id)
    response = public_client.get(f"/f/{code}", headers={"Accept-Language": "zh-CN"})
    assert response.status_code == 200, response.text
    page = response.text
    for shown in ("王家庄先烈之墓", "龙港镇", "王家庄村", MARTYR, MARTYR_NOTE, "无名烈士"):
        assert shown in page
    # not the free-text description: a spreadsheet's 备注 may hold a custodian's phone
    assert "墓为青石砌筑" not in page
    assert "未定级" in page and "烈士墓" in page  # tier and kind, as labels
    assert "如发现设施损坏" in page
    assert "沁水县" in page  # the site's county names the page
    for hidden in (CUSTODIAN, CUSTODIAN_PHONE, "测试用户", str(factories.LON), str(factories.LAT)):
        assert hidden not in page
    assert response.headers["cache-control"] == "public, max-age=300"
    assert "set-cookie" not in response.headers  # one answer for every visitor
    # link previews and scanners that look first with HEAD get the same answer, no body
    head = public_client.head(f"/f/{code}")
    assert head.status_code == 200 and head.content == b""


def test_an_expired_session_with_the_public_map_on_reads_the_public_page(
    public_client: TestClient, public_app: FastAPI
) -> None:
    world = _world(public_app)
    public_client.cookies.set(SESSION_COOKIE, "not-a-token")
    response = public_client.get(f"/f/{codes.encode(world.facility_a.id)}")
    assert response.status_code == 200
    assert MARTYR in response.text and CUSTODIAN not in response.text


def test_without_the_public_map_a_visitor_is_sent_to_sign_in(
    client: TestClient, world: World
) -> None:
    code = codes.encode(world.facility_a.id)
    response = client.get(f"/f/{code.lower()}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/signin?next=/f/{code}"
    # after signing in, the plate takes the inspector on to the form
    client.cookies.set(SESSION_COOKIE, factories.token(world.settings, world.township_user))
    again = client.get(f"/f/{code}", follow_redirects=False)
    assert again.headers["location"].startswith(f"/m/?site={world.facility_a.id}&plate=")
    # a code that is not a code is the 404 page, signed in or not; a well-formed code of no
    # site sends a stranger to sign in like any other, so codes do not count the sites
    assert client.get("/f/GPR87BMB", follow_redirects=False).status_code == 404
    client.cookies.clear()
    assert client.get("/f/GPR87BMB", follow_redirects=False).status_code == 404
    nothing = codes.encode(world.facility_a.id + 10_000)
    response = client.get(f"/f/{nothing}", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"] == f"/signin?next=/f/{nothing}"


def test_a_revoked_session_without_the_public_map_says_why(
    client: TestClient, world: World, db: Database
) -> None:
    token = factories.token(world.settings, world.township_user)
    with db.begin() as session:
        session.get(User, world.township_user.id).is_active = False
    client.cookies.set(SESSION_COOKIE, token)
    response = client.get(f"/f/{codes.encode(world.facility_a.id)}", follow_redirects=False)
    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith("/signin?next=/f/") and "reason=revoked" in location
