"""一处一表 and 一乡一册: the PDFs' text (pypdf) holds the record, the "六个一" items and the
martyrs, in Chinese; the book's contents point at the right pages; both are scoped like
the reads; a missing record photo is a "无照片" box; page 1 of each is rendered to
``tests/artifacts/`` for a person to look at."""

import io
import re
import shutil
import subprocess
import uuid
from datetime import date, timedelta
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from PIL import Image
from pypdf import PdfReader

from app.archives import render
from app.db import Database
from app.models import (
    County,
    Crs,
    Facility,
    FacilityStatus,
    Photo,
    ReviewStatus,
    Role,
    Township,
)
from app.models.base import utcnow
from app.models.enums import HeadstoneType, MainMaterial, ProtectionUnitType
from app.plates import codes
from app.standard import SIX_LABELS_ZH
from tests.factories import COUNTY_TZ, World, auth, make_facility, make_inspection, make_user
from tests.test_query_counts import counted

ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
DESCRIPTION = "该烈士墓位于村东山坡，" * 50  # 500 characters
MARTYRS = [
    {"name": f"烈士{n:02d}号", "note": f"1920—1947，山西沁水人，第{n}次战斗中牺牲。"}
    for n in range(20)
]


def _jpeg(colour: tuple[int, int, int] = (150, 60, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (320, 240), colour).save(out, "JPEG", quality=80)
    return out.getvalue()


def _photo(session, facility: Facility, inspection_id: int, user_id: int, key: str) -> int:
    photo = Photo(
        inspection_id=inspection_id,
        facility_id=facility.id,
        sha256=uuid.uuid4().hex * 2,
        stored_key=key,
        thumbnail_key=key,
        content_type="image/jpeg",
        width=320,
        height=240,
        size_bytes=1000,
        uploaded_by_id=user_id,
    )
    session.add(photo)
    session.flush()
    return photo.id


def _fill(facility: Facility) -> None:
    facility.name = "王家岭烈士墓"
    facility.village = "王家岭村"
    facility.address = "沁水县龙港镇王家岭村东500米"
    facility.protection_unit = list(ProtectionUnitType)[0]
    facility.headstone_type = list(HeadstoneType)[0]
    facility.main_material = list(MainMaterial)[0]
    facility.commemorates = "抗日战争时期牺牲的八路军战士"
    facility.area_m2 = 36.5
    facility.dimensions = "高1.2米，宽0.6米，厚0.15米"
    facility.boundary_description = "墓体四周各外延5米"
    facility.custodian_name = "李守义"
    facility.custodian_phone = "13912345678"
    facility.management_rule = "王家岭烈士墓日常管护制度"
    facility.management_rule_on = date(2024, 4, 1)
    facility.year_built = 1953
    facility.description = DESCRIPTION
    facility.martyrs = MARTYRS
    facility.martyr_names = " ".join(m["name"] for m in MARTYRS)
    facility.source_crs = Crs.gcj02  # as an AMap pick gives it
    facility.source_longitude, facility.source_latitude = 112.196123, 35.688456


@pytest.fixture
def filled(db: Database, world: World, app) -> World:
    """Facility A with every field filled, 20 martyrs, a 500-character description, an
    accepted report (4 of the 5 report items ok) and a record photo in the store."""
    key = app.state.photo_store.put(_jpeg(), suffix=".jpg")
    with db.begin() as session:
        facility = session.get(Facility, world.facility_a.id)
        _fill(facility)
        at = utcnow() - timedelta(days=3)
        accepted = make_inspection(
            session,
            facility=facility,
            inspector=world.township_user,
            inspected_at=at,
            tz=COUNTY_TZ,
            review_status=ReviewStatus.accepted,
        )
        accepted.checklist = {
            "marker_sign": "ok",
            "biography_plaque": "ok",
            "headstone": "ok",
            "boundary": "problem",
            "access_path": "ok",
        }
        accepted.receipt = "R2026-0AC"
        later = make_inspection(
            session,
            facility=facility,
            inspector=world.township_user,
            inspected_at=at + timedelta(days=1),
            tz=COUNTY_TZ,
            review_status=ReviewStatus.rejected,
        )
        later.receipt = "R2026-0RJ"
        facility.record_photo_id = _photo(
            session, facility, accepted.id, world.township_user.id, key
        )
    return world


def _text(pdf: bytes, page: int) -> str:
    return PdfReader(io.BytesIO(pdf)).pages[page].extract_text()


def _flat(text: str) -> str:
    return re.sub(r"\s+", "", text)


def _look(pdf: bytes, name: str, database_url: str) -> Path:
    """Page 1 as a PNG in tests/artifacts/ (pdftoppm -r 80)."""
    assert shutil.which("pdftoppm"), "poppler-utils (pdftoppm) is not installed"
    ARTIFACTS.mkdir(exist_ok=True)
    backend = "postgresql" if database_url.startswith("postgresql") else "sqlite"
    stem = ARTIFACTS / f"archives_{name}_{backend}"
    source = stem.with_suffix(".pdf")
    source.write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "80", "-png", "-f", "1", "-l", "1", "-singlefile", source, stem],
        check=True,
    )
    image = stem.with_suffix(".png")
    with Image.open(image) as png:
        assert png.size[0] > 500
        # not blank: the page has ink on it
        assert png.convert("L").getextrema()[0] < 100
    return image


