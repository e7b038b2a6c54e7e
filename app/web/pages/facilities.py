"""Pages: facilities (设施) — the registry's list, a facility's page, its edit form, archiving.

Everything goes through ``app/facilities/service.py`` (and the inspections, maintenance and
audit services for a facility's history) with the request's session. A township officer
sees only their own township (another township's facility is the 404 page) and is offered
only the fields the service lets them change (``TOWNSHIP_EDITABLE``); a form that sends
others anyway is refused, as the API refuses it.
"""

import dataclasses
from datetime import date
from typing import Annotated, Any, Literal

import segno
from fastapi import APIRouter, Depends, Form, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy import func, select
from sqlmodel import Session

from app import access, listing, standard
from app.audit import service as audit
from app.clock import local_today
from app.config import Settings
from app.deps import SessionDep, SettingsDep
from app.errors import AppError, Forbidden, InvalidInput
from app.facilities import completeness, service
from app.facilities.completeness import COLLECTION_FIELDS
from app.facilities.schemas import TOWNSHIP_EDITABLE, FacilitySort, FacilityUpdate
from app.inspections import service as inspections
from app.maintenance import service as maintenance
from app.models import (
    Crs,
    Facility,
    FacilityKind,
    FacilityStatus,
    MaintenanceOrder,
    OrderStatus,
    Photo,
    Tier,
    User,
)
from app.models.enums import HeadstoneType, MainMaterial, ProtectionUnitType
from app.plates import codes, urls
from app.schemas import Id, Offset, SafeText
from app.townships import service as townships
from app.web import errors as web_errors
from app.web.forms import Blank, whole_number
from app.web.i18n import N_, Gettext
from app.web.session import Csrf, PageUser
from app.web.templating import gettext, render

router = APIRouter()

PAGE_SIZE = 50
#: rows of a facility's inspection and maintenance history per page
HISTORY_SIZE = 10
#: "due within 7 days" (UI.md): amber on the list and the facility page
DUE_SOON_DAYS = 7


web_errors.register(
    (
        r"Township users may not change (?P<fields>.+); ask the county bureau",
        N_("Township officers may not change %(fields)s; ask the county bureau"),
    ),
    (r"Facility (?P<id>\d+) not found", N_("Facility %(id)s was not found")),
    (r"Township (?P<id>\d+) not found", N_("Township %(id)s was not found")),
    (r"\w+ cannot be empty", N_("This cannot be left empty")),
    (r"There is no township with id (?P<id>\d+)", N_("There is no township with id %(id)s")),
    (
        r"A facility with code '(?P<code>.*)' already exists( \(id \d+\))?",
        N_("Another facility already has the code %(code)s"),
    ),
    (
        r"The registration date (?P<day>\S+) is in the future",
        N_("The registration date %(day)s is in the future"),
    ),
    (
        r"The management rule's adoption date (?P<day>\S+) is in the future",
        N_("The management rule's adoption date %(day)s is in the future"),
    ),
    (
        r"The point \((?P<lon>\S+), (?P<lat>\S+)\) in WGS-84(, converted from \w+)? is "
        r"(?P<outside>\S+) km outside the county (?P<county>.+) \(more than the (?P<margin>\S+) "
        r"km allowed\); check the coordinates and their coordinate system \(crs\)",
        N_(
            "The point (%(lon)s, %(lat)s) lies %(outside)s km outside %(county)s (more than "
            "the %(margin)s km allowed); check the coordinates and their coordinate system"
        ),
    ),
    (
        r"(Value error, )?send longitude and latitude together",
        N_("Enter the longitude and the latitude together"),
    ),
    (
        r"(Value error, )?longitude and latitude cannot be cleared",
        N_("The longitude and latitude cannot be left empty"),
    ),
    (
        r"(Value error, )?must not contain control characters",
        N_("The text contains characters that cannot be stored"),
    ),
)

#: the report flags a reviewer looks for (app/inspections/service.py judge_position)
FLAG_LABELS = {
    "off_site": N_("Off site"),
    "probable_gcj02": N_("Probably GCJ-02 coordinates"),
    "no_position": N_("No position"),
    "low_accuracy": N_("Low position accuracy"),
    "scanned_plate": N_("Plate scanned"),
}

