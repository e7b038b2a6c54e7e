"""The pages' router: sign-in, sign-out, the language switch, and every page area.

Page areas live in ``app/web/pages/`` (one module each, with its templates under
``templates/<area>/`` and its Chinese strings in ``locale/zh_CN/LC_MESSAGES/<area>.po``).
Pages call the services directly, never the API over HTTP.
"""

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.deps import DatabaseDep, SettingsDep
from app.errors import AppError
from app.web import errors as web_errors
from app.web import signin as signin_form
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
    phone,
    review,
)
from app.web.session import (
    Csrf,
    SignInRequired,
    clear_session,
    safe_next,
    signin_url,
)
from app.web.templating import gettext, render

router = APIRouter(include_in_schema=False)

#: paths that are not pages: their errors stay JSON
_NOT_PAGES = ("/api/", "/ogc", "/public/", "/static/", "/health", "/docs", "/openapi.json")


def is_page(request: Request) -> bool:
    return not request.url.path.startswith(_NOT_PAGES)


@router.get("/signin")
def signin_page(
    request: Request,
    next: Annotated[str, Query(max_length=2000)] = "/",
    reason: Annotated[str, Query(max_length=20)] = "",
) -> Response:
    message = signin_form.reason_message(request, reason)
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
    return signin_form.sign_in(
        request,
        db=db,
        settings=settings,
        username=username,
        password=password,
        next_url=safe_next(next),
        template="signin.html",
        ttl=lambda _user: timedelta(minutes=settings.token_ttl_minutes),
    )


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
    phone,
):
    router.include_router(_area.router)


def install(app: FastAPI) -> None:
    """Mount the pages and answer their errors as pages; other paths keep the JSON
    handlers installed before (``app.errors``, ``app.ogc.errors``)."""
    app.include_router(router)

    @app.exception_handler(SignInRequired)
    async def _sign_in(_request: Request, exc: SignInRequired) -> Response:
        return RedirectResponse(signin_url(exc.next_url, exc.reason), status_code=303)

    previous_app = app.exception_handlers[AppError]

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> Response:
        if not is_page(request):
            return await previous_app(request, exc)
        return _error_page(request, exc.status_code, exc.detail)

    previous_invalid = app.exception_handlers[RequestValidationError]

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> Response:
        if not is_page(request):
            return await previous_invalid(request, exc)
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
