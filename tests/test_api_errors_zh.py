"""The API's errors in Chinese for a client whose Accept-Language prefers it (issue 10):
every error a patrol report or a photo can meet, the same status, the same JSON shape;
without the header, or with English preferred, the English answer of before."""

import ast
import itertools
import re
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from app import schemas
from app.db import Database
from app.limits import too_large_message
from app.main import BODY_LIMITS, DEFAULT_BODY_LIMIT
from app.models import FacilityStatus, Role, User
from app.photos import processing
from app.security import create_access_token
from app.web import api_errors
from app.web.i18n import gettext_for
from tests import factories
from tests.factories import World, report_body
from tests.photos.images import jpeg, png_header_only

API = "/api/v1/inspections"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}
EN = {"Accept-Language": "en"}
CJK = re.compile(r"[\u4e00-\u9fff]")
#: three English words in a row: a sentence left untranslated
ENGLISH = re.compile(r"[A-Za-z]{2,}[,;:]? [A-Za-z]{2,}[,;:]? [A-Za-z]{2,}")
APP = Path(__file__).parents[1] / "app"


def messages(detail: Any) -> list[str]:
    if isinstance(detail, str):
        return [detail]
    assert isinstance(detail, list), detail
    return [item["msg"] for item in detail]


def is_chinese(text: str) -> bool:
    return bool(CJK.search(text)) and not ENGLISH.search(text)


def ask(send: Callable[[dict[str, str]], httpx.Response]) -> tuple[Any, Any]:
    """Send one refused request without a language, in English and in Chinese; the same
    status each time, English twice, Chinese in the same shape. (English, Chinese) detail."""
    plain, english, chinese = send({}), send(EN), send(ZH)
    assert plain.status_code == english.status_code == chinese.status_code >= 400, chinese.text
    assert plain.json() == english.json()
    assert "content-language" not in plain.headers and "content-language" not in english.headers
    for response in (plain, english, chinese):
        assert "Accept-Language" in response.headers["vary"]
    assert chinese.headers["content-language"] == "zh-CN"
    en, zh = english.json()["detail"], chinese.json()["detail"]
    assert type(zh) is type(en)
    if isinstance(en, list):  # loc and type stay, for clients that act on them
        assert [(e["loc"], e["type"]) for e in zh] == [(e["loc"], e["type"]) for e in en]
    for text in messages(zh):
        assert is_chinese(text), text
    return en, zh


def post_report(client: TestClient, world: World, body: Any, who: str = "township"):
    return lambda language: client.post(API, json=body, headers=world.headers(who) | language)


def post_raw(client: TestClient, world: World, content: bytes):
    headers = world.headers("township") | {"Content-Type": "application/json"}
    return lambda language: client.post(API, content=content, headers=headers | language)


# --- a report's body -------------------------------------------------------------------------


def _without(name: str) -> Callable[[dict], dict]:
    return lambda body: {k: v for k, v in body.items() if k != name}


def _with(**changes: Any) -> Callable[[dict], dict]:
    return lambda body: body | changes


BAD_BODIES = {
    "missing field": (_without("condition"), "Field required"),
    "bad condition": (_with(condition="fair"), "Input should be 'good', "),
    "bad checklist item": (_with(checklist={"roof": "ok"}), "Input should be 'marker_sign', "),
    "bad checklist answer": (_with(checklist={"headstone": "yes"}), "Input should be 'ok', "),
    "checklist not an object": (_with(checklist=["headstone"]), "Input should be a valid dict"),
    "bad uuid": (_with(client_id="not-a-uuid"), "Input should be a valid UUID"),
    "uuid a number": (_with(client_id=5), "UUID input should be a string"),
    "bad datetime": (_with(inspected_at="yesterday"), "Input should be a valid datetime"),
    "datetime without offset": (
        _with(inspected_at="2026-01-01T08:00:00"),
        "Input should have timezone info",
    ),
    "year out of range": (
        _with(inspected_at="0001-01-01T00:00:00Z"),
        "Value error, must be between 1900 and 2100",
    ),
    "facility_id below 1": (_with(facility_id=0), "Input should be greater than or equal to 1"),
    "facility_id too big": (_with(facility_id=2**31), "Input should be less than or equal to"),
    "facility_id not a number": (_with(facility_id="A-001"), "Input should be a valid integer"),
    "notes too long": (_with(notes="草" * 2001), "String should have at most 2000 characters"),
    "notes not text": (_with(notes=5), "Input should be a valid string"),
    "control character": (_with(notes="a\x07b"), "Value error, must not contain control"),
    "extra field": (_with(weather="sunny"), "Extra inputs are not permitted"),
    "longitude out of range": (
        _with(position={"longitude": 200, "latitude": 35.7}),
        "Input should be less than or equal to 180",
    ),
    "accuracy not a number": (
        _with(position={"longitude": 112.2, "latitude": 35.7, "accuracy_m": "good"}),
        "Input should be a valid number",
    ),
    "bad crs": (
        _with(position={"longitude": 112.2, "latitude": 35.7, "crs": "wgs-84"}),
        "Input should be 'wgs84', 'gcj02' or 'bd09'",
    ),
    "position not an object": (_with(position="here"), "Input should be a valid dict"),
}