#: the form's fields and their labels, in the order the form shows them
FIELD_LABELS = {
    "code": N_("Code"),
    "name": N_("Name"),
    "kind": N_("Kind"),
    "tier": N_("Tier"),
    "status": N_("Status"),
    "township_id": N_("Township"),
    "registered_on": N_("Registered on"),
    "year_built": N_("Year built"),
    "village": N_("Village"),
    "address": N_("Address"),
    "longitude": N_("Longitude"),
    "latitude": N_("Latitude"),
    "crs": N_("Coordinate system"),
    "custodian_name": N_("Custodian"),
    "custodian_phone": N_("Custodian's phone"),
    "martyrs": N_("Martyrs"),
    "description": N_("Description"),
    # the national collection's fields (app/facilities/completeness.py COLLECTION_FIELDS)
    "protection_unit": N_("Protection unit type"),
    "headstone_type": N_("Headstone type"),
    "commemorates": N_("Commemorates"),
    "area_m2": N_("Area (m²)"),
    "main_material": N_("Main material"),
    "dimensions": N_("Dimensions"),
    "boundary_description": N_("Protection boundary"),
    "management_rule": N_("Management rule"),
    "management_rule_on": N_("Rule adopted on"),
}
#: the collection's fields by their msgids (their Chinese is COLLECTION_FIELDS' label)
COLLECTION_LABELS = {
    **{name: FIELD_LABELS[name] for name in COLLECTION_FIELDS if name in FIELD_LABELS},
    "record_photo_id": N_("Panorama or front photo"),
}
LOCATION = ("longitude", "latitude", "crs")

#: the form's sections
FIELD_GROUPS = (
    (
        N_("Basic information"),
        ("code", "name", "kind", "tier", "status", "township_id", "registered_on", "year_built"),
    ),
    (N_("Location"), ("village", "address", "longitude", "latitude", "crs")),
    (
        N_("Custody"),
        ("custodian_name", "custodian_phone", "management_rule", "management_rule_on"),
    ),
    (N_("Martyrs and description"), ("martyrs", "description")),
    (
        N_("National collection"),
        (
            "protection_unit",
            "headstone_type",
            "commemorates",
            "area_m2",
            "main_material",
            "dimensions",
            "boundary_description",
        ),
    ),
)
FIELD_HINTS = {
    "martyrs": N_("One martyr a line, any note after a colon: 张三：1947年牺牲"),
    "crs": N_("The system the coordinates are given in; they are stored converted to WGS-84"),
    "code": N_("Letters, digits, dots, dashes and underscores"),
    "management_rule": N_("The rule's title or a short summary, e.g. 烈士零散墓看护管理制度"),
    "dimensions": N_("Length × width × height, e.g. 1.2 m × 0.6 m × 1.5 m"),
    "boundary_description": N_("The protection boundary in words, e.g. 墓基外延 5 米"),
}

CRS_LABELS = {
    Crs.wgs84: N_("WGS-84 (GPS)"),
    Crs.gcj02: N_("GCJ-02 (AMap, Tencent, WeChat)"),
    Crs.bd09: N_("BD-09 (Baidu)"),
}


# --- what a facility's state reads as ------------------------------------------------------


def patrol_state(facility: Facility, today: date) -> str:
    """``overdue``, ``due-soon``, ``ok`` or — not patrolled — ``inactive``."""
    if facility.status is not FacilityStatus.active:
        return "inactive"
    days = (today - facility.next_due_on).days
    if days > 0:
        return "overdue"
    return "due-soon" if days >= -DUE_SOON_DAYS else "ok"


@dataclasses.dataclass(frozen=True)
class Row:
    facility: Facility
    state: str
    days_overdue: int


def _row(facility: Facility, today: date) -> Row:
    state = patrol_state(facility, today)
    days = (today - facility.next_due_on).days if state == "overdue" else 0
    return Row(facility, state, days)


# --- the list ------------------------------------------------------------------------------


