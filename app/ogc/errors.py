"""OGC exceptions: ``{"code", "description"}`` with the standard's status, for ``/ogc`` only.

The rest of the API keeps FastAPI's ``{"detail"}`` and its 422; under ``/ogc`` an invalid
parameter is a 400 and an unknown resource a 404, as OGC API – Features asks.
"""

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PREFIX = "/ogc"
_CODES = {400: "InvalidParameterValue", 401: "Unauthorized", 404: "NotFound"}


class OgcError(Exception):
    """A failure under ``/ogc``, answered with the OGC exception body."""

    def __init__(
        self, status_code: int, description: str, *, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(description)
        self.status_code = status_code
        self.description = description
        self.headers = headers


class InvalidParameter(OgcError):
    def __init__(self, description: str) -> None:
        super().__init__(400, description)


class NotFound(OgcError):
    def __init__(self, description: str) -> None:
        super().__init__(404, description)


def exception_response(exc: OgcError) -> JSONResponse:
    body = {"code": _CODES.get(exc.status_code, "Error"), "description": exc.description}
    return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)


Handler = Callable[[Request, Any], Awaitable[Any]]


def install(app: FastAPI) -> None:
    """Answer OGC errors, and FastAPI's own (422, unknown path) under ``/ogc``, the OGC way."""

    @app.exception_handler(OgcError)
    async def _ogc_error(_request: Request, exc: OgcError) -> JSONResponse:
        return exception_response(exc)

    def under_ogc(previous: Handler, convert: Callable[[Any], OgcError]) -> Handler:
        async def handler(request: Request, exc: Any) -> Any:
            path = request.url.path
            if path == PREFIX or path.startswith(PREFIX + "/"):
                return exception_response(convert(exc))
            return await previous(request, exc)

        return handler

    app.add_exception_handler(
        RequestValidationError,
        under_ogc(
            app.exception_handlers[RequestValidationError],
            lambda exc: InvalidParameter(
                "; ".join(
                    f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('msg', '')}"
                    for e in exc.errors()
                )
                .encode("utf-8", "replace")
                .decode("utf-8")
            ),
        ),
    )
    app.add_exception_handler(
        StarletteHTTPException,
        under_ogc(
            app.exception_handlers[StarletteHTTPException],
            lambda exc: OgcError(
                exc.status_code,
                f"No such resource or method: {exc.detail}",
                headers=getattr(exc, "headers", None),
            ),
        ),
    )
