"""Administration (管理): users, the patrol policy and the facility import, for admins only.

Every change goes through a form with its CSRF token; a refusal is shown next to its field
in Chinese, and nothing a person typed as a password comes back in the page.
"""

import html
import io
import re

import pytest
from fastapi.testclient import TestClient
from openpyxl import Workbook

from tests.web.conftest import DEMO_PASSWORDS, csrf_of, sign_in

GOOD_ROWS = [
    "编号,名称,类型,保护级别,乡镇,经度,纬度",
    "WEB-001,【样例】网页导入烈士墓,烈士墓,未定级,龙港镇,112.2,35.7",
    "WEB-002,【样例】网页导入纪念碑,纪念碑,县级,140521103,112.37,35.82",
]
BAD_ROW = "WEB-003,【样例】坐标有误,烈士墓,皇家级,龙港镇,116.4,39.9"


def admin(client: TestClient) -> TestClient:
    sign_in(client, "admin", DEMO_PASSWORDS["admin"])
    return client


def post_form(client: TestClient, page: str, action: str, data: dict, **kwargs: object):
    """Submit a form as the browser would: with the CSRF token of the page it is on."""
    token = csrf_of(client.get(page).text)
    return client.post(action, data={**data, "csrf_token": token}, follow_redirects=False, **kwargs)


def user_id(client: TestClient, username: str) -> int:
    users = client.get("/api/v1/users", params={"limit": 500}).json()["items"]
    return next(u["id"] for u in users if u["username"] == username)


def api_user(client: TestClient, username: str) -> dict:
    return client.get(f"/api/v1/users/{user_id(client, username)}").json()


def can_sign_in(client: TestClient, username: str, password: str) -> bool:
    response = client.post("/api/v1/auth/token", data={"username": username, "password": password})
    return response.status_code == 200


def facility_total(client: TestClient) -> int:
    return client.get("/api/v1/facilities", params={"limit": 1}).json()["total"]


def field_error(page: str, field: str) -> str:
    match = re.search(rf'<p class="field-error" id="e-{field}">([^<]*)</p>', page)
    assert match, f"no error shown next to {field}"
    return html.unescape(match.group(1))


# --- who may come in ----------------------------------------------------------------------


@pytest.mark.parametrize("username", ["county", "longgang"])
def test_only_administrators_get_the_pages(page_client: TestClient, username: str) -> None:
    sign_in(page_client, username, DEMO_PASSWORDS[username])
    for path in ("/admin", "/admin/users", "/admin/users/new", "/admin/policy", "/admin/import"):
        page = page_client.get(path, follow_redirects=False)
        assert page.status_code == 403, path
        assert "此页面仅供管理员使用" in page.text
    token = csrf_of(page_client.get("/").text)
    refused = page_client.post(
        "/admin/policy", data={"unrated": "1", "csrf_token": token}, follow_redirects=False
    )
    assert refused.status_code == 403
    assert 'href="/admin"' not in page_client.get("/").text  # not offered in the navigation


def test_signed_out_visitors_are_sent_to_sign_in(page_client: TestClient) -> None:
    response = page_client.get("/admin/users", follow_redirects=False)
    assert response.status_code == 303
    assert response.headers["location"].startswith("/signin?next=/admin/users")


def test_a_form_without_its_csrf_token_changes_nothing(page_client: TestClient) -> None:
    client = admin(page_client)
    response = client.post("/admin/policy", data={"national": "3"}, follow_redirects=False)
    assert response.status_code == 403
    national = client.get("/api/v1/patrol-policies").json()["items"][0]
    assert national["tier"] == "national" and national["interval_days"] != 3


# --- users -------------------------------------------------------------------------------


