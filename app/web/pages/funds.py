"""Pages: funds (经费) — each township's account for a year with a chart, the allocations
and their reversals, and the ledger (经费台账).

County staff and admins record and reverse allocations; a township officer reads their
own township's figures. Amounts are typed in yuan ("1234.56") and kept as integer fen,
converted exactly with ``Decimal``.
"""

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from app import access, listing, regions
from app.clock import local_today
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import AppError
from app.funds import service as funds
from app.funds.schemas import (
    AccountRead,
    AllocationCreate,
    AllocationReverse,
    CountyTotals,
    Totals,
)
from app.models import FundSource, User
from app.schemas import Id, Offset
from app.townships import service as townships
from app.web import charts
from app.web import errors as web_errors
from app.web.forms import whole_number
from app.web.i18n import N_, Gettext, format_money
from app.web.pages.review import error_text
from app.web.session import Csrf, PageUser, StaffPageUser
from app.web.templating import gettext, render

router = APIRouter()

ALLOCATIONS_PAGE = 50
LEDGER_PAGE = 50
#: the most the API takes (``app.funds.money.Fen``): 10 billion yuan
MAX_FEN = 1_000_000_000_000
YearQuery = Annotated[int | None, Query(ge=2000, le=2100)]

# --- the API's messages about money, in Chinese --------------------------------------------

_M = r"-?[\d,]+\.\d\d 元"
_SHORT_OF = (
    rf" needs (?P<need>{_M}), but (?P<name>.+) has only (?P<available>{_M}) available for"
    rf" (?P<year>\d{{4}}) \(allocated (?P<allocated>{_M}), committed (?P<committed>{_M}),"
    rf" spent (?P<spent>{_M})\)\. An admin may override with a reason\."
)
_OVERSPEND = re.compile(r".*" + _SHORT_OF, re.DOTALL)

# ``funds.service.move`` names what needed the money; the specific forms first.
web_errors.register(
    (
        rf"Approving order (?P<order>\d+) \((?P<planned>{_M}) planned\)" + _SHORT_OF,
        N_(
            "Approving order %(order)s (%(planned)s planned) needs %(need)s, but %(name)s has"
            " only %(available)s available for %(year)s (allocated %(allocated)s, committed"
            " %(committed)s, spent %(spent)s). An admin may override with a reason."
        ),
    ),
    (
        rf"Completing order (?P<order>\d+) at (?P<actual>{_M}) \((?P<planned>{_M}) planned\)"
        + _SHORT_OF,
        N_(
            "Completing order %(order)s at %(actual)s (%(planned)s planned) needs %(need)s, but"
            " %(name)s has only %(available)s available for %(year)s (allocated %(allocated)s,"
            " committed %(committed)s, spent %(spent)s). An admin may override with a reason."
        ),
    ),
    (
        r"Reversing allocation (?P<allocation>\d+) \((?P<document>.+)\)" + _SHORT_OF,
        N_(
            "Reversing allocation %(allocation)s (%(document)s) needs %(need)s, but %(name)s has"
            " only %(available)s available for %(year)s (allocated %(allocated)s, committed"
            " %(committed)s, spent %(spent)s). An admin may override with a reason."
        ),
    ),
    (
        r"(?P<what>.+)" + _SHORT_OF,
        N_(
            "%(what)s needs %(need)s, but %(name)s has only %(available)s available for"
            " %(year)s (allocated %(allocated)s, committed %(committed)s, spent %(spent)s)."
            " An admin may override with a reason."
        ),
    ),
    (
        r"Only an admin may spend past the available balance \(override_reason\)",
        N_("Only an administrator may go past the available balance, with a reason"),
    ),
    (
        r"Allocation (?P<allocation>\d+) was already reversed",
        N_("Allocation %(allocation)s was already reversed"),
    ),
    (
        r"There is no township with id (?P<id>\d+)",
        N_("There is no township with id %(id)s"),
    ),
)


def is_overspend(exc: AppError) -> bool:
    """Whether ``exc`` is the 409 of a movement past the available balance."""
    return exc.status_code == 409 and bool(_OVERSPEND.fullmatch(str(exc.detail)))


