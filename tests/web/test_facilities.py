"""Facilities (设施): the list as the API filters it, a facility's page with its history, the
edit form as the role allows, and archiving behind a confirmation."""

import re
from datetime import UTC, datetime, timedelta
from html import unescape

from fastapi.testclient import TestClient
from sqlmodel import select

from app.db import Database
from app.facilities.schemas import TOWNSHIP_EDITABLE
from app.models import AuditEntry, Facility, FacilityStatus, Township, User
from app.web.i18n import format_money
from tests import factories
from tests.photos.images import jpeg
from tests.web.conftest import DEMO_PASSWORDS, csrf_of, sign_in


def signed_in(client: TestClient, username: str) -> TestClient:
    sign_in(client, username, DEMO_PASSWORDS[username])
    return client


def text_of(html: str) -> str:
    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", html))).strip()


def body_rows(html: str) -> list[list[str]]:
    """The cells (as text) of each row of the page's first table body."""
    match = re.search(r"<tbody>(.*?)</tbody>", html, re.S)
    if not match:
        return []
    return [
        [text_of(cell) for cell in re.findall(r"<t[hd][^>]*>(.*?)</t[hd]>", row, re.S)]
        for row in re.findall(r"<tr[^>]*>(.*?)</tr>", match.group(1), re.S)
    ]


def facility_of(db: Database, township: str) -> Facility:
    """The first active facility (by code) of a demo township."""
    with db.session(write=False) as session:
        return session.exec(
            select(Facility)
            .join(Township)
            .where(Township.name == township, Facility.status == FacilityStatus.active)
            .order_by(Facility.code)
        ).first()


def audit_of(db: Database, facility_id: int, action: str) -> list[AuditEntry]:
    with db.session(write=False) as session:
        return list(
            session.exec(
                select(AuditEntry).where(
                    AuditEntry.object_type == "facility",
                    AuditEntry.object_id == str(facility_id),
                    AuditEntry.action == action,
                )
            )
        )


def reload(db: Database, facility_id: int) -> Facility:
    with db.session(write=False) as session:
        return session.get(Facility, facility_id)


def edit(client: TestClient, facility_id: int, **fields: str):
    """Post the edit form as the page offers it, with ``fields`` changed."""
    page = client.get(f"/facilities/{facility_id}/edit")
    assert page.status_code == 200
    form = dict(
        re.findall(r'<(?:input|textarea)[^>]* name="(\w+)"[^>]* value="([^"]*)"', page.text)
    )
    for name, selected in re.findall(
        r'<select[^>]* name="(\w+)"[^>]*>.*?<option value="([^"]*)" selected', page.text, re.S
    ):
        form[name] = selected
    for name, text in re.findall(
        r'<textarea[^>]* name="(\w+)"[^>]*>(.*?)</textarea>', page.text, re.S
    ):
        form[name] = unescape(text)
    form = {k: unescape(v) for k, v in form.items()} | fields
    return client.post(f"/facilities/{facility_id}/edit", data=form, follow_redirects=False)


# --- the list --------------------------------------------------------------------------------


def test_the_list_says_how_many_there_are_and_how_many_are_overdue(page_client) -> None:
    client = signed_in(page_client, "county")
    api = client.get("/api/v1/facilities?limit=50").json()
    overdue = client.get("/api/v1/facilities?overdue=true&limit=1").json()["total"]
    page = client.get("/facilities")
    assert page.status_code == 200
    assert f"共 {api['total']} 处，逾期 {overdue} 处" in text_of(page.text)
    rows = body_rows(page.text)
    assert [r[0] for r in rows] == [f["code"] for f in api["items"]]
    # the state reads as a word, and the overdue ones say by how many days
    by_code = {f["code"]: f for f in api["items"]}
    for row in rows:
        facility = by_code[row[0]]
        if facility["overdue"]:
            assert row[6] == "逾期" and row[9] == str(facility["days_overdue"])
        else:
            assert row[6] != "逾期" and row[9] == "—"