def test_the_user_list_shows_role_township_and_status(page_client: TestClient) -> None:
    client = admin(page_client)
    page = client.get("/admin")  # the area opens on its users
    assert page.url.path == "/admin/users"
    row = re.search(
        r"<tr>\s*<td><a href=\"/admin/users/\d+\">longgang</a>.*?</tr>", page.text, re.S
    )
    assert row, page.text
    assert "乡镇干部" in row.group(0) and "龙港镇" in row.group(0) and "启用" in row.group(0)
    assert "系统保留" in page.text and '">_system</a>' not in page.text  # shown, not editable
    total = client.get("/api/v1/users").json()["total"]
    assert f"共 {total} 人" in page.text
    filtered = client.get("/admin/users", params={"role": "township"}).text
    assert ">longgang</a>" in filtered and ">duanshi</a>" in filtered
    assert ">county</a>" not in filtered
    everyone = client.get("/admin/users", params={"role": "", "township_id": ""})  # “All”
    assert everyone.status_code == 200 and f"共 {total} 人" in everyone.text


def test_an_admin_creates_a_user_who_can_then_sign_in(page_client: TestClient) -> None:
    client = admin(page_client)
    township_id = next(
        t["id"] for t in client.get("/api/v1/townships").json()["items"] if t["name"] == "端氏镇"
    )
    response = post_form(
        client,
        "/admin/users/new",
        "/admin/users",
        {
            "username": "zhangsan",
            "full_name": "张三",
            "phone": "13800000000",
            "role": "township",
            "township_id": str(township_id),
            "password": "zhangsan-2025!",
            "password_again": "zhangsan-2025!",
        },
    )
    assert response.status_code == 303
    listed = client.get(response.headers["location"]).text
    assert "已创建用户 zhangsan" in listed
    created = api_user(client, "zhangsan")
    assert (created["role"], created["township"]["name"], created["is_active"]) == (
        "township",
        "端氏镇",
        True,
    )
    assert can_sign_in(client, "zhangsan", "zhangsan-2025!")


def test_refusals_are_shown_next_to_their_fields_and_passwords_never_come_back(
    page_client: TestClient,
) -> None:
    client = admin(page_client)
    secret = "only-mine-9876"
    response = post_form(
        client,
        "/admin/users/new",
        "/admin/users",
        {
            "username": "-bad name",
            "full_name": "",
            "role": "township",
            "township_id": "",
            "password": secret,
            "password_again": secret + "x",
        },
    )
    assert response.status_code == 422
    page = response.text
    assert field_error(page, "username").startswith("只能使用字母、数字")
    assert field_error(page, "full_name") == "至少 1 个字符"
    assert field_error(page, "password_again") == "两次输入的密码不一致，请重新输入"
    assert secret not in page
    assert 'value="-bad name"' in page  # what may be shown is kept for correcting

    no_township = post_form(
        client,
        "/admin/users/new",
        "/admin/users",
        {"username": "wangwu", "full_name": "王五", "role": "township", "password": secret,
         "password_again": secret},
    )  # fmt: skip
    assert no_township.status_code == 422
    assert field_error(no_township.text, "township_id") == "乡镇干部须选择所属乡镇"
    assert secret not in no_township.text

    short = post_form(
        client,
        "/admin/users/new",
        "/admin/users",
        {"username": "lisi", "full_name": "李四", "role": "county", "password": "short"},
    )
    assert field_error(short.text, "password") == "至少 8 个字符"
    assert "short" not in re.findall(r'value="([^"]*)"', short.text)


def test_a_taken_username_in_another_case_is_refused(page_client: TestClient) -> None:
    client = admin(page_client)
    response = post_form(
        client,
        "/admin/users/new",
        "/admin/users",
        {
            "username": "County",
            "full_name": "重名",
            "role": "county",
            "password": "another-pass-1",
            "password_again": "another-pass-1",
        },
    )
    assert response.status_code == 409
    assert field_error(response.text, "username") == (
        "用户名 County 已被使用（不区分大小写），请换一个"
    )


