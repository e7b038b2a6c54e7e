"""Rendering pages: one Jinja2 environment per language, and what every page needs.

``render(request, "page.html", {...})`` is the one way a page is answered. It passes the
signed-in user (when there is one), the language, ``_`` bound to it, the formats
(``date``, ``datetime``, ``money``, ``count``, ``distance``, ``label``), the navigation
and ``csrf_token``; it sets the CSRF seed cookie when the page made one.
"""

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from app.models import Role, User
from app.web import i18n
from app.web.i18n import N_, Locale
from app.web.session import csrf_token, set_csrf_cookie

TEMPLATE_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class NavItem:
    path: str
    label: str  # a msgid
    roles: tuple[Role, ...] = (Role.admin, Role.county, Role.township)


#: the left navigation, in the order UI.md gives
NAVIGATION = (
    NavItem("/", N_("Dashboard")),
    NavItem("/map", N_("Map")),
    NavItem("/facilities", N_("Facilities")),
    NavItem("/review", N_("Review")),
    NavItem("/overdue", N_("Overdue")),
    NavItem("/campaigns", N_("Campaigns")),
    NavItem("/maintenance", N_("Maintenance")),
    NavItem("/funds", N_("Funds")),
    NavItem("/annual", N_("Annual report")),
    NavItem("/admin", N_("Administration"), (Role.admin,)),
)


ROLE_LABELS = {
    Role.admin: N_("Administrator"),
    Role.county: N_("County staff"),
    Role.township: N_("Township officer"),
}


def navigation_for(user: User | None) -> list[NavItem]:
    if user is None:
        return []
    return [item for item in NAVIGATION if user.role in item.roles]


def current_section(path: str) -> str:
    """The navigation entry a path belongs to (``/facilities/12`` → ``/facilities``)."""
    best = "/"
    for item in NAVIGATION:
        if item.path != "/" and (path == item.path or path.startswith(item.path + "/")):
            best = item.path
    return best


@cache
def environment(locale: Locale) -> Environment:
    env = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        autoescape=select_autoescape(("html", "svg", "xml")),
        undefined=StrictUndefined,
        extensions=["jinja2.ext.i18n"],
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.install_gettext_translations(i18n.translations(locale), newstyle=True)  # type: ignore[attr-defined]
    return env


def locale_of(request: Request) -> Locale:
    cached = getattr(request.state, "locale", None)
    if cached:
        return cached
    locale = i18n.negotiate(
        request.cookies.get(i18n.LANG_COOKIE), request.headers.get("accept-language")
    )
    request.state.locale = locale
    return locale


def context_for(request: Request, locale: Locale) -> dict[str, Any]:
    settings = request.app.state.settings
    user: User | None = getattr(request.state, "user", None)
    return {
        "request": request,
        "user": user,
        "locale": locale,
        "lang": "zh-CN" if locale == "zh_CN" else "en",
        # the user's county; for a city's or province's staff, MEMORIAL_COUNTY_NAME (the name
        # of the deployment: 沁水县, 晋城市, 山西省)
        "county_name": getattr(request.state, "county_name", None) or settings.county_name,
        "navigation": navigation_for(user),
        "role_label": ROLE_LABELS.get(user.role, "") if user else "",
        "user_township": getattr(request.state, "township_name", None),
        "section": current_section(request.url.path),
        "current_url": request.url.path + (f"?{request.url.query}" if request.url.query else ""),
        "csrf_token": csrf_token(request),
        # a moment (an aware datetime) is dated in county time, not UTC
        "date": lambda value: i18n.format_date(
            value.astimezone(settings.tz)
            if isinstance(value, datetime) and value.tzinfo
            else value,
            locale,
        ),
        "datetime": lambda value: i18n.format_datetime(value, locale, settings.tz),
        "money": i18n.format_money,
        "count": lambda n, unit, over=None: i18n.format_count(n, unit, locale, over),
        "distance": lambda metres: i18n.format_distance(metres, locale),
        "label": lambda value: i18n.enum_label(value, locale),
    }


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    locale = locale_of(request)
    values = context_for(request, locale)
    values.update(context or {})
    body = environment(locale).get_template(template).render(values)
    response = HTMLResponse(body, status_code=status_code, headers=dict(headers or {}))
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Content-Language", values["lang"])
    response.headers.setdefault("Vary", "Cookie, Accept-Language")
    set_csrf_cookie(request, response)
    return response


def gettext(request: Request) -> i18n.Gettext:
    """``_`` for Python code of a page (flash texts, labels built in a route)."""
    return i18n.gettext_for(locale_of(request))