@pytest.mark.parametrize("case", BAD_BODIES, ids=list(BAD_BODIES))
def test_a_refused_report_body_is_explained_in_chinese(
    client: TestClient, world: World, case: str
) -> None:
    change, english = BAD_BODIES[case]
    body = change(report_body(world.facility_a))
    en, zh = ask(post_report(client, world, body))
    assert len(en) == 1 and en[0]["msg"].startswith(english), en


@pytest.mark.parametrize(
    ("minutes", "english"),
    [
        (30, "inspected_at is more than 10 minutes in the"),
        (-61 * 24 * 60, "inspected_at is more than 60 days ago"),
    ],
    ids=["in the future", "too old"],
)
def test_a_report_at_the_wrong_time_is_explained_in_chinese(
    client: TestClient, world: World, minutes: int, english: str
) -> None:
    moment = datetime.now(UTC) + timedelta(minutes=minutes)  # when the test runs
    body = report_body(world.facility_a) | {"inspected_at": moment.isoformat()}
    en, zh = ask(post_report(client, world, body))
    assert len(en) == 1 and en[0]["msg"].startswith(english), en
    assert len(zh) == 1 and CJK.search(zh[0]["msg"]), zh


def test_the_field_is_named_in_chinese_in_front_of_a_schema_message(
    client: TestClient, world: World
) -> None:
    body = report_body(world.facility_a) | {"condition": "fair", "checklist": {"headstone": "?"}}
    _en, zh = ask(post_report(client, world, body))
    assert {e["msg"] for e in zh} == {
        "状况：应为 'good', 'minor_issues', 'needs_repair', 'severely_damaged' 或 'missing' 之一",
        "巡查项目“墓碑/碑体”：应为 'ok', 'problem' 或 'na' 之一",
    }


def test_a_message_that_names_its_field_gets_no_second_name(
    client: TestClient, world: World
) -> None:
    moment = datetime.now(UTC) + timedelta(minutes=30)
    body = report_body(world.facility_a) | {"inspected_at": moment.isoformat()}
    _en, zh = ask(post_report(client, world, body))
    assert zh[0]["msg"] == "巡查时间比当前时间晚 10 分钟以上，请检查手机的日期和时间设置"


@pytest.mark.parametrize(
    ("content", "english"),
    [
        (b'{"facility_id": 1,', "JSON decode error"),
        (b'["a list"]', "Input should be a valid dictionary or object to extract fields from"),
        (b"", "Field required"),
    ],
    ids=["broken json", "not an object", "empty"],
)
def test_a_body_that_is_no_report_is_explained_in_chinese(
    client: TestClient, world: World, content: bytes, english: str
) -> None:
    en, zh = ask(post_raw(client, world, content))
    assert en[0]["msg"] == english
    assert zh[0]["msg"].startswith("提交的内容：")


# --- what the service refuses ----------------------------------------------------------------


def test_an_unknown_facility(client: TestClient, world: World) -> None:
    en, zh = ask(post_report(client, world, report_body(world.facility_a) | {"facility_id": 99}))
    assert en == "Facility 99 not found"
    assert zh == "未找到 ID 为 99 的设施，或该设施不属于您所在的乡镇"


