"""Import a facility spreadsheet (CSV or XLSX, Chinese or English headers).

Every row is checked first, against its schema and then against every rule the API
enforces (the rules of ``service.problems``, with its messages: township, code,
registration date, location in the township's county), so a row that passes the check is
a row the service will write. Errors are reported with their spreadsheet row number (the
header is row 1). Nothing is written while any row is bad, unless the caller asks to skip
invalid rows: then exactly the good rows are written. A row whose ``code`` already exists
updates that facility. All writes happen in one transaction.

A province's registry (tens of thousands of rows) arrives as one file, so the check is one
pass with nothing read per row: the townships the importing user may see are read once (by
code, and by name where only one of them bears it: a name several counties use needs the
code), the facilities the file names ``BATCH`` codes a query, and each county's outline,
date and patrol intervals once. The writes go ``BATCH`` rows a statement (PostgreSQL: COPY,
with the new ids drawn from the sequence first); an update sets the columns its
row sets (PostgreSQL: copied into a temporary table, then one ``UPDATE … FROM`` a batch).
The audit entries, one per facility created or changed as the service writes them, are
chained after them under one lock of the chain's tip, each snapshot written out as JSON
once for its hash and its row (``chain.entry_hasher``). What is left per row is its
schema check (the text of its cells checked at once), a few dicts, and the databases' own
work: bench/importer.py measures it.
"""

import csv
import functools
import io
import itertools
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import shapely
from openpyxl import load_workbook
from pydantic import TypeAdapter, ValidationError, field_validator
from sqlalchemy import bindparam, text
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from app import access, collector
from app.audit import chain
from app.config import Settings
from app.errors import AppError, Conflict, InvalidInput, unique_key_violated
from app.facilities import service
from app.facilities.schemas import FacilityCreate
from app.geo.crs import to_wgs84
from app.geo.outline import CountyOutline
from app.models import (
    AuditEntry,
    Crs,
    Facility,
    FacilityKind,
    FacilityStatus,
    Tier,
    Township,
    User,
)
from app.models.base import utcnow
from app.models.enums import (
    HEADSTONE_LABELS_ZH,
    KIND_LABELS_ZH,
    MATERIAL_LABELS_ZH,
    PROTECTION_UNIT_LABELS_ZH,
    STATUS_LABELS_ZH,
    TIER_LABELS_ZH,
    HeadstoneType,
    MainMaterial,
    ProtectionUnitType,
)
from app.schedule import service as schedule
from app.schemas import check_text

HEADERS: dict[str, tuple[str, ...]] = {
    "code": ("编号", "设施编号", "code"),
    "name": ("名称", "设施名称", "name"),
    "kind": ("类型", "设施类型", "kind"),
    "tier": ("保护级别", "级别", "tier"),
    "status": ("状态", "status"),
    "township": ("乡镇", "所属乡镇", "乡镇代码", "township", "township_code"),
    "village": ("村", "所在村", "村庄", "village"),
    "address": ("地址", "详细地址", "address"),
    "longitude": ("经度", "longitude", "lon", "lng"),
    "latitude": ("纬度", "latitude", "lat"),
    "crs": ("坐标系", "crs"),
    "martyrs": ("烈士", "纪念烈士", "烈士姓名", "martyrs"),
    "custodian_name": ("管护人", "管护责任人", "custodian_name", "custodian"),
    "custodian_phone": ("管护人电话", "联系电话", "custodian_phone"),
    "year_built": ("建成年份", "修建年份", "year_built"),
    "description": ("简介", "描述", "备注", "description"),
    "registered_on": ("登记日期", "registered_on"),
    # the national collection's fields (app.facilities.completeness), and the management
    # rule; not the record photo (photos are not imported)
    "protection_unit": ("保护单位类型", "管护单位类型", "保护单位", "protection_unit"),
    "headstone_type": ("墓碑类型", "墓碑形式", "headstone_type"),
    "commemorates": ("纪念对象", "纪念事件", "commemorates"),
    "area_m2": ("占地面积（平方米）", "占地面积(平方米)", "占地面积", "面积", "area_m2"),
    "main_material": ("主要材质", "材质", "main_material"),
    "dimensions": ("规格尺寸", "尺寸", "规格", "dimensions"),
    "boundary_description": ("保护范围", "保护边界", "boundary_description"),
    "management_rule": ("管理制度", "management_rule"),
    "management_rule_on": ("制度日期", "管理制度日期", "制度制定日期", "management_rule_on"),
}
REQUIRED = ("code", "name", "kind", "township", "longitude", "latitude")


def _labels(labels: dict[Any, str], extra: dict[str, Any]) -> dict[str, str]:
    table = {member.value: member.value for member in labels}
    table.update({label: member.value for member, label in labels.items()})
    table.update({k: v.value if hasattr(v, "value") else v for k, v in extra.items()})
    return {k.lower(): v for k, v in table.items()}


