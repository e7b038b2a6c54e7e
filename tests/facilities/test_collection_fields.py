"""The national collection's fields (issue 13) through the API and the importer: read and
written with the facility, editable by the township on its own facilities, the record
photo checked against the facility's own photos, completeness per facility and per
township (against a count made by hand), and the spreadsheet import of the fields."""

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlmodel import select

from app.config import Settings
from app.db import Database
from app.facilities import completeness
from app.facilities.importer import import_file
from app.models import AuditEntry, Facility, FacilityStatus, Photo, User
from app.models.enums import HeadstoneType, MainMaterial, ProtectionUnitType
from app.plates import codes
from tests.factories import World, make_facility, make_inspection, make_township

API = "/api/v1/facilities"
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}

#: every collection field but the record photo, and the management rule
RECORD = {
    "protection_unit": "village_committee",
    "headstone_type": "upright",
    "commemorates": "1938年沁水阻击战牺牲的八路军战士",
    "area_m2": 120.5,
    "main_material": "granite",
    "dimensions": "高1.8米、宽0.8米",
    "boundary_description": "墓冢四周各外延5米",
    "management_rule": "龙港镇烈士纪念设施管护制度",
    "management_rule_on": "2024-05-10",
}


def make_photo(db: Database, world: World, facility: Facility) -> int:
    """A photo of ``facility`` (of a patrol report there), as the store holds it."""
    with db.begin() as session:
        inspection = make_inspection(
            session,
            facility=session.get(Facility, facility.id),
            inspector=session.get(User, world.township_user.id),
            inspected_at=datetime(2026, 3, 1, 9, tzinfo=UTC),
            tz=world.settings.tz,
        )
        photo = Photo(
            inspection_id=inspection.id,
            facility_id=facility.id,
            sha256=f"{inspection.id:064d}",
            stored_key=f"k{inspection.id}",
            thumbnail_key=f"t{inspection.id}",
            content_type="image/jpeg",
            width=1600,
            height=1200,
            size_bytes=1000,
            uploaded_by_id=world.township_user.id,
        )
        session.add(photo)
        session.flush()
        return photo.id  # type: ignore[return-value]


# --- reading and writing the fields ---------------------------------------------------------


def test_a_facility_reads_its_record_plate_code_and_completeness(
    client: TestClient, world: World
) -> None:
    facility_id = world.facility_a.id
    fresh = client.get(f"{API}/{facility_id}", headers=world.headers("county")).json()
    assert fresh["plate_code"] == codes.encode(facility_id)
    assert codes.decode(fresh["plate_code"]) == facility_id
    assert fresh["completeness"] == {
        "filled": 0,
        "total": 8,
        "percent": 0,
        "missing": list(completeness.COLLECTION_FIELDS),
    }
    assert fresh["protection_unit"] is None and fresh["record_photo_id"] is None

    response = client.patch(f"{API}/{facility_id}", json=RECORD, headers=world.headers("county"))
    assert response.status_code == 200, response.text
    body = response.json()
    assert {name: body[name] for name in RECORD} == RECORD
    assert body["completeness"] == {
        "filled": 7,
        "total": 8,
        "percent": 87,  # rounded down: never 100 % until all are in
        "missing": ["record_photo_id"],
    }
    # the list reads plain columns: the same shape, the same values
    listed = client.get(API, params={"q": "A-001"}, headers=world.headers("county")).json()
    assert listed["items"] == [
        client.get(f"{API}/{facility_id}", headers=world.headers("county")).json()
    ]

    # blanks are no text: clearing and blanking both count as missing
    response = client.patch(
        f"{API}/{facility_id}",
        json={"commemorates": "   ", "area_m2": None},
        headers=world.headers("county"),
    )
    assert response.json()["completeness"]["missing"] == [
        "record_photo_id",
        "commemorates",
        "area_m2",
    ]
    assert response.json()["completeness"]["percent"] == 62


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("protection_unit", "castle"),
        ("headstone_type", "pyramid"),
        ("main_material", "gold"),
        ("area_m2", -1),
        ("area_m2", 0),  # a site occupies some ground: 0 would count as filled in
        ("management_rule_on", "2099-01-01"),  # adopted in the future: not on file yet
        ("dimensions", "x" * 101),
        ("management_rule_on", "10 May"),
    ],
)
def test_a_bad_value_is_a_422_naming_its_field(
    client: TestClient, world: World, field: str, value: Any
) -> None:
    response = client.patch(
        f"{API}/{world.facility_a.id}", json={field: value}, headers=world.headers("county")
    )
    assert response.status_code == 422
    assert [e["loc"] for e in response.json()["detail"]] == [["body", field]]


