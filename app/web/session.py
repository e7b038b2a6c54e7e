"""The pages' session and CSRF protection.

Signing in sets ``mp_session``: the same JWT ``POST /api/v1/auth/token`` issues, in an
HttpOnly, SameSite=Lax cookie (``Secure`` in production), so it expires and is revoked
exactly as API tokens are. A page asked for without a usable session redirects to
``/signin?next=<page>``; an expired or revoked one adds ``reason`` so the sign-in page
can say why, and signing in returns to ``next``.

CSRF: every form that changes something carries ``csrf_token``, an HMAC (keyed by the
signing key) of a random ``mp_csrf`` cookie. A cross-site page can neither read the
cookie nor compute the HMAC; SameSite=Lax keeps the session cookie off its POSTs anyway.
"""

import secrets
from datetime import timedelta
from typing import Annotated
from urllib.parse import quote, urlsplit

from fastapi import Depends, Form, Request, Response

from app.config import Settings
from app.deps import CSRF_COOKIE, SESSION_COOKIE, DatabaseDep, SettingsDep, user_for_token
from app.errors import AppError, Unauthorized
from app.models import Role, User
from app.security import csrf_matches, csrf_token_for

CSRF_FIELD = "csrf_token"


class SignInRequired(Exception):
    """Handled by redirecting to the sign-in page (``app.web.router.install``)."""

    def __init__(self, next_url: str, reason: str | None = None) -> None:
        super().__init__(next_url)
        self.next_url = next_url
        self.reason = reason


class CsrfFailed(AppError):
    status_code = 403

    def __init__(self) -> None:
        super().__init__("The form has expired or did not come from this site: reload the page")


def safe_next(value: str | None) -> str:
    """Only a path on this site (``/facilities?x=1``), never ``//evil`` or a full URL."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    parts = urlsplit(value)
    if parts.scheme or parts.netloc:
        return "/"
    return value


def requested_path(request: Request) -> str:
    """Where to return after signing in: the page itself; for a form sent after the session
    ended, the page the form was on (its same-site ``Referer``), since a POST's path cannot
    be opened again."""
    if request.method not in ("GET", "HEAD"):
        referer = urlsplit(request.headers.get("referer", ""))
        if referer.netloc == request.url.netloc and referer.path.startswith("/"):
            return referer.path + (f"?{referer.query}" if referer.query else "")
        return "/"
    query = request.url.query
    return request.url.path + (f"?{query}" if query else "")


def page_user(request: Request, db: DatabaseDep, settings: SettingsDep) -> User:
    """The signed-in user of a page, or a redirect to the sign-in page."""
    request.state.web_page = True
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        raise SignInRequired(requested_path(request))
    try:
        user = user_for_token(db, settings, token)
    except Unauthorized as exc:
        reason = "expired" if "expired" in str(exc.detail) else "revoked"
        raise SignInRequired(requested_path(request), reason) from None
    request.state.user = user
    if user.township_id is not None or user.division_code:
        from sqlalchemy import select

        from app.counties import service as counties
        from app.models import County, Township

        with db.session(write=False) as session:
            if user.township_id is not None:
                township = session.get(Township, user.township_id)
                request.state.township_name = township.name if township else None
            # the top bar names the user's county, or a region's first counties
            names = (
                session.execute(
                    select(County.name)
                    .where(*counties.code_conditions(user.division_code))
                    .order_by(County.code)
                    .limit(3)
                )
                .scalars()
                .all()
            )
            if names:
                request.state.county_name = (
                    "、".join(names) if len(names) <= 2 else f"{names[0]}、{names[1]}等"
                )
    return user


PageUser = Annotated[User, Depends(page_user)]


def staff_page_user(user: PageUser) -> User:
    """County staff and admins only (a township officer gets the 403 page)."""
    from app.errors import Forbidden

    if user.role not in (Role.admin, Role.county):
        raise Forbidden("This page is for county staff")
    return user


def admin_page_user(user: PageUser) -> User:
    from app.errors import Forbidden

    if user.role is not Role.admin:
        raise Forbidden("This page is for administrators")
    return user


StaffPageUser = Annotated[User, Depends(staff_page_user)]
AdminPageUser = Annotated[User, Depends(admin_page_user)]


def set_session(
    response: Response, token: str, settings: Settings, *, ttl: timedelta | None = None
) -> None:
    """``ttl``: the token's lifetime (the pages' ``token_ttl_minutes`` unless given)."""
    # The cookie outlives its token by a day, so an expired session is recognised as such
    # ("your session has expired") instead of looking like a first visit.
    lifetime = (ttl or timedelta(minutes=settings.token_ttl_minutes)) + timedelta(days=1)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=int(lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


def clear_session(response: Response, settings: Settings) -> None:
    response.delete_cookie(
        SESSION_COOKIE,
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
        path="/",
    )


# --- CSRF --------------------------------------------------------------------------------


def csrf_token(request: Request) -> str:
    """The token for this browser's forms; makes the seed cookie if it has none yet
    (``app.web.templating.render`` then sets it on the response)."""
    seed = request.cookies.get(CSRF_COOKIE) or getattr(request.state, "csrf_seed", None)
    if not seed:
        seed = secrets.token_urlsafe(32)
        request.state.csrf_seed = seed
    return csrf_token_for(seed, key=request.app.state.settings.signing_key())


def set_csrf_cookie(request: Request, response: Response) -> None:
    seed = getattr(request.state, "csrf_seed", None)
    if seed and not request.cookies.get(CSRF_COOKIE):
        settings: Settings = request.app.state.settings
        response.set_cookie(
            CSRF_COOKIE,
            seed,
            # kept for a year: a phone's queued reports carry the token made from it
            max_age=365 * 24 * 3600,
            httponly=True,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/",
        )


def check_csrf(request: Request, csrf_token: Annotated[str, Form(max_length=128)] = "") -> None:
    """A dependency of every page route that changes something."""
    request.state.web_page = True
    key = request.app.state.settings.signing_key()
    if not csrf_matches(request.cookies.get(CSRF_COOKIE), csrf_token, key=key):
        raise CsrfFailed()


Csrf = Depends(check_csrf)


def signin_url(next_url: str, reason: str | None = None) -> str:
    url = "/signin?next=" + quote(safe_next(next_url), safe="/")
    return url + (f"&reason={reason}" if reason else "")