VALUES: dict[str, dict[str, str]] = {
    "tier": _labels(
        TIER_LABELS_ZH,
        {
            "国家级": Tier.national,
            "省级重点": Tier.provincial,
            "零散": Tier.unrated,
            "无": Tier.unrated,
        },
    ),
    "kind": _labels(
        KIND_LABELS_ZH,
        {
            "墓": FacilityKind.grave,
            "烈士陵园": FacilityKind.cemetery,
            "墓区": FacilityKind.cemetery,
            "陵园": FacilityKind.cemetery,
            "碑刻": FacilityKind.tablet,
            "碑": FacilityKind.tablet,
            "亭": FacilityKind.pavilion,
        },
    ),
    "status": _labels(
        STATUS_LABELS_ZH,
        {
            "正常": FacilityStatus.active,
            "迁移": FacilityStatus.relocated,
            "合并": FacilityStatus.merged,
            "归档": FacilityStatus.archived,
        },
    ),
    "protection_unit": _labels(
        PROTECTION_UNIT_LABELS_ZH,
        {
            "乡镇政府": ProtectionUnitType.township_government,
            "乡镇": ProtectionUnitType.township_government,
            "村委会": ProtectionUnitType.village_committee,
            "居委会": ProtectionUnitType.village_committee,
            "村民委员会": ProtectionUnitType.village_committee,
            "村": ProtectionUnitType.village_committee,
            "保护单位": ProtectionUnitType.memorial_unit,
            "机关": ProtectionUnitType.public_body,
            "企事业单位": ProtectionUnitType.public_body,
            "亲属": ProtectionUnitType.family,
            "家属": ProtectionUnitType.family,
        },
    ),
    "headstone_type": _labels(
        HEADSTONE_LABELS_ZH,
        {
            "立式": HeadstoneType.upright,
            "立碑": HeadstoneType.upright,
            "卧式": HeadstoneType.recumbent,
            "卧碑": HeadstoneType.recumbent,
            "纪念碑": HeadstoneType.stele,
            "碑刻": HeadstoneType.tablet,
            "牌匾": HeadstoneType.tablet,
            "无": HeadstoneType.none,
        },
    ),
    "main_material": _labels(
        MATERIAL_LABELS_ZH,
        {
            "花岗石": MainMaterial.granite,
            "汉白玉": MainMaterial.marble,
            "青石板": MainMaterial.bluestone,
            "水泥": MainMaterial.concrete,
            "砖": MainMaterial.brick,
            "土": MainMaterial.earth,
        },
    ),
    "crs": _labels(
        {},
        {
            "wgs84": Crs.wgs84,
            "wgs-84": Crs.wgs84,
            "gps": Crs.wgs84,
            "gcj02": Crs.gcj02,
            "gcj-02": Crs.gcj02,
            "高德": Crs.gcj02,
            "腾讯": Crs.gcj02,
            "火星": Crs.gcj02,
            "bd09": Crs.bd09,
            "bd-09": Crs.bd09,
            "百度": Crs.bd09,
        },
    ),
}
_MARTYR_SPLIT = re.compile(r"[;；、\n]+")
_MARTYR_NOTE = re.compile(r"^(?P<name>[^（(]+)[（(](?P<note>.*)[）)]\s*$")


@dataclass
class RowError:
    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {self.field}: {self.message}"


@dataclass
class ImportResult:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    skipped: int = 0
    #: rows whose code exists, left as they are (``update_existing=False``)
    kept: int = 0
    errors: list[RowError] = field(default_factory=list)
    written: bool = False


@dataclass
class _Row:
    number: int
    data: FacilityCreate

    @functools.cached_property
    def cells(self) -> dict[str, Any]:
        """What the row says about an existing facility: the cells it fills."""
        return self.data.model_dump(exclude_unset=True)


class ImportFileError(Exception):
    """The file as a whole cannot be read (format, encoding, headers)."""


def read_table(path: Path) -> tuple[list[str], list[list[Any]]]:
    """Header and data rows of a ``.csv`` or ``.xlsx`` file."""
    suffix = path.suffix.lower()
    if suffix == ".xlsx":
        try:
            workbook = load_workbook(path, read_only=True, data_only=True)
        except Exception as exc:
            raise ImportFileError(f"{path.name} is not a readable .xlsx workbook: {exc}") from exc
        sheet = workbook.worksheets[0]
        rows = [list(r) for r in sheet.iter_rows(values_only=True)]
        workbook.close()
    elif suffix == ".csv":
        raw = path.read_bytes()
        for encoding in ("utf-8-sig", "gb18030"):  # Excel on Chinese Windows saves GB18030
            try:
                text = raw.decode(encoding)
                break
            except UnicodeDecodeError:
                continue
        else:
            raise ImportFileError(f"{path.name} is neither UTF-8 nor GB18030 text")
        rows = [list(r) for r in csv.reader(io.StringIO(text))]
    else:
        raise ImportFileError(f"{path.name}: only .csv and .xlsx files can be imported")
    rows = [r for r in rows if any(c not in (None, "") for c in r)]
    if not rows:
        raise ImportFileError(f"{path.name} is empty")
    return [str(h or "").strip() for h in rows[0]], rows[1:]