class AmountError(ValueError):
    """A typed amount that is not yuan; ``args[0]`` is the msgid saying why."""


_YUAN = re.compile(r"(\d{1,10})(?:\.(\d{1,2}))?", re.ASCII)


def parse_yuan(text: str, *, positive: bool = False) -> int:
    """Yuan as people type them ("1234.56", "1,234.5", "￥80") → integer fen, exactly."""
    cleaned = unicodedata.normalize("NFKC", text).strip().lstrip("¥").strip()
    cleaned = cleaned.replace(",", "").replace(" ", "")
    if not cleaned:
        raise AmountError(N_("Enter the amount in yuan, for example 1234.56"))
    if not _YUAN.fullmatch(cleaned):
        raise AmountError(
            N_("Write the amount in yuan with at most two decimals, for example 1234.56")
        )
    fen = int(Decimal(cleaned).scaleb(2))
    if fen > MAX_FEN:
        raise AmountError(N_("The amount is too large"))
    if positive and fen == 0:
        raise AmountError(N_("The amount must be more than zero"))
    return fen


def yuan_text(fen: int | None) -> str:
    """Fen as the yuan a form shows again: ``123456`` → ``1234.56``."""
    return "" if fen is None else f"{Decimal(fen).scaleb(-2):.2f}"


def parse_day(text: str) -> date:
    """A date from an ``<input type="date">`` (ISO 8601); ``ValueError`` otherwise."""
    value = date.fromisoformat(text.strip())
    if not 1900 <= value.year <= 2100:
        raise ValueError(text)
    return value


def validation_messages(exc: ValidationError, _: Gettext) -> dict[str, str]:
    """A schema's complaints by field, for showing next to the fields."""
    found: dict[str, str] = {}
    for error in exc.errors():
        name = str(error["loc"][0]) if error["loc"] else ""
        found.setdefault(name, web_errors.translate(error["msg"], _))
    return found


def default_year(session: Session, settings: Settings, user: User) -> int:
    """The latest year with allocations in the user's division (DESIGN.md rule 10), else
    this year."""
    return funds.default_year(session, fallback=local_today(settings.tz).year, user=user)


def rate_text(rate: float | None) -> str:
    return "—" if rate is None else f"{rate * 100:.1f}%"


# --- the page -----------------------------------------------------------------------------


@dataclass
class AllocationForm:
    values: dict[str, str] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


@dataclass
class ReverseFailure:
    allocation_id: int
    message: str
    reason: str
    offer_override: bool
    override_reason: str = ""


SOURCES = tuple(FundSource)


def _funds_page(
    request: Request,
    session: Session,
    settings: Settings,
    user: User,
    *,
    year: int | None,
    township_id: int | None,
    offset: int,
    done: str | None = None,
    form: AllocationForm | None = None,
    failure: ReverseFailure | None = None,
    status_code: int = 200,
) -> Response:
    _ = gettext(request)
    year = year or default_year(session, settings, user)
    if township_id is not None:
        access.ensure_visible(session, user, township_id, f"Township {township_id}")
    area = regions.area(session, user, None)
    accounts = [
        AccountRead.of(t, a)
        for t, a in funds.summary(
            session=session, user=user, year=year, townships_seen=area.townships
        )
    ]
    totals = Totals.of(accounts)
    # a region's staff: each county's townships, then the county's subtotal
    by_county = (
        [
            (county, [a for a in accounts if a.county_id == county.county.id])
            for county in CountyTotals.per_county(area.counties, accounts)
        ]
        if len(area.counties) > 1
        else []
    )
    series = [
        (_("Allocated"), *charts.ALLOCATED),
        (_("Committed"), *charts.COMMITTED),
        (_("Spent"), *charts.SPENT),
    ]
    chart = charts.grouped_bars(
        title=_("Allocated, committed and spent per township, %(year)s", year=year),
        labels=[a.township.name for a in accounts],
        series=series,
        values=[[a.allocated_fen, a.committed_fen, a.spent_fen] for a in accounts],
        # zeros are left unlabelled in the chart (the table below gives every figure)
        format_value=lambda fen: format_money(fen) if fen else "",
        width=900,
    )
    allocations, allocation_total = funds.list_allocations(
        session=session,
        user=user,
        township_id=township_id,
        year=year,
        window=listing.Window(limit=ALLOCATIONS_PAGE, offset=offset),
    )
    today = local_today(settings.tz)
    staff = access.is_staff(user)
    notices = {
        "allocated": _("The allocation was recorded."),
        "reversed": _("The allocation was reversed."),
    }
    query: dict[str, Any] = {"year": year}
    if township_id is not None:
        query["township_id"] = township_id
    return render(
        request,
        "funds/index.html",
        {
            "year": year,
            "township_id": township_id,
            "townships": townships.visible(session, user),
            "accounts": accounts,
            "by_county": by_county,
            "totals": totals,
            "rate_text": rate_text,
            "chart": chart,
            "legend": charts.legend(series),
            "allocations": allocations,
            "allocation_total": allocation_total,
            "offset": offset,
            "limit": ALLOCATIONS_PAGE,
            "query": query,
            "may_manage": staff,
            "is_admin": user.role.value == "admin",
            "sources": SOURCES,
            "form": form
            or AllocationForm(
                values={"year": str(year), "allocated_on": today.isoformat(), "source": "county"}
                | ({"township_id": str(township_id)} if township_id else {})
            ),
            "failure": failure,
            "notice": notices.get(done or ""),
            "back": "/funds?" + urlencode(query | ({"offset": offset} if offset else {})),
        },
        status_code=status_code,
    )