@router.get("/facilities")
def facility_list(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    q: Annotated[SafeText, Query(max_length=100)] = "",
    township_id: Annotated[Id | None, Blank, Query()] = None,
    tier: Annotated[Tier | None, Blank, Query()] = None,
    kind: Annotated[FacilityKind | None, Blank, Query()] = None,
    status: Annotated[FacilityStatus | None, Blank, Query()] = None,
    overdue: Annotated[Literal["yes", "no"] | None, Blank, Query()] = None,
    sort: Annotated[FacilitySort, Query()] = "code",
    offset: Annotated[Offset, Query()] = 0,
) -> Response:
    today = local_today(settings.tz)
    filters = service.FacilityFilters(
        township_id=township_id,
        tier=tier,
        kind=kind,
        status=status,
        q=q.strip() or None,
        overdue={"yes": True, "no": False}.get(overdue or ""),
    )
    listed = service.list_facilities(
        session=session,
        user=user,
        filters=filters,
        sort=sort,
        window=listing.Window(limit=PAGE_SIZE, offset=offset, count_limit=settings.count_limit),
        today=today,
    )
    overdue_listed = listed
    if filters.overdue is None:
        overdue_listed = service.list_facilities(
            session=session,
            user=user,
            filters=dataclasses.replace(filters, overdue=True),
            sort=sort,
            window=listing.Window(limit=0, offset=0, count_limit=settings.count_limit),
            today=today,
        )
    elif not filters.overdue:
        overdue_listed = listing.Listed(rows=[], total=0)
    query = {
        key: value
        for key, value in (
            ("q", q.strip()),
            ("township_id", township_id),
            ("tier", tier),
            ("kind", kind),
            ("status", status),
            ("overdue", overdue),
        )
        if value not in (None, "")
    }
    return render(
        request,
        "facilities/list.html",
        {
            "rows": [_row(f, today) for f in listed.rows],
            "total": listed.total,
            "total_over": listed.total_over,
            "more": listed.next is not None,
            "overdue_total": overdue_listed.total,
            "overdue_over": overdue_listed.total_over,
            "offset": offset,
            "limit": PAGE_SIZE,
            "query": query,
            "sort": sort,
            "filtered": bool(query),
            "townships": townships.visible(session, user),
            "is_staff": access.is_staff(user),
            "tiers": list(Tier),
            "kinds": list(FacilityKind),
            "statuses": list(FacilityStatus),
        },
    )


# --- one facility --------------------------------------------------------------------------

#: notices a change leaves for the facility page (``?notice=``)
NOTICES = {
    "saved": N_("The changes have been saved."),
    "unchanged": N_("Nothing was changed."),
    "archived": N_("The facility has been archived. It is no longer patrolled."),
    "photo": N_("The record photo has been set."),
}


def order_money(session: Session, facility_id: int) -> dict[str, int]:
    """What the facility's orders have spent (completed) and still hold (approved, under
    way), in fen: one grouped query however many orders it has."""
    rows = session.execute(
        select(
            MaintenanceOrder.status,
            func.count(),
            func.coalesce(func.sum(MaintenanceOrder.planned_cost_fen), 0),
            func.coalesce(func.sum(MaintenanceOrder.actual_cost_fen), 0),
        )
        .where(MaintenanceOrder.facility_id == facility_id)
        .group_by(MaintenanceOrder.status)
    ).all()
    # PostgreSQL sums a BIGINT as NUMERIC (a Decimal): fen are whole numbers, so int()
    by_status = {
        OrderStatus(status): (n, int(planned), int(actual)) for status, n, planned, actual in rows
    }
    held = (OrderStatus.approved, OrderStatus.in_progress)
    return {
        "spent_fen": by_status.get(OrderStatus.completed, (0, 0, 0))[2],
        "completed": by_status.get(OrderStatus.completed, (0, 0, 0))[0],
        "committed_fen": sum(by_status.get(s, (0, 0, 0))[1] for s in held),
        "open": sum(by_status.get(s, (0, 0, 0))[0] for s in maintenance.OPEN),
    }


