"""The facility exports (the overdue list, CSV and XLSX) carry the national collection's
fields under their Chinese headers, enum values as Chinese labels, and the share of the
fields filled (issue 13)."""

import csv
import io
from datetime import date, timedelta

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from app.db import Database
from app.models import Facility
from app.models.enums import HeadstoneType, MainMaterial, ProtectionUnitType
from tests.factories import World

AS_OF = date(2026, 6, 15)
RECORD_HEADER = [
    "保护单位类型", "全景/正面照片", "墓碑类型", "纪念对象", "占地面积（平方米）", "主要材质",
    "规格尺寸", "保护范围", "管理制度", "管理制度日期", "信息完整度（%）",
]  # fmt: skip


def test_the_overdue_exports_carry_the_record_in_chinese(
    client: TestClient, world: World, db: Database
) -> None:
    with db.begin() as session:
        full = session.get(Facility, world.facility_a.id)
        full.next_due_on = AS_OF - timedelta(days=3)
        full.protection_unit = ProtectionUnitType.village_committee
        full.record_photo_id = 42
        full.headstone_type = HeadstoneType.recumbent
        full.commemorates = "无名烈士"
        full.area_m2 = 120.5
        full.main_material = MainMaterial.bluestone
        full.dimensions = "1×2米"
        full.boundary_description = "=四周3米"  # a formula in text: neutralised in the CSV
        full.management_rule = "管护制度"
        full.management_rule_on = date(2024, 5, 10)
        bare = session.get(Facility, world.facility_b.id)
        bare.next_due_on = AS_OF - timedelta(days=1)
        bare.main_material = MainMaterial.earth
        bare.dimensions = "   "  # blanks are not filled

    params = {"as_of": AS_OF.isoformat()}
    text = client.get(
        "/api/v1/exports/overdue.csv", params=params, headers=world.headers("county")
    ).content.decode("utf-8-sig")
    header, *rows = list(csv.reader(io.StringIO(text)))
    assert header[11:] == RECORD_HEADER
    by_code = {row[0]: row[11:] for row in rows}
    assert by_code["A-001"] == [
        "村（居）民委员会", "有", "卧式墓碑", "无名烈士", "120.5", "青石", "1×2米", "'=四周3米",
        "管护制度", "2024-05-10", "100",
    ]  # fmt: skip
    assert by_code["B-001"] == ["", "", "", "", "", "封土", "   ", "", "", "", "12"]

    response = client.get(
        "/api/v1/exports/overdue.xlsx", params=params, headers=world.headers("township")
    )
    sheet = load_workbook(io.BytesIO(response.content)).worksheets[0]
    header, *rows = [list(row) for row in sheet.iter_rows(values_only=True)]
    assert header[11:] == RECORD_HEADER
    assert [row[0] for row in rows] == ["A-001"]  # township A sees its own only
    record = rows[0][11:]
    assert record[:9] == [
        "村（居）民委员会", "有", "卧式墓碑", "无名烈士", 120.5, "青石", "1×2米", "=四周3米",
        "管护制度",
    ]  # fmt: skip
    assert record[9].date() == date(2024, 5, 10) and record[10] == 100
