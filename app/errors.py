"""Errors the services raise, and the handlers that turn every error into ``{"detail": ...}``."""

import logging
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

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


@contextmanager
def conflict_on_duplicate(session: Any, message: str) -> Iterator[None]:
    """Flush in a savepoint; a unique key taken meanwhile by a concurrent request is a 409."""
    try:
        with session.begin_nested():
            yield
            session.flush()
    except IntegrityError:
        raise Conflict(message) from None


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


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return JSONResponse(
            {"detail": exc.detail}, status_code=exc.status_code, headers=exc.headers
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": _validation_detail(exc)}, status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail: Any = exc.detail
        if exc.status_code == 413 and detail == "Content Too Large":
            detail = "The request body is too large"
        elif exc.status_code == 404 and detail == "Not Found":
            detail = f"No such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            detail = f"{request.method} is not allowed on {request.url.path}"
        headers = getattr(exc, "headers", None)
        return JSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)

    @app.exception_handler(IntegrityError)
    async def _integrity_error(_request: Request, exc: IntegrityError) -> JSONResponse:
        # Services check uniqueness first; this is two requests racing past that check.
        log.warning("integrity error answered as a conflict: %s", exc.orig)
        return JSONResponse(
            {"detail": "This conflicts with a change saved at the same moment; reload and retry"},
            status_code=409,
        )

    @app.exception_handler(OperationalError)
    async def _database_busy(_request: Request, exc: OperationalError) -> JSONResponse:
        log.warning("database unavailable: %s", exc)
        return JSONResponse(
            {"detail": "The database is busy or unreachable; please retry shortly"},
            status_code=503,
            headers={"Retry-After": "5"},
        )