def test_a_township_user_edits_the_record_of_their_own_facilities_only(
    client: TestClient, world: World, db: Database
) -> None:
    own, other = world.facility_a.id, world.facility_b.id
    response = client.patch(f"{API}/{own}", json=RECORD, headers=world.headers("township"))
    assert response.status_code == 200, response.text
    assert response.json()["protection_unit"] == "village_committee"
    with db.session(write=False) as session:
        stored = session.get(Facility, own)
        assert stored.protection_unit is ProtectionUnitType.village_committee
        assert stored.headstone_type is HeadstoneType.upright
        assert stored.main_material is MainMaterial.granite
    # another township's facility: not even told it exists
    response = client.patch(f"{API}/{other}", json=RECORD, headers=world.headers("township"))
    assert response.status_code == 404
    # the tier stays county work, with or without the record's fields
    response = client.patch(
        f"{API}/{own}",
        json={"tier": "county", "commemorates": "改"},
        headers=world.headers("township"),
    )
    assert response.status_code == 403 and "tier" in response.json()["detail"]


# --- the record photo --------------------------------------------------------------------------


def test_the_record_photo_is_one_of_the_facilitys_own_photos(
    client: TestClient, world: World, db: Database
) -> None:
    own_photo = make_photo(db, world, world.facility_a)
    other_photo = make_photo(db, world, world.facility_b)
    url = f"{API}/{world.facility_a.id}"

    for photo_id in (other_photo, other_photo + 1000):  # another facility's, and none at all
        response = client.patch(
            url, json={"record_photo_id": photo_id}, headers=world.headers("county")
        )
        assert response.status_code == 422, response.text
        (error,) = response.json()["detail"]
        assert error["loc"] == ["body", "record_photo_id"]
        assert f"Photo {photo_id} is not a photo of this facility" in error["msg"]
        chinese = client.patch(
            url, json={"record_photo_id": photo_id}, headers={**world.headers("county"), **ZH}
        )
        assert chinese.status_code == 422
        assert chinese.json()["detail"][0]["msg"] == (
            f"照片 {photo_id} 不是本设施的照片：请从本设施的照片中选择记录照片"
        )

    response = client.patch(
        url, json={"record_photo_id": own_photo}, headers=world.headers("township")
    )
    assert response.status_code == 200, response.text
    assert response.json()["record_photo_id"] == own_photo
    assert "record_photo_id" not in response.json()["completeness"]["missing"]
    with db.session(write=False) as session:
        entry = session.exec(
            select(AuditEntry)
            .where(AuditEntry.action == "facility.update")
            .order_by(AuditEntry.id.desc())  # type: ignore[union-attr]
        ).first()
        assert entry.object_id == str(world.facility_a.id)
        assert entry.before["record_photo_id"] is None
        assert entry.after["record_photo_id"] == own_photo

    # the photo gone: the facility still reads, naming the id it holds
    with db.begin() as session:
        session.delete(session.get(Photo, own_photo))
    response = client.get(url, headers=world.headers("county"))
    assert response.status_code == 200 and response.json()["record_photo_id"] == own_photo

    # null clears it
    response = client.patch(url, json={"record_photo_id": None}, headers=world.headers("county"))
    assert response.status_code == 200 and response.json()["record_photo_id"] is None
    assert "record_photo_id" in response.json()["completeness"]["missing"]


