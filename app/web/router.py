"""The pages' router: sign-in, sign-out, the language switch, and every page area.

Page areas live in ``app/web/pages/`` (one module each, with its templates under
``templates/<area>/`` and its Chinese strings in ``locale/zh_CN/LC_MESSAGES/<area>.po``).
Pages call the services directly, never the API over HTTP.
"""

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.auth import service as auth_service
from app.deps import DatabaseDep, SettingsDep
from app.errors import AppError, TooManyRequests, Unauthorized, app_error_response
from app.security import create_access_token
from app.web import errors as web_errors
from app.web.i18n import LANG_COOKIE, LOCALES, N_
from app.web.pages import (
    admin,
    annual,
    campaigns,
    dashboard,
    facilities,
    funds,
    maintenance,
    map,
    overdue,
    review,
)
from app.web.session import (
    Csrf,
    SignInRequired,
    clear_session,
    safe_next,
    set_session,
    signin_url,
)
from app.web.templating import gettext, render

router = APIRouter(include_in_schema=False)

#: paths that are not pages: their errors stay JSON
_NOT_PAGES = ("/api/", "/ogc", "/public/", "/static/", "/health", "/docs", "/openapi.json")

_REASONS = {
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
        r"This account has been deactivated; ask the county administrator",
        N_("This account has been deactivated; ask the county administrator"),
    ),
)


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(_NOT_PAGES)


@router.get("/signin")
def signin_page(
    request: Request,
    next: Annotated[str, Query(max_length=2000)] = "/",
    reason: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    _ = gettext(request)
    message = _(_REASONS[reason]) if reason in _REASONS else None
    return render(request, "signin.html", {"next": safe_next(next), "message": message})


@router.post("/signin")
def signin(
    request: Request,
    db: DatabaseDep,
    settings: SettingsDep,
    username: Annotated[str, Form(max_length=64)] = "",
    password: Annotated[str, Form(max_length=128)] = "",
    next: Annotated[str, Form(max_length=2000)] = "/",
    _csrf: None = Csrf,
) -> Response:
    _ = gettext(request)
    context = {"next": safe_next(next), "username": username, "message": None}
    if not username.strip() or not password:
        context["error"] = _("Enter your username and password")
        return render(request, "signin.html", context, status_code=422)
    client = request.client.host if request.client else "unknown"
    try:
        user = auth_service.authenticate(
            db=db, settings=settings, username=username, password=password, client=client
        )
    except (Unauthorized, TooManyRequests) as exc:
        context["error"] = web_errors.translate(exc.detail, _)
        return render(request, "signin.html", context, status_code=exc.status_code)
    from datetime import timedelta

    token = create_access_token(
        user_id=user.id,  # type: ignore[arg-type]
        key=settings.signing_key(),
        ttl=timedelta(minutes=settings.token_ttl_minutes),
    )
    response = RedirectResponse(safe_next(next), status_code=303)
    set_session(response, token, settings)
    return response


@router.post("/signout")
def signout(settings: SettingsDep, _csrf: None = Csrf) -> Response:
    """Ends this browser's session (the cookie). Tokens on other devices stay valid; an
    admin deactivating the account, or a password change, ends them all."""
    response = RedirectResponse("/signin?reason=signedout", status_code=303)
    clear_session(response, settings)
    return response


@router.get("/lang/{locale}")
def switch_language(
    locale: str, settings: SettingsDep, next: Annotated[str, Query(max_length=2000)] = "/"
) -> Response:
    response = RedirectResponse(safe_next(next), status_code=303)
    if locale in LOCALES:
        response.set_cookie(
            LANG_COOKIE,
            locale,
            max_age=365 * 24 * 3600,
            samesite="lax",
            secure=settings.secure_cookies,
            path="/",
        )
    return response


for _area in (
    dashboard,
    map,
    facilities,
    review,
    overdue,
    campaigns,
    maintenance,
    funds,
    annual,
    admin,
):
    router.include_router(_area.router)


def install(app: FastAPI) -> None:
    """Mount the pages and answer their errors as pages (API paths keep JSON)."""
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(signin_url(exc.next_url, exc.reason), status_code=303)

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        if not is_page(request):
            return app_error_response(exc)
        return _error_page(request, exc.status_code, exc.detail)

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        from app.errors import validation_error_response

        if not is_page(request):
            return validation_error_response(exc)
        return _error_page(request, 422, exc.errors())

    previous_http = app.exception_handlers[StarletteHTTPException]

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> Response:
        if not is_page(request) or exc.status_code not in (404, 405, 413):
            return await previous_http(request, exc)
        return _error_page(request, exc.status_code, None)


_TITLES = {
    400: N_("The request could not be handled"),
    401: N_("Please sign in"),
    403: N_("You do not have access to this"),
    404: N_("Not found"),
    405: N_("Not found"),
    409: N_("This conflicts with the current records"),
    413: N_("The upload is too large"),
    422: N_("Some input was not valid"),
    429: N_("Too many attempts"),
}


def _error_page(request: Request, status: int, detail: object) -> Response:
    _ = gettext(request)
    title = _(_TITLES.get(status, N_("The request could not be handled")))
    if status in (404, 405):
        message = _("There is no such page, or it is not in your township.")
    elif status == 413:
        message = _("The upload is too large")
    elif detail is None:
        message = ""
    else:
        message = web_errors.translate(
            [{"loc": e.get("loc", ()), "msg": e.get("msg", "")} for e in detail]
            if isinstance(detail, list | tuple) and detail and isinstance(detail[0], dict)
            else detail,
            _,
        )
    return render(request, "error.html", {"title": title, "message": message}, status_code=status)
