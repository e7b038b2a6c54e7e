"""The inspector's phone form (巡查上报) at ``/m/``: offline first, nothing lost, nothing doubled.

The page is a shell that holds no one's data (the checklist, the conditions, the words its
scripts show), so a service worker (``/m/sw.js``, scope ``/m/``) can keep it and open it
with no signal. Who is signed in comes from ``/m/session.json``; the facilities come from
the map feed (``/api/v1/map/facilities.geojson``, scoped to the inspector's township);
both are kept in the phone's IndexedDB for the hills.

A report is stored on the phone first (IndexedDB, with a new ``client_id`` and its photos
already scaled to 1,600 px JPEG), then sent: the report, then each photo, each retried
until the server answers (``app/static/phone/outbox.js``). Resending is harmless: the
server answers a known ``client_id`` with the stored report (DESIGN rule 5). The scripts
write to the API with the session cookie and the browser's CSRF token in
``X-CSRF-Token`` (``app.deps.get_current_user``); the API answers them in Chinese.

Signing in at ``/m/signin`` keeps a township inspector's phone signed in for
``MEMORIAL_PHONE_SESSION_DAYS`` (30 days; county staff and admins get the pages' usual
``MEMORIAL_TOKEN_TTL_MINUTES``): the same revocable token as everywhere, ended by a
password, role or township change or by deactivation. A report queued when the session
ends waits, says so, and goes out after the inspector signs in again.

Photos: the file input offers the camera and the phone's gallery both (no ``capture``
attribute), so a picture taken earlier with the camera app can be attached too; the
camera's EXIF capture time and GPS are carried into the scaled JPEG, upright.

The page's own files are small and served gzipped from memory with an ETag; a service
worker and geolocation need HTTPS (or ``localhost``), as the README says.
"""

import gzip
import hashlib
import json
from dataclasses import dataclass
from datetime import timedelta
from functools import cache
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Form, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from app.deps import SESSION_COOKIE, DatabaseDep, SettingsDep, user_for_token
from app.errors import NotFound, Unauthorized
from app.geo.responses import accepts_gzip
from app.models import ChecklistAnswer, ChecklistItem, Condition, Role, Township, User
from app.security import decode_access_token
from app.web import errors as web_errors
from app.web import signin
from app.web.i18n import N_, enum_label
from app.web.session import Csrf, clear_session, csrf_token, safe_next, set_csrf_cookie
from app.web.templating import TEMPLATE_DIR, gettext, locale_of, render

router = APIRouter(prefix="/m")

ASSET_DIR = Path(__file__).resolve().parents[2] / "static" / "phone"
#: the page's own files, served from ``/m/`` so that the service worker's scope holds them
_MEDIA_TYPES = {
    "app.js": "text/javascript; charset=utf-8",
    "outbox.js": "text/javascript; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
    "app.css": "text/css; charset=utf-8",
    "icon.svg": "image/svg+xml",
    "icon-192.png": "image/png",
    "icon-512.png": "image/png",
    "jsQR.js": "text/javascript; charset=utf-8",
}
#: vendored files served among the page's own (gzipped, and so kept by the service worker):
#: jsQR reads a plate's QR code where the browser has no ``BarcodeDetector``
VENDOR_DIR = ASSET_DIR.parent / "vendor"
_VENDORED = {"jsQR.js": VENDOR_DIR / "jsqr" / "jsQR.js"}
_COMPRESSIBLE = ("text/", "image/svg+xml", "application/manifest+json", "application/json")
HOME = "/m/"

ANSWER_LABELS = {
    ChecklistAnswer.ok: N_("Sound"),
    ChecklistAnswer.problem: N_("Problem"),
    ChecklistAnswer.na: N_("Not applicable"),
}