def test_changing_a_role_or_township_and_the_rules_of_the_pair(page_client: TestClient) -> None:
    client = admin(page_client)
    target = user_id(client, "longgang")
    page = f"/admin/users/{target}"
    duanshi = api_user(client, "duanshi")["township"]["id"]
    moved = post_form(
        client,
        page,
        page,
        {"full_name": "龙港镇巡查员", "phone": "", "role": "township", "township_id": duanshi},
    )
    assert moved.status_code == 303
    assert "已保存" in client.get(moved.headers["location"]).text
    assert api_user(client, "longgang")["township"]["id"] == duanshi

    mismatch = post_form(
        client,
        page,
        page,
        {"full_name": "龙港镇巡查员", "role": "county", "township_id": duanshi},
    )
    assert mismatch.status_code == 422
    assert field_error(mismatch.text, "township_id").startswith("只有乡镇干部隶属于乡镇")

    promoted = post_form(
        client, page, page, {"full_name": "龙港镇巡查员", "role": "county", "township_id": ""}
    )
    assert promoted.status_code == 303
    assert (api_user(client, "longgang")["role"], api_user(client, "longgang")["township"]) == (
        "county",
        None,
    )


def test_resetting_a_password(page_client: TestClient) -> None:
    client = admin(page_client)
    target = user_id(client, "duanshi")
    page = f"/admin/users/{target}"
    short = post_form(
        client, page, f"{page}/password", {"password": "abc", "password_again": "abc"}
    )
    assert short.status_code == 422
    assert field_error(short.text, "password") == "至少 8 个字符"
    done = post_form(
        client,
        page,
        f"{page}/password",
        {"password": "new-duanshi-pass", "password_again": "new-duanshi-pass"},
    )
    assert done.status_code == 303
    assert "密码已重置" in client.get(done.headers["location"]).text
    assert not can_sign_in(client, "duanshi", DEMO_PASSWORDS["duanshi"])
    assert can_sign_in(client, "duanshi", "new-duanshi-pass")


def test_deactivating_and_activating_a_user(page_client: TestClient) -> None:
    client = admin(page_client)
    target = user_id(client, "county")
    page = f"/admin/users/{target}"
    off = post_form(client, page, f"{page}/active", {"is_active": "false"})
    assert off.status_code == 303
    assert "账号已停用" in client.get(off.headers["location"]).text
    assert api_user(client, "county")["is_active"] is False
    assert not can_sign_in(client, "county", DEMO_PASSWORDS["county"])
    on = post_form(client, page, f"{page}/active", {"is_active": "true"})
    assert on.status_code == 303
    assert can_sign_in(client, "county", DEMO_PASSWORDS["county"])


def test_an_admin_is_not_offered_to_demote_or_deactivate_themselves(
    page_client: TestClient,
) -> None:
    client = admin(page_client)
    me = user_id(client, "admin")
    page = client.get(f"/admin/users/{me}").text
    assert f'action="/admin/users/{me}/active"' not in page
    assert 'name="role"' not in page
    refused = post_form(
        client, f"/admin/users/{me}", f"/admin/users/{me}/active", {"is_active": "false"}
    )
    assert refused.status_code == 409
    assert "不能停用自己的账号" in refused.text
    assert api_user(client, "admin")["is_active"] is True


# --- divisions (辖区) ------------------------------------------------------------------------

COUNTY_CLERK = {
    "full_name": "沁水县局科员",
    "role": "county",
    "password": "qinshui-clerk-1",
    "password_again": "qinshui-clerk-1",
}


def division_cell(page: str, username: str) -> str:
    row = re.search(rf'<tr>\s*<td><a href="/admin/users/\d+">{username}</a>.*?</tr>', page, re.S)
    assert row, f"{username} is not listed"
    cell = re.search(r'<td class="division">([^<]*)</td>', row.group(0))
    assert cell, "no division column"
    return html.unescape(cell.group(1)).strip()


