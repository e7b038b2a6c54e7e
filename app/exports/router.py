from collections.abc import Iterator
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from app.clock import local_today
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.exports.tables import XLSX, Sheet, csv_response, xlsx_response
from app.models import Facility, Tier
from app.models.enums import KIND_LABELS_ZH, TIER_LABELS_ZH
from app.schedule import service as schedule
from app.schemas import Id

router = APIRouter(prefix="/exports", tags=["exports"])

OVERDUE_HEADER = [
    "编号", "名称", "乡镇", "村", "保护级别", "类型", "最近巡查时间", "应巡查日期", "逾期天数",
    "管护人", "管护人电话",
]  # fmt: skip
OVERDUE_WIDTHS = [16, 30, 10, 12, 10, 12, 18, 12, 10, 10, 14]


def _overdue_rows(facilities: list[Facility], as_of: date, tz: Any) -> Iterator[list[Any]]:
    for f in facilities:
        last = (
            f.last_inspected_at.astimezone(tz).strftime("%Y-%m-%d %H:%M")
            if f.last_inspected_at
            else ""
        )
        yield [
            f.code,
            f.name,
            f.township.name,
            f.village or "",
            TIER_LABELS_ZH[f.tier],
            KIND_LABELS_ZH[f.kind],
            last,
            f.next_due_on.isoformat(),
            (as_of - f.next_due_on).days,
            f.custodian_name or "",
            f.custodian_phone or "",
        ]


def _overdue(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, as_of, township_id, tier
):
    as_of = as_of or local_today(settings.tz)
    rows, _total = schedule.overdue_facilities(
        session=session, user=user, as_of=as_of, township_id=township_id, tier=tier, limit=None
    )
    return as_of, list(_overdue_rows(rows, as_of, settings.tz))


_CSV = {200: {"content": {"text/csv": {}}, "description": "UTF-8 with BOM"}}


@router.get(
    "/overdue.csv",
    response_class=Response,
    responses=_CSV,
    summary="The overdue list as CSV (Chinese headers)",
)
def export_overdue_csv(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    as_of: date | None = None,
    township_id: Id | None = None,
    tier: Tier | None = None,
) -> Response:
    as_of, rows = _overdue(session, settings, user, as_of, township_id, tier)
    return csv_response(f"逾期未巡查设施_{as_of.isoformat()}.csv", OVERDUE_HEADER, rows)


@router.get(
    "/overdue.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}},
    summary="The overdue list as an Excel workbook (Chinese headers)",
)
def export_overdue_xlsx(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    as_of: Annotated[date | None, Query()] = None,
    township_id: Id | None = None,
    tier: Tier | None = None,
) -> Response:
    as_of, rows = _overdue(session, settings, user, as_of, township_id, tier)
    sheet = Sheet(
        title=f"逾期未巡查 {as_of.isoformat()}",
        header=OVERDUE_HEADER,
        rows=rows,
        widths=OVERDUE_WIDTHS,
    )
    return xlsx_response(f"逾期未巡查设施_{as_of.isoformat()}.xlsx", [sheet])