#: the words the scripts show, in the page's language (passed in ``data-strings``)
SCRIPT_STRINGS = {
    "waiting": N_("Waiting to send"),
    "sending": N_("Sending…"),
    "sent": N_("Sent"),
    "sent_at": N_("Sent at"),
    "refused": N_("Not accepted"),
    "receipt": N_("Receipt"),
    "signin_needed": N_("Sign in again to send the waiting reports"),
    "other_user": N_("Saved by another inspector on this phone: waits for them to sign in"),
    "offline": N_("No signal: reports are kept on this phone and sent when the signal returns"),
    "photo": N_("Photo"),
    "photos": N_("photos"),
    "resend": N_("Send again"),
    "edit": N_("Fix and send again"),
    "delete": N_("Delete"),
    "drop_photo": N_("Send without this photo"),
    "confirm_delete": N_("Delete this report from the phone? It has not reached the county."),
    "confirm_signout": N_("Reports are still waiting on this phone. Sign out anyway?"),
    "position_wait": N_("Finding your position…"),
    "position_none": N_("No position: the report can still be sent, and will be marked"),
    "position_ok": N_("Position found, accuracy ±%(metres)s m"),
    "overdue": N_("overdue %(days)s days"),
    "no_sites": N_("No facilities in your township yet"),
    "no_match": N_("No facility matches"),
    "list_cached": N_("Facility list from %(when)s"),
    "too_many_photos": N_("At most 8 photos per report"),
    "not_image": N_("This file is not a photo"),
    "choose_condition": N_("Choose the condition you found"),
    "choose_site": N_("Choose the facility"),
    "saved": N_("Saved on this phone; it is sent as soon as there is signal"),
    "remove_photo": N_("Remove photo"),
    "refused_count": N_("%(count)s reports were not accepted: see below"),
    "try_later": N_("The server did not answer; trying again shortly"),
    "storage_failed": N_("The phone could not save the report: free some storage and try again"),
    "storage_unavailable": N_(
        "This browser cannot keep reports on the phone (a private window?): "
        "open the form in the phone's normal browser"
    ),
    "scanned": N_("Scanned · plate %(code)s"),
    "plate_invalid": N_("%(code)s is not a plate code: check the 8 characters"),
    "plate_elsewhere": N_(
        "The facility of plate %(code)s is not in your list: it belongs to another township,"
        " or is no longer patrolled"
    ),
    "scan_looking": N_("Point the camera at the QR code on the plate"),
    "not_a_plate": N_("This QR code is not a plate of these facilities: point at the site's plate"),
    "camera_unavailable": N_(
        "The camera cannot be used (not allowed, or no camera): type the 8-character code"
        " printed on the plate"
    ),
    "reader_unavailable": N_(
        "The QR reader could not be loaded: type the 8-character code printed on the plate"
    ),
    "metres": N_("m"),
    "kilometres": N_("km"),
}

web_errors.register(
    (
        r"The CSRF token does not match this browser's session: reload the page",
        N_("The page's sign-in check has expired: reload the page"),
    ),
)


@dataclass(frozen=True)
class Asset:
    body: bytes
    gzipped: bytes | None
    etag: str
    media_type: str


def _asset(body: bytes, media_type: str) -> Asset:
    etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
    gzipped = gzip.compress(body, 9, mtime=0) if media_type.startswith(_COMPRESSIBLE) else None
    return Asset(body, gzipped, etag, media_type)


@cache
def assets() -> dict[str, Asset]:
    """The page's files, read once. ``sw.js`` carries the version (``asset_version``), so
    any change installs a new worker with a fresh cache."""
    files = {name: _VENDORED.get(name, ASSET_DIR / name).read_bytes() for name in _MEDIA_TYPES}
    files["sw.js"] = files["sw.js"].replace(b"__VERSION__", asset_version().encode())
    return {name: _asset(body, _MEDIA_TYPES[name]) for name, body in files.items()}


@cache
def asset_version() -> str:
    """A hash of everything the page is built from (its files and templates). The page asks
    for its scripts and styles with ``?v=`` this, so a page and its files travel together
    through the worker's cache."""
    version = hashlib.sha256()
    paths = sorted(ASSET_DIR.iterdir()) + sorted((TEMPLATE_DIR / "phone").glob("*.html"))
    for path in paths + list(_VENDORED.values()):
        version.update(path.name.encode() + b"\0" + path.read_bytes())
    return version.hexdigest()[:16]