def test_a_county_user_is_created_with_a_division_and_shown_with_it(
    page_client: TestClient,
) -> None:
    client = admin(page_client)
    form = client.get("/admin/users/new").text
    assert 'name="division_code"' in form and "省2位、市4位、县6位；留空为您本人的辖区" in form
    response = post_form(
        client,
        "/admin/users/new",
        "/admin/users",
        {**COUNTY_CLERK, "username": "qinshui-clerk", "division_code": "140521"},
    )
    assert response.status_code == 303
    assert api_user(client, "qinshui-clerk")["division_code"] == "140521"
    listed = client.get("/admin/users").text
    assert '<th scope="col">辖区</th>' in listed
    assert division_cell(listed, "qinshui-clerk") == "140521 沁水县"
    assert division_cell(listed, "longgang").startswith("140521")  # a township's code
    assert division_cell(listed, "longgang").endswith("沁水县")
    assert division_cell(listed, "admin") == "全国"
    page = client.get(f"/admin/users/{user_id(client, 'qinshui-clerk')}").text
    assert "辖区 140521 沁水县" in page and 'value="140521"' in page

    township_id = api_user(client, "longgang")["township"]["id"]
    officer = post_form(
        client,
        "/admin/users/new",
        "/admin/users",
        {**COUNTY_CLERK, "username": "officer2", "role": "township",
         "township_id": str(township_id), "division_code": "1405"},
    )  # fmt: skip
    assert officer.status_code == 303  # a township officer's follows their township
    assert (
        api_user(client, "officer2")["division_code"]
        == api_user(client, "longgang")["division_code"]
    )


@pytest.mark.parametrize(
    ("division", "message"),
    [
        ("1406", "没有以 1406 开头的县级区划代码，请核对辖区代码"),
        ("140521103", "只有乡镇干部的辖区是单个乡镇（9 位），请填写 2 位、4 位或 6 位代码"),
        ("14052", "辖区代码为 2 位（省）、4 位（市）或 6 位（县）数字，或留空"),
    ],
)
def test_a_bad_division_is_shown_on_its_field_and_nothing_is_stored(
    page_client: TestClient, division: str, message: str
) -> None:
    client = admin(page_client)
    total = client.get("/api/v1/users").json()["total"]
    response = post_form(
        client,
        "/admin/users/new",
        "/admin/users",
        {**COUNTY_CLERK, "username": "bad-division", "division_code": division},
    )
    assert response.status_code == 422
    assert field_error(response.text, "division_code") == message
    assert f'value="{division}"' in response.text  # kept for correcting
    assert "qinshui-clerk-1" not in response.text
    assert client.get("/api/v1/users").json()["total"] == total

    target = user_id(client, "county")
    page = f"/admin/users/{target}"
    before = api_user(client, "county")["division_code"]
    changed = post_form(
        client, page, page, {"full_name": "县局", "role": "county", "division_code": division}
    )
    assert changed.status_code == 422
    assert field_error(changed.text, "division_code") == message
    assert api_user(client, "county")["division_code"] == before


def test_changing_a_users_division_on_their_page(page_client: TestClient) -> None:
    client = admin(page_client)
    target = user_id(client, "county")
    page = f"/admin/users/{target}"
    widened = post_form(
        client, page, page, {"full_name": "县局", "role": "county", "division_code": "1405"}
    )
    assert widened.status_code == 303
    assert api_user(client, "county")["division_code"] == "1405"
    kept = post_form(
        client, page, page, {"full_name": "县局", "role": "county", "division_code": ""}
    )
    assert kept.status_code == 303  # empty: unchanged
    assert api_user(client, "county")["division_code"] == "1405"
    assert "辖区 1405" in client.get(page).text