def _columns(header: list[str]) -> dict[str, int]:
    lookup = {alias.lower(): name for name, aliases in HEADERS.items() for alias in aliases}
    columns: dict[str, int] = {}
    for index, title in enumerate(header):
        name = lookup.get(title.lower())
        if name and name not in columns:
            columns[name] = index
    missing = [n for n in REQUIRED if n not in columns]
    if missing:
        wanted = "; ".join(f"{n} ({'/'.join(HEADERS[n])})" for n in missing)
        raise ImportFileError(f"missing columns: {wanted}")
    return columns


def _cell(value: Any) -> Any:
    if isinstance(value, str):
        value = value.strip()
        return value or None
    return value


def _martyrs(value: Any) -> list[dict[str, Any]]:
    martyrs = []
    for part in _MARTYR_SPLIT.split(str(value)):
        part = part.strip()
        if not part:
            continue
        match = _MARTYR_NOTE.match(part)
        if match:
            martyrs.append({"name": match["name"].strip(), "note": match["note"].strip() or None})
        else:
            martyrs.append({"name": part, "note": None})
    return martyrs


@dataclass
class _Townships:
    """The townships the importing user may see, found by code or by name."""

    by_code: dict[str, int]
    #: a name's townships as (code, id): one per county that has a township so named
    by_name: dict[str, list[tuple[str, int]]]

    @property
    def ids(self) -> set[int]:
        return set(self.by_code.values())

    def find(self, key: str) -> int | str:
        """The id of the township ``key`` names (its code, or a name only one township
        has), else the message saying why there is none."""
        found = self.by_code.get(key)
        if found is not None:
            return found
        named = self.by_name.get(key, [])
        if len(named) == 1:
            return named[0][1]
        if not named:
            return f"no township with code or name '{key}'"
        codes = ", ".join(code for code, _ in sorted(named))
        return (
            f"more than one township is named '{key}' ({codes}, in different counties);"
            " write the township's 9-digit code"
        )


def _townships(session: Session, actor: User | None) -> _Townships:
    """The townships ``actor`` may see (every one for the command line's ``None``), read once."""
    query = select(Township.id, Township.code, Township.name)
    if actor is not None:
        query = access.scope(query, actor, Township.id)
    townships = _Townships(by_code={}, by_name={})
    for township_id, code, name in session.execute(query):
        townships.by_code[code] = township_id
        townships.by_name.setdefault(name, []).append((code, township_id))
    return townships


_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


def _date(value: Any) -> date:
    """A date as spreadsheets hold them: a cell date, 2024-05-10, 2024/5/10 or 2024年5月10日."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    match = _DATE.match(str(value).strip())
    if match:
        try:
            return date(*(int(part) for part in match.groups()))
        except ValueError:
            pass
    raise ValueError(f"'{value}' is not a date (write it as 2024-05-10)")


_AREA = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(?:平方米|平米|㎡|m²|m2)?$", re.IGNORECASE)


def _area(value: Any) -> float:
    """An area in m² as written: 120, 120.5, 1,200, 120平方米 or 120㎡."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    match = _AREA.match(str(value).strip().replace(",", "").replace("，", ""))
    if match is None:
        raise ValueError(f"'{value}' is not an area in square metres (write it as 120.5)")
    return float(match[1])


def _parse_row(
    number: int, raw: list[Any], columns: dict[str, int], townships: _Townships
) -> tuple[_Row | None, list[RowError]]:
    """One spreadsheet row as a validated facility, or every error found in it."""
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    texts: list[str] = []
    for name, index in columns.items():
        value = _cell(raw[index]) if index < len(raw) else None
        if value is None:
            continue
        if isinstance(value, str):
            texts.append(value)
        if isinstance(value, float) and value.is_integer() and name in ("year_built", "code"):
            value = int(value)
        if name in VALUES:
            mapped = VALUES[name].get(str(value).lower())
            if mapped is None:
                choices = ", ".join(sorted(set(VALUES[name].values())))
                errors.append(RowError(number, name, f"'{value}' is not one of {choices}"))
                continue
            value = mapped
        elif name == "township":
            found = townships.find(str(int(value) if isinstance(value, float) else value))
            if isinstance(found, str):
                errors.append(RowError(number, name, found))
                continue
            values["township_id"] = found
            continue
        elif name == "martyrs":
            value = _martyrs(value)
        elif name in ("registered_on", "management_rule_on"):
            try:
                value = _date(value)
            except ValueError as exc:
                errors.append(RowError(number, name, str(exc)))
                continue
        elif name in ("code", "custodian_phone", "year_built"):
            value = str(value)
        elif name == "area_m2":
            try:
                value = _area(value)
            except ValueError as exc:
                errors.append(RowError(number, name, str(exc)))
                continue
        values[name] = value
    already = {e.field for e in errors}
    if "township" in already:
        already.add("township_id")
    try:
        data = _schema(texts).model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"]) or "row"
            if loc in already and loc not in values:
                continue  # its cell was already reported (or the township did not resolve)
            field = "township" if loc == "township_id" else loc
            errors.append(RowError(number, field, error["msg"]))
        return None, errors
    return (None, errors) if errors else (_Row(number, data), [])


