"""The importer at a province's scale: rows checked in one pass, written in batches
(``importer.BATCH``), with the same row errors, the same all-or-nothing and the same audit
trail as one row at a time; township names that several counties use need the code."""

from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select

from app.audit import chain
from app.config import Settings
from app.db import Database
from app.facilities import importer, service
from app.facilities.schemas import FacilityCreate
from app.models import AuditEntry, County, Facility, Role, Tier, Township
from app.schedule import service as schedule
from tests.facilities.test_import import facilities, run_import, write_csv
from tests.factories import World, make_user

HEADER = ["编号", "名称", "类型", "保护级别", "乡镇", "经度", "纬度", "坐标系", "烈士", "登记日期"]  # fmt: skip
ROWS = 2_500  # three batches of importer.BATCH (1,000)


def row(n: int, **cells: str) -> list[str]:
    """Spreadsheet row ``n`` (data rows start at spreadsheet row 2), good unless told."""
    good = {
        "编号": f"M-{n:05d}",
        "名称": f"批量烈士墓{n}",
        "类型": "烈士墓" if n % 3 else "纪念碑",
        "保护级别": "未定级" if n % 4 else "县级",
        "乡镇": "140521100" if n % 2 else "端氏镇",
        "经度": "112.2" if n % 2 else "112.37",
        "纬度": "35.7" if n % 2 else "35.82",
        "坐标系": "" if n % 5 else "高德",
        "烈士": f"烈士{n}（排长）" if n % 7 == 0 else "",
        "登记日期": "2024-05-10" if n % 2 else "2023年1月2日",
    }
    return [cells.get(column, good[column]) for column in HEADER]


def registry(broken: dict[int, dict[str, str]] | None = None) -> list[list[str]]:
    """``ROWS`` rows, those numbered in ``broken`` with those cells changed."""
    broken = broken or {}
    return [row(n, **broken.get(n, {})) for n in range(1, ROWS + 1)]


#: bad rows, all after the first batch: (index in the data, the cells) and the errors
BROKEN = {
    1_500: {"保护级别": "皇家级"},
    2_100: {"经度": "116.4", "纬度": "39.9"},
    2_200: {"编号": "M-00007"},  # repeats data row 7 (spreadsheet row 8)
    2_499: {"乡镇": "999999999", "名称": ""},
}


def audit_count(db: Database, action: str) -> int:
    with db.session() as session:
        query = select(func.count()).select_from(AuditEntry).where(AuditEntry.action == action)
        return session.execute(query).scalar_one()


def test_errors_in_a_later_batch_are_reported_row_by_row_and_nothing_is_written(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "f.csv", HEADER, registry(BROKEN))
    result = run_import(db, settings, path)
    assert result.written is False
    assert (result.created, result.updated, result.unchanged) == (0, 0, 0)
    # data row n is spreadsheet row n + 1 (the header is row 1)
    assert [(e.row, e.field) for e in result.errors] == [
        (1_501, "tier"),
        (2_101, "longitude"),
        (2_201, "code"),
        (2_500, "township"),
        (2_500, "name"),
    ]
    messages = [str(e) for e in result.errors]
    assert "皇家级" in messages[0]
    assert "outside the county" in messages[1]
    assert messages[2] == "row 2201: code: repeats row 8"
    assert messages[3] == "row 2500: township: no township with code or name '999999999'"
    assert set(facilities(db)) == {"A-001", "B-001"}  # nothing written
    assert audit_count(db, "facility.create") == 0


