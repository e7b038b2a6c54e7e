"""Errors the services raise, and the handlers that turn every error into ``{"detail": ...}``."""

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import Column, UniqueConstraint
from sqlalchemy.exc import (
    DBAPIError,
    IntegrityError,
    InterfaceError,
    OperationalError,
)
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from app.web import api_errors  # the pages' catalogs, for clients that ask for Chinese

log = logging.getLogger("app")


class AppError(Exception):
    """A failure the client can act on; ``status_code`` says which."""

    status_code = 400

    def __init__(self, detail: Any, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class Unauthorized(AppError):
    status_code = 401

    def __init__(self, detail: str = "Not signed in: send 'Authorization: Bearer <token>'") -> None:
        super().__init__(detail, headers={"WWW-Authenticate": "Bearer"})


class Forbidden(AppError):
    status_code = 403


class NotFound(AppError):
    status_code = 404


class Conflict(AppError):
    status_code = 409


class PayloadTooLarge(AppError):
    status_code = 413


class UnsupportedMediaType(AppError):
    status_code = 415


class TooManyRequests(AppError):
    status_code = 429


class ServiceUnavailable(AppError):
    """503: the server cannot take this request now; ``Retry-After`` says when to try again."""

    status_code = 503

    def __init__(self, detail: Any, *, retry_after: str) -> None:
        super().__init__(detail, headers={"Retry-After": retry_after})


class ErrorBody(BaseModel):
    """The body of every error but a 422: ``{"detail": "what was wrong, and what to do"}``."""

    detail: str


#: what each error status means across the API (its OpenAPI description)
ERROR_STATUSES: dict[int, str] = {
    400: "The request body could not be read (not UTF-8 JSON, or a broken form)",
    401: "Not signed in, or the sign-in has expired or been revoked",
    403: "This role may not do this, or a cookie-signed write lacks its CSRF token",
    404: "Not found, or not in your township",
    409: "The request conflicts with the current state of what it changes",
    413: "The request body is too large",
    415: "The file is not of a type accepted here",
    429: "Too many attempts: wait the seconds Retry-After says",
    503: "The database is unavailable for a moment: retry after Retry-After seconds",
}


def error_responses(
    *codes: int, why: dict[int, str] | None = None
) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses=`` for the error statuses an operation can answer, each with
    its body (``why`` says it in the operation's own terms); 422 is FastAPI's own."""
    why = why or {}
    return {
        code: {"model": ErrorBody, "description": why.get(code, ERROR_STATUSES[code])}
        for code in codes
    }


#: what any operation behind sign-in can answer (router-level ``responses=``)
SIGNED_IN = error_responses(401, 503)
#: a write's body: unreadable or too large
BODY = (400, 413)
#: a list or feed filtered by ``township_id``: another township's id is a 404, not an empty list
OTHER_TOWNSHIP = error_responses(404, why={404: "township_id names a township not yours"})


def _sqlite_unique_names() -> dict[str, str]:
    """SQLite names a violated key by its columns ("users.username"); map those to names."""
    from sqlmodel import SQLModel

    import app.models  # noqa: F401  (every table registered)

    names: dict[str, str] = {}
    for table in SQLModel.metadata.tables.values():
        keys = [c for c in table.constraints if isinstance(c, UniqueConstraint)]
        keys += [i for i in table.indexes if i.unique]
        for key in keys:
            columns = [c for c in getattr(key, "columns", []) if isinstance(c, Column)]
            if columns and key.name:
                names[", ".join(f"{table.name}.{c.name}" for c in columns)] = str(key.name)
    return names


def unique_key_violated(exc: IntegrityError) -> str | None:
    """The name of the unique constraint or index an INSERT or UPDATE ran into, on either
    database; None when the error is something else (NOT NULL, foreign key, CHECK)."""
    orig = exc.orig
    diag = getattr(orig, "diag", None)
    if diag is not None:  # PostgreSQL (psycopg)
        return diag.constraint_name if getattr(orig, "sqlstate", None) == "23505" else None
    message = str(orig)
    prefix = "UNIQUE constraint failed: "
    if not message.startswith(prefix):
        return None
    what = message[len(prefix) :]
    if what.startswith("index '"):  # an expression index is named by SQLite itself
        return what[len("index '") : -1]
    return _sqlite_unique_names().get(what)


@contextmanager
def conflict_on_duplicate(
    session: Any, message: str, *, key: str | tuple[str, ...]
) -> Iterator[None]:
    """Flush in a savepoint; the unique ``key`` (or keys) taken meanwhile by a concurrent
    request is a 409 with ``message``. Any other integrity error is a bug and propagates."""
    keys = (key,) if isinstance(key, str) else key
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError as exc:
        if unique_key_violated(exc) not in keys:
            raise
        raise Conflict(message) from None


#: unique keys two requests may race for, and what the loser is told (a safety net behind
#: the services' own checks; every other integrity error is a bug and answers 500)
EXPECTED_RACES = {
    "uq_facilities_code": "A facility with this code was saved at the same moment; reload",
    "uq_townships_code": "A township with this code was saved at the same moment; reload",
    "uq_users_username": "This username was taken at the same moment; choose another",
    "uq_users_username_lower": "This username was taken at the same moment; choose another",
    "uq_maintenance_orders_unfinished_per_report": (
        "An order for this report was opened at the same moment; reload to see it"
    ),
}


class InvalidInput(AppError):
    """422 in FastAPI's own shape, naming the field (``loc``) that was wrong."""

    status_code = 422

    def __init__(
        self, loc: Sequence[str | int], message: str, *, kind: str = "value_error"
    ) -> None:
        super().__init__([{"loc": list(loc), "msg": message, "type": kind}])


def _json_safe(value: Any) -> Any:
    """Strings that JSON can carry: unpaired surrogates become '?', infinities become text."""
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {str(_json_safe(k)): _json_safe(v) for k, v in value.items()}
    return value


def _validation_detail(exc: RequestValidationError) -> list[dict[str, Any]]:
    # Not FastAPI's stock handler: that echoes the input back, which may hold a password,
    # an infinity or a lone surrogate (the last two crash the JSON encoder).
    return [
        {
            "loc": _json_safe(list(error.get("loc", ()))),
            "msg": _json_safe(str(error.get("msg", ""))),
            "type": str(error.get("type", "value_error")),
        }
        for error in exc.errors()
    ]


def error_response(
    request: Request, detail: Any, status_code: int, headers: dict[str, str] | None = None
) -> JSONResponse:
    """``{"detail": ...}``, in Chinese when the request's ``Accept-Language`` prefers it."""
    detail, language = api_errors.localize(detail, request.headers.get("accept-language"))
    return JSONResponse(
        {"detail": detail}, status_code=status_code, headers={**(headers or {}), **language}
    )


def install_error_handlers(app: FastAPI) -> None:
    """The API's handlers; ``app.web.router.install`` wraps the first three so that pages
    get their errors as pages."""

    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return error_response(request, exc.detail, exc.status_code, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(request, _validation_detail(exc), 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail: Any = exc.detail
        if exc.status_code == 413 and detail == "Content Too Large":
            detail = "The request body is too large"
        elif exc.status_code == 400 and detail == "There was an error parsing the body":
            detail = "The request body could not be read: send JSON (or a form) in UTF-8"
        elif exc.status_code == 404 and detail == "Not Found":
            detail = f"No such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        return error_response(request, detail, exc.status_code, getattr(exc, "headers", None))

    @app.exception_handler(IntegrityError)
    async def _integrity_error(request: Request, exc: IntegrityError) -> JSONResponse:
        # Services check first; this is two requests racing past that check for a key we
        # expect. Anything else (NOT NULL, foreign key, CHECK) is a bug: let it be a 500.
        key = unique_key_violated(exc)
        if key not in EXPECTED_RACES:
            raise exc
        log.warning("unique key %s taken by a concurrent request: %s", key, exc.orig)
        return error_response(request, EXPECTED_RACES[key], 409)

    async def _database_unavailable(request: Request, exc: Exception) -> JSONResponse:
        # Down, restarting, unreachable, every pooled connection busy, or (SQLite) locked
        # past the busy timeout: nothing the client did; the same request works later.
        invalidated = isinstance(exc, DBAPIError) and exc.connection_invalidated
        if isinstance(exc, InterfaceError) and not invalidated:
            raise exc  # a programming error, not an outage: let it be a 500
        log.warning("database unavailable: %s", exc)
        return error_response(
            request,
            "The database is busy or unreachable; please retry shortly",
            503,
            {"Retry-After": "5"},
        )

    # OperationalError: refused, timed out, shut down; InterfaceError: a connection that
    # died under the request; TimeoutError: no pooled connection free within pool_timeout.
    for kind in (OperationalError, InterfaceError, PoolTimeoutError):
        app.add_exception_handler(kind, _database_unavailable)
