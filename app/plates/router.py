"""What a plate opens, and the sheet the plates are printed from.

``GET /f/{code}`` (a page, short so the QR code stays small) sends whoever scans a plate
where they can act:

- a signed-in township user of the township that owns the site → 303 to the phone form
  with that site chosen, ``/m/?site={id}&plate={CODE}`` (the report records the plate as
  ``scanned_plate``: evidence the inspector stood there);
- signed-in county or admin staff who see the site (``app.access``) → 303 to its county
  page ``/facilities/{id}``;
- a signed-in user who does not see it (another township, another county) → the 404 page,
  the same as for a code that names nothing;
- anyone not signed in (no session, or an expired or revoked one): the public page of the
  site when ``MEMORIAL_PUBLIC_MAP`` is on — what the public map shows, plus the martyrs
  and what the site commemorates; not the free-text description, which a county's
  spreadsheet (备注) may fill with a custodian's name or phone; nothing about custodians,
  inspectors or reports — else 303 to the pages' sign-in, ``/signin?next=/f/{CODE}``,
  for every well-formed code, whether a site has it or not. The pages' sign-in, not the phone's: it
  returns to ``next`` whoever signs in (the phone's only returns into ``/m/``), so an
  inspector comes back to the plate and on to the form, and county staff to the site's page.

The session is the pages' cookie (``mp_session``) or, for API clients, a bearer token.
"""

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy import select

from app import access
from app.config import Settings
from app.deps import SESSION_COOKIE, CurrentUser, SessionDep, SettingsDep, user_in_session
from app.errors import OTHER_TOWNSHIP, SIGNED_IN, InvalidInput, NotFound, Unauthorized
from app.exports.tables import _disposition
from app.models import County, Facility, FacilityStatus, Role, Township, User
from app.pdf import font_name
from app.plates import codes, sheet, urls
from app.schemas import Id
from app.web.session import signin_url
from app.web.templating import render

router = APIRouter(include_in_schema=False)
api_router = APIRouter(prefix="/exports", tags=["exports"], responses=SIGNED_IN)

#: the public page may be kept by a browser or a proxy for a few minutes
PUBLIC_CACHE = "public, max-age=300"
#: at most this many ``facility_id`` in one plate sheet
MAX_IDS = 500


def _signed_in(
    request: Request, session: SessionDep, settings: Settings
) -> tuple[User | None, str | None]:
    """The user of the bearer token or the session cookie, and why there is none
    (``expired``/``revoked``) when a session was sent but no longer works."""
    header = request.headers.get("authorization", "")
    token = header[7:].strip() if header.lower().startswith("bearer ") else None
    token = token or request.cookies.get(SESSION_COOKIE)
    if not token:
        return None, None
    try:
        return user_in_session(session, settings, token), None
    except Unauthorized as exc:
        return None, "expired" if "expired" in str(exc.detail) else "revoked"


@router.api_route("/f/{code}", methods=["GET", "HEAD"])
def plate(request: Request, code: str, session: SessionDep, settings: SettingsDep) -> Response:
    request.state.web_page = True
    facility_id = codes.decode(code) if len(code) <= 32 else None
    if facility_id is None:
        raise NotFound("Facility not found")
    canonical = codes.encode(facility_id)
    user, reason = _signed_in(request, session, settings)
    if user is None and not settings.public_map:
        # every well-formed code goes to sign-in, whether a site has it or not: a stranger
        # cannot count the sites by trying codes
        target = signin_url(f"/f/{canonical}", reason)
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    facility = session.get(Facility, facility_id)
    if facility is None:
        raise NotFound("Facility not found")
    if user is not None:
        if not access.sees_township(session, user, facility.township_id):
            raise NotFound("Facility not found")
        if user.role is Role.township:
            target = f"/m/?site={facility.id}&plate={canonical}"
        else:
            target = f"/facilities/{facility.id}"
        return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
    township = session.get(Township, facility.township_id)
    county = session.get(County, township.county_id) if township else None
    if county is not None:
        request.state.county_name = county.name  # the site's county, in the top bar
    martyrs = [
        {"name": str(m.get("name") or "").strip(), "note": str(m.get("note") or "").strip()}
        for m in facility.martyrs or []
        if isinstance(m, dict) and str(m.get("name") or "").strip()
    ]
    context = {
        "site": {
            "name": facility.name,
            "kind": facility.kind,
            "tier": facility.tier,
            "status": facility.status,
            "moved": facility.status is not FacilityStatus.active,
            "township": township.name if township else "",
            "village": facility.village or "",
            "year_built": facility.year_built,
            "commemorates": facility.commemorates or "",
            "martyrs": martyrs,
            "plate": canonical,
        }
    }
    response = render(request, "plates/public.html", context)
    # the same for every visitor (no user, no per-visitor data): a proxy may keep it, so
    # it sets no cookie (the CSRF seed ``render`` makes is for forms; this page has none)
    del response.headers["set-cookie"]
    response.headers["Cache-Control"] = PUBLIC_CACHE
    response.headers["Vary"] = "Cookie, Accept-Language, Authorization"
    return response


