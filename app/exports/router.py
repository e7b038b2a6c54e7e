from contextlib import closing
from datetime import date
from typing import Any

from fastapi import APIRouter
from fastapi.responses import Response

from app import regions
from app.clock import local_today
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.errors import OTHER_TOWNSHIP, SIGNED_IN
from app.exports import docx, service
from app.exports.service import RowStream
from app.exports.tables import (
    DATE_FORMAT,
    PERCENT_FORMAT,
    XLSX,
    YUAN_FORMAT,
    Sheet,
    _disposition,
    csv_response,
    xlsx_response,
)
from app.funds import service as funds
from app.funds.money import yuan_decimal
from app.funds.router import OTHER_DIVISION, ReportDivision, ReportYear
from app.funds.schemas import AccountRead, CountyTotals, Totals
from app.models import Tier
from app.models.enums import CATEGORY_LABELS_ZH, ENTRY_LABELS_ZH, TIER_LABELS_ZH
from app.reports import annual
from app.reports.schemas import AnnualReport
from app.schemas import Day, Id

router = APIRouter(prefix="/exports", tags=["exports"], responses=SIGNED_IN)

OVERDUE_HEADER = [
    "编号", "名称", "乡镇", "村", "保护级别", "类型", "最近巡查时间", "应巡查日期", "逾期天数",
    "管护人", "管护人电话", *service.RECORD_HEADER,
]  # fmt: skip
OVERDUE_WIDTHS = [16, 30, 10, 12, 10, 12, 18, 12, 10, 10, 14, *service.RECORD_WIDTHS]


def _overdue(
    session: SessionDep, settings: SettingsDep, user: CurrentUser, as_of, township_id, tier
) -> tuple[date, RowStream]:
    as_of = as_of or local_today(settings.tz)
    rows = service.overdue_rows(
        session=session, user=user, as_of=as_of, township_id=township_id, tier=tier, tz=settings.tz
    )
    return as_of, rows


_CSV = {200: {"content": {"text/csv": {}}, "description": "UTF-8 with BOM"}}


@router.get(
    "/overdue.csv",
    response_class=Response,
    responses={**_CSV, **OTHER_TOWNSHIP},
    summary="The overdue list as CSV (Chinese headers)",
)
def export_overdue_csv(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    as_of: Day | None = None,
    township_id: Id | None = None,
    tier: Tier | None = None,
) -> Response:
    as_of, rows = _overdue(session, settings, user, as_of, township_id, tier)
    return csv_response(f"逾期未巡查设施_{as_of}.csv", f"overdue_{as_of}.csv", OVERDUE_HEADER, rows)


@router.get(
    "/overdue.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, **OTHER_TOWNSHIP},
    summary="The overdue list as an Excel workbook (Chinese headers)",
)
def export_overdue_xlsx(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    as_of: Day | None = None,
    township_id: Id | None = None,
    tier: Tier | None = None,
) -> Response:
    as_of, rows = _overdue(session, settings, user, as_of, township_id, tier)
    sheet = Sheet(
        title=f"逾期未巡查 {as_of.isoformat()}",
        header=OVERDUE_HEADER,
        rows=rows,
        widths=OVERDUE_WIDTHS,
        formats={7: DATE_FORMAT},
    )
    with closing(rows):  # the workbook is written whole before the answer starts
        return xlsx_response(f"逾期未巡查设施_{as_of}.xlsx", f"overdue_{as_of}.xlsx", [sheet])


FUND_SUMMARY_HEADER = [
    "乡镇",
    "区划代码",
    "下拨(元)",
    "已占用(元)",
    "已支出(元)",
    "可用(元)",
    "执行率",
]
LEDGER_HEADER = [
    "序号", "记账时间", "乡镇", "年度", "类型", "金额(元)", "维修工单", "下拨记录", "经办人",
    "说明", "超额批准理由",
]  # fmt: skip
_MONEY = {i: YUAN_FORMAT for i in (2, 3, 4, 5)}