def test_an_admin_of_a_county_does_not_see_the_citys_users(page_client: TestClient) -> None:
    client = admin(page_client)
    for username, role, division in (
        ("jincheng", "county", "1405"),
        ("qs-admin", "admin", "140521"),
    ):
        created = post_form(
            client,
            "/admin/users/new",
            "/admin/users",
            {**COUNTY_CLERK, "username": username, "role": role, "division_code": division},
        )
        assert created.status_code == 303, created.text
    city_user = user_id(client, "jincheng")
    with TestClient(client.app, base_url="http://127.0.0.1") as county_admin:
        sign_in(county_admin, "qs-admin", COUNTY_CLERK["password"])
        listed = county_admin.get("/admin/users").text
        assert ">qs-admin</a>" in listed and ">longgang</a>" in listed
        assert ">jincheng</a>" not in listed and ">admin</a>" not in listed
        assert county_admin.get(f"/admin/users/{city_user}").status_code == 404
        refused = post_form(
            county_admin,
            "/admin/users/new",
            "/admin/users",
            {**COUNTY_CLERK, "username": "too-wide", "division_code": "1405"},
        )
        assert refused.status_code == 422
        assert field_error(refused.text, "division_code") == ("辖区 1405 超出了您的辖区（140521）")
        made = post_form(
            county_admin, "/admin/users/new", "/admin/users", {**COUNTY_CLERK, "username": "mine"}
        )
        assert made.status_code == 303  # empty: the admin's own division
    assert api_user(client, "mine")["division_code"] == "140521"


# --- the patrol policy --------------------------------------------------------------------


def test_the_patrol_policy_is_changed_and_due_dates_follow(page_client: TestClient) -> None:
    client = admin(page_client)
    before = {
        p["tier"]: p["interval_days"] for p in client.get("/api/v1/patrol-policies").json()["items"]
    }
    page = client.get("/admin/policy").text
    for tier, days in before.items():
        assert f'name="{tier}" type="number"' in page and f'value="{days}"' in page
    wanted = {**{t: str(d) for t, d in before.items()}, "unrated": str(before["unrated"] + 1)}
    saved = post_form(client, "/admin/policy", "/admin/policy", wanted)
    assert saved.status_code == 303
    shown = client.get(saved.headers["location"]).text
    recomputed = int(re.search(r"recomputed=(\d+)", saved.headers["location"]).group(1))
    assert recomputed > 0 and f"已重新计算 {recomputed} 处设施的应巡查日期" in shown
    after = {
        p["tier"]: p["interval_days"] for p in client.get("/api/v1/patrol-policies").json()["items"]
    }
    assert after == {**before, "unrated": before["unrated"] + 1}


def test_a_bad_interval_is_shown_next_to_its_tier_and_nothing_changes(
    page_client: TestClient,
) -> None:
    client = admin(page_client)
    before = client.get("/api/v1/patrol-policies").json()["items"]
    for value in ("0", "abc", "367", "", "7.5"):
        typed = {p["tier"]: str(p["interval_days"]) for p in before} | {"county": value}
        response = post_form(client, "/admin/policy", "/admin/policy", typed)
        assert response.status_code == 422, value
        assert field_error(response.text, "county") == "请填写 1 至 366 之间的整数天数"
        assert f'value="{value}"' in response.text  # kept for correcting
    assert client.get("/api/v1/patrol-policies").json()["items"] == before


# --- the facility import ------------------------------------------------------------------


def upload(client: TestClient, name: str, content: bytes, *, skip_invalid: bool = False):
    token = csrf_of(client.get("/admin/import").text)
    data = {"csrf_token": token} | ({"skip_invalid": "true"} if skip_invalid else {})
    return client.post("/admin/import", data=data, files={"file": (name, content)})


def error_rows(page: str) -> list[tuple[str, str, str]]:
    table = re.search(r'<div class="table-wrap import-errors">.*?</table>', page, re.S)
    assert table, "no table of row errors"
    cells = re.findall(
        r"<tr>\s*<td class=\"num\">(\d+)</td>\s*<td>([^<]*)</td>\s*<td>([^<]*)</td>", table.group(0)
    )
    return [(row, html.unescape(column), html.unescape(reason)) for row, column, reason in cells]