@router.get("/facilities/{facility_id}")
def facility_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    facility_id: Id,
    reports_offset: Annotated[Offset, Query()] = 0,
    orders_offset: Annotated[Offset, Query()] = 0,
    notice: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    facility = service.get_facility(session=session, user=user, facility_id=facility_id)
    today = local_today(settings.tz)
    reports, reports_total = inspections.list_inspections(
        session=session,
        user=user,
        filters=inspections.InspectionFilters(facility_id=facility_id),
        window=listing.Window(limit=HISTORY_SIZE, offset=reports_offset),
    )
    orders, orders_total = maintenance.list_orders(
        session=session,
        user=user,
        filters=maintenance.OrderFilters(facility_id=facility_id),
        today=today,
        window=listing.Window(limit=HISTORY_SIZE, offset=orders_offset),
    )
    changes: list[Any] = []
    if access.is_staff(user):  # the audit log is the county's (as GET /api/v1/audit)
        changes, _ = audit.list_entries(
            session=session,
            object_type="facility",
            object_id=str(facility_id),
            actor_id=None,
            action=None,
            since=None,
            until=None,
            window=listing.Window(limit=HISTORY_SIZE, offset=0),
        )
    _ = gettext(request)
    plate_url = plate_url_of(request, settings, facility_id)
    return render(
        request,
        "facilities/detail.html",
        {
            "f": facility,
            "standing": standard.standing(session, facility),
            "six_labels": SIX_LABELS,
            "record": completeness.of_facility(facility),
            "collection_labels": COLLECTION_LABELS,
            "photos": facility_photos(session, facility_id),
            "record_photo": record_photo_of(session, facility),
            "plate_code": codes.encode(facility_id),
            "plate_url": plate_url,
            "plate_svg": plate_svg(plate_url, _("QR code of the plate: %(url)s", url=plate_url)),
            "row": _row(facility, today),
            "due_in": (facility.next_due_on - today).days,
            "reports": reports,
            "reports_total": reports_total,
            "reports_offset": reports_offset,
            "orders": orders,
            "orders_total": orders_total,
            "orders_offset": orders_offset,
            "page_size": HISTORY_SIZE,
            "spend": order_money(session, facility_id),
            "changes": changes,
            "change_fields": _changed_fields,
            "action_labels": ACTION_LABELS,
            "flag_labels": FLAG_LABELS,
            "crs_labels": CRS_LABELS,
            "notice": _(NOTICES[notice]) if notice in NOTICES else None,
            "can_archive": access.is_staff(user) and facility.status is not FacilityStatus.archived,
            "tile_url": settings.tile_url,
            "tile_attribution": settings.tile_attribution,
            "today": today,
        },
    )


#: the "六个一" items as the page names them (their Chinese is app.standard.SIX_LABELS_ZH)
SIX_LABELS = {
    standard.SixItem.sign: N_("A clear sign"),
    standard.SixItem.biography: N_("A biography of the martyrs"),
    standard.SixItem.headstone: N_("A proper headstone"),
    standard.SixItem.boundary: N_("A protection boundary"),
    standard.SixItem.management: N_("A management rule"),
    standard.SixItem.access: N_("An access path"),
}
#: how many of a facility's photos the page offers as its record photo (newest first)
PHOTO_CHOICES = 24


def plate_url_of(request: Request, settings: Settings, facility_id: int) -> str:
    """The short URL a facility's plate holds: ``{public_url or this site}/f/{code}``."""
    return f"{urls.base_url(request, settings)}/f/{codes.encode(facility_id)}"


def plate_svg(url: str, title: str) -> str:
    """The plate's QR code as inline SVG (error correction H: a weathered plate still reads)."""
    return segno.make(url, error="h").svg_inline(
        scale=4, title=title, svgclass="plate-qr", lineclass=None, omitsize=False
    )


def facility_photos(session: Session, facility_id: int) -> list[Photo]:
    """The facility's photos (its reports' and its orders'), newest first."""
    return list(
        session.scalars(
            select(Photo)
            .where(Photo.facility_id == facility_id)
            .order_by(Photo.id.desc())
            .limit(PHOTO_CHOICES)
        )
    )


def record_photo_of(session: Session, facility: Facility) -> Photo | None:
    """The facility's record photo, if it still has it (a photo removed since is not
    shown, as the record's completeness still counts the choice)."""
    if facility.record_photo_id is None:
        return None
    photo = session.get(Photo, facility.record_photo_id)
    return photo if photo is not None and photo.facility_id == facility.id else None


#: what an audit entry of a facility did, and the fields it changed, as the page names them
ACTION_LABELS = {
    "facility.create": N_("Registered"),
    "facility.update": N_("Changed"),
    "facility.archive": N_("Archived"),
}
CHANGE_LABELS = {
    **{name: label for name, label in FIELD_LABELS.items() if name not in LOCATION},
    "location": N_("Location"),
    "next_due_on": N_("Next due date"),
    "record_photo_id": COLLECTION_LABELS["record_photo_id"],
}


def _changed_fields(entry: Any) -> list[str]:
    """The fields an audit entry changed (their msgids), in the form's order."""
    keys = set((entry.after or {}).keys()) | set((entry.before or {}).keys())
    names = {
        "location" if k in ("longitude", "latitude") or k.startswith("source_") else k for k in keys
    }
    return [label for name, label in CHANGE_LABELS.items() if name in names]