class _CheckedText(FacilityCreate):
    """``FacilityCreate`` for a row whose cells were all found storable text in one check
    (``_schema``): the schema's own check of each field would only repeat it, at more than
    half the cost of the row's validation."""

    @field_validator("*", mode="after")
    @classmethod
    def _storable_text(cls, value: Any) -> Any:
        return value


def _schema(texts: list[str]) -> type[FacilityCreate]:
    """The schema a row's values are validated with: ``_CheckedText`` when its text cells
    (``texts``) pass ``check_text`` together, so that the check of each field, on those
    cells or on parts of them, can only pass too; else ``FacilityCreate``, whose checks
    word the row's errors."""
    try:
        check_text("\n".join(texts))
    except ValueError:
        return FacilityCreate
    return _CheckedText


#: rows written per statement (and codes per IN list: SQLite caps bound parameters)
BATCH = 1000

#: a facility's columns by name, as plain values (a row of ``facilities``)
_Columns = dict[str, Any]


@dataclass
class _Plan:
    """A checked row and what it does: a new facility, or a change to ``facility``."""

    row: _Row
    #: the columns of the facility whose code the row has
    facility: _Columns | None
    #: the row's point in WGS-84, as the location check found it
    point: tuple[float, float]


def import_file(
    *,
    session: Session,
    settings: Settings,
    actor: User | None,
    path: Path,
    skip_invalid: bool = False,
    update_existing: bool = True,
    progress: Callable[[int, int], None] | None = None,
) -> ImportResult:
    """Check every row of ``path`` with the rules the API runs, then write the good ones in
    one transaction (see module doc). With ``update_existing=False`` a row whose code exists
    is left alone, neither checked nor written, and counted in ``kept``.

    One pass over the rows, with the townships and the existing facilities read up front
    (the facilities ``BATCH`` codes a query); then the writes, ``BATCH`` rows a statement,
    and the audit entries after them, chained under one lock of the chain's tip."""
    with collector.paused():
        return _import_file(
            session=session,
            settings=settings,
            actor=actor,
            path=path,
            skip_invalid=skip_invalid,
            update_existing=update_existing,
            progress=progress,
        )


def _import_file(
    *,
    session: Session,
    settings: Settings,
    actor: User | None,
    path: Path,
    skip_invalid: bool,
    update_existing: bool,
    progress: Callable[[int, int], None] | None,
) -> ImportResult:
    header, data = read_table(path)
    columns = _columns(header)
    result = ImportResult()
    townships = _townships(session, actor)
    parsed = [_parse_row(offset + 2, raw, columns, townships) for offset, raw in enumerate(data)]
    existing = _existing(session, [row.data.code for row, _ in parsed if row is not None])
    counties = _Counties(session, settings)
    inside = _plainly_inside(counties, [row for row, _ in parsed if row is not None])
    visible = townships.ids
    plans: list[_Plan] = []
    seen: dict[str, int] = {}
    for row, errors in parsed:
        if row is not None and row.data.code in seen:
            errors = [RowError(row.number, "code", f"repeats row {seen[row.data.code]}")]
            row = None
        if row is not None:
            seen[row.data.code] = row.number
            facility = existing.get(row.data.code)
            if facility is not None and not update_existing:
                result.kept += 1
                continue
            found, point = _problems(
                counties, row, facility, visible=visible, point=inside.get(row.number)
            )
            errors = [RowError(row.number, _FIELDS.get(p.field, p.field), p.message) for p in found]
            if not errors:
                plans.append(_Plan(row, facility, point))  # type: ignore[arg-type]
                continue
        result.errors.extend(errors)
    if result.errors and not skip_invalid:
        return result
    result.skipped = len({e.row for e in result.errors})

    try:
        audited = _write(session, plans, result, counties=counties, progress=progress)
        _audit(session, actor, audited)
    except IntegrityError as exc:  # a code taken meanwhile by another import: write nothing
        session.rollback()
        if unique_key_violated(exc) != "uq_facilities_code":
            raise
        result.errors.append(_taken(session, plans))
        result.created = result.updated = result.unchanged = 0
        return result
    except AppError as exc:  # the data changed under us since the check: write nothing
        session.rollback()
        number = plans[0].row.number if plans else 0
        result.errors.append(RowError(number, "row", service.Problem("row", exc).message))
        result.created = result.updated = result.unchanged = 0
        return result
    session.commit()
    result.written = True
    return result


_FACILITIES = Facility.__table__  # type: ignore[attr-defined]
_AUDIT_LOG = AuditEntry.__table__  # type: ignore[attr-defined]