def test_filters_and_search_narrow_the_list_as_the_api_does(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    target = facility_of(seeded, "端氏镇")
    for query in (
        f"township_id={target.township_id}",
        "tier=county&overdue=yes",
        "kind=monument&status=active&overdue=no",
        f"q={target.code}",
        "q=样例烈士丁",  # a martyr's name
    ):
        api_query = query.replace("overdue=yes", "overdue=true").replace(
            "overdue=no", "overdue=false"
        )
        expected = client.get(f"/api/v1/facilities?{api_query}&limit=50").json()
        page = client.get(f"/facilities?{query}")
        assert page.status_code == 200, query
        assert [r[0] for r in body_rows(page.text)] == [f["code"] for f in expected["items"]]
        assert f"符合条件 {expected['total']} 处" in text_of(page.text)
    # empty choices ("All") are no filter
    assert client.get("/facilities?township_id=&tier=&kind=&status=&overdue=&q=").status_code == 200


def test_a_filter_that_finds_nothing_says_what_to_do(page_client) -> None:
    client = signed_in(page_client, "county")
    page = client.get("/facilities?q=no-such-facility-anywhere")
    assert body_rows(page.text) == []
    assert "没有符合筛选条件的设施" in page.text


def test_columns_sort_both_ways_and_the_list_pages(page_client) -> None:
    client = signed_in(page_client, "county")
    api = client.get("/api/v1/facilities?sort=-next_due_on&limit=50").json()
    page = client.get("/facilities?sort=-next_due_on")
    assert [r[0] for r in body_rows(page.text)] == [f["code"] for f in api["items"]]
    assert 'aria-sort="descending"' in page.text
    assert api["total"] > 50, "the demo has more than one page"
    assert 'href="?sort=-next_due_on&amp;offset=50"' in page.text
    second = client.get("/facilities?sort=-next_due_on&offset=50")
    rest = client.get("/api/v1/facilities?sort=-next_due_on&limit=50&offset=50").json()
    assert [r[0] for r in body_rows(second.text)] == [f["code"] for f in rest["items"]]


def test_a_bad_filter_value_is_an_error_page(page_client) -> None:
    client = signed_in(page_client, "county")
    page = client.get("/facilities?tier=imperial")
    assert page.status_code == 422
    assert "部分输入有误" in page.text


# --- who sees what ---------------------------------------------------------------------------


def test_a_township_officer_sees_only_their_township(page_client, seeded) -> None:
    client = signed_in(page_client, "longgang")
    page = client.get("/facilities")
    rows = body_rows(page.text)
    assert rows and {r[2] for r in rows} == {"龙港镇"}
    assert 'name="township_id"' not in page.text  # no township to choose
    other = facility_of(seeded, "端氏镇")
    for url in (
        f"/facilities/{other.id}",
        f"/facilities/{other.id}/edit",
        f"/facilities/{other.id}/archive",
        f"/facilities?township_id={other.township_id}",
    ):
        response = client.get(url)
        assert response.status_code == 404, url
        assert "不属于您所在的乡镇" in response.text
    token = csrf_of(page.text)
    response = client.post(
        f"/facilities/{other.id}/edit",
        data={"csrf_token": token, "custodian_name": "外乡"},
    )
    assert response.status_code == 404
    assert reload(seeded, other.id).custodian_name != "外乡"


# --- a facility's page -----------------------------------------------------------------------


def test_the_facility_page_shows_details_location_martyrs_and_custodian(
    page_client, seeded
) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    api = client.get(f"/api/v1/facilities/{facility.id}").json()
    page = client.get(f"/facilities/{facility.id}")
    assert page.status_code == 200
    text = text_of(page.text)
    for value in (api["code"], api["name"], api["township"]["name"], api["custodian_name"]):
        assert value in text
    for martyr in api["martyrs"]:
        assert martyr["name"] in text
    assert f'data-longitude="{api["longitude"]}"' in page.text
    assert f'data-latitude="{api["latitude"]}"' in page.text
    assert '<script src="/static/vendor/leaflet/leaflet.js"></script>' in page.text
    due = datetime.fromisoformat(api["next_due_on"])
    assert f"{due.year}年{due.month}月{due.day}日" in text
    assert ("逾期" in text) == api["overdue"] or not api["overdue"]
    # the county sees the facility's record of changes (its registration at least)
    assert 'id="changes-title"' in page.text and "登记" in text


def test_reports_show_their_photos_and_flags(page_client, seeded, settings) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "龙港镇")
    with seeded.begin() as session:
        county = session.exec(select(User).where(User.username == "county")).one()
        row = session.get(Facility, facility.id)
        moment = datetime.now(UTC) - timedelta(hours=2)
        factories.make_inspection(
            session,
            facility=row,
            inspector=county,
            inspected_at=moment,
            tz=settings.tz,
            on_site=None,
        )
        flagged = factories.make_inspection(
            session,
            facility=row,
            inspector=county,
            inspected_at=moment - timedelta(hours=1),
            tz=settings.tz,
            on_site=False,
        )
        flagged.flags = ["off_site", "probable_gcj02"]
        flagged_id = flagged.id
    photo = client.post(
        f"/api/v1/inspections/{flagged_id}/photos",
        files={"file": ("p.jpg", jpeg(), "application/octet-stream")},
        headers=factories.auth(settings, county),
    ).json()
    page = client.get(f"/facilities/{facility.id}")
    thumbnail = f"/api/v1/photos/{photo['id']}/thumbnail"
    assert f'<img src="{thumbnail}"' in page.text
    assert client.get(thumbnail).status_code == 200  # the cookie is enough for the image
    text = text_of(page.text)
    for flag in ("无定位", "不在现场", "疑似 GCJ-02 坐标"):
        assert flag in text