# --- the edit form -------------------------------------------------------------------------


async def posted_fields(request: Request) -> dict[str, str]:
    """The posted form's text fields (read in full before the route runs)."""
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


PostedFields = Annotated[dict[str, str], Depends(posted_fields)]


def offered_fields(user: User) -> list[str]:
    """The fields the form offers ``user``: all for county staff, the service's
    ``TOWNSHIP_EDITABLE`` for a township officer."""
    if access.is_staff(user):
        return list(FIELD_LABELS)
    return [name for name in FIELD_LABELS if name in TOWNSHIP_EDITABLE]


def martyrs_text(martyrs: list[dict[str, Any]]) -> str:
    """One martyr a line: ``name：note``."""
    return "\n".join(m["name"] + (f"：{m['note']}" if m.get("note") else "") for m in martyrs or [])


def parse_martyrs(text: str) -> list[dict[str, Any]]:
    """The textarea back into ``[{"name", "note"}]``: a line each, the note after a colon."""
    martyrs = []
    for line in text.splitlines():
        line = line.strip()
        if not line:
            continue
        name, _sep, note = line.replace("：", ":").partition(":")
        martyrs.append({"name": name.strip(), "note": note.strip() or None})
    return martyrs


def current_values(facility: Facility) -> dict[str, str]:
    """The form's fields as the facility has them (the location as it was given)."""
    return {
        "code": facility.code,
        "name": facility.name,
        "kind": facility.kind.value,
        "tier": facility.tier.value,
        "status": facility.status.value,
        "township_id": str(facility.township_id),
        "registered_on": facility.registered_on.isoformat(),
        "year_built": "" if facility.year_built is None else str(facility.year_built),
        "village": facility.village or "",
        "address": facility.address or "",
        "longitude": repr(facility.source_longitude),
        "latitude": repr(facility.source_latitude),
        "crs": facility.source_crs.value,
        "custodian_name": facility.custodian_name or "",
        "custodian_phone": facility.custodian_phone or "",
        "martyrs": martyrs_text(facility.martyrs),
        "description": facility.description or "",
        "protection_unit": _enum_text(facility.protection_unit),
        "headstone_type": _enum_text(facility.headstone_type),
        "commemorates": facility.commemorates or "",
        "area_m2": "" if facility.area_m2 is None else f"{facility.area_m2:g}",
        "main_material": _enum_text(facility.main_material),
        "dimensions": facility.dimensions or "",
        "boundary_description": facility.boundary_description or "",
        "management_rule": facility.management_rule or "",
        "management_rule_on": (
            "" if facility.management_rule_on is None else facility.management_rule_on.isoformat()
        ),
    }


def _enum_text(value: Any) -> str:
    return "" if value is None else str(value.value)


def _typed(name: str, text: str) -> Any:
    """A form value as the update schema takes it; what does not convert is passed on as
    text, so the schema names the field and the rule."""
    text = text.replace("\r\n", "\n").strip()
    if name == "martyrs":
        return parse_martyrs(text)
    if text == "":
        return None
    if name in ("year_built", "township_id"):
        number = whole_number(text)
        return text if number is None else number
    if name in ("longitude", "latitude", "area_m2"):
        try:
            return float(text)
        except ValueError:
            return text
    if name in ("registered_on", "management_rule_on"):
        try:
            return date.fromisoformat(text)
        except ValueError:
            return text
    return text


def _stored(facility: Facility, name: str) -> Any:
    """The facility's value of a form field, typed as ``_typed`` makes it."""
    if name in LOCATION:
        value = getattr(facility, f"source_{name}")
    elif name == "martyrs":
        return [{"name": m["name"], "note": m.get("note") or None} for m in facility.martyrs]
    else:
        value = getattr(facility, name)
    return value.value if hasattr(value, "value") else value


def changes_from(facility: Facility, posted: dict[str, str]) -> dict[str, Any]:
    """The fields the form changes. The location moves as one: longitude, latitude and
    their coordinate system together, or not at all."""
    typed = {name: _typed(name, posted[name]) for name in FIELD_LABELS if name in posted}
    changes = {name: value for name, value in typed.items() if value != _stored(facility, name)}
    if any(name in changes for name in LOCATION):
        for name in LOCATION:
            changes[name] = typed.get(name)
        changes["crs"] = changes["crs"] or facility.source_crs.value
    return changes