@router.get("/funds")
def funds_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    year: YearQuery = None,
    township_id: Id | None = None,
    offset: Offset = 0,
    done: Annotated[str | None, Query(max_length=20)] = None,
) -> Response:
    return _funds_page(
        request,
        session,
        settings,
        user,
        year=year,
        township_id=township_id,
        offset=offset,
        done=done,
    )


def _read_allocation(values: dict[str, str], _: Gettext) -> tuple[AllocationCreate | None, dict]:
    """The allocation form's fields, checked one by one so each error sits by its field."""
    errors: dict[str, str] = {}
    parsed: dict[str, Any] = {}
    try:
        parsed["township_id"] = int(values["township_id"])
    except ValueError:
        errors["township_id"] = _("Choose the township")
    try:
        parsed["year"] = int(values["year"])
        if not 2000 <= parsed["year"] <= 2100:
            raise ValueError(values["year"])
    except ValueError:
        errors["year"] = _("Enter the year as four digits, between 2000 and 2100")
    try:
        parsed["amount_fen"] = parse_yuan(values["amount"], positive=True)
    except AmountError as exc:
        errors["amount"] = _(exc.args[0])
    if values["source"] not in {s.value for s in FundSource}:
        errors["source"] = _("Choose where the money comes from")
    parsed["source"] = values["source"]
    parsed["document_no"] = values["document_no"].strip()
    if not parsed["document_no"]:
        errors["document_no"] = _("Enter the document number of the allocation")
    try:
        parsed["allocated_on"] = parse_day(values["allocated_on"])
    except ValueError:
        errors["allocated_on"] = _("Enter the date the money was allocated")
    parsed["note"] = values["note"].strip() or None
    if errors:
        return None, errors
    try:
        return AllocationCreate.model_validate(parsed), {}
    except ValidationError as exc:
        found = validation_messages(exc, _)
        return None, {("amount" if k == "amount_fen" else k): v for k, v in found.items()}