def test_a_facility_of_another_township(client: TestClient, world: World) -> None:
    en, zh = ask(post_report(client, world, report_body(world.facility_b)))
    assert en == f"Facility {world.facility_b.id} not found"
    assert "不属于您所在的乡镇" in zh


@pytest.mark.parametrize(
    ("status", "chinese"),
    [
        (FacilityStatus.archived, "已归档"),
        (FacilityStatus.relocated, "已迁入陵园"),
        (FacilityStatus.merged, "已合并"),
    ],
)
def test_a_facility_that_takes_no_reports(
    client: TestClient, world: World, db: Database, status: FacilityStatus, chinese: str
) -> None:
    with db.begin() as session:
        facility = factories.make_facility(session, township=world.township_a, status=status)
    en, zh = ask(post_report(client, world, report_body(facility)))
    assert en == f"Facility {facility.id} is {status.value}, not active; it takes no reports"
    assert zh == f"ID 为 {facility.id} 的设施{chinese}，不再接收巡查报告"


def test_a_client_id_reused_for_different_content(client: TestClient, world: World) -> None:
    body = report_body(world.facility_a)
    stored = client.post(API, json=body, headers=world.headers("township")).json()
    en, zh = ask(post_report(client, world, body | {"condition": "missing"}))
    assert en.startswith("A different report was already submitted with client_id")
    assert stored["receipt"] in zh and "client_id" in zh


def test_a_client_id_reused_by_another_township(client: TestClient, world: World) -> None:
    body = report_body(world.facility_a)
    stored = client.post(API, json=body, headers=world.headers("township")).json()
    en, zh = ask(post_report(client, world, body, who="other"))
    assert en.startswith(f"The client_id {body['client_id']} is already taken")
    assert zh == "此报告的 client_id 已被占用：请为报告换用新的 client_id 后重新发送"
    assert stored["receipt"] not in en + zh


# --- signing in and roles --------------------------------------------------------------------


def _token(world: World, user: User, ttl: timedelta = timedelta(hours=1)) -> dict[str, str]:
    key = world.settings.signing_key()
    token = create_access_token(user_id=user.id, key=key, ttl=ttl)  # type: ignore[arg-type]
    return {"Authorization": f"Bearer {token}"}


def _not_signed_in(world: World, db: Database) -> dict[str, str]:
    return {}


def _expired(world: World, db: Database) -> dict[str, str]:
    return _token(world, world.township_user, ttl=timedelta(seconds=-10))


def _not_a_token(world: World, db: Database) -> dict[str, str]:
    return {"Authorization": "Bearer not-a-token"}


def _deactivated(world: World, db: Database) -> dict[str, str]:
    headers = world.headers("township")
    with db.begin() as session:
        session.get(User, world.township_user.id).is_active = False  # type: ignore[union-attr]
    return headers


def _revoked(world: World, db: Database) -> dict[str, str]:
    headers = world.headers("township")
    with db.begin() as session:
        user = session.get(User, world.township_user.id)
        assert user is not None
        user.tokens_valid_after = datetime.now(UTC) + timedelta(minutes=1)
    return headers


SIGN_IN_PROBLEMS = {
    "not signed in": (_not_signed_in, "Not signed in: send 'Authorization: Bearer <token>'"),
    "expired": (_expired, "Your session has expired: sign in again"),
    "not a token": (_not_a_token, "The access token is not valid: sign in again"),
    "deactivated": (_deactivated, "This account no longer exists or has been deactivated"),
    "revoked": (_revoked, "Your password or access changed since you signed in: sign in again"),
}


@pytest.mark.parametrize("case", SIGN_IN_PROBLEMS, ids=list(SIGN_IN_PROBLEMS))
@pytest.mark.parametrize("request_", ["report", "photo", "me", "facilities"])
def test_a_401_is_explained_in_chinese(
    client: TestClient, world: World, db: Database, case: str, request_: str
) -> None:
    make_headers, english = SIGN_IN_PROBLEMS[case]
    report_id = client.post(
        API, json=report_body(world.facility_a), headers=world.headers("township")
    ).json()["id"]
    headers = make_headers(world, db)
    send = {
        "report": lambda h: client.post(API, json=report_body(world.facility_a), headers=h),
        "photo": lambda h: client.post(
            f"{API}/{report_id}/photos", files={"file": ("p.jpg", jpeg())}, headers=h
        ),
        "me": lambda h: client.get("/api/v1/me", headers=h),
        "facilities": lambda h: client.get("/api/v1/facilities", headers=h),
    }[request_]
    en, zh = ask(lambda language: send(headers | language))
    assert en == english
    assert send(headers | ZH).headers["www-authenticate"] == "Bearer"


