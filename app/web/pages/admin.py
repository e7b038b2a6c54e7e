"""Pages: administration (管理, admins only) — users, the patrol policy, and the facility
spreadsheet import.

Every change goes through the services the API uses (``app.auth.service``,
``app.schedule.service.set_intervals``, ``app.facilities.importer.import_file``) with the
request's session; a refusal is shown next to the field it concerns, in the page's
language. Passwords typed into a form are never written back into the page.
"""

import re
import tempfile
from pathlib import Path, PurePosixPath
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, File, Form, Query, Request, UploadFile
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import select
from sqlmodel import Session

from app import listing
from app.auth import service as auth_service
from app.auth.schemas import UserCreate, UserUpdate
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import AppError
from app.exports.tables import csv_response
from app.facilities import importer
from app.limits import BodyLimitMiddleware, size_text
from app.models import County, Role, Tier, User
from app.models.enums import (
    HEADSTONE_LABELS_ZH,
    KIND_LABELS_ZH,
    MATERIAL_LABELS_ZH,
    PROTECTION_UNIT_LABELS_ZH,
    STATUS_LABELS_ZH,
    TIER_LABELS_ZH,
)
from app.schedule import service as schedule
from app.schedule.schemas import PoliciesUpdate
from app.schemas import Id
from app.townships import service as townships
from app.web import errors as web_errors
from app.web.forms import whole_number
from app.web.i18n import N_, Gettext
from app.web.session import AdminPageUser, Csrf
from app.web.templating import ROLE_LABELS, gettext, render

router = APIRouter()

USERS_PER_PAGE = 50

# --- the API's English, in Chinese ---------------------------------------------------------