def test_a_good_spreadsheet_is_imported_and_counted(page_client: TestClient) -> None:
    client = admin(page_client)
    before = facility_total(client)
    response = upload(client, "设施.csv", ("\n".join(GOOD_ROWS) + "\n").encode("utf-8-sig"))
    assert response.status_code == 200
    assert "已从 设施.csv 导入" in response.text
    assert "新增 2 处，更新 0 处，无变化 0 处" in response.text
    assert facility_total(client) == before + 2
    again = upload(client, "设施.csv", ("\n".join(GOOD_ROWS) + "\n").encode("utf-8-sig"))
    assert "新增 0 处，更新 0 处，无变化 2 处" in again.text  # codes that exist update


def test_one_bad_row_is_named_with_its_reason_and_nothing_is_written(
    page_client: TestClient,
) -> None:
    client = admin(page_client)
    before = facility_total(client)
    content = "\n".join([*GOOD_ROWS, BAD_ROW]) + "\n"
    response = upload(client, "registry.csv", content.encode("utf-8-sig"))
    assert response.status_code == 422
    assert "未导入任何数据：registry.csv 中有 1 行存在错误" in response.text
    rows = error_rows(response.text)
    assert {row for row, _column, _reason in rows} == {"4"}
    assert ("4", "保护级别", "“皇家级”不是可选值，可选：全国重点、省级、市级、县级、未定级") in rows
    assert facility_total(client) == before  # nothing written
    assert 'name="skip_invalid" value="true">' in response.text  # left unticked


def test_skipping_bad_rows_writes_the_good_ones(page_client: TestClient) -> None:
    client = admin(page_client)
    before = facility_total(client)
    book = Workbook()
    sheet = book.active
    for line in [*GOOD_ROWS, BAD_ROW.replace("皇家级", "未定级")]:
        sheet.append(line.split(","))
    buffer = io.BytesIO()
    book.save(buffer)
    response = upload(client, "registry.xlsx", buffer.getvalue(), skip_invalid=True)
    assert response.status_code == 200
    assert "新增 2 处" in response.text and "有错误的 1 行已跳过" in response.text
    (row, column, reason), *_ = error_rows(response.text)
    assert (row, column) == ("4", "经度")
    assert reason.startswith("坐标（116.400000, 39.900000）位于沁水县界外")
    assert facility_total(client) == before + 2
    assert 'name="skip_invalid" value="true" checked>' in response.text


UNREADABLE = [
    ("notes.txt", b"x", "notes.txt：只能导入 .csv 或 .xlsx 文件"),
    ("f.csv", "编号,名称\nX,Y\n".encode(), "表头缺少必填列："),
    ("f.xlsx", b"not a workbook", "f.xlsx 不是可读取的 .xlsx 工作簿"),
    ("../../etc/f.csv", b"", "f.csv 是空文件"),
]


def test_an_unreadable_file_is_refused_next_to_the_file_field(page_client: TestClient) -> None:
    client = admin(page_client)
    for name, content, message in UNREADABLE:
        response = upload(client, name, content)
        assert response.status_code == 422, name
        assert field_error(response.text, "file").startswith(message), name


def test_no_file_chosen(page_client: TestClient) -> None:
    client = admin(page_client)
    token = csrf_of(client.get("/admin/import").text)
    response = client.post("/admin/import", data={"csrf_token": token})
    assert response.status_code == 422
    assert field_error(response.text, "file") == "请选择要导入的 .csv 或 .xlsx 文件"


def test_the_template_has_the_headings_the_import_reads(page_client: TestClient) -> None:
    client = admin(page_client)
    template = client.get("/admin/import/template.csv")
    assert template.status_code == 200
    header = template.content.decode("utf-8-sig").strip().split(",")
    assert header[:3] == ["编号", "名称", "类型"]
    response = upload(client, "empty.csv", template.content)
    assert response.status_code == 200  # headings only: nothing to do, nothing wrong
    assert "新增 0 处" in response.text