def test_skip_invalid_writes_every_good_row_of_every_batch_audited_in_one_chain(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    path = write_csv(tmp_path / "f.csv", HEADER, registry(BROKEN))
    checked = run_import(db, settings, path)
    progress: list[tuple[int, int]] = []
    with db.session() as session:
        result = importer.import_file(
            session=session,
            settings=settings,
            actor=world.admin,
            path=path,
            skip_invalid=True,
            progress=lambda done, total: progress.append((done, total)),
        )
    assert result.errors == checked.errors
    assert (result.written, result.skipped, result.created) == (True, 4, ROWS - 4)
    good = ROWS - 4
    assert progress[-1] == (good, good) and len(progress) == 3  # one step per batch
    stored = facilities(db)
    assert len(stored) == good + 2
    assert "M-01500" not in stored and "M-02499" not in stored and "M-02500" in stored
    grave, monument = stored["M-00007"], stored["M-00010"]
    assert grave.martyrs == [{"name": "烈士7", "note": "排长"}]
    assert grave.township_id == world.township_a.id
    assert monument.township_id == world.township_b.id  # by name
    assert str(monument.registered_on) == "2023-01-02"
    assert monument.source_crs.value == "gcj02" and monument.longitude != 112.37
    assert audit_count(db, "facility.create") == good
    with db.session() as session:
        actors = set(session.scalars(select(AuditEntry.actor_username)).all())
    assert actors == {"admin"}
    assert chain.verify_database(db.engine).intact


def test_a_second_import_updates_in_batches_and_audits_only_what_changed(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    run_import(db, settings, write_csv(tmp_path / "a.csv", HEADER, registry()))
    renamed = {n: {"名称": f"改名{n}"} for n in (3, 1_001, 2_002)}
    moved = {2_400: {"保护级别": "国家级"}}
    result = run_import(
        db, settings, write_csv(tmp_path / "b.csv", HEADER, registry(renamed | moved))
    )
    assert (result.created, result.updated, result.unchanged) == (0, 4, ROWS - 4)
    stored = facilities(db)
    assert stored["M-01001"].name == "改名1001"
    national = stored["M-02400"]
    assert national.tier is Tier.national
    with db.session() as session:
        interval = schedule.intervals(session)[Tier.national]
    assert national.next_due_on == national.registered_on + timedelta(days=interval)
    assert audit_count(db, "facility.update") == 4
    with db.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "facility.update",
                AuditEntry.object_id == str(stored["M-00003"].id),
            )
        ).one()
    assert (entry.before, entry.after) == ({"name": "批量烈士墓3"}, {"name": "改名3"})
    assert chain.verify_database(db.engine).intact