web_errors.register(
    (r"Field required", N_("Required")),
    (r"String should have at least (?P<n>\d+) characters?", N_("At least %(n)s characters")),
    (r"String should have at most (?P<n>\d+) characters?", N_("At most %(n)s characters")),
    (r"Input should be a valid integer.*", N_("Enter a whole number")),
    (r"Input should be a valid number.*", N_("Enter a number")),
    (r"Input should be greater than or equal to (?P<n>[\d.-]+)", N_("At least %(n)s")),
    (r"Input should be less than or equal to (?P<n>[\d.-]+)", N_("At most %(n)s")),
    (
        r"The username '(?P<username>[^']*)' is already taken.*",
        N_(
            "The username %(username)s is taken (upper and lower case count as the same):"
            " choose another"
        ),
    ),
    (
        r"You cannot deactivate or demote your own account; ask another admin",
        N_(
            "You cannot deactivate your own account or take away its administrator role;"
            " ask another administrator"
        ),
    ),
    (
        r"(Value error, )?township_id is required for a township user|"
        r"A township user needs a township_id",
        N_("A township officer needs a township"),
    ),
    (
        r"(Value error, )?only township users belong to a township; leave township_id out|"
        r"Only township users belong to a township",
        N_("Only township officers belong to a township: leave it empty for this role"),
    ),
    (r"There is no township with id (?P<id>\d+)", N_("There is no township with id %(id)s")),
    (r"User (?P<id>\d+) not found", N_("There is no user with id %(id)s")),
    (
        r"User \d+ \('[^']*'\) is the reserved account that `memorial seed` writes as.*",
        N_("This is the system's reserved account: it cannot be changed"),
    ),
    (r"full_name cannot be empty", N_("Enter the person's name")),
    # the division code (app.auth.service._division)
    (
        r"A township user's division_code is their township's code \((?P<code>\d+)\)",
        N_("A township officer's division is their township's code (%(code)s): leave it empty"),
    ),
    (
        r"Only township users reach a single township \(9 digits\)",
        N_(
            "Only a township officer's division is a single township (9 digits): enter 2, 4"
            " or 6 digits"
        ),
    ),
    (
        r"Division \(the whole country\) is outside yours \((?P<yours>\d*)\)",
        N_("The whole country is outside your division (%(yours)s)"),
    ),
    (
        r"Division (?P<code>\d+) is outside yours \((?P<yours>\d+|the whole country)\)",
        N_("Division %(code)s is outside your division (%(yours)s)"),
    ),
    (
        r"There is no county under division code (?P<code>\d+)",
        N_("No county has a division code starting with %(code)s: check the code"),
    ),
    # the password rules (app.auth.passwords)
    (
        r"The password is too short: it needs at least (?P<n>\d+) characters",
        N_("The password is too short: it needs at least %(n)s characters"),
    ),
    (
        r"The password must not be the username",
        N_("The password must not be the same as the username"),
    ),
    (
        r"The password is one of the most common passwords; choose one harder to guess",
        N_("This password is one of the most common ones: choose one that is harder to guess"),
    ),
    (r"The current password is not correct", N_("The current password is not correct")),
    # the spreadsheet import (app.facilities.importer and the checks it runs)
    (
        r"no township with code or name '(?P<key>.*)'",
        N_("No township has the code or name '%(key)s'"),
    ),
    (
        r"more than one township is named '(?P<key>.*)' \((?P<codes>[\d, ]+), in different"
        r" counties\); write the township's 9-digit code",
        N_("More than one township is named '%(key)s' (%(codes)s): write its 9-digit code"),
    ),
    (r"repeats row (?P<row>\d+)", N_("The same code as row %(row)s")),
    (
        r"'(?P<value>.*)' is not a date \(write it as 2024-05-10\)",
        N_("'%(value)s' is not a date (write it as 2024-05-10)"),
    ),
    (
        r"'(?P<value>.*)' is not an area in square metres \(write it as 120.5\)",
        N_("'%(value)s' is not an area in square metres (write it as 120.5)"),
    ),
    (
        r"A facility with code '(?P<code>.*)' already exists \(id (?P<id>\d+)\)",
        N_("A facility with code %(code)s already exists"),
    ),
    (
        r"The registration date (?P<day>\S+) is in the future",
        N_("The registration date %(day)s is in the future"),
    ),
    (
        r"The point \((?P<lon>[-\d.]+), (?P<lat>[-\d.]+)\) in WGS-84(, converted from \w+)? "
        r"is (?P<distance>[\d.]+) km outside the county (?P<county>.*) \(more than the "
        r"(?P<margin>[\d.]+) km allowed\); check the coordinates and their coordinate "
        r"system \(crs\)",
        N_(
            "The point (%(lon)s, %(lat)s) lies %(distance)s km outside %(county)s (%(margin)s km"
            " are allowed): check the longitude, the latitude and the coordinate system"
        ),
    ),
    (r"(?P<field>\w+) cannot be empty", N_("This cannot be empty")),
    (
        r"(?P<name>.+) is not a readable \.xlsx workbook: .*",
        N_("%(name)s is not a readable .xlsx workbook: save it again from Excel or WPS"),
    ),
    (
        r"(?P<name>.+) is neither UTF-8 nor GB18030 text",
        N_("%(name)s is neither UTF-8 nor GB18030 text: save it again as CSV (UTF-8)"),
    ),
    (
        r"(?P<name>.+): only \.csv and \.xlsx files can be imported",
        N_("%(name)s: only .csv and .xlsx files can be imported"),
    ),
    (r"missing columns: (?P<columns>.*)", N_("Columns missing from the header row: %(columns)s")),
    (r"(?P<name>[^\n]+\.(csv|xlsx)) is empty", N_("%(name)s is empty")),
)

#: the importer's choices, by field, as people write them
_CHOICES = {
    "tier": TIER_LABELS_ZH,
    "kind": KIND_LABELS_ZH,
    "status": STATUS_LABELS_ZH,
    "protection_unit": PROTECTION_UNIT_LABELS_ZH,
    "headstone_type": HEADSTONE_LABELS_ZH,
    "main_material": MATERIAL_LABELS_ZH,
}
_NOT_ONE_OF = re.compile(r"'(?P<value>.*)' is not one of .*", re.DOTALL)

_PATTERN_HINTS = {
    "username": N_("Letters, digits and _ . @ - only, starting with a letter or digit"),
    "phone": N_("Digits, with + - or spaces if needed: 5 to 20 characters"),
    "division_code": N_("2 digits (a province), 4 (a city) or 6 (a county), or empty"),
}


def field_errors(exc: ValidationError | AppError, _: Gettext, *, fallback: str) -> dict[str, str]:
    """Messages by form field from a schema's or a service's refusal (``fallback``: the
    field a message without one belongs to)."""
    if isinstance(exc, ValidationError):
        items = [dict(e) for e in exc.errors()]
    elif isinstance(exc.detail, list):
        items = [dict(e) for e in exc.detail]
    else:
        return {fallback: web_errors.translate(exc.detail, _)}
    found: dict[str, str] = {}
    for item in items:
        loc = [str(p) for p in item.get("loc", ()) if p != "body"]
        field = loc[-1] if loc else fallback
        if item.get("type") == "string_pattern_mismatch" and field in _PATTERN_HINTS:
            message = _(_PATTERN_HINTS[field])
        else:
            message = web_errors.translate(str(item.get("msg", "")), _)
        found.setdefault(field, message)
    return found