def _fund_sheets(
    session: SessionDep, user: CurrentUser, year: int, tz: Any, division: str | None = None
) -> list[Sheet]:
    area = regions.area(session, user, division)
    user = area.viewer  # the ledger below too: the division's, not the whole reach
    accounts = [
        AccountRead.of(t, a)
        for t, a in funds.summary(
            session=session, user=user, year=year, townships_seen=area.townships
        )
    ]
    names = {a.township.id: a.township.name for a in accounts}

    def money_row(first: str, second: str, figures: AccountRead | Totals) -> list[Any]:
        amounts = (
            figures.allocated_fen,
            figures.committed_fen,
            figures.spent_fen,
            figures.available_fen,
        )
        return [first, second, *map(yuan_decimal, amounts), figures.execution_rate]

    summary_rows = []
    for county in CountyTotals.per_county(area.counties, accounts):
        # a region's sheet: each county's townships, then the county's subtotal
        summary_rows += [
            money_row(a.township.name, a.township.code, a)
            for a in accounts
            if a.county_id == county.county.id
        ]
        if len(area.counties) > 1:
            summary_rows.append(money_row(f"{county.county.name}小计", county.county.code, county))
    summary_rows.append(money_row("合计", "", Totals.of(accounts)))
    entries, _ = funds.ledger(session=session, user=user, township_id=None, year=year, window=None)
    ledger_rows = (
        [
            entry.id,
            entry.at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
            names.get(entry.township_id, entry.township_id),
            entry.year,
            ENTRY_LABELS_ZH[entry.kind],
            yuan_decimal(entry.amount_fen),
            entry.order_id,
            entry.allocation_id,
            f"{actor.full_name}（{actor.username}）" if actor else "",
            entry.reason or "",
            entry.override_reason or "",
        ]
        for entry, actor in entries
    )
    return [
        Sheet(
            title=f"经费汇总 {year}",
            header=FUND_SUMMARY_HEADER,
            rows=summary_rows,
            widths=[12, 12, 14, 14, 14, 14, 10],
            formats=_MONEY | {6: PERCENT_FORMAT},
        ),
        Sheet(
            title=f"经费台账 {year}",
            header=LEDGER_HEADER,
            rows=ledger_rows,
            widths=[8, 18, 10, 8, 10, 14, 10, 10, 12, 30, 24],
            formats={5: YUAN_FORMAT},
        ),
    ]


@router.get(
    "/funds.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, **OTHER_DIVISION},
    summary="Fund summary (per township and county) and ledger of a year as an Excel workbook",
)
def export_funds(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    year: ReportYear,
    division: ReportDivision = None,
) -> Response:
    return xlsx_response(
        f"零散烈士纪念设施保护经费_{year}.xlsx",
        f"funds_{year}.xlsx",
        _fund_sheets(session, user, year, settings.tz, division),
    )


