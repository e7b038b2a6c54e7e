"""Import a facility spreadsheet (CSV or XLSX, Chinese or English headers).

Every row is checked first, against its schema and then against every rule the API
enforces (``service.problems``: township, code, registration date, location in the
county), so a row that passes the check is a row the service will write. Errors are
reported with their spreadsheet row number (the header is row 1). Nothing is written
while any row is bad, unless the caller asks to skip invalid rows: then exactly the
good rows are written. A row whose ``code`` already exists updates that facility.
All writes happen in one transaction.
"""

import csv
import io
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from pydantic import ValidationError
from sqlmodel import Session, select

from app.config import Settings
from app.errors import AppError
from app.facilities import service
from app.facilities.schemas import FacilityCreate
from app.models import Crs, Facility, FacilityKind, FacilityStatus, Tier, Township, User
from app.models.enums import KIND_LABELS_ZH, STATUS_LABELS_ZH, TIER_LABELS_ZH

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


def _townships(session: Session) -> dict[str, int]:
    lookup: dict[str, int] = {}
    for township in session.exec(select(Township)).all():
        lookup[township.code] = township.id  # type: ignore[assignment]
        lookup.setdefault(township.name, township.id)  # type: ignore[arg-type]
    return lookup


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


def _parse_row(
    number: int, raw: list[Any], columns: dict[str, int], townships: dict[str, int]
) -> tuple[_Row | None, list[RowError]]:
    """One spreadsheet row as a validated facility, or every error found in it."""
    values: dict[str, Any] = {}
    errors: list[RowError] = []
    for name, index in columns.items():
        value = _cell(raw[index]) if index < len(raw) else None
        if value is None:
            continue
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
            key = str(int(value) if isinstance(value, float) else value)
            if key not in townships:
                errors.append(RowError(number, name, f"no township with code or name '{key}'"))
                continue
            values["township_id"] = townships[key]
            continue
        elif name == "martyrs":
            value = _martyrs(value)
        elif name == "registered_on":
            try:
                value = _date(value)
            except ValueError as exc:
                errors.append(RowError(number, name, str(exc)))
                continue
        elif name in ("code", "custodian_phone", "year_built"):
            value = str(value)
        values[name] = value
    already = {e.field for e in errors}
    if "township" in already:
        already.add("township_id")
    try:
        data = FacilityCreate.model_validate(values)
    except ValidationError as exc:
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"]) or "row"
            if loc in already and loc not in values:
                continue  # its cell was already reported (or the township did not resolve)
            field = "township" if loc == "township_id" else loc
            errors.append(RowError(number, field, error["msg"]))
        return None, errors
    return (None, errors) if errors else (_Row(number, data), [])


def _rows(
    header: list[str], data: list[list[Any]], townships: dict[str, int]
) -> Iterator[tuple[_Row | None, list[RowError]]]:
    columns = _columns(header)
    for offset, raw in enumerate(data):
        yield _parse_row(offset + 2, raw, columns, townships)


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
    is left alone, neither checked nor written, and counted in ``kept``."""
    header, data = read_table(path)
    result = ImportResult()
    parsed = list(_rows(header, data, _townships(session)))
    existing = _existing(session, [row.data.code for row, _ in parsed if row is not None])
    valid: list[_Row] = []
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
            errors = [
                RowError(row.number, _FIELDS.get(p.field, p.field), p.message)
                for p in _problems(session, settings, row, facility)
            ]
            if errors:
                row = None
        if row is None:
            result.errors.extend(errors)
        else:
            valid.append(row)
    if result.errors and not skip_invalid:
        return result
    result.skipped = len({e.row for e in result.errors})

    for done, row in enumerate(valid, start=1):
        try:
            facility = existing.get(row.data.code)
            if facility is None:
                service.add_facility(session=session, settings=settings, actor=actor, data=row.data)
                result.created += 1
            elif service.apply_update(
                session=session,
                settings=settings,
                actor=actor,
                facility=facility,
                changes=_changes(row),
            ):
                result.updated += 1
            else:
                result.unchanged += 1
        except AppError as exc:  # the data changed under us since the check: write nothing
            session.rollback()
            result.errors.append(RowError(row.number, "row", service.Problem("row", exc).message))
            result.created = result.updated = result.unchanged = 0
            return result
        if progress:
            progress(done, len(valid))
    session.commit()
    result.written = True
    return result


def _existing(session: Session, codes: list[str]) -> dict[str, Facility]:
    """The facilities these codes name, by code (in chunks: SQLite caps bound parameters)."""
    found: dict[str, Facility] = {}
    for start in range(0, len(codes), 1000):
        chunk = codes[start : start + 1000]
        found.update(
            (f.code, f) for f in session.exec(select(Facility).where(Facility.code.in_(chunk)))
        )
    return found


#: the spreadsheet's name for a field the service names otherwise
_FIELDS = {"township_id": "township"}


def _changes(row: _Row) -> dict[str, Any]:
    """What a row says about an existing facility: the cells it fills."""
    return row.data.model_dump(exclude_unset=True)


def _problems(
    session: Session, settings: Settings, row: _Row, facility: Facility | None
) -> list[service.Problem]:
    """The service's own check, for a new facility or for the changes to ``facility``."""
    values = row.data.model_dump() if facility is None else _changes(row)
    return service.problems(session=session, settings=settings, values=values, facility=facility)