def _filters(role: Role | None, township_id: int | None) -> dict[str, object]:
    """The list's filters as a query (for the pager)."""
    query: dict[str, object] = {}
    if role is not None:
        query["role"] = role.value
    if township_id is not None:
        query["township_id"] = township_id
    return query


def _redirect(path: str, **query: object) -> RedirectResponse:
    values = {k: v for k, v in query.items() if v not in (None, "")}
    return RedirectResponse(path + (f"?{urlencode(values)}" if values else ""), status_code=303)


def _roles() -> list[tuple[Role, str]]:
    return [(role, ROLE_LABELS[role]) for role in Role]


def _optional_id(value: str) -> int | str | None:
    """A select's value: empty is None, digits an id, anything else left for the schema."""
    value = value.strip()
    if not value:
        return None
    number = whole_number(value)
    return value if number is None else number


def _division(role: str, typed: str) -> str | None:
    """The division code typed in the form: empty is None (the service's default: the
    admin's own division, or the one the user had); a township officer's follows from
    their township, so whatever was typed for one is not sent."""
    typed = typed.strip()
    return None if role == Role.township.value or not typed else typed


def county_names(session: Session, codes: list[str]) -> dict[str, str]:
    """The names of the counties these division codes lie in (a county's 6 digits, or a
    township's 9), by county code: one query for a page of users."""
    wanted = {code[:6] for code in codes if len(code) >= 6}
    if not wanted:
        return {}
    rows = session.execute(select(County.code, County.name).where(County.code.in_(wanted)))
    return {code: name for code, name in rows}


@router.get("/admin")
def admin_home(_admin: AdminPageUser) -> Response:
    return RedirectResponse("/admin/users", status_code=303)


# --- users -------------------------------------------------------------------------------


@router.get("/admin/users")
def users_page(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    settings: SettingsDep,
    role_filter: Annotated[str, Query(alias="role", max_length=20)] = "",
    township_filter: Annotated[str, Query(alias="township_id", max_length=20)] = "",
    offset: Annotated[int, Query(ge=0, le=2_147_483_647)] = 0,
    created: Annotated[str, Query(max_length=64)] = "",
) -> Response:
    """Filters as the form sends them: "" is "all" (an unknown value is ignored too)."""
    role = Role(role_filter) if role_filter in {r.value for r in Role} else None
    township_id = whole_number(township_filter)
    listed = auth_service.list_users(
        session=session,
        role=role,
        township_id=township_id,
        window=listing.Window(
            limit=USERS_PER_PAGE, offset=offset, count_limit=settings.count_limit
        ),
        actor=admin,
    )
    rows = listed.rows
    return render(
        request,
        "admin/users.html",
        {
            "section_tab": "users",
            "users": rows,
            "county_names": county_names(session, [u.division_code for u in rows]),
            "total": listed.total,
            "total_over": listed.total_over,
            "more": listed.next is not None,
            "limit": USERS_PER_PAGE,
            "offset": offset,
            "query": _filters(role, township_id),
            "role": role,
            "township_id": township_id,
            "roles": _roles(),
            "role_labels": ROLE_LABELS,
            "townships": townships.visible(session, admin),
            "created": created,
            "system_username": auth_service.SYSTEM_USERNAME,
        },
    )


def _user_form(
    request: Request,
    session: SessionDep,
    admin: User,
    values: dict[str, Any],
    errors: dict[str, str],
    status_code: int = 200,
) -> Response:
    return render(
        request,
        "admin/user_new.html",
        {
            "section_tab": "users",
            "values": values,
            "errors": errors,
            "roles": _roles(),
            "townships": townships.visible(session, admin),
            "password_min_length": request.app.state.settings.password_min_length,
        },
        status_code=status_code,
    )


@router.get("/admin/users/new")
def new_user_page(request: Request, admin: AdminPageUser, session: SessionDep) -> Response:
    return _user_form(request, session, admin, {"role": Role.township.value}, {})