def test_facility_page_holds_the_record(
    client: TestClient, filled: World, database_url: str, tmp_path: Path
) -> None:
    facility = filled.facility_a
    response = client.get(
        f"/api/v1/exports/facility/{facility.id}.pdf", headers=filled.headers("county")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert int(response.headers["content-length"]) == len(response.content)
    disposition = response.headers["content-disposition"]
    assert 'filename="facility_A-001.pdf"' in disposition
    assert f"filename*=UTF-8''{quote('一处一表_A-001.pdf')}" in disposition
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 1  # the long texts shrink onto the one page
    text = _flat(reader.pages[0].extract_text())
    for expected in (
        "烈士纪念设施信息采集表",
        "王家岭烈士墓",
        "A-001",
        "王家岭村",
        "沁水县龙港镇王家岭村东500米",
        "抗日战争时期牺牲的八路军战士",
        "36.5平方米",
        "高1.2米，宽0.6米，厚0.15米",
        "墓体四周各外延5米",
        "1953年",
        "李守义13912345678",
        "王家岭烈士墓日常管护制度",
        "WGS-84：东经112.190000，北纬35.690000",  # the position, and as it was given
        "原始坐标GCJ-02：112.196123，35.688456",
        codes.encode(facility.id),
        "“六个一”达标情况：5/6",  # the boundary had a problem
        "档案完整度：8/8",
        "R2026-0AC",
        "R2026-0RJ",
        "测试用户",  # the inspector
        "打印日期",
        "第1页",
    ):
        assert _flat(expected) in text, expected
    assert "无照片" not in text  # the record photo is on the page
    for label in SIX_LABELS_ZH.values():
        assert label in text
    # one readable page: the first 12 martyrs with their notes, then how many in all; the
    # description's first 400 characters, then where the rest is
    for martyr in MARTYRS[:12]:
        assert _flat(martyr["name"]) in text
    assert _flat(MARTYRS[11]["note"]) in text
    assert MARTYRS[12]["name"] not in text
    assert "等共20位烈士（名录全文见系统）" in text
    assert _flat(DESCRIPTION[:40]) in text and "……（全文见系统）" in text
    _look(response.content, "facility", database_url)
    # the page's QR code reads back to the plate's short URL (printed, at 200 dpi)
    assert shutil.which("zbarimg"), "zbar-tools (zbarimg) is not installed"
    source = tmp_path / "facility.pdf"
    source.write_bytes(response.content)
    subprocess.run(
        ["pdftoppm", "-r", "200", "-png", "-singlefile", source, tmp_path / "p"], check=True
    )
    read = subprocess.run(
        ["zbarimg", "--quiet", "--raw", tmp_path / "p.png"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert read.stdout.split() == [f"http://testserver/f/{codes.encode(facility.id)}"]


def test_a_missing_or_foreign_record_photo_is_a_box(
    client: TestClient, db: Database, world: World, app, database_url: str
) -> None:
    """The store lost the file; or record_photo_id names another facility's photo."""
    with db.begin() as session:
        a = session.get(Facility, world.facility_a.id)
        b = session.get(Facility, world.facility_b.id)
        at = utcnow() - timedelta(days=1)
        ia = make_inspection(
            session, facility=a, inspector=world.township_user, inspected_at=at, tz=COUNTY_TZ
        )
        ib = make_inspection(
            session, facility=b, inspector=world.township_user, inspected_at=at, tz=COUNTY_TZ
        )
        a.record_photo_id = _photo(session, a, ia.id, world.admin.id, "aa/bb/not-there.jpg")
        b_photo = app.state.photo_store.put(_jpeg((10, 200, 10)), suffix=".jpg")
        other = _photo(session, b, ib.id, world.admin.id, b_photo)
        extra = make_facility(session, township=world.township_a, code="A-002", name="另一处")
        extra.record_photo_id = other
        garbled_key = app.state.photo_store.put(b"not a jpeg at all", suffix=".jpg")
        garbled = make_facility(session, township=world.township_a, code="A-003", name="坏照片")
        ig = make_inspection(
            session, facility=garbled, inspector=world.admin, inspected_at=at, tz=COUNTY_TZ
        )
        garbled.record_photo_id = _photo(session, garbled, ig.id, world.admin.id, garbled_key)
        ids = [a.id, extra.id, garbled.id]
    for facility_id in ids:
        response = client.get(
            f"/api/v1/exports/facility/{facility_id}.pdf", headers=world.headers("township")
        )
        assert response.status_code == 200, response.text
        assert "无照片" in _text(response.content, 0)
    _look(response.content, "facility_no_photo", database_url)


def test_the_book_has_cover_contents_pages_and_plates(
    client: TestClient, db: Database, filled: World, database_url: str
) -> None:
    names = {}
    with db.begin() as session:
        for n in range(11):  # out of code order on purpose
            f = make_facility(
                session, township=filled.township_a, code=f"A-{50 - n:03d}", name=f"第{n}号烈士墓"
            )
            names[f.code] = f.name
        make_facility(
            session,
            township=filled.township_a,
            code="A-000",
            name="已撤销的墓",
            status=FacilityStatus.archived,
        )
        names["A-001"] = "王家岭烈士墓"
    township = filled.township_a
    response = client.get(
        f"/api/v1/exports/township/{township.id}.pdf", headers=filled.headers("township")
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/pdf"
    assert (
        f"filename*=UTF-8''{quote('一乡一册_龙港镇_')}" in response.headers["content-disposition"]
    )
    reader = PdfReader(io.BytesIO(response.content))
    n = len(names)  # 12 active facilities: 1 TOC page, 12 pages, 2 plate pages
    assert len(reader.pages) == 1 + 1 + n + 2
    cover = _flat(reader.pages[0].extract_text())
    for expected in (
        "一乡一册",
        "沁水县",
        "龙港镇",
        f"{n}处",
        f"“六个一”达标0/{n}",
        f"档案完整1/{n}",
    ):
        assert _flat(expected) in cover, expected
    assert "已撤销的墓" not in "".join(p.extract_text() for p in reader.pages)

    toc = _flat(reader.pages[1].extract_text())
    ordered = sorted(names)
    for i, code in enumerate(ordered):
        # a row of the contents: 序号 编号 名称 六个一 档案 页码, then the next row's 序号
        after = str(i + 2) if i + 1 < n else "$"
        row = re.search(f"{i + 1}{re.escape(code + names[code])}[0-6]/6[0-8]/8(\\d+?){after}", toc)
        assert row, (code, toc)
        page = int(row.group(1))
        assert page == render.first_facility_page(n) + i == 3 + i
        body = _flat(reader.pages[page - 1].extract_text())
        assert names[code] in body and "烈士纪念设施信息采集表" in body
        assert f"第{page}页" in body
    plates = _flat(reader.pages[2 + n].extract_text() + reader.pages[3 + n].extract_text())
    for code in ordered:
        assert names[code] in plates
    _look(response.content, "book", database_url)


def test_the_book_of_an_empty_township(client: TestClient, db: Database, world: World) -> None:
    with db.begin() as session:
        empty = Township(code="140521199", name="空乡", county_id=world.township_a.county_id)
        session.add(empty)
        session.flush()
        empty_id = empty.id
    response = client.get(
        f"/api/v1/exports/township/{empty_id}.pdf", headers=world.headers("admin")
    )
    assert response.status_code == 200, response.text
    reader = PdfReader(io.BytesIO(response.content))
    assert len(reader.pages) == 2  # the cover and an empty contents page
    assert "0/0" in _flat(reader.pages[0].extract_text())


def test_archives_are_scoped_like_the_reads(
    client: TestClient, db: Database, world: World, settings
) -> None:
    with db.begin() as session:
        session.add(County(code="140522", name="阳城县", timezone="Asia/Shanghai"))
        session.flush()
        stranger = make_user(session, role=Role.county, username="yc")
        stranger.division_code = "140522"
    facility_a = f"/api/v1/exports/facility/{world.facility_a.id}.pdf"
    book_a = f"/api/v1/exports/township/{world.township_a.id}.pdf"
    book_b = f"/api/v1/exports/township/{world.township_b.id}.pdf"
    assert client.get(book_a, headers=world.headers("township")).status_code == 200
    assert client.get(facility_a, headers=world.headers("township")).status_code == 200
    for path in (book_b, f"/api/v1/exports/facility/{world.facility_b.id}.pdf"):
        answer = client.get(path, headers=world.headers("township"))
        assert answer.status_code == 404, answer.text
    for path in (facility_a, book_a):
        assert client.get(path, headers=world.headers("other")).status_code == 404
        assert client.get(path, headers=auth(settings, stranger)).status_code == 404
        assert client.get(path).status_code == 401
    missing = "/api/v1/exports/township/2000000000.pdf"
    assert client.get(missing, headers=world.headers("admin")).status_code == 404
    missing = "/api/v1/exports/facility/2000000000.pdf"
    assert client.get(missing, headers=world.headers("admin")).status_code == 404


def test_the_book_reads_the_township_in_a_few_queries(
    client: TestClient, db: Database, world: World
) -> None:
    """The same queries for 2 sites as for 12, each with reports and a record photo: none
    per facility (the photos' bytes come from the store, one at a time)."""
    path = f"/api/v1/exports/township/{world.township_a.id}.pdf"

    def add(n: int) -> None:
        with db.begin() as session:
            for _ in range(n):
                f = make_facility(session, township=world.township_a)
                at = utcnow() - timedelta(days=2)
                for status in (ReviewStatus.accepted, ReviewStatus.submitted):
                    inspection = make_inspection(
                        session,
                        facility=f,
                        inspector=world.township_user,
                        inspected_at=at,
                        tz=COUNTY_TZ,
                        review_status=status,
                    )
                f.record_photo_id = _photo(
                    session, f, inspection.id, world.admin.id, "aa/bb/absent.jpg"
                )

    def queries() -> int:
        with counted(db) as statements:
            response = client.get(path, headers=world.headers("county"))
            assert response.status_code == 200, response.text
        return len(statements)

    add(1)
    few = queries()
    add(10)
    assert queries() == few <= 12