def test_an_imported_facility_and_its_audit_entry_are_what_the_service_writes(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    run_import(db, settings, write_csv(tmp_path / "f.csv", HEADER, [row(35)]))
    with db.session() as session:
        cells = dict(zip(HEADER, row(35), strict=True))
        data = FacilityCreate(
            code="SVC-35",
            name=cells["名称"],
            kind="grave",
            tier="unrated",
            township_id=world.township_a.id,
            longitude=112.2,
            latitude=35.7,
            crs="gcj02",
            martyrs=[{"name": "烈士35", "note": "排长"}],
            registered_on="2024-05-10",
        )
        service.add_facility(session=session, settings=settings, actor=None, data=data)
        session.commit()
    stored = facilities(db)

    def columns(facility: Facility) -> dict:
        return facility.model_dump(exclude={"id", "code", "created_at", "updated_at"})

    assert columns(stored["M-00035"]) == columns(stored["SVC-35"])
    with db.session() as session:
        entries = session.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    imported, made = (e for e in entries if e.action == "facility.create")

    def content(entry: AuditEntry) -> dict:
        return {k: v for k, v in entry.after.items() if k not in ("id", "code")}

    assert content(imported) == content(made)
    assert imported.after["id"] == stored["M-00035"].id
    assert (imported.before, imported.object_id) == (None, str(stored["M-00035"].id))


def add_county_with_a_township_named_like_qinshuis(db: Database) -> Township:
    """Yangcheng (140522) and its own 龙港镇, a name Qinshui's 140521100 has too."""
    with db.begin() as session:
        county = County(code="140522", name="阳城县")
        session.add(county)
        session.flush()
        township = Township(code="140522100", name="龙港镇", county_id=county.id)
        session.add(township)
        session.flush()
        session.expunge(township)
    return township


def test_a_township_name_two_counties_use_needs_the_code(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    add_county_with_a_township_named_like_qinshuis(db)
    rows = [row(1, 乡镇="龙港镇"), row(3, 乡镇="140521100"), row(5, 乡镇="端氏镇")]
    result = run_import(db, settings, write_csv(tmp_path / "f.csv", HEADER, rows))
    assert [str(e) for e in result.errors] == [
        "row 2: township: more than one township is named '龙港镇' (140521100, 140522100,"
        " in different counties); write the township's 9-digit code"
    ]
    skipped = run_import(
        db, settings, write_csv(tmp_path / "f.csv", HEADER, rows), skip_invalid=True
    )
    assert (skipped.created, skipped.skipped) == (2, 1)
    assert facilities(db)["M-00003"].township_id == world.township_a.id


def test_a_county_user_finds_only_the_townships_of_their_county(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    other = add_county_with_a_township_named_like_qinshuis(db)
    with db.begin() as session:
        clerk = make_user(session, role=Role.county, username="qinshui-clerk")
        clerk.division_code = "140521"
        session.flush()
        session.expunge(clerk)
    rows = [row(1, 乡镇="龙港镇"), row(3, 乡镇=other.code)]
    path = write_csv(tmp_path / "f.csv", HEADER, rows)
    with db.session() as session:
        result = importer.import_file(
            session=session, settings=settings, actor=clerk, path=path, skip_invalid=True
        )
    # the name is Qinshui's only, for a Qinshui clerk; Yangcheng's code is no township
    assert [str(e) for e in result.errors] == [
        "row 3: township: no township with code or name '140522100'"
    ]
    assert facilities(db)["M-00001"].township_id == world.township_a.id


def test_an_update_writes_what_the_row_changes_and_what_follows_from_it(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    first = [row(n) for n in range(1, 6)]
    run_import(db, settings, write_csv(tmp_path / "a.csv", HEADER, first))
    before = facilities(db)["M-00003"]
    again = [
        row(n) if n != 3 else row(3, 经度="112.21", 烈士="新烈士（连长）") for n in range(1, 6)
    ]
    result = run_import(db, settings, write_csv(tmp_path / "b.csv", HEADER, again))
    assert (result.created, result.updated, result.unchanged) == (0, 1, 4)
    after = facilities(db)["M-00003"]
    assert (after.longitude, after.source_longitude) == (112.21, 112.21)
    assert after.martyrs == [{"name": "新烈士", "note": "连长"}]
    assert after.martyr_names == "新烈士"  # what ?q= searches
    unchanged = ("name", "latitude", "registered_on", "next_due_on", "created_at", "tier")
    assert {n: getattr(after, n) for n in unchanged} == {n: getattr(before, n) for n in unchanged}
    with db.session() as session:
        entry = session.scalars(
            select(AuditEntry).where(
                AuditEntry.action == "facility.update", AuditEntry.object_id == str(after.id)
            )
        ).one()
    assert entry.before == {"longitude": 112.2, "martyrs": [], "source_longitude": 112.2}
    assert entry.after == {
        "longitude": 112.21,
        "martyrs": [{"name": "新烈士", "note": "连长"}],
        "source_longitude": 112.21,
    }
    assert chain.verify_database(db.engine).intact


def test_a_cell_with_a_control_character_gets_the_schemas_own_error(
    db: Database, settings: Settings, world: World, tmp_path: Path
) -> None:
    rows = [row(1), row(2, 名称="坏\x07名"), row(3, 烈士="甲\x01（排长）")]
    result = run_import(db, settings, write_csv(tmp_path / "f.csv", HEADER, rows))
    assert result.written is False
    assert [str(e) for e in result.errors] == [
        "row 3: name: Value error, must not contain control characters",
        "row 4: martyrs.0.name: Value error, must not contain control characters",
    ]


def test_a_code_taken_after_the_check_writes_nothing_and_names_its_row(
    db: Database, settings: Settings, world: World, tmp_path: Path, monkeypatch
) -> None:
    """Another writer takes a new row's code between the check and the write: the insert
    (PostgreSQL's COPY too) fails, nothing is written, and the error names the row."""
    found = importer._existing
    calls: list[list[str]] = []

    def not_yet_taken(session, codes):  # the check sees the code free
        calls.append(codes)
        return {} if len(calls) == 1 else found(session, codes)

    monkeypatch.setattr(importer, "_existing", not_yet_taken)
    rows = [row(1), row(2, 编号="A-001")]
    result = run_import(db, settings, write_csv(tmp_path / "f.csv", HEADER, rows))
    assert result.written is False
    assert [str(e) for e in result.errors] == [
        "row 3: row: A facility with code 'A-001' already exists"
    ]
    assert set(facilities(db)) == {"A-001", "B-001"}
    assert audit_count(db, "facility.create") == 0