@router.post("/admin/users")
def create_user(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=200)] = "",
    full_name: Annotated[str, Form(max_length=200)] = "",
    phone: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    township_id: Annotated[str, Form(max_length=20)] = "",
    division_code: Annotated[str, Form(max_length=20)] = "",
    password: Annotated[str, Form(max_length=200)] = "",
    password_again: Annotated[str, Form(max_length=200)] = "",
    _csrf: None = Csrf,
) -> Response:
    _ = gettext(request)
    shown = {
        "username": username,
        "full_name": full_name,
        "phone": phone,
        "role": role,
        "township_id": township_id,
        "division_code": division_code,
    }  # never the passwords
    errors: dict[str, str] = {}
    try:
        data = UserCreate.model_validate(
            {
                "username": username,
                "full_name": full_name,
                "phone": phone.strip() or None,
                "role": role or None,
                "township_id": _optional_id(township_id),
                "division_code": _division(role, division_code),
                "password": password,
            }
        )
    except ValidationError as exc:
        errors = field_errors(exc, _, fallback="township_id")
        data = None
    if password != password_again and "password" not in errors:
        errors["password_again"] = _("The two passwords differ: type the same password twice")
    if data is None or errors:
        return _user_form(request, session, admin, shown, errors, status_code=422)
    try:
        user = auth_service.create_user(session=session, actor=admin, data=data, settings=settings)
    except AppError as exc:
        session.rollback()
        fallback = "username" if exc.status_code == 409 else "township_id"
        errors = field_errors(exc, _, fallback=fallback)
        return _user_form(request, session, admin, shown, errors, status_code=exc.status_code)
    return _redirect("/admin/users", created=user.username)


def _user_page(
    request: Request,
    session: SessionDep,
    admin: User,
    user_id: int,
    *,
    values: dict[str, Any] | None = None,
    errors: dict[str, str] | None = None,
    form: str | None = None,
    done: str = "",
    status_code: int = 200,
) -> Response:
    user = auth_service.get_managed_user(session=session, actor=admin, user_id=user_id)
    current = {
        "full_name": user.full_name,
        "phone": user.phone or "",
        "role": user.role.value,
        "township_id": str(user.township_id or ""),
        # a township officer's code follows their township: not offered for editing
        "division_code": "" if user.role is Role.township else user.division_code,
    }
    return render(
        request,
        "admin/user.html",
        {
            "section_tab": "users",
            "person": user,
            "county_names": county_names(session, [user.division_code]),
            "values": values if values is not None else current,
            "errors": errors or {},
            "form": form,
            "done": done,
            "is_self": user.id == admin.id,
            "is_reserved": user.username == auth_service.SYSTEM_USERNAME,
            "roles": _roles(),
            "role_labels": ROLE_LABELS,
            "townships": townships.visible(session, admin),
            "password_min_length": request.app.state.settings.password_min_length,
        },
        status_code=status_code,
    )