def _existing(session: Session, codes: list[str]) -> dict[str, _Columns]:
    """The facilities these codes name, by code, as plain columns, ``BATCH`` codes a query
    (an ORM object each would cost more than the rest of the row's work). The codes go
    into the SQL as literals: a thousand bound parameters make PostgreSQL compare every
    row it scans with each of them in turn, where a list of constants is hashed once or
    read through the codes' index."""
    found: dict[str, _Columns] = {}
    for start in range(0, len(codes), BATCH):
        chunk = bindparam("codes", codes[start : start + BATCH], literal_execute=True)
        query = select(_FACILITIES).where(_FACILITIES.c.code.in_(chunk))
        found.update((row["code"], dict(row)) for row in session.execute(query).mappings())
    return found


class _Counties:
    """Per township, what its county decides for a row: the outline its point must lie in,
    today's date there (``service.county_outline``, ``service._today``) and the patrol
    intervals (``schedule.intervals``), read once per township of the file, not per row."""

    def __init__(self, session: Session, settings: Settings) -> None:
        self.session, self.settings = session, settings
        self._outlines: dict[int, CountyOutline | None] = {}
        self._days: dict[int, date] = {}
        self._intervals: dict[int, dict[Tier, int]] = {}

    def outline(self, township_id: int) -> CountyOutline | None:
        if township_id not in self._outlines:
            self._outlines[township_id] = service.county_outline(self.session, township_id)
        return self._outlines[township_id]

    def today(self, township_id: int) -> date:
        if township_id not in self._days:
            self._days[township_id] = service._today(self.session, self.settings, township_id)
        return self._days[township_id]

    def intervals(self, township_id: int) -> dict[Tier, int]:
        if township_id not in self._intervals:
            query = select(Township.county_id).where(Township.id == township_id)
            county_id = self.session.execute(query).scalar_one()
            self._intervals[township_id] = schedule.intervals(self.session, county_id)
        return self._intervals[township_id]


def _plainly_inside(counties: _Counties, rows: list[_Row]) -> dict[int, tuple[float, float]]:
    """The WGS-84 points, by row number, of the rows whose point needs no measuring: inside
    their county's outline (tested all at once, county by county), or in a county without
    one. The others (outside, or on the edge) get the service's own check, one by one,
    which measures how far out they are and words the error."""
    points: dict[int, tuple[float, float]] = {}
    by_outline: dict[int, tuple[CountyOutline, list[tuple[int, tuple[float, float]]]]] = {}
    for row in rows:
        point = to_wgs84(row.data.longitude, row.data.latitude, row.data.crs)
        county = counties.outline(row.data.township_id)
        if county is None:
            points[row.number] = point
        else:
            by_outline.setdefault(id(county), (county, []))[1].append((row.number, point))
    for county, located in by_outline.values():
        shapely.prepare(county.geometry)
        lons = [point[0] for _, point in located]
        lats = [point[1] for _, point in located]
        within = shapely.contains_xy(county.geometry, lons, lats).tolist()
        points.update(entry for entry, yes in zip(located, within, strict=True) if yes)
    return points