def test_maintenance_history_and_spend_are_the_facilitys(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    orders = client.get("/api/v1/maintenance?limit=500").json()["items"]
    facility_id = orders[0]["facility"]["id"]
    mine = [o for o in orders if o["facility"]["id"] == facility_id]
    spent = sum(o["actual_cost_fen"] or 0 for o in mine if o["status"] == "completed")
    page = client.get(f"/facilities/{facility_id}")
    text = text_of(page.text)
    for order in mine:
        assert order["title"] in text
    assert f"支出 {format_money(spent)}" in text
    assert f"维护 {len(mine)} 项" in text


def test_an_unknown_facility_is_the_not_found_page(page_client) -> None:
    client = signed_in(page_client, "county")
    assert client.get("/facilities/999999").status_code == 404


# --- editing ---------------------------------------------------------------------------------


def test_a_county_clerk_changes_a_facility_and_the_change_is_audited(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    response = edit(
        client,
        facility.id,
        name="【样例】端氏镇烈士墓（已修缮）",
        tier="county",
        custodian_phone="0356-1234567",
        martyrs="张三：1947年牺牲\n李四",
    )
    assert response.status_code == 303
    assert response.headers["location"] == f"/facilities/{facility.id}?notice=saved"
    changed = reload(seeded, facility.id)
    assert changed.name == "【样例】端氏镇烈士墓（已修缮）"
    assert changed.tier == "county"
    assert changed.custodian_phone == "0356-1234567"
    assert changed.martyrs == [
        {"name": "张三", "note": "1947年牺牲"},
        {"name": "李四", "note": None},
    ]
    # the fields left alone did not change, and the location did not move
    assert (changed.longitude, changed.latitude) == (facility.longitude, facility.latitude)
    [entry] = audit_of(seeded, facility.id, "facility.update")
    assert entry.actor_username == "county"
    assert set(entry.after) >= {"name", "tier", "custodian_phone", "martyrs"}
    assert "longitude" not in entry.after
    page = client.get(response.headers["location"])
    text = text_of(page.text)
    assert "修改已保存" in text and "【样例】端氏镇烈士墓（已修缮）" in text
    assert "修改：名称、保护级别" in text  # the record of changes names the fields


def test_saving_an_unchanged_form_changes_nothing(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    response = edit(client, facility.id)
    assert response.headers["location"] == f"/facilities/{facility.id}?notice=unchanged"
    assert audit_of(seeded, facility.id, "facility.update") == []


def test_moving_a_facility_converts_its_coordinates(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    lon, lat = facility.longitude + 0.01, facility.latitude
    response = edit(client, facility.id, longitude=str(lon), latitude=str(lat), crs="gcj02")
    assert response.status_code == 303
    moved = reload(seeded, facility.id)
    assert (moved.source_longitude, moved.source_latitude, moved.source_crs) == (lon, lat, "gcj02")
    assert abs(moved.longitude - lon) > 0.001  # stored as WGS-84, not as given


def test_a_wrong_value_is_shown_next_to_its_field(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    tomorrow = (factories.county_today() + timedelta(days=1)).isoformat()
    for field, value, message in (
        ("year_built", "1700", "请填写 1840 至 2100 之间的数字"),
        ("name", "", "此项不能为空"),
        ("custodian_phone", "call me", "请填写有效的电话号码"),
        ("code", "bad code!", "编号只能使用字母、数字、点、横线和下划线"),
        ("registered_on", tomorrow, f"登记日期 {tomorrow} 晚于今天"),
        ("registered_on", "2999-01-01", "请填写 1900 年至 2100 年之间的日期"),
        ("latitude", "39.9", "县界外"),
        ("longitude", "east", "请填写数字"),
    ):
        response = edit(client, facility.id, **{field: value})
        assert response.status_code == 422, field
        error = re.search(rf'<p class="field-error" id="e-{field}">(.*?)</p>', response.text, re.S)
        assert error, (field, text_of(response.text))
        assert message in unescape(error.group(1)), field
        assert f'id="f-{field}" name="{field}" aria-invalid="true"' in response.text
        assert f'value="{value}"' in response.text or value == ""  # kept as typed
        assert reload(seeded, facility.id).updated_at == facility.updated_at


def test_a_code_taken_by_another_facility_is_a_conflict_next_to_the_code(
    page_client, seeded
) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    other = facility_of(seeded, "龙港镇")
    response = edit(client, facility.id, code=other.code)
    assert response.status_code == 409
    error = re.search(r'<p class="field-error" id="e-code">(.*?)</p>', response.text, re.S)
    assert error and other.code in error.group(1) and "code" not in error.group(1)
    assert reload(seeded, facility.id).code == facility.code


def test_a_township_officer_is_offered_only_the_fields_they_may_change(page_client, seeded) -> None:
    client = signed_in(page_client, "longgang")
    facility = facility_of(seeded, "龙港镇")
    page = client.get(f"/facilities/{facility.id}/edit")
    offered = set(re.findall(r'<(?:input|select|textarea)[^>]* name="(\w+)"', page.text))
    # the record photo is chosen among the photos on the facility's page, not on the form
    assert offered - {"csrf_token"} == set(TOWNSHIP_EDITABLE) - {"record_photo_id"}
    assert "由县局维护的信息" in page.text  # the others are shown, not offered
    # what they may change is saved
    response = edit(client, facility.id, custodian_name="李守墓", village="新村")
    assert response.status_code == 303
    assert reload(seeded, facility.id).custodian_name == "李守墓"
    # and a crafted form with a field they may not change is refused, whole
    response = edit(client, facility.id, custodian_name="王守墓", name="改名", tier="national")
    assert response.status_code == 403
    assert "乡镇干部不能修改" in response.text
    unchanged = reload(seeded, facility.id)
    assert (unchanged.name, unchanged.custodian_name) == (facility.name, "李守墓")


def test_a_township_officer_is_not_offered_archiving(page_client, seeded) -> None:
    client = signed_in(page_client, "longgang")
    facility = facility_of(seeded, "龙港镇")
    page = client.get(f"/facilities/{facility.id}")
    assert f'href="/facilities/{facility.id}/archive"' not in page.text
    assert client.get(f"/facilities/{facility.id}/archive").status_code == 403
    response = client.post(
        f"/facilities/{facility.id}/archive",
        data={"csrf_token": csrf_of(page.text), "confirm": "yes"},
    )
    assert response.status_code == 403
    assert reload(seeded, facility.id).status is FacilityStatus.active


# --- archiving -------------------------------------------------------------------------------


def test_archiving_needs_the_confirmation(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    page = client.get(f"/facilities/{facility.id}/archive")
    assert 'name="confirm"' in page.text
    token = csrf_of(page.text)
    response = client.post(f"/facilities/{facility.id}/archive", data={"csrf_token": token})
    assert response.status_code == 422
    assert "请勾选确认框" in response.text
    assert reload(seeded, facility.id).status is FacilityStatus.active
    assert audit_of(seeded, facility.id, "facility.archive") == []

    response = client.post(
        f"/facilities/{facility.id}/archive",
        data={"csrf_token": token, "confirm": "yes"},
        follow_redirects=False,
    )
    assert response.status_code == 303
    assert reload(seeded, facility.id).status is FacilityStatus.archived
    [entry] = audit_of(seeded, facility.id, "facility.archive")
    assert entry.actor_username == "county"
    page = client.get(response.headers["location"])
    assert "设施已归档" in page.text
    assert f'href="/facilities/{facility.id}/archive"' not in page.text
    # it no longer counts as overdue on the list
    listed = client.get(f"/facilities?q={facility.code}")
    assert body_rows(listed.text)[0][6] == "已归档"


def test_a_form_without_its_csrf_token_is_refused(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    facility = facility_of(seeded, "端氏镇")
    data = {"confirm": "yes", "name": "无令牌"}
    for action in ("edit", "archive"):
        response = client.post(f"/facilities/{facility.id}/{action}", data=data)
        assert response.status_code == 403
        assert "表单已过期" in response.text
        response = client.post(
            f"/facilities/{facility.id}/{action}", data=data | {"csrf_token": "0" * 64}
        )
        assert response.status_code == 403
    unchanged = reload(seeded, facility.id)
    assert (unchanged.name, unchanged.status) == (facility.name, FacilityStatus.active)


def test_the_page_reads_in_english_too(page_client, seeded) -> None:
    client = signed_in(page_client, "county")
    client.get("/lang/en")
    facility = facility_of(seeded, "端氏镇")
    page = client.get(f"/facilities/{facility.id}")
    assert '<h2 id="reports-title">Patrol reports' in page.text
    assert "巡查员" not in page.text
    assert "Edit" in page.text
