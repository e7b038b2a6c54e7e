"""Signing in through a form, shared by the pages (``/signin``) and the phone (``/m/signin``):
check the form, ask the auth service, and on success answer with a redirect that carries
the session cookie; on failure, the form again with the reason in the page's language."""

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import Request
from fastapi.responses import RedirectResponse, Response

from app.auth import service as auth_service
from app.auth import throttle
from app.config import Settings
from app.db import Database
from app.errors import TooManyRequests, Unauthorized
from app.models import User
from app.security import create_access_token
from app.web import errors as web_errors
from app.web.i18n import N_
from app.web.session import set_session
from app.web.templating import gettext, render

#: why the sign-in page is shown (``?reason=``)
REASONS = {
    "expired": N_("Your session has expired. Please sign in again."),
    "revoked": N_(
        "Your password or access changed, or the account was deactivated. Please sign in again."
    ),
    "signedout": N_("You have signed out."),
}

web_errors.register(
    (r"Wrong username or password", N_("Wrong username or password")),
    (
        r"Too many failed sign-ins for '(?P<username>.*)'; try again in (?P<minutes>\d+) minutes?",
        N_("Too many failed sign-ins for %(username)s; try again in %(minutes)s minutes"),
    ),
    (
        r"Too many failed sign-ins from this address; try again in (?P<minutes>\d+) minutes?",
        N_("Too many failed sign-ins from this address; try again in %(minutes)s minutes"),
    ),
    (
        r"Too many sign-ins at this moment; try again in a second",
        N_("Too many sign-ins at this moment; try again in a second"),
    ),
    (
        r"This account has been deactivated; ask the county administrator",
        N_("This account has been deactivated; ask the county administrator"),
    ),
)


def reason_message(request: Request, reason: str) -> str | None:
    return gettext(request)(REASONS[reason]) if reason in REASONS else None


def sign_in(
    request: Request,
    *,
    db: Database,
    settings: Settings,
    username: str,
    password: str,
    next_url: str,
    template: str,
    ttl: Callable[[User], timedelta],
) -> Response:
    """A redirect to ``next_url`` signed in for ``ttl(user)``, or ``template`` with the error."""
    _ = gettext(request)
    context: dict[str, Any] = {"next": next_url, "username": username, "message": None}
    if not username.strip() or not password:
        context["error"] = _("Enter your username and password")
        return render(request, template, context, status_code=422)
    try:
        user = auth_service.authenticate(
            db=db,
            settings=settings,
            username=username,
            password=password,
            client=throttle.client_address(request),
        )
    except (Unauthorized, TooManyRequests) as exc:
        context["error"] = web_errors.translate(exc.detail, _)
        # a 429 says when to try again; not the API's WWW-Authenticate on a page
        headers = exc.headers or {}
        retry = {"Retry-After": headers["Retry-After"]} if "Retry-After" in headers else {}
        return render(request, template, context, status_code=exc.status_code, headers=retry)
    lifetime = ttl(user)
    token = create_access_token(user_id=user.id, key=settings.signing_key(), ttl=lifetime)  # type: ignore[arg-type]
    response = RedirectResponse(next_url, status_code=303)
    set_session(response, token, settings, ttl=lifetime)
    return response