class _Rows:
    """Writes rows of one table straight through the driver: on PostgreSQL by COPY, on
    SQLite an INSERT of many rows per statement; or sets ``columns`` of many rows by id.
    Each value goes through its column type's own bind processing, once per distinct value
    (an import's dates, kinds and timestamps repeat), but for the ``stored`` columns, whose
    values come as the database holds them already (JSON as its text)."""

    def __init__(
        self,
        session: Session,
        table: Any,
        columns: tuple[str, ...],
        *,
        stored: frozenset[str] = frozenset(),
    ) -> None:
        self.connection = session.connection()
        dialect = self.connection.dialect
        quote = dialect.identifier_preparer.quote
        self.table, self.columns = table, columns
        processors = [
            None
            if name in stored
            else _once_per_value(table.c[name].type.dialect_impl(dialect).bind_processor(dialect))
            for name in columns
        ]
        self.processed = [(i, process) for i, process in enumerate(processors) if process]
        self.get = operator.itemgetter(*columns)
        self.postgres = dialect.name == "postgresql"
        self.target = dialect.identifier_preparer.format_table(table)
        self.quoted = [quote(name) for name in columns]
        self.names = ", ".join(self.quoted)
        if self.postgres:
            self.insert_sql = f"COPY {self.target} ({self.names}) FROM STDIN"
        else:
            self.insert_sql = f"INSERT INTO {self.target} ({self.names}) VALUES "
            self.one = "(" + ", ".join(["?"] * len(columns)) + ")"
        sets = ", ".join(f"{name} = ?" for name in self.quoted)
        self.update_sql = f"UPDATE {self.target} SET {sets} WHERE id = ?"
        # bound parameters per statement: SQLite allows 32,766
        self.per_insert = max(1, min(BATCH, 30_000 // len(columns)))
        #: PostgreSQL: the temporary table ``update`` copies the rows' new values into
        self.scratch: str | None = None

    def _values(self, row: _Columns) -> list[Any]:
        values = list(self.get(row)) if len(self.columns) > 1 else [self.get(row)]
        for index, process in self.processed:
            values[index] = process(values[index])
        return values

    def _copy(self, sql: str, rows: list[list[Any]]) -> None:
        driver = self.connection.connection.driver_connection
        try:
            with driver.cursor() as cursor, cursor.copy(sql) as copy:  # type: ignore[union-attr]
                for values in rows:
                    copy.write_row(values)
        except self.connection.dialect.loaded_dbapi.IntegrityError as exc:
            # as SQLAlchemy raises it for the statements it runs (a code taken meanwhile)
            raise IntegrityError(sql, None, exc) from exc

    def insert(self, rows: list[_Columns]) -> None:
        if self.postgres:
            self._copy(self.insert_sql, [self._values(row) for row in rows])
            return
        for start in range(0, len(rows), self.per_insert):
            chunk = [self._values(row) for row in rows[start : start + self.per_insert]]
            sql = self.insert_sql + ", ".join([self.one] * len(chunk))
            self.connection.exec_driver_sql(sql, tuple(v for row in chunk for v in row))

    def update(self, rows: list[_Columns]) -> None:
        """Set the columns of each row (by its ``id``): on SQLite one ``UPDATE … WHERE id
        = ?`` run for every row; on PostgreSQL the new values are copied into a temporary
        table and one ``UPDATE … FROM`` it sets them all, instead of a statement a row."""
        if not rows:
            return
        params = [[*self._values(row), row["id"]] for row in rows]
        if not self.postgres:
            self.connection.exec_driver_sql(self.update_sql, [tuple(p) for p in params])
            return
        if self.scratch is None:
            self.scratch = f"import_changes_{next(_SCRATCH)}"
            self.connection.exec_driver_sql(
                f"CREATE TEMPORARY TABLE {self.scratch} ON COMMIT DROP AS"
                f" SELECT {self.names}, id FROM {self.target} WITH NO DATA"
            )
        self._copy(f"COPY {self.scratch} ({self.names}, id) FROM STDIN", params)
        # the planner needs its size: guessed, it may scan every facility to join a batch
        self.connection.exec_driver_sql(f"ANALYZE {self.scratch}")
        sets = ", ".join(f"{name} = changed.{name}" for name in self.quoted)
        self.connection.exec_driver_sql(
            f"UPDATE {self.target} SET {sets} FROM {self.scratch} AS changed"
            f" WHERE {self.target}.id = changed.id"
        )
        self.connection.exec_driver_sql(f"TRUNCATE {self.scratch}")


#: numbers the temporary tables of ``_Rows.update`` (each dropped when its import commits)
_SCRATCH = itertools.count(1)


def _once_per_value(process: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """``process``, remembering its result for each hashable value it was given."""
    if process is None:
        return None
    done: dict[Any, Any] = {}

    def processed(value: Any) -> Any:
        try:
            return done[value]
        except KeyError:
            done[value] = result = process(value)
            return result
        except TypeError:  # unhashable: a JSON list or object
            return process(value)

    return processed


#: the spreadsheet's name for a field the service names otherwise
_FIELDS = {"township_id": "township"}


def _problems(
    counties: _Counties,
    row: _Row,
    facility: _Columns | None,
    *,
    visible: set[int],
    point: tuple[float, float] | None,
) -> tuple[list[service.Problem], tuple[float, float] | None]:
    """``service.problems`` for a new facility or the changes to ``facility``, with the
    same messages, without a query per row: the township was found among the visible ones
    (the lookup), every facility holding one of the file's codes was read (``_existing``),
    the county's date and outline are read once per township, and a ``point`` found plainly
    inside needs no measuring. Also the row's point in WGS-84."""
    # a row fills its required cells (or fails its schema): ``row.data`` holds what
    # ``service.problems`` reads, the cells left empty at their defaults
    data = row.data
    found: list[service.Problem] = []
    if facility is not None:
        values = row.cells
        for name in sorted(n for n in service._REQUIRED & set(values) if values[n] is None):
            found.append(
                service.Problem(name, InvalidInput(("body", name), f"{name} cannot be empty"))
            )
        if facility["township_id"] not in visible:  # taken outside the caller's reach
            message = (
                f"A facility with code '{facility['code']}' already exists (id {facility['id']})"
            )
            found.append(service.Problem("code", Conflict(message)))
    township_id = data.township_id
    registered_on = data.registered_on
    if registered_on is not None and registered_on > counties.today(township_id):
        message = f"The registration date {registered_on} is in the future"
        found.append(
            service.Problem("registered_on", InvalidInput(("body", "registered_on"), message))
        )
    if point is None:
        county = counties.outline(township_id)
        try:
            point = service.check_location(
                counties.settings, data.longitude, data.latitude, data.crs or Crs.wgs84, county
            )
        except InvalidInput as exc:
            found.append(service.Problem(str(exc.detail[0]["loc"][-1]), exc))
    return found, point


def _location(point: tuple[float, float], lon: float, lat: float, crs: Crs) -> _Columns:
    """The stored location fields (as ``service._location``), from the point already checked."""
    return {
        "longitude": round(point[0], 7),
        "latitude": round(point[1], 7),
        "source_crs": crs,
        "source_longitude": lon,
        "source_latitude": lat,
    }


#: the columns ``audit.snapshot`` leaves out of a facility's audit entries
_UNAUDITED = frozenset({"created_at", "updated_at", *service._AUDIT_EXCLUDE})
_JSON = TypeAdapter(Any)


def _snapshot(columns: _Columns) -> dict[str, Any]:
    """``audit.snapshot`` of a facility, from its columns."""
    snapshot = {}
    for name, value in columns.items():
        if name in _UNAUDITED:
            continue
        kind = type(value)
        if kind in _PLAIN:
            snapshot[name] = value
        else:
            convert = _AS_JSON.get(kind) or _converter(kind)
            snapshot[name] = convert(value)
    return snapshot


#: the types ``model_dump(mode="json")`` leaves as they are
_PLAIN = frozenset({type(None), str, int, float, bool})
#: how it writes others, by type: dates and enums here (pydantic's call costs more than
#: the conversion), the rest by pydantic itself
_AS_JSON: dict[type, Callable[[Any], Any]] = {date: date.isoformat}


def _converter(kind: type) -> Callable[[Any], Any]:
    """How a value of ``kind`` is written (``_AS_JSON``), found the first time one comes."""
    if issubclass(kind, Enum):
        convert: Callable[[Any], Any] = operator.attrgetter("value")
    else:
        convert = functools.partial(_JSON.dump_python, mode="json")
    _AS_JSON[kind] = convert
    return convert


#: an audit entry to append: action, the facility's columns, and what changed (``before``
#: and ``after``: the columns that changed, or None and a new facility's snapshot)
_Audited = tuple[str, _Columns, dict[str, Any] | None, dict[str, Any] | None]


def _write(
    session: Session,
    plans: list[_Plan],
    result: ImportResult,
    *,
    counties: _Counties,
    progress: Callable[[int, int], None] | None,
) -> list[_Audited]:
    """Insert and update the planned facilities, ``BATCH`` rows a statement (the values
    ``service.add_facility`` and ``service.apply_update`` would write; an update sets the
    columns its row sets, grouped by which those are); the audit entries due, in row
    order (a new facility's snapshot is taken once its id is known)."""
    postgres = session.connection().dialect.name == "postgresql"
    inserts = _Rows(session, _FACILITIES, ("id", *_INSERTED) if postgres else _INSERTED)
    updates: dict[tuple[str, ...], _Rows] = {}
    audited: list[_Audited] = []
    for start in range(0, len(plans), BATCH):
        batch = plans[start : start + BATCH]
        now = utcnow()
        created: list[_Columns] = []
        changed: dict[tuple[str, ...], list[_Columns]] = {}
        entries: list[_Audited] = []
        for plan in batch:
            if plan.facility is None:
                township_id = plan.row.data.township_id
                facility = _new(
                    plan,
                    today=counties.today(township_id),
                    intervals=counties.intervals(township_id),
                    now=now,
                )
                created.append(facility)
                entries.append(("facility.create", facility, None, None))
                continue
            facility = plan.facility
            sets = _apply(facility, plan, intervals=counties.intervals(plan.row.data.township_id))
            # the snapshots differ only where the row sets a column: there, as
            # ``audit.record`` compares them
            before = _snapshot({name: facility[name] for name in sets})
            after = _snapshot(sets)
            differ = sorted(name for name in after if after[name] != before[name])
            if not differ:
                result.unchanged += 1
                continue
            # every column the row sets, changed or not: the rows of one file then share
            # one statement (and on PostgreSQL one temporary table) whichever of their
            # columns changed, where one per combination of changed columns could be
            # hundreds; writing a column its own value changes nothing
            columns = tuple(name for name in _UPDATED if name in sets)
            facility.update(sets, updated_at=now)
            changed.setdefault((*columns, "updated_at"), []).append(facility)
            before, after = (
                {name: snapshot[name] for name in differ} for snapshot in (before, after)
            )
            entries.append(("facility.update", facility, before, after))
            result.updated += 1
        if created and postgres:  # the sequence hands out the ids, and COPY writes them
            numbers = _next_ids(session, len(created))
            for facility, facility_id in zip(created, numbers, strict=True):
                facility["id"] = facility_id
            inserts.insert(created)
        elif created:  # SQLite numbers the rows it inserts: their ids are read back
            inserts.insert(created)
            ids = _ids(session, [facility["code"] for facility in created])
            for facility in created:
                facility["id"] = ids[facility["code"]]
        result.created += len(created)
        for columns, rows in changed.items():
            if columns not in updates:
                updates[columns] = _Rows(session, _FACILITIES, columns)
            updates[columns].update(rows)
        for action, facility, before, after in entries:
            if after is None:  # a new facility: all of it, with its id
                after = _snapshot({name: facility.get(name) for name in _SNAPSHOT_ORDER})
            audited.append((action, facility, before, after))
        if progress:
            progress(start + len(batch), len(plans))
    return audited


#: the columns an update writes (every one a row or the schedule can change)
_UPDATED = tuple(
    name
    for name in Facility.model_fields
    if name not in ("id", "created_at", "last_inspected_at", "last_inspected_on", "last_condition")
)
#: the columns an insert writes (all but the id)
_INSERTED = tuple(name for name in Facility.model_fields if name != "id")
#: a facility's columns in the model's order (a new facility's audit entry lists them all)
_SNAPSHOT_ORDER = tuple(Facility.model_fields)


def _next_ids(session: Session, count: int) -> list[int]:
    """``count`` new facility ids from PostgreSQL's sequence for them."""
    query = text(
        "SELECT nextval(pg_get_serial_sequence(:table, 'id')) FROM generate_series(1, :count)"
    )
    return list(session.execute(query, {"table": _FACILITIES.name, "count": count}).scalars())


def _ids(session: Session, codes: list[str]) -> dict[str, int]:
    """The ids of the facilities just written with these codes."""
    query = select(_FACILITIES.c.code, _FACILITIES.c.id).where(_FACILITIES.c.code.in_(codes))
    return {code: facility_id for code, facility_id in session.execute(query)}


def _new(plan: _Plan, *, today: date, intervals: dict[Tier, int], now: datetime) -> _Columns:
    """The columns ``service.add_facility`` gives a row's new facility (no id yet)."""
    data = plan.row.data
    registered_on = data.registered_on or today
    return {
        **_DEFAULTS,
        **data.model_dump(exclude={"longitude", "latitude", "crs", "martyrs"}),
        **_location(plan.point, data.longitude, data.latitude, data.crs),
        **service._martyrs([m.model_dump() for m in data.martyrs]),
        "registered_on": registered_on,
        "next_due_on": schedule.due_on(
            last_inspected_on=None, registered_on=registered_on, interval_days=intervals[data.tier]
        ),
        "created_at": now,
        "updated_at": now,
    }


#: what a new facility holds in the columns a row does not fill
_DEFAULTS: _Columns = {
    "last_inspected_at": None,
    "last_inspected_on": None,
    "last_condition": None,
    "record_photo_id": None,
}


def _apply(facility: _Columns, plan: _Plan, *, intervals: dict[Tier, int]) -> _Columns:
    """The columns a row sets in an existing facility, with their new values, as
    ``service.apply_update`` sets them (the facility itself left as it is)."""
    changes = dict(plan.row.cells)
    if "longitude" in changes:
        changes.update(
            _location(
                plan.point,
                changes.pop("longitude"),
                changes.pop("latitude"),
                changes.pop("crs", None) or Crs.wgs84,
            )
        )
    if "martyrs" in changes:
        changes.update(service._martyrs(changes.pop("martyrs") or []))
    changes["next_due_on"] = schedule.due_on(
        last_inspected_on=facility["last_inspected_on"],
        registered_on=changes.get("registered_on", facility["registered_on"]),
        interval_days=intervals[Tier(changes.get("tier", facility["tier"]))],
    )
    return changes


def _audit(session: Session, actor: User | None, audited: list[_Audited]) -> None:
    """Append the audit entries (as ``audit.record`` makes them) to the chain, in order,
    under one lock of its tip, ``BATCH`` entries a statement. Taken after the facilities
    are written, the chain's lock is the last lock the import waits for. Each snapshot is
    written out as JSON once: that text is both hashed and stored."""
    if not audited:
        return
    prev_hash = chain.lock_tip(session)
    at = utcnow()  # the entries of one import are written at one instant
    common = {
        "at": at,
        "actor_id": actor.id if actor else None,
        "actor_username": actor.username if actor else None,
        "object_type": "facility",
    }
    hashed = chain.entry_hasher(**common)  # type: ignore[arg-type]
    rows: list[dict[str, Any]] = []
    for action, facility, before, after in audited:
        object_id = str(facility["id"])
        # JSON null for a new facility's ``before``, as the JSON column stores None
        before_json = chain.canonical_json(before)
        after_json = chain.canonical_json(after)
        entry_hash = hashed(action, object_id, before_json, after_json, prev_hash)
        rows.append(
            {
                **common,
                "action": action,
                "object_id": object_id,
                "before": before_json,
                "after": after_json,
                "prev_hash": prev_hash,
                "entry_hash": entry_hash,
            }
        )
        prev_hash = entry_hash
    _Rows(session, _AUDIT_LOG, _AUDITED, stored=frozenset({"before", "after"})).insert(rows)


#: the columns of an audit entry the import writes (all but the id)
_AUDITED = tuple(name for name in AuditEntry.model_fields if name != "id")


def _taken(session: Session, plans: list[_Plan]) -> RowError:
    """The first new row whose code another writer took since the check (the transaction
    rolled back): the error ``service.add_facility`` answers for it."""
    codes = [plan.row.data.code for plan in plans if plan.facility is None]
    taken = set(_existing(session, codes))
    for plan in plans:
        if plan.facility is None and plan.row.data.code in taken:
            message = f"A facility with code '{plan.row.data.code}' already exists"
            return RowError(plan.row.number, "row", message)
    return RowError(plans[0].row.number, "row", "A facility with this code already exists")
