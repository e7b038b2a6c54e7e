"""Request body limits, counted while the body streams (chunked uploads too).

Starlette's own limiter answers a too-large Content-Length with plain text; ours keeps
the JSON ``{"detail": ...}`` every client of this API expects, and names the limit.
A route may describe its limit in the user's terms: a photo upload accepts a little more
than the photo limit for the multipart framing, but people are told what they may send
("a photo may be at most 10 MiB"), never the internal body limit.
"""

import json
import re
from collections.abc import Sequence

from fastapi import HTTPException
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

SCOPE_KEY = "memorial.body_limit"


class BodyTooLarge(HTTPException):
    """Raised from ``receive``; FastAPI passes HTTPExceptions from body parsing straight on."""

    def __init__(self, message: str) -> None:
        super().__init__(status_code=413, detail=message)


def size_text(size: int) -> str:
    """Bytes as people read them: 10 MiB, 64 KiB."""
    return f"{size / 1024 / 1024:g} MiB" if size >= 1024 * 1024 else f"{size / 1024:g} KiB"


def too_large_message(allowed: str) -> str:
    return f"The request body is too large: {allowed}"


class BodyLimitMiddleware:
    """Refuse bodies over ``default`` bytes, or over a route's own limit.

    ``routes`` holds ``(path pattern, bytes, what the user may send)``.
    """

    def __init__(
        self, app: ASGIApp, *, default: int, routes: Sequence[tuple[str, int, str]] = ()
    ) -> None:
        self.app = app
        self.default = default
        self.routes = [(re.compile(pattern), limit, allowed) for pattern, limit, allowed in routes]

    def limit_for(self, path: str) -> tuple[int, str]:
        """The byte limit for ``path`` and the sentence that tells the user about it."""
        for pattern, limit, allowed in self.routes:
            if pattern.fullmatch(path):
                return limit, allowed
        return self.default, f"at most {size_text(self.default)} is accepted here"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, allowed = self.limit_for(scope["path"])
        scope[SCOPE_KEY] = limit
        declared = _content_length(scope)
        if declared is not None and declared > limit:
            await _reject(scope, send, too_large_message(allowed))
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(too_large_message(allowed))
            return message

        await self.app(scope, limited_receive, send)


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


async def _reject(scope: Scope, send: Send, message: str) -> None:
    """The 413 before any handler runs, in Chinese for a client that prefers it."""
    from app.web.api_errors import localize

    accept_language = Headers(scope=scope).get("accept-language")
    detail, language = localize(message, accept_language)
    body = json.dumps({"detail": detail}, ensure_ascii=False).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    headers += [(k.lower().encode(), v.encode()) for k, v in language.items()]
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})