def test_a_role_that_may_not_is_explained_in_chinese(client: TestClient, world: World) -> None:
    report_id = client.post(
        API, json=report_body(world.facility_a), headers=world.headers("township")
    ).json()["id"]
    en, zh = ask(
        lambda language: client.post(
            f"{API}/{report_id}/review",
            json={"decision": "accepted"},
            headers=world.headers("township") | language,
        )
    )
    assert en == "This needs the admin or county role; you are a township user"
    assert zh == "此操作仅限县局工作人员"
    en, zh = ask(
        lambda language: client.get("/api/v1/users", headers=world.headers("county") | language)
    )
    assert zh == "此操作仅限管理员"


# --- photos ----------------------------------------------------------------------------------


@pytest.fixture
def report(client: TestClient, world: World) -> dict:
    body = report_body(world.facility_a)
    return client.post(API, json=body, headers=world.headers("township")).json()


def upload(client: TestClient, world: World, report_id: int, data: bytes, who: str = "township"):
    return lambda language: client.post(
        f"{API}/{report_id}/photos",
        files={"file": ("p.jpg", data, "application/octet-stream")},
        headers=world.headers(who) | language,
    )


def test_a_photo_that_is_no_image(client: TestClient, world: World, report: dict) -> None:
    en, zh = ask(upload(client, world, report["id"], b"%PDF-1.4 not a photo"))
    assert en == "Only JPEG, PNG or WebP photos are accepted (judged by the bytes)"
    assert zh == "只接受 JPEG、PNG 或 WebP 格式的照片（按文件内容判断）"


@pytest.mark.parametrize("size", [(8000, 5001), (20000, 20000)], ids=["just-over", "bomb"])
def test_a_photo_of_too_many_megapixels(
    client: TestClient, world: World, report: dict, size: tuple[int, int]
) -> None:
    en, zh = ask(upload(client, world, report["id"], png_header_only(*size)))
    assert "megapixels" in en[0]["msg"]
    assert "百万像素" in zh[0]["msg"]


def test_a_photo_that_cannot_be_decoded(client: TestClient, world: World, report: dict) -> None:
    en, zh = ask(upload(client, world, report["id"], jpeg()[:300]))
    assert en[0]["msg"].startswith("The photo could not be decoded")
    assert zh[0]["msg"] == "无法读取照片：文件已损坏或不完整，请重新拍摄"


def test_a_photo_over_the_photo_limit(client: TestClient, world: World, report: dict) -> None:
    # over 10 MiB, but within the body limit's margin: the photo service refuses it
    data = jpeg() + b"\x00" * (processing.MAX_BYTES + 1)
    en, zh = ask(upload(client, world, report["id"], data))
    assert en.startswith("The photo is ") and "10 MiB" in en
    assert zh == "照片过大，每张照片不能超过 10 MB"


def test_a_declared_upload_over_the_body_limit(
    client: TestClient, world: World, report: dict
) -> None:
    # refused from its Content-Length by the body limit itself, before any handler
    (_pattern, body_limit, _allowed) = BODY_LIMITS[0]
    en, zh = ask(upload(client, world, report["id"], b"\xff" * (body_limit + 1)))
    assert en == "The request body is too large: a photo may be at most 10 MiB"
    assert zh == "上传的文件过大：每张照片不能超过 10 MB"


def test_a_chunked_upload_over_the_body_limit(
    client: TestClient, world: World, report: dict
) -> None:
    def body() -> Iterator[bytes]:
        yield b'--x\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n\r\n'
        for _ in range(200):  # 12.5 MiB without a Content-Length
            yield b"\xff" * 65536
        yield b"\r\n--x--\r\n"

    headers = world.headers("township") | {"Content-Type": "multipart/form-data; boundary=x"}
    en, zh = ask(
        lambda language: client.post(
            f"{API}/{report['id']}/photos", content=body(), headers=headers | language
        )
    )
    assert en == "The request body is too large: a photo may be at most 10 MiB"
    assert zh == "上传的文件过大：每张照片不能超过 10 MB"