@api_router.get(
    "/plates.pdf",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}, **OTHER_TOWNSHIP},
    summary="QR plates of a township's facilities, on A4 label paper (2 × 5 labels of 105 × 57 mm)",
)
def export_plates(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    township_id: Id | None = None,
    facility_id: Annotated[
        list[Id] | None,
        Query(max_length=MAX_IDS, description="print only these facilities (repeat it)"),
    ] = None,
) -> Response:
    """A township's plates (its active facilities by code), or the facilities named by
    ``facility_id`` (in the order given; with ``township_id`` they must be in it). A township
    user gets their own township without naming it. Each label: the QR code of
    ``{MEMORIAL_PUBLIC_URL}/f/{code}`` (error correction H, at least 37 mm wide, in a
    quiet zone), the plate code, the facility's name and code, its township and the line
    扫码查看烈士事迹 · 巡查人员扫码上报. A4 label paper of 2 × 5 = 10 labels of 105 × 57 mm."""
    ids = list(dict.fromkeys(facility_id or []))
    if township_id is None and not ids:
        township_id = access.township_limit(user)
        if township_id is None:
            raise InvalidInput(
                ("query", "township_id"), "Name a township_id or at least one facility_id"
            )
    if township_id is not None:
        access.ensure_visible(session, user, township_id, f"Township {township_id}")
        if session.get(Township, township_id) is None:
            raise NotFound(f"Township {township_id} not found")
    if ids:
        query = access.scope(
            select(Facility).where(Facility.id.in_(ids)), user, Facility.township_id
        )
        if township_id is not None:
            query = query.where(Facility.township_id == township_id)
        found = {f.id: f for f in session.execute(query).scalars()}
        for wanted in ids:
            if wanted not in found:
                raise NotFound(f"Facility {wanted} not found")
        facilities = [found[i] for i in ids]
    else:
        query = (
            select(Facility)
            .where(Facility.township_id == township_id, Facility.status == FacilityStatus.active)
            .order_by(Facility.code)
        )
        facilities = list(session.execute(query).scalars())
    township_ids = {f.township_id for f in facilities} | ({township_id} if township_id else set())
    townships = {
        t.id: t
        for t in session.execute(select(Township).where(Township.id.in_(township_ids))).scalars()
    }
    labels = sheet.labels_for(
        facilities, townships, urls.base_url(request, settings, printing=True)
    )
    pdf = sheet.sheet_pdf(
        labels, font_name(settings.pdf_font), title=_title(townships, township_id)
    )
    if township_id is not None and township_id in townships:
        name, fallback = (
            f"二维码标牌_{townships[township_id].name}.pdf",
            f"plates_{township_id}.pdf",
        )
    else:
        name, fallback = "二维码标牌.pdf", "plates.pdf"
    return Response(
        pdf,
        media_type="application/pdf",
        headers={"Content-Disposition": _disposition(name, fallback), "Cache-Control": "no-store"},
    )


def _title(townships: dict, township_id: int | None) -> str:
    township = townships.get(township_id) if township_id else None
    return f"二维码标牌 · {township.name}" if township else "二维码标牌"