def field_errors(exc: ValidationError, _: Gettext) -> dict[str, str]:
    """The schema's complaints, by field, in the page's language."""
    found: dict[str, str] = {}
    for error in exc.errors():
        loc = [str(p) for p in error["loc"]]
        field = loc[0] if loc and loc[0] in FIELD_LABELS else "form"
        found.setdefault(field, _schema_message(error, field, _))
    return found


#: the bounds of the form's numbers (app/facilities/schemas.py)
NUMBER_RANGES = {
    "year_built": (1840, 2100),
    "longitude": (-180, 180),
    "latitude": (-90, 90),
    "area_m2": (0, 10_000_000),
}


def _schema_message(error: Any, field: str, _: Gettext) -> str:
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "string_too_long":
        return _("At most %(n)s characters", n=ctx.get("max_length"))
    if kind == "string_too_short" or kind == "too_short":
        return _("This cannot be left empty")
    if kind == "too_long":
        return _("At most %(n)s entries", n=ctx.get("max_length"))
    if kind == "string_pattern_mismatch":
        if field == "code":
            return _("Use letters, digits, dots, dashes and underscores only")
        return _("Enter a phone number: digits, spaces and dashes")
    if kind in ("greater_than_equal", "less_than_equal") and field in NUMBER_RANGES:
        low, high = NUMBER_RANGES[field]
        return _("Enter a number from %(low)s to %(high)s", low=low, high=high)
    if kind in ("greater_than_equal", "less_than_equal") and field in (
        "registered_on",
        "management_rule_on",
    ):
        return _("Enter a date between 1900 and 2100")
    if kind in ("int_parsing", "int_from_float", "float_parsing", "finite_number"):
        return _("Enter a number")
    if kind in ("date_from_datetime_parsing", "date_parsing", "date_type"):
        return _("Enter a date such as 2025-04-04")
    if kind == "enum":
        return _("Choose one of the options")
    return web_errors.translate(str(error.get("msg", "")), _)


def _edit_form(
    request: Request,
    session: Session,
    user: User,
    facility: Facility,
    values: dict[str, str],
    *,
    errors: dict[str, str] | None = None,
    status_code: int = 200,
) -> Response:
    offered = offered_fields(user)
    return render(
        request,
        "facilities/edit.html",
        {
            "f": facility,
            "values": values,
            "errors": errors or {},
            "offered": offered,
            "labels": FIELD_LABELS,
            "groups": FIELD_GROUPS,
            "hints": FIELD_HINTS,
            "fixed": [name for name in FIELD_LABELS if name not in offered],
            "townships": townships.visible(session, user) if "township_id" in offered else [],
            "tiers": list(Tier),
            "kinds": list(FacilityKind),
            # archiving is its own step, with its confirmation
            "statuses": [
                s
                for s in FacilityStatus
                if s is not FacilityStatus.archived or facility.status is s
            ],
            "crs_labels": CRS_LABELS,
            "enum_choices": {
                "protection_unit": list(ProtectionUnitType),
                "headstone_type": list(HeadstoneType),
                "main_material": list(MainMaterial),
            },
        },
        status_code=status_code,
    )


@router.get("/facilities/{facility_id}/edit")
def edit_page(request: Request, session: SessionDep, user: PageUser, facility_id: Id) -> Response:
    facility = service.get_facility(session=session, user=user, facility_id=facility_id)
    return _edit_form(request, session, user, facility, current_values(facility))


@router.post("/facilities/{facility_id}/edit")
def save_edit(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    facility_id: Id,
    posted: PostedFields,
    _csrf: None = Csrf,
) -> Response:
    facility = service.get_facility(session=session, user=user, facility_id=facility_id)
    changes = changes_from(facility, posted)
    if not access.is_staff(user):
        # as the service refuses it (a form of ours never offers these fields)
        refused = [n for n in FIELD_LABELS if n in posted and n not in TOWNSHIP_EDITABLE]
        if refused:
            raise Forbidden(
                "Township users may not change " + ", ".join(refused) + "; ask the county bureau"
            )
    values = current_values(facility) | {k: v for k, v in posted.items() if k in FIELD_LABELS}
    _ = gettext(request)
    try:
        data = FacilityUpdate.model_validate(changes)
    except ValidationError as exc:
        errors = field_errors(exc, _)
        return _edit_form(request, session, user, facility, values, errors=errors, status_code=422)
    errors, status_code = _problems(session, settings, user, facility, data, _)
    if errors:
        return _edit_form(
            request, session, user, facility, values, errors=errors, status_code=status_code
        )
    if not changes:
        return RedirectResponse(f"/facilities/{facility_id}?notice=unchanged", status_code=303)
    try:
        service.update_facility(
            session=session, settings=settings, actor=user, facility_id=facility_id, data=data
        )
    except AppError as exc:
        session.rollback()
        errors = {"form": web_errors.translate(exc.detail, _)}
        return _edit_form(
            request, session, user, facility, values, errors=errors, status_code=exc.status_code
        )
    return RedirectResponse(f"/facilities/{facility_id}?notice=saved", status_code=303)