@router.post("/funds/allocations")
def create_allocation(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: StaffPageUser,
    township_id: Annotated[str, Form(max_length=12)] = "",
    year: Annotated[str, Form(max_length=8)] = "",
    amount: Annotated[str, Form(max_length=40)] = "",
    source: Annotated[str, Form(max_length=20)] = "",
    document_no: Annotated[str, Form(max_length=64)] = "",
    allocated_on: Annotated[str, Form(max_length=12)] = "",
    note: Annotated[str, Form(max_length=1000)] = "",
    _csrf: None = Csrf,
) -> Response:
    """Record an allocation (经费下拨) to a township."""
    _ = gettext(request)
    values = {
        "township_id": township_id,
        "year": year,
        "amount": amount,
        "source": source,
        "document_no": document_no,
        "allocated_on": allocated_on,
        "note": note,
    }
    data, errors = _read_allocation(values, _)
    if data is not None:
        try:
            funds.allocate(session=session, actor=user, data=data)
        except AppError as exc:
            session.rollback()
            errors = {"township_id" if "township" in str(exc.detail) else "": error_text(exc, _)}
        else:
            return RedirectResponse(
                "/funds?" + urlencode({"year": data.year, "done": "allocated"}), status_code=303
            )
    shown_year = data.year if data else whole_number(year, digits=4)
    return _funds_page(
        request,
        session,
        settings,
        user,
        year=shown_year if shown_year and 2000 <= shown_year <= 2100 else None,
        township_id=None,
        offset=0,
        form=AllocationForm(values, errors),
        status_code=422,
    )


@router.post("/funds/allocations/{allocation_id}/reverse")
def reverse_allocation(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    allocation_id: Id,
    reason: Annotated[str, Form(max_length=500)] = "",
    override_reason: Annotated[str, Form(max_length=500)] = "",
    override: Annotated[str, Form(max_length=1)] = "",
    year: YearQuery = None,
    township_id: Id | None = None,
    offset: Offset = 0,
    _csrf: None = Csrf,
) -> Response:
    """Reverse an allocation (a reversal entry); past the balance only an admin, with a reason."""
    _ = gettext(request)
    allocation = funds.get_allocation(session=session, user=user, allocation_id=allocation_id)
    access.ensure_staff(user)  # after the 404 for another township's allocation
    page = {"year": year or allocation.year, "township_id": township_id, "offset": offset}
    failure = None
    status_code = 422
    if not reason.strip():
        failure = ReverseFailure(
            allocation_id, _("Write why the allocation is reversed"), reason, bool(override)
        )
    elif override and not override_reason.strip():
        failure = ReverseFailure(
            allocation_id,
            _("Write why the funds may go below zero"),
            reason,
            offer_override=True,
        )
    else:
        try:
            data = AllocationReverse(reason=reason, override_reason=override_reason.strip() or None)
            funds.reverse(
                session=session,
                actor=user,
                allocation_id=allocation_id,
                reason=data.reason,
                override_reason=data.override_reason,
            )
        except ValidationError as exc:
            message = "; ".join(validation_messages(exc, _).values())
            failure = ReverseFailure(allocation_id, message, reason, bool(override))
        except AppError as exc:
            session.rollback()
            status_code = exc.status_code
            failure = ReverseFailure(
                allocation_id,
                error_text(exc, _),
                reason,
                offer_override=is_overspend(exc) and user.role.value == "admin",
                override_reason=override_reason,
            )
        else:
            query = {k: v for k, v in page.items() if v} | {"done": "reversed"}
            return RedirectResponse("/funds?" + urlencode(query), status_code=303)
    return _funds_page(
        request, session, settings, user, **page, failure=failure, status_code=status_code
    )


# --- the ledger ---------------------------------------------------------------------------


@router.get("/funds/ledger")
def ledger_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    year: YearQuery = None,
    township_id: Id | None = None,
    offset: Offset = 0,
) -> Response:
    """The ledger of a year, newest entry first."""
    year = year or default_year(session, settings, user)
    visible = townships.visible(session, user)
    listed = funds.ledger(
        session=session,
        user=user,
        township_id=township_id,
        year=year,
        window=listing.Window(limit=LEDGER_PAGE, offset=offset, count_limit=settings.count_limit),
        newest_first=True,
    )
    query: dict[str, Any] = {"year": year}
    if township_id is not None:
        query["township_id"] = township_id
    return render(
        request,
        "funds/ledger.html",
        {
            "year": year,
            "township_id": township_id,
            "townships": visible,
            "township_names": {t.id: t.name for t in visible},
            "entries": listed.rows,
            "total": listed.total,
            "total_over": listed.total_over,
            "more": listed.next is not None,
            "offset": offset,
            "limit": LEDGER_PAGE,
            "query": query,
        },
    )