@router.get("/admin/users/{user_id}")
def user_page(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    user_id: Id,
    done: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    return _user_page(request, session, admin, user_id, done=done)


def _update(
    request: Request,
    session: SessionDep,
    admin: User,
    user_id: int,
    changes: dict[str, Any],
    *,
    form: str,
    shown: dict[str, Any] | None = None,
    done: str,
    settings: Settings | None = None,
) -> Response:
    """Apply ``changes`` through the service; on a refusal show the page again with the
    message next to the field (or the form) it concerns."""
    _ = gettext(request)
    try:
        data = UserUpdate.model_validate(changes)
        auth_service.update_user(
            session=session, actor=admin, user_id=user_id, data=data, settings=settings
        )
    except ValidationError as exc:
        errors = field_errors(exc, _, fallback=form)
        return _user_page(
            request, session, admin, user_id, values=shown, errors=errors, form=form,
            status_code=422,
        )  # fmt: skip
    except AppError as exc:
        session.rollback()
        if exc.status_code == 404:
            raise
        errors = field_errors(exc, _, fallback=form)
        return _user_page(
            request, session, admin, user_id, values=shown, errors=errors, form=form,
            status_code=exc.status_code,
        )  # fmt: skip
    return _redirect(f"/admin/users/{user_id}", done=done)


@router.post("/admin/users/{user_id}")
def update_user(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    user_id: Id,
    full_name: Annotated[str, Form(max_length=200)] = "",
    phone: Annotated[str, Form(max_length=200)] = "",
    role: Annotated[str, Form(max_length=20)] = "",
    township_id: Annotated[str, Form(max_length=20)] = "",
    division_code: Annotated[str, Form(max_length=20)] = "",
    _csrf: None = Csrf,
) -> Response:
    """Name, phone, role, township and division (a change of role, township or division
    signs the user out; an empty division keeps the one the user has)."""
    changes: dict[str, Any] = {
        "full_name": full_name,
        "phone": phone.strip() or None,
        "township_id": _optional_id(township_id),
        "division_code": _division(role, division_code),
    }
    if role:  # absent for one's own account, whose role is not offered
        changes["role"] = role
    shown = {
        "full_name": full_name,
        "phone": phone,
        "role": role,
        "township_id": township_id,
        "division_code": division_code,
    }
    return _update(
        request, session, admin, user_id, changes, form="account", shown=shown, done="account"
    )


@router.post("/admin/users/{user_id}/password")
def reset_password(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    settings: SettingsDep,
    user_id: Id,
    password: Annotated[str, Form(max_length=200)] = "",
    password_again: Annotated[str, Form(max_length=200)] = "",
    _csrf: None = Csrf,
) -> Response:
    _ = gettext(request)
    if password and password != password_again:
        errors = {"password_again": _("The two passwords differ: type the same password twice")}
        return _user_page(
            request, session, admin, user_id, errors=errors, form="password", status_code=422
        )
    return _update(
        request, session, admin, user_id, {"password": password}, form="password",
        done="password", settings=settings,
    )  # fmt: skip


@router.post("/admin/users/{user_id}/active")
def set_active(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    user_id: Id,
    is_active: Annotated[bool, Form()],
    _csrf: None = Csrf,
) -> Response:
    """Deactivate (signs the user out everywhere) or activate again."""
    done = "activated" if is_active else "deactivated"
    return _update(
        request, session, admin, user_id, {"is_active": is_active}, form="active", done=done
    )


# --- the patrol policy ------------------------------------------------------------------


def _policy_page(
    request: Request,
    session: SessionDep,
    *,
    values: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
    recomputed: int | None = None,
    status_code: int = 200,
) -> Response:
    current = schedule.intervals(session)
    return render(
        request,
        "admin/policy.html",
        {
            "section_tab": "policy",
            "tiers": list(Tier),
            "current": current,
            "values": values or {tier.value: str(days) for tier, days in current.items()},
            "errors": errors or {},
            "recomputed": recomputed,
        },
        status_code=status_code,
    )


@router.get("/admin/policy")
def policy_page(
    request: Request,
    _admin: AdminPageUser,
    session: SessionDep,
    recomputed: Annotated[int | None, Query(ge=0, le=2_147_483_647)] = None,
) -> Response:
    return _policy_page(request, session, recomputed=recomputed)


@router.post("/admin/policy")
def save_policy(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    national: Annotated[str, Form(max_length=20)] = "",
    provincial: Annotated[str, Form(max_length=20)] = "",
    municipal: Annotated[str, Form(max_length=20)] = "",
    county: Annotated[str, Form(max_length=20)] = "",
    unrated: Annotated[str, Form(max_length=20)] = "",
    _csrf: None = Csrf,
) -> Response:
    """The interval (days) of each tier; the due dates of their facilities follow at once."""
    _ = gettext(request)
    typed = {
        Tier.national: national,
        Tier.provincial: provincial,
        Tier.municipal: municipal,
        Tier.county: county,
        Tier.unrated: unrated,
    }
    values = {tier.value: text.strip() for tier, text in typed.items()}
    try:
        data = PoliciesUpdate.model_validate({"intervals": values})
    except ValidationError as exc:
        errors = {
            field: _("Enter a whole number of days from 1 to 366")
            for field in field_errors(exc, _, fallback=Tier.national.value)
        }
        return _policy_page(request, session, values=values, errors=errors, status_code=422)
    count = schedule.set_intervals(session, actor=admin, intervals_days=data.intervals)
    return _redirect("/admin/policy", recomputed=count)


# --- the facility spreadsheet import -------------------------------------------------------


def _upload_limit(request: Request) -> tuple[int, str]:
    """The byte limit the app puts on this form's body, and its sentence for people."""
    for middleware in request.app.user_middleware:
        if middleware.cls is BodyLimitMiddleware:
            limit, _allowed = BodyLimitMiddleware(None, **middleware.kwargs).limit_for(  # type: ignore[arg-type]
                "/admin/import"
            )
            return limit, size_text(limit)
    return 0, ""


def _import_page(
    request: Request,
    *,
    result: importer.ImportResult | None = None,
    file_error: str | None = None,
    skip_invalid: bool = False,
    filename: str = "",
    status_code: int = 200,
) -> Response:
    _ = gettext(request)
    limit, limit_text = _upload_limit(request)
    rows = []
    if result is not None:
        rows = [
            {"row": e.row, "field": _column(e.field, _), "message": _row_message(e, _)}
            for e in result.errors
        ]
    return render(
        request,
        "admin/import.html",
        {
            "section_tab": "import",
            "result": result,
            "rows": rows,
            "bad_rows": len({e.row for e in result.errors}) if result else 0,
            "file_error": file_error,
            "skip_invalid": skip_invalid,
            "filename": filename,
            "limit": limit,
            "limit_text": limit_text,
            "required": [importer.HEADERS[name][0] for name in importer.REQUIRED],
            "optional": [
                aliases[0]
                for name, aliases in importer.HEADERS.items()
                if name not in importer.REQUIRED
            ],
        },
        status_code=status_code,
    )


def _column(field: str, _: Gettext) -> str:
    """A row error's field as the spreadsheet's column heading (``tier`` → 保护级别)."""
    head, _dot, rest = field.partition(".")
    if head == "row":
        return _("Whole row")
    aliases = importer.HEADERS.get(head)
    name = aliases[0] if aliases else head
    return f"{name} {rest}" if rest else name


def _row_message(error: importer.RowError, _: Gettext) -> str:
    match = _NOT_ONE_OF.fullmatch(error.message)
    if match and error.field in _CHOICES and _.locale == "zh_CN":
        choices = "、".join(_CHOICES[error.field].values())
        return _("'%(value)s' is not one of: %(choices)s", value=match["value"], choices=choices)
    return web_errors.translate(error.message, _)


@router.get("/admin/import")
def import_page(request: Request, _admin: AdminPageUser) -> Response:
    return _import_page(request)


@router.get("/admin/import/template.csv")
def import_template(_admin: AdminPageUser) -> Response:
    """An empty spreadsheet with the column headings the import reads."""
    header = [aliases[0] for aliases in importer.HEADERS.values()]
    return csv_response("设施导入模板.csv", "facility_import_template.csv", header, [])


@router.post("/admin/import")
def import_facilities(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    settings: SettingsDep,
    file: Annotated[UploadFile | None, File()] = None,
    skip_invalid: Annotated[bool, Form()] = False,
    _csrf: None = Csrf,
) -> Response:
    """Check every row, then write the good ones in one transaction — or nothing while any
    row is bad, unless ``skip_invalid`` (the CLI's ``--skip-invalid``)."""
    _ = gettext(request)
    name = _safe_name(file.filename if file else "")
    if file is None or not name:
        return _import_page(
            request,
            file_error=_("Choose a .csv or .xlsx file to import"),
            skip_invalid=skip_invalid,
            status_code=422,
        )
    with tempfile.TemporaryDirectory(prefix="memorial-import-") as folder:
        path = Path(folder) / name
        path.write_bytes(file.file.read())
        try:
            result = importer.import_file(
                session=session,
                settings=settings,
                actor=admin,
                path=path,
                skip_invalid=skip_invalid,
            )
        except importer.ImportFileError as exc:
            return _import_page(
                request,
                file_error=web_errors.translate(str(exc), _),
                skip_invalid=skip_invalid,
                filename=name,
                status_code=422,
            )
    return _import_page(
        request,
        result=result,
        skip_invalid=skip_invalid,
        filename=name,
        status_code=200 if result.written else 422,
    )


_UNSAFE = re.compile(r"[\x00-\x1f\x7f/\\:*?\"<>|]")


def _safe_name(filename: str | None) -> str:
    """The uploaded file's own name (the importer's messages quote it), safe as a file name."""
    name = PurePosixPath((filename or "").replace("\\", "/")).name
    name = _UNSAFE.sub("_", name).strip(" .")
    if len(name) > 100:
        stem, dot, suffix = name.rpartition(".")
        name = stem[:90] + dot + suffix[:8] if dot else name[:100]
    return name
