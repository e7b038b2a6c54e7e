"""Spreadsheet import: CSV and XLSX, Chinese or English headers, row-level errors."""

from pathlib import Path

import pytest
from openpyxl import Workbook
from sqlmodel import select
from typer.testing import CliRunner

from app.config import Settings
from app.db import Database
from app.facilities.importer import ImportFileError, import_file
from app.models import AuditEntry, Crs, Facility, FacilityKind, Tier
from tests.factories import World

ZH_HEADER = [
    "编号",
    "名称",
    "类型",
    "保护级别",
    "乡镇",
    "村",
    "经度",
    "纬度",
    "坐标系",
    "烈士",
    "管护人电话",
]
EN_HEADER = ["code", "name", "kind", "tier", "township", "village", "longitude", "latitude", "crs", "martyrs", "custodian_phone"]  # fmt: skip
GOOD = [
    ["QS-101", "【样例】烈士墓", "烈士墓", "未定级", "140521100", "一村", "112.2", "35.7", "", "甲（排长）；乙", "13800000000"],
    ["QS-102", "【样例】纪念碑", "monument", "县级", "端氏镇", "二村", "112.37", "35.82", "高德", "", ""],
]  # fmt: skip
BAD = [
    ["QS-103", "", "烈士墓", "未定级", "140521100", "", "112.2", "35.7", "", "", ""],
    ["QS-104", "坏坐标", "烈士墓", "皇家级", "140521100", "", "116.4", "39.9", "", "", ""],
    ["QS-105", "无此乡", "烈士墓", "未定级", "999999999", "", "112.2", "35.7", "", "", ""],
    ["QS-106", "坐标出界", "烈士墓", "未定级", "140521100", "", "116.4", "39.9", "", "", ""],
    ["QS-101", "重复编号", "烈士墓", "未定级", "140521100", "", "112.2", "35.7", "", "", ""],
]  # fmt: skip


def write_csv(
    path: Path, header: list[str], rows: list[list[str]], encoding: str = "utf-8-sig"
) -> Path:
    lines = [",".join(header)] + [",".join(r) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding=encoding)
    return path


def write_xlsx(path: Path, header: list[str], rows: list[list[object]]) -> Path:
    book = Workbook()
    sheet = book.active
    sheet.append(header)
    for row in rows:
        sheet.append(row)
    book.save(path)
    return path


def run_import(db: Database, settings: Settings, path: Path, **options):
    with db.session() as session:
        return import_file(session=session, settings=settings, actor=None, path=path, **options)


def facilities(db: Database) -> dict[str, Facility]:
    with db.session() as session:
        return {f.code: f for f in session.exec(select(Facility)).all()}


@pytest.mark.parametrize("header", [ZH_HEADER, EN_HEADER], ids=["zh", "en"])
def test_good_rows_are_imported_with_chinese_or_english_headers(
    db: Database, settings: Settings, world: World, tmp_path: Path, header: list[str]
) -> None:
    result = run_import(db, settings, write_csv(tmp_path / "f.csv", header, GOOD))
    assert (result.created, result.errors, result.written) == (2, [], True)
    stored = facilities(db)
    grave, monument = stored["QS-101"], stored["QS-102"]
    assert grave.kind is FacilityKind.grave and grave.tier is Tier.unrated
    assert grave.martyrs == [{"name": "甲", "note": "排长"}, {"name": "乙", "note": None}]
    assert monument.township_id == world.township_b.id  # found by name
    assert monument.source_crs is Crs.gcj02 and monument.longitude != 112.37