def _problems(
    session: Session,
    settings: Settings,
    user: User,
    facility: Facility,
    data: FacilityUpdate,
    _: Gettext,
) -> tuple[dict[str, str], int]:
    """The service's own checks of the change, by field (all of them, not just the first)."""
    found = service.problems(
        session=session,
        settings=settings,
        values=data.model_dump(exclude_unset=True),
        facility=facility,
        user=user,
    )
    errors: dict[str, str] = {}
    for problem in found:
        field = problem.field if problem.field in FIELD_LABELS else "form"
        errors.setdefault(field, web_errors.translate(problem.message, _))
    return errors, (found[0].error.status_code if found else 200)


# --- the record photo ----------------------------------------------------------------------

web_errors.register(
    (
        r"Photo (?P<id>\d+) is not a photo of this facility( \(record_photo_id\))?",
        N_("Photo %(id)s is not a photo of this facility"),
    ),
)


@router.post("/facilities/{facility_id}/record-photo")
def set_record_photo(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: PageUser,
    facility_id: Id,
    photo_id: Annotated[Id, Form()],
    _csrf: None = Csrf,
) -> Response:
    """Mark one of the facility's photos as its record photo (全景/正面照片). County staff
    and the officers of its township may (another township's facility is the 404 page);
    the service's rules for ``record_photo_id`` apply as for PATCH."""
    facility = service.get_facility(
        session=session, user=user, facility_id=facility_id, for_update=True
    )
    photo = session.get(Photo, photo_id)
    if photo is None or photo.facility_id != facility_id:
        # checked here too: an id from another facility (or none) never becomes the record
        raise InvalidInput(
            ("body", "photo_id"), f"Photo {photo_id} is not a photo of this facility"
        )
    if facility.record_photo_id != photo_id:
        data = FacilityUpdate(record_photo_id=photo_id)
        service.update_facility(
            session=session, settings=settings, actor=user, facility_id=facility_id, data=data
        )
    return RedirectResponse(f"/facilities/{facility_id}?notice=photo#record-photo", 303)


# --- archiving -----------------------------------------------------------------------------


def _archivable(session: Session, user: User, facility_id: int) -> Facility:
    """The facility, if ``user`` may archive it: 404 outside their township first, then
    403 for anyone but county staff (as ``DELETE /api/v1/facilities/{id}``)."""
    facility = service.get_facility(session=session, user=user, facility_id=facility_id)
    if not access.is_staff(user):
        raise Forbidden("Only county staff may archive a facility")
    return facility


web_errors.register(
    (
        r"Only county staff may archive a facility",
        N_("Only county staff may archive a facility"),
    ),
)


@router.get("/facilities/{facility_id}/archive")
def archive_page(
    request: Request, session: SessionDep, user: PageUser, facility_id: Id
) -> Response:
    facility = _archivable(session, user, facility_id)
    return render(request, "facilities/archive.html", {"f": facility, "error": None})


@router.post("/facilities/{facility_id}/archive")
def archive(
    request: Request,
    session: SessionDep,
    user: PageUser,
    facility_id: Id,
    confirm: Annotated[str, Form(max_length=10)] = "",
    _csrf: None = Csrf,
) -> Response:
    facility = _archivable(session, user, facility_id)
    if confirm != "yes":
        _ = gettext(request)
        error = _("Tick the box to confirm that this facility is to be archived")
        return render(
            request,
            "facilities/archive.html",
            {"f": facility, "error": error},
            status_code=422,
        )
    service.archive_facility(session=session, actor=user, facility_id=facility_id)
    return RedirectResponse(f"/facilities/{facility_id}?notice=archived", status_code=303)