def test_a_ninth_photo(client: TestClient, world: World, report: dict) -> None:
    for i in range(processing.MAX_PHOTOS):
        upload(client, world, report["id"], jpeg(colour=(i * 20, 0, 0)))({})
    en, zh = ask(upload(client, world, report["id"], jpeg(colour=(255, 255, 0))))
    assert en == f"Inspection {report['id']} already has 8 photos, the most it can hold"
    assert zh == f"ID 为 {report['id']} 的巡查报告已有 8 张照片，已达上限"


@pytest.mark.parametrize(
    ("form", "english"),
    [
        ({"other": "x"}, "Field required"),
        ({"file": "not a file"}, "Value error, Expected UploadFile, received: <class 'str'>"),
    ],
    ids=["no file", "text instead of a file"],
)
def test_an_upload_without_a_file(
    client: TestClient, world: World, report: dict, form: dict, english: str
) -> None:
    en, zh = ask(
        lambda language: client.post(
            f"{API}/{report['id']}/photos", data=form, headers=world.headers("township") | language
        )
    )
    assert en[0]["msg"] == english


@pytest.mark.parametrize("who", ["township", "other"])
def test_a_photo_for_a_report_that_is_not_there(
    client: TestClient, world: World, report: dict, who: str
) -> None:
    report_id = report["id"] if who == "other" else 9999
    en, zh = ask(upload(client, world, report_id, jpeg(), who=who))
    assert en == f"Inspection {report_id} not found"
    assert zh == f"未找到 ID 为 {report_id} 的巡查报告，或该报告不属于您所在的乡镇"


# --- the facility list, and paths that are not there -----------------------------------------


@pytest.mark.parametrize(
    "query",
    ["limit=0", "limit=501", "offset=-1", "tier=gold", "overdue=perhaps", "sort=size", "bbox=1,2"],
)
def test_a_bad_facility_query(client: TestClient, world: World, query: str) -> None:
    ask(
        lambda language: client.get(
            f"/api/v1/facilities?{query}", headers=world.headers("township") | language
        )
    )


def test_a_facility_not_there(client: TestClient, world: World) -> None:
    en, zh = ask(
        lambda language: client.get(
            f"/api/v1/facilities/{world.facility_b.id}",
            headers=world.headers("township") | language,
        )
    )
    assert en == f"Facility {world.facility_b.id} not found"


def test_an_unknown_endpoint_and_method(client: TestClient, world: World) -> None:
    headers = world.headers("township")
    en, _zh = ask(lambda language: client.get("/api/v1/nothing", headers=headers | language))
    assert en == "No such endpoint: GET /api/v1/nothing"
    en, _zh = ask(lambda language: client.delete("/api/v1/me", headers=headers | language))
    assert en == "DELETE is not allowed on /api/v1/me"


# --- which language ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("header", "chinese"),
    [
        ("zh-CN,zh;q=0.9", True),
        ("zh", True),
        ("zh-Hans-CN", True),
        ("ZH-cn", True),
        ("fr, zh;q=0.5, en;q=0.4", True),
        ("en-US,en;q=0.9,zh-CN;q=0.8", False),
        ("zh;q=0.1, en", False),
        ("zh;q=0", False),
        ("*", False),
        ("", False),
        (None, False),
    ],
)
def test_the_header_decides_by_its_q_values(header: str | None, chinese: bool) -> None:
    assert api_errors.prefers_chinese(header) is chinese


def test_the_pages_language_cookie_does_not_count(client: TestClient, world: World) -> None:
    client.cookies.set("mp_lang", "zh_CN")
    plain = client.get("/api/v1/facilities/99", headers=world.headers("township"))
    assert plain.json()["detail"] == "Facility 99 not found"
    client.cookies.set("mp_lang", "en")
    chinese = client.get("/api/v1/facilities/99", headers=world.headers("township") | ZH)
    assert is_chinese(chinese.json()["detail"])


def test_pages_still_answer_their_errors_as_pages(client: TestClient, world: World) -> None:
    response = client.get("/no-such-page", headers=ZH)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")