def test_xlsx_with_numeric_cells_is_imported(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    rows = [
        ["QS-201", "碑", "纪念碑", "市级", 140521100, None, 112.2, 35.7, None, None, 13800000000]
    ]
    result = run_import(db, settings, write_xlsx(tmp_path / "f.xlsx", ZH_HEADER, rows))
    assert result.errors == []
    assert facilities(db)["QS-201"].custodian_phone == "13800000000"


def test_gb18030_csv_from_chinese_excel_is_read(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "f.csv", ZH_HEADER, GOOD, encoding="gb18030")
    assert run_import(db, settings, path).created == 2


def test_any_bad_row_stops_the_whole_import_and_every_error_is_listed(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    result = run_import(db, settings, write_csv(tmp_path / "f.csv", ZH_HEADER, GOOD + BAD))
    assert result.written is False
    messages = [str(e) for e in result.errors]
    assert any(m.startswith("row 4: name:") for m in messages), messages
    assert any(m.startswith("row 5: tier:") and "皇家级" in m for m in messages), messages
    assert any(m.startswith("row 6: township:") and "999999999" in m for m in messages)
    assert any(m.startswith("row 7: longitude:") and "outside the county" in m for m in messages)
    assert any(m.startswith("row 8: code:") and "repeats row 2" in m for m in messages)
    assert set(facilities(db)) == {"A-001", "B-001"}  # nothing written


def test_skip_invalid_imports_the_good_rows(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "f.csv", ZH_HEADER, GOOD + BAD)
    result = run_import(db, settings, path, skip_invalid=True)
    assert (result.created, result.skipped, result.written) == (2, 5, True)
    assert {"QS-101", "QS-102"} <= set(facilities(db))


def test_every_error_of_a_row_is_listed_and_spreadsheet_dates_are_read(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    header = ["编号", "名称", "类型", "保护级别", "乡镇", "经度", "纬度", "登记日期"]
    rows = [
        ["X-1", "", "烈士陵园", "国家级", "嘉峰", "112.5", "35.7", "2024/01/01"],
        ["X-2", "好", "烈士墓", "县级", "龙港镇", "112.5", "35.7", "2024年5月10日"],
        ["X-3", "坏", "烈士墓", "县级", "", "112.5", "35.7", "2024-13-01"],
    ]
    result = run_import(db, settings, write_csv(tmp_path / "f.csv", header, rows))
    messages = [str(e) for e in result.errors]
    assert messages == [
        "row 2: township: no township with code or name '嘉峰'",
        "row 2: name: Field required",
        "row 4: registered_on: '2024-13-01' is not a date (write it as 2024-05-10)",
        "row 4: township: Field required",
    ]
    skipped = run_import(
        db, settings, write_csv(tmp_path / "f.csv", header, rows), skip_invalid=True
    )
    assert skipped.created == 1
    assert str(facilities(db)["X-2"].registered_on) == "2024-05-10"


def test_rows_whose_code_exists_update_that_facility_and_are_audited(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    run_import(db, settings, write_csv(tmp_path / "a.csv", ZH_HEADER, GOOD))
    changed = [GOOD[0][:1] + ["【样例】改名烈士墓"] + GOOD[0][2:], GOOD[1]]
    result = run_import(db, settings, write_csv(tmp_path / "b.csv", ZH_HEADER, changed))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
    assert facilities(db)["QS-101"].name == "【样例】改名烈士墓"
    with db.session() as session:
        actions = session.exec(select(AuditEntry.action)).all()
    assert actions.count("facility.update") == 1


@pytest.mark.parametrize(
    ("name", "content", "message"),
    [
        ("f.txt", "x", "only .csv and .xlsx"),
        ("f.csv", "", "empty"),
        ("f.csv", "编号,名称\nX,Y\n", "missing columns: kind"),
        ("f.xlsx", "not a zip", "not a readable .xlsx"),
    ],
)
def test_unreadable_files_are_refused_as_a_whole(
    db: Database, settings: Settings, tmp_path: Path, name: str, content: str, message: str
) -> None:
    path = tmp_path / name
    path.write_text(content)
    with pytest.raises(ImportFileError, match=message):
        run_import(db, settings, path)


def test_the_cli_reports_row_errors_and_exits_non_zero(
    settings: Settings, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.cli import cli

    monkeypatch.setenv("MEMORIAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MEMORIAL_DATA_DIR", str(tmp_path))
    path = write_csv(tmp_path / "f.csv", ZH_HEADER, GOOD + BAD[:1])
    runner = CliRunner()
    failed = runner.invoke(cli, ["import-facilities", str(path)])
    assert failed.exit_code == 1
    assert "row 4: name" in failed.output
    assert "Nothing imported" in failed.output
    done = runner.invoke(cli, ["import-facilities", str(path), "--skip-invalid"])
    assert done.exit_code == 0, done.output
    assert "2 created" in done.output


FULL_HEADER = ["编号", "名称", "类型", "保护级别", "状态", "乡镇", "经度", "纬度", "坐标系", "管护人电话", "建成年份", "登记日期"]  # fmt: skip


def test_the_check_runs_every_rule_the_service_runs_and_skip_invalid_skips_every_bad_row(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    from datetime import timedelta

    from tests.factories import county_today

    next_year = str(county_today() + timedelta(days=365))
    good = ["", "好", "烈士墓", "县级", "正常", "140521100", "112.2", "35.7", "", "13800000000", "1950", "2024-05-10"]  # fmt: skip

    def row(**cells: str) -> list[str]:
        return [cells.get(column, value) for column, value in zip(FULL_HEADER, good, strict=True)]

    broken = {  # one rule each: (the row, the field named, words of the message)
        "name missing": (row(名称=""), "name", "Field required"),
        "unknown kind": (row(类型="城堡"), "kind", "城堡"),
        "unknown tier": (row(保护级别="皇家级"), "tier", "皇家级"),
        "unknown status": (row(状态="失踪"), "status", "失踪"),
        "no such township": (row(乡镇="999999999"), "township", "999999999"),
        "outside the county": (row(经度="116.4", 纬度="39.9"), "longitude", "outside the county"),
        "north of the county": (row(纬度="36.5"), "latitude", "outside the county"),
        "unknown crs": (row(坐标系="北京54"), "crs", "北京54"),
        # inside the county's box as written, outside once converted from Baidu's BD-09
        "outside after crs": (
            row(经度="111.805", 坐标系="百度"),
            "longitude",
            "converted from bd09",
        ),  # fmt: skip
        "not a number": (row(经度="东经112度"), "longitude", "valid number"),
        "future registration": (row(登记日期=next_year), "registered_on", "in the future"),
        "not a date": (row(登记日期="去年"), "registered_on", "not a date"),
        "year built": (row(建成年份="1700"), "year_built", "1840"),
        "phone": (row(管护人电话="打电话"), "custodian_phone", "pattern"),
        "code pattern": (row(编号="坏 编号"), "code", "pattern"),
        "repeated code": (row(编号="G-1"), "code", "repeats row 2"),
        # an existing facility's row is an update: the same rules hold
        "existing, future date": (
            row(编号="A-001", 登记日期=next_year),
            "registered_on",
            "in the future",
        ),  # fmt: skip
    }
    rows = [row(编号="G-1"), row(编号="G-2", 乡镇="端氏镇", 坐标系="高德")]
    expected: dict[int, tuple[str, str]] = {}
    for index, (cells, field, words) in enumerate(broken.values()):
        if cells[0] == "":
            cells[0] = f"BAD-{index}"
        rows.append(cells)
        expected[len(rows) + 1] = (field, words)  # spreadsheet rows: the header is row 1
    rows.append(row(编号="B-001", 名称="改名的烈士墓"))  # a good update
    path = write_csv(tmp_path / "f.csv", FULL_HEADER, rows)
    before = {code: f.model_dump() for code, f in facilities(db).items()}

    checked = run_import(db, settings, path)
    assert checked.written is False
    named = {(e.row, e.field) for e in checked.errors}
    for (number, (field, words)), rule in zip(expected.items(), broken, strict=True):
        assert (number, field) in named, f"{rule}: {checked.errors}"
        message = next(e.message for e in checked.errors if (e.row, e.field) == (number, field))
        assert words in message, f"{rule}: {message}"
    assert {e.row for e in checked.errors} == set(expected)  # good rows are not blamed
    assert {code: f.model_dump() for code, f in facilities(db).items()} == before

    imported = run_import(db, settings, path, skip_invalid=True)
    assert imported.errors == checked.errors
    assert (imported.written, imported.skipped) == (True, len(broken))
    assert (imported.created, imported.updated) == (2, 1)
    stored = facilities(db)
    assert set(stored) == set(before) | {"G-1", "G-2"}
    assert stored["B-001"].name == "改名的烈士墓"
    assert stored["A-001"].registered_on == before["A-001"]["registered_on"]


def test_the_cli_skips_a_row_with_a_future_registration_date_and_imports_the_rest(
    settings: Settings, world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from datetime import timedelta

    from app.cli import cli
    from tests.factories import county_today

    monkeypatch.setenv("MEMORIAL_DATABASE_URL", settings.database_url)
    monkeypatch.setenv("MEMORIAL_DATA_DIR", str(tmp_path))
    header = ZH_HEADER + ["登记日期"]
    future = str(county_today() + timedelta(days=30))
    path = write_csv(tmp_path / "f.csv", header, [GOOD[0] + [""], GOOD[1] + [future]])
    runner = CliRunner()
    checked = runner.invoke(cli, ["import-facilities", str(path)])
    assert checked.exit_code == 1
    assert "row 3: registered_on:" in checked.output
    done = runner.invoke(cli, ["import-facilities", str(path), "--skip-invalid"])
    assert done.exit_code == 0, done.output
    assert "1 created" in done.output and "1 skipped" in done.output