def test_the_record_photo_is_not_part_of_registration(client: TestClient, world: World) -> None:
    body = {
        "code": "QS-NEW-01",
        "name": "新登记",
        "kind": "grave",
        "township_id": world.township_a.id,
        "longitude": 112.2,
        "latitude": 35.7,
        "record_photo_id": 1,
    }
    response = client.post(API, json=body, headers=world.headers("county"))
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "record_photo_id"]


# --- completeness per township ---------------------------------------------------------------

_VARIANTS: list[dict[str, Any]] = [
    {},
    {"protection_unit": ProtectionUnitType.family},
    {"commemorates": "  ", "dimensions": "", "boundary_description": "四周5米"},
    {
        "protection_unit": ProtectionUnitType.memorial_unit,
        "record_photo_id": 99,
        "headstone_type": HeadstoneType.none,
        "commemorates": "烈士",
        "area_m2": 0.0,
        "main_material": MainMaterial.earth,
        "dimensions": "1×1",
        "boundary_description": "围墙以内",
    },
    {"area_m2": 35.0, "main_material": MainMaterial.brick, "management_rule": "制度"},
]


def test_completeness_per_township_matches_a_count_by_hand(
    client: TestClient, world: World, db: Database
) -> None:
    statuses = [FacilityStatus.active, FacilityStatus.active, FacilityStatus.archived]
    with db.begin() as session:
        a, b = world.township_a, world.township_b
        make_township(session, code="140521200", name="空乡")  # no facilities at all
        for n in range(15):
            make_facility(
                session,
                township=a if n % 3 else b,
                status=statuses[n % len(statuses)],
                **_VARIANTS[n % len(_VARIANTS)],
            )

    with db.session(write=False) as session:
        by_hand: dict[int, dict[str, int]] = {}
        for facility in session.exec(select(Facility)).all():
            counts = by_hand.setdefault(
                facility.township_id, {"facilities": 0, "complete": 0, "filled": 0}
            )
            if facility.status is not FacilityStatus.active:
                continue
            filled = sum(
                1
                for field in completeness.COLLECTION_FIELDS
                if getattr(facility, field) is not None and str(getattr(facility, field)).strip()
            )
            counts["facilities"] += 1
            counts["complete"] += filled == 8
            counts["filled"] += filled
    assert any(c["complete"] for c in by_hand.values())  # the data has every case

    response = client.get(f"{API}/completeness", headers=world.headers("county"))
    assert response.status_code == 200, response.text
    rows = response.json()
    assert [r["township"]["code"] for r in rows] == ["140521100", "140521103", "140521200"]
    for row in rows:
        counts = by_hand.get(row["township"]["id"], {"facilities": 0, "complete": 0, "filled": 0})
        possible = counts["facilities"] * 8
        assert row == {
            "township": row["township"],
            **counts,
            "possible": possible,
            "percent": 100 * counts["filled"] // possible if possible else 0,
        }
    assert rows[2]["facilities"] == 0 and rows[2]["percent"] == 0

    # a township user sees their own township only
    own = client.get(f"{API}/completeness", headers=world.headers("township")).json()
    assert own == [rows[0]]
    assert client.get(f"{API}/completeness").status_code == 401


# --- the importer --------------------------------------------------------------------------

HEADER = [
    "编号", "名称", "类型", "乡镇", "经度", "纬度", "保护单位类型", "墓碑类型", "纪念对象",
    "占地面积（平方米）", "材质", "尺寸", "保护范围", "管理制度", "制度日期",
]  # fmt: skip