def _send(request: Request, asset: Asset, *, cache_control: str = "no-cache") -> Response:
    """An asset with its ETag (a 304 when unchanged), gzipped when the phone accepts it.
    ``no-cache``: the browser revalidates, so a new version is never hidden by its cache;
    offline, the service worker answers instead."""
    headers = {"ETag": asset.etag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    if asset.etag in [t.strip() for t in request.headers.get("if-none-match", "").split(",")]:
        return Response(status_code=304, headers=headers)
    body = asset.body
    if asset.gzipped is not None and accepts_gzip(request):
        body = asset.gzipped
        headers["Content-Encoding"] = "gzip"
    return Response(body, media_type=asset.media_type, headers=headers)


def _gzipped(request: Request, response: Response) -> Response:
    """A rendered page, gzipped when the phone accepts it (the shell is most of a first load)."""
    if accepts_gzip(request) and "content-encoding" not in response.headers:
        body = gzip.compress(bytes(response.body), 6, mtime=0)
        response.body = body
        response.headers["Content-Encoding"] = "gzip"
        response.headers["Content-Length"] = str(len(body))
        response.headers["Vary"] = response.headers.get("Vary", "") + ", Accept-Encoding"
    return response


@router.get("", include_in_schema=False)
def phone_root() -> Response:
    """``/m`` → ``/m/``: the service worker's scope is ``/m/``."""
    return RedirectResponse(HOME, status_code=307)


@router.get("/")
def phone_form(request: Request) -> Response:
    """The form. With no session cookie at all, the phone's sign-in; with an expired one,
    the form still opens (its waiting reports show) and asks to sign in again."""
    if not request.cookies.get(SESSION_COOKIE):
        return RedirectResponse("/m/signin", status_code=303)
    locale = locale_of(request)
    _ = gettext(request)
    context = {
        "conditions": [(c.value, enum_label(c, locale)) for c in Condition],
        "checklist": [(item.value, enum_label(item, locale)) for item in ChecklistItem],
        "answers": [(a.value, _(label)) for a, label in ANSWER_LABELS.items()],
        "strings": {key: _(msgid) for key, msgid in SCRIPT_STRINGS.items()},
        "max_photos": 8,
        "asset_version": asset_version(),
    }
    response = render(request, "phone/form.html", context, headers={"X-Phone-Shell": "1"})
    return _gzipped(request, response)


@router.get("/session.json", include_in_schema=False)
def phone_session(request: Request, db: DatabaseDep, settings: SettingsDep) -> Response:
    """Who is signed in on this phone, and the CSRF token its scripts send with a write;
    401 with ``reason`` (``expired``, ``revoked``, ``signedout``) when nobody is."""
    headers = {"Cache-Control": "no-store", "Vary": "Cookie"}
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return JSONResponse({"reason": "signedout"}, status_code=401, headers=headers)
    try:
        user = user_for_token(db, settings, token)
        expires = decode_access_token(token, key=settings.signing_key())["exp"]
    except Unauthorized as exc:
        reason = "expired" if "expired" in str(exc.detail) else "revoked"
        return JSONResponse({"reason": reason}, status_code=401, headers=headers)
    township = None
    if user.township_id is not None:
        with db.session(write=False) as session:
            row = session.get(Township, user.township_id)
            township = {"id": row.id, "name": row.name} if row else None
    body = {
        "user": {
            "id": user.id,
            "username": user.username,
            "full_name": user.full_name,
            "role": user.role.value,
            "township": township,
        },
        "csrf": csrf_token(request),
        "expires": expires,
    }
    response = JSONResponse(body, headers=headers)
    set_csrf_cookie(request, response)
    return response


@router.get("/manifest.webmanifest", include_in_schema=False)
def manifest(request: Request, settings: SettingsDep) -> Response:
    """Lets the form be added to the home screen, opening full screen at ``/m/``."""
    _ = gettext(request)
    document: dict[str, Any] = {
        "name": settings.county_name + _("Memorial facility patrol"),
        "short_name": _("Patrol"),
        "description": _("Patrol reports of the scattered martyr memorial facilities"),
        "lang": "zh-CN" if locale_of(request) == "zh_CN" else "en",
        "start_url": HOME,
        "scope": HOME,
        "id": HOME,
        "display": "standalone",
        "orientation": "portrait",
        "background_color": "#f4f6f9",
        "theme_color": "#12355b",
        "icons": [
            {"src": "/m/icon-192.png", "sizes": "192x192", "type": "image/png"},
            {"src": "/m/icon-512.png", "sizes": "512x512", "type": "image/png"},
            {"src": "/m/icon.svg", "sizes": "any", "type": "image/svg+xml"},
        ],
    }
    body = json.dumps(document, ensure_ascii=False).encode()
    response = _send(request, _asset(body, "application/manifest+json"))
    response.headers["Vary"] = "Accept-Encoding, Cookie, Accept-Language"
    return response


@router.get("/sw.js", include_in_schema=False)
def service_worker(request: Request) -> Response:
    response = _send(request, assets()["sw.js"])
    response.headers["Service-Worker-Allowed"] = HOME
    return response


# --- sign-in on the phone ---------------------------------------------------------------


@router.get("/signin", include_in_schema=False)
def phone_signin_page(
    request: Request,
    next: Annotated[str, Query(max_length=2000)] = HOME,
    reason: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    message = signin.reason_message(request, reason)
    context = {
        "next": _phone_next(next),
        "message": message,
        "username": "",
        "asset_version": asset_version(),
    }
    return _gzipped(request, render(request, "phone/signin.html", context))


def _phone_next(value: str) -> str:
    target = safe_next(value)
    return target if target.startswith(HOME) else HOME


@router.post("/signin", include_in_schema=False)
def phone_signin(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = HOME,
    _csrf: None = Csrf,
) -> Response:
    """Signs the phone in, then back to the form: a township inspector for
    ``phone_session_days``; county staff and admins, whose sessions reach further, for the
    pages' ``token_ttl_minutes`` as anywhere else."""

    def ttl(user: User) -> timedelta:
        if user.role is Role.township:
            return timedelta(days=settings.phone_session_days)
        return timedelta(minutes=settings.token_ttl_minutes)

    return signin.sign_in(
        request,
        db=db,
        settings=settings,
        username=username,
        password=password,
        next_url=_phone_next(next),
        template="phone/signin.html",
        ttl=ttl,
    )


@router.post("/signout", include_in_schema=False)
def phone_signout(settings: SettingsDep, _csrf: None = Csrf) -> Response:
    """Ends the session on this phone; reports still waiting stay on it for the next sign-in."""
    response = RedirectResponse("/m/signin?reason=signedout", status_code=303)
    clear_session(response, settings)
    return response


# last: the other routes of /m/ come first
@router.get("/{name}", include_in_schema=False)
def phone_asset(request: Request, name: str) -> Response:
    asset = assets().get(name)
    if asset is None or name == "sw.js":
        raise NotFound(f"No such file: /m/{name}")
    return _send(request, asset)