# --- every message those services raise has its Chinese ----------------------------------------

#: where a report or a photo upload can be refused; ValueErrors of app/schemas.py reach the
#: client as pydantic's "Value error, ..."
RAISING_MODULES = [
    "inspections/service.py",
    "plates/router.py",
    "plates/urls.py",
    "archives/router.py",
    "photos/service.py",
    "photos/processing.py",
    "photos/router.py",
    "access.py",
    "deps.py",
    "security.py",
    "schemas.py",
]
#: values the f-strings interpolate where a number ("7") will not do
SAMPLES = {
    "facility.status.value": [s.value for s in FacilityStatus if s is not FacilityStatus.active],
    "owner.label": ["Inspection 7", "Order 7 (before)"],
    "what": ["Facility 7", "Inspection 7", "Photo 7"],
    "data.client_id": [str(uuid.uuid4())],
    "existing.receipt": ["K7Q2-9XMD"],
    "allowed": ["admin", "admin or county"],
    "user.role.value": [r.value for r in Role],
}


def _variants(node: ast.expr, strings: dict[str, ast.expr]) -> list[str]:
    """The texts a message expression can take (one per sample value)."""
    if isinstance(node, ast.Name) and node.id in strings:
        return _variants(strings[node.id], strings)
    if isinstance(node, ast.Constant) and isinstance(node.value, str):
        return [node.value]
    if isinstance(node, ast.JoinedStr):
        parts: list[list[str]] = []
        for value in node.values:
            if isinstance(value, ast.FormattedValue):
                parts.append(SAMPLES.get(ast.unparse(value.value), ["7"]))
            else:
                parts.append(_variants(value, strings))
        return ["".join(texts) for texts in itertools.product(*parts)]
    return []


def raised_messages() -> dict[str, str]:
    """Every message those modules raise (f-strings filled with samples) → where."""
    found: dict[str, str] = {}
    for name in RAISING_MODULES:
        tree = ast.parse((APP / name).read_text())
        strings = {
            node.targets[0].id: node.value
            for node in ast.walk(tree)
            if isinstance(node, ast.Assign)
            and len(node.targets) == 1
            and isinstance(node.targets[0], ast.Name)
            and isinstance(node.value, ast.Constant | ast.JoinedStr)
        }
        for node in ast.walk(tree):
            if not (isinstance(node, ast.Raise) and isinstance(node.exc, ast.Call)):
                continue
            prefix = "Value error, " if ast.unparse(node.exc.func) == "ValueError" else ""
            arguments = node.exc.args
            if ast.unparse(node.exc.func) == "PydanticCustomError":
                arguments = arguments[1:2]  # (error type, message): only the message is shown
            for argument in arguments:
                for text in _variants(argument, strings):
                    found[prefix + text] = f"app/{name}:{node.lineno}"
    return found


def body_limit_messages() -> list[str]:
    allowed = [a for _pattern, _limit, a in BODY_LIMITS]
    allowed.append(f"at most {DEFAULT_BODY_LIMIT // 1024 // 1024} MiB is accepted here")
    return [too_large_message(a) for a in allowed]


def test_the_walk_finds_the_messages() -> None:
    """The check below can only fail if the walk reads the raises."""
    found = raised_messages()
    assert "Only JPEG, PNG or WebP photos are accepted (judged by the bytes)" in found
    assert "Facility 7 is archived, not active; it takes no reports" in found
    assert "Value error, must be between 1900 and 2100" in found
    assert schemas.DATE_MESSAGE in found and "date_type" not in found  # PydanticCustomError

    assert any(m.startswith("The photo has more than") for m in found)  # through a variable
    assert len(found) >= 25
    untranslated = "Something new went wrong"
    assert not is_chinese(api_errors.translate_message(untranslated, gettext_for("zh_CN")))


def test_every_message_a_report_or_photo_can_meet_has_chinese() -> None:
    _ = gettext_for("zh_CN")
    messages = raised_messages() | dict.fromkeys(body_limit_messages(), "app/limits.py")
    missing = {
        text: where
        for text, where in messages.items()
        if not is_chinese(api_errors.translate_message(text, _))
    }
    assert not missing, "no Chinese for:\n" + "\n".join(f"{m!r} ({w})" for m, w in missing.items())