def _csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    lines = [",".join(header)] + [",".join(row) for row in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8-sig")
    return path


def _import(db: Database, settings: Settings, path: Path, **options: Any) -> Any:
    with db.session() as session:
        return import_file(session=session, settings=settings, actor=None, path=path, **options)


def test_the_importer_reads_the_record_by_chinese_label_or_value(
    db: Database, settings: Settings, world: World, tmp_path: Path, client: TestClient
) -> None:
    rows = [
        ["QS-301", "甲墓", "烈士墓", "140521100", "112.2", "35.7", "村（居）民委员会", "卧式墓碑",
         "无名烈士", "120平方米", "花岗岩", "1×2米", "四周3米", "管护制度", "2024年5月10日"],
        ["QS-302", "乙墓", "烈士墓", "140521100", "112.2", "35.7", "family", "upright",
         "", "35.5", "汉白玉", "", "", "", ""],
    ]  # fmt: skip
    result = _import(db, settings, _csv(tmp_path / "f.csv", rows))
    assert (result.created, result.errors, result.written) == (2, [], True)
    with db.session(write=False) as session:
        stored = {f.code: f for f in session.exec(select(Facility)).all()}
    first, second = stored["QS-301"], stored["QS-302"]
    assert first.protection_unit is ProtectionUnitType.village_committee
    assert first.headstone_type is HeadstoneType.recumbent
    assert (first.commemorates, first.area_m2, first.main_material) == (
        "无名烈士",
        120.0,
        MainMaterial.granite,
    )
    assert (first.dimensions, first.boundary_description) == ("1×2米", "四周3米")
    assert (first.management_rule, first.management_rule_on.isoformat()) == (
        "管护制度",
        "2024-05-10",
    )
    assert first.record_photo_id is None
    assert second.protection_unit is ProtectionUnitType.family
    assert second.headstone_type is HeadstoneType.upright
    assert second.main_material is MainMaterial.marble  # 汉白玉: an alias
    assert (second.area_m2, second.commemorates) == (35.5, None)

    # a row naming an existing code updates the record, keeping the record photo
    photo_id = make_photo(db, world, first)
    with db.begin() as session:
        session.get(Facility, first.id).record_photo_id = photo_id
    update = [["QS-301", "甲墓", "烈士墓", "140521100", "112.2", "35.7", "", "", "", "", "青石",
               "", "", "", ""]]  # fmt: skip
    result = _import(db, settings, _csv(tmp_path / "g.csv", update))
    assert (result.updated, result.errors) == (1, [])
    with db.session(write=False) as session:
        again = session.get(Facility, first.id)
        assert again.main_material is MainMaterial.bluestone
        assert again.record_photo_id == photo_id
        assert again.protection_unit is ProtectionUnitType.village_committee  # empty cell: kept
        entry = session.exec(
            select(AuditEntry)
            .where(AuditEntry.action == "facility.update")
            .order_by(AuditEntry.id.desc())  # type: ignore[union-attr]
        ).first()
        assert entry.before == {"main_material": "granite"}
        assert entry.after == {"main_material": "bluestone"}

    # what was imported reads back through the API
    body = client.get(f"{API}/{first.id}", headers=world.headers("county")).json()
    assert body["completeness"]["filled"] == 8 and body["protection_unit"] == "village_committee"


def test_a_bad_record_value_is_a_row_error_naming_row_and_column(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    good = ["QS-401", "好", "烈士墓", "140521100", "112.2", "35.7", "乡镇人民政府", "", "", "",
            "", "", "", "", ""]  # fmt: skip
    rows = [
        good,
        ["QS-402", "坏", "烈士墓", "140521100", "112.2", "35.7", "皇家", "金字塔", "", "很大",
         "黄金", "", "", "", "去年"],
        ["QS-403", "长", "烈士墓", "140521100", "112.2", "35.7", "", "", "", "", "",
         "x" * 101, "", "", ""],
    ]  # fmt: skip
    result = _import(db, settings, _csv(tmp_path / "f.csv", rows))
    assert not result.written
    found = {(e.row, e.field) for e in result.errors}
    assert found == {
        (3, "protection_unit"),
        (3, "headstone_type"),
        (3, "area_m2"),
        (3, "main_material"),
        (3, "management_rule_on"),
        (4, "dimensions"),
    }
    messages = {e.field: e.message for e in result.errors if e.row == 3}
    assert "'皇家' is not one of" in messages["protection_unit"]
    assert "'很大' is not an area" in messages["area_m2"]

    result = _import(db, settings, _csv(tmp_path / "f.csv", rows), skip_invalid=True)
    assert (result.created, result.skipped, result.written) == (1, 2, True)
    with db.session(write=False) as session:
        codes_stored = set(session.exec(select(Facility.code)).all())
    assert "QS-401" in codes_stored and not {"QS-402", "QS-403"} & codes_stored