@router.get(
    "/annual.xlsx",
    response_class=Response,
    responses={200: {"content": {XLSX: {}}}, **OTHER_DIVISION},
    summary="The annual report as an Excel workbook",
)
def export_annual(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    year: ReportYear,
    division: ReportDivision = None,
) -> Response:
    report = annual.annual_report(session=session, user=user, year=year, division=division)
    facilities = Sheet(
        title="设施",
        header=["乡镇", "在管设施", *(TIER_LABELS_ZH[t] for t in Tier)],
        rows=[
            [row.township.name, row.active, *(row.by_tier[t] for t in Tier)]
            for row in report.facilities.by_township
        ]
        + [["合计", report.facilities.active_total, *(report.facilities.by_tier[t] for t in Tier)]],
        widths=[12, 10, 10, 8, 8, 8, 8],
    )
    patrols = Sheet(
        title="巡查",
        header=["乡镇", "巡查次数", "覆盖设施", "现场巡查率"],
        rows=[
            [row.township.name, row.inspections, row.facilities_inspected, row.on_site_rate]
            for row in report.patrols.by_township
        ]
        + [
            [
                "合计",
                report.patrols.total,
                report.patrols.facilities_inspected,
                report.patrols.on_site_rate,
            ]
        ],
        widths=[12, 10, 10, 12],
        formats={3: PERCENT_FORMAT},
    )
    campaigns = Sheet(
        title="集中巡查",
        header=["名称", "开始", "结束", "应巡查", "已巡查", "覆盖率"],
        rows=[
            [c.name, c.starts_on, c.ends_on, c.in_scope, c.inspected, c.coverage]
            for c in report.campaigns
        ],
        widths=[28, 12, 12, 8, 8, 10],
        formats={5: PERCENT_FORMAT},
    )
    maintenance = Sheet(
        title="维修",
        header=["类别", "工单", "已完成", "支出(元)"],
        rows=[
            [CATEGORY_LABELS_ZH[c.category], c.orders, c.completed, yuan_decimal(c.spent_fen)]
            for c in report.maintenance.by_category
        ],
        widths=[12, 8, 8, 14],
        formats={3: YUAN_FORMAT},
    )
    overview = Sheet(
        title=f"{year}年度概况",
        header=["项目", "数值"],
        rows=[
            ["年度报告摘要", report.summary_zh],
            ["在管设施（处）", report.facilities.active_total],
            ["巡查（次）", report.patrols.total],
            ["发现问题（处）", report.problems.reports_with_problems],
            ["维修工单（项）", report.problems.orders_opened],
            ["已完成（项）", report.problems.orders_completed],
            ["下拨经费（元）", yuan_decimal(report.funds.totals.allocated_fen)],
            ["已支出（元）", yuan_decimal(report.funds.totals.spent_fen)],
        ],
        widths=[16, 100],
    )
    fund_sheets = _fund_sheets(session, user, year, settings.tz, division)
    counties = [_county_sheet(report)] if len(report.counties) > 1 else []
    return xlsx_response(
        f"零散烈士纪念设施年度报告_{year}.xlsx",
        f"annual_report_{year}.xlsx",
        [overview, *counties, facilities, patrols, campaigns, maintenance, *fund_sheets],
    )


def _county_sheet(report: AnnualReport) -> Sheet:
    """A region's figures per county, with the region's total."""
    rows = [
        [
            facilities.county.name,
            facilities.county.code,
            facilities.active,
            patrols.inspections,
            patrols.facilities_inspected,
            patrols.on_site_rate,
            yuan_decimal(money.allocated_fen),
            yuan_decimal(money.spent_fen),
            money.execution_rate,
        ]
        for facilities, patrols, money in zip(
            report.facilities.by_county,
            report.patrols.by_county,
            report.funds.counties,
            strict=True,
        )
    ]
    totals = report.funds.totals
    rows.append(
        [
            "合计",
            report.division,
            report.facilities.active_total,
            report.patrols.total,
            report.patrols.facilities_inspected,
            report.patrols.on_site_rate,
            yuan_decimal(totals.allocated_fen),
            yuan_decimal(totals.spent_fen),
            totals.execution_rate,
        ]
    )
    return Sheet(
        title="各县",
        header=[
            "县（市、区）",
            "区划代码",
            "在管设施",
            "巡查次数",
            "覆盖设施",
            "现场巡查率",
            "下拨(元)",
            "已支出(元)",
            "执行率",
        ],  # fmt: skip
        rows=rows,
        widths=[14, 10, 10, 10, 10, 12, 14, 14, 10],
        formats={5: PERCENT_FORMAT, 6: YUAN_FORMAT, 7: YUAN_FORMAT, 8: PERCENT_FORMAT},
    )


@router.get(
    "/annual.docx",
    response_class=Response,
    responses={
        200: {"content": {docx.DOCX: {}}, "description": "a Word document"},
        **OTHER_DIVISION,
    },
    summary="The annual report as a Word document: title, date, the paragraph, the tables",
)
def export_annual_docx(
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    year: ReportYear,
    division: ReportDivision = None,
) -> Response:
    report = annual.annual_report(session=session, user=user, year=year, division=division)
    title = annual.title_zh(report, fallback=settings.county_name)
    body = docx.annual_document(report, title=title, issued_on=local_today(settings.tz))
    return Response(
        body,
        media_type=docx.DOCX,
        headers={
            "Content-Disposition": _disposition(
                f"零散烈士纪念设施年度报告_{year}.docx", f"annual_report_{year}.docx"
            )
        },
    )
