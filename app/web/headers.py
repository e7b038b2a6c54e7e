"""Security headers on every response.

Pages get a Content-Security-Policy that admits only this site's own scripts and styles
(no inline scripts, no inline event handlers), images also from the configured tile
server, and no framing. ``/docs`` (Swagger UI, which needs one inline script) is the one
exception to the CSP; ``nosniff`` and the referrer policy apply everywhere.
"""

from urllib.parse import urlsplit

from starlette.types import ASGIApp, Message, Receive, Scope, Send

_EXEMPT_FROM_CSP = ("/docs",)


def tile_origin(tile_url: str) -> str | None:
    """``https://t{s}.tianditu.gov.cn/x/{z}/{x}/{y}`` → ``https://*.tianditu.gov.cn``."""
    if not tile_url:
        return None
    parts = urlsplit(tile_url.replace("{s}", "a"))
    if not parts.scheme or not parts.netloc:
        return None
    host = parts.netloc
    if "{s}" in urlsplit(tile_url).netloc:
        host = "*." + host.split(".", 1)[1] if "." in host else host
    return f"{parts.scheme}://{host}"


def content_security_policy(tile_url: str = "") -> str:
    images = "'self' data: blob:"
    origin = tile_origin(tile_url)
    if origin:
        images += f" {origin}"
    return "; ".join(
        (
            "default-src 'self'",
            "script-src 'self'",
            "style-src 'self'",
            f"img-src {images}",
            "font-src 'self'",
            "connect-src 'self'",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        )
    )


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp, *, tile_url: str = "") -> None:
        self.app = app
        self.csp = content_security_policy(tile_url).encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        exempt = scope["path"].startswith(_EXEMPT_FROM_CSP)

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                names = {name.lower() for name, _ in headers}
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"referrer-policy", b"same-origin"),
                ]
                if not exempt:
                    extra += [
                        (b"content-security-policy", self.csp),
                        (b"x-frame-options", b"DENY"),
                    ]
                headers += [(k, v) for k, v in extra if k not in names]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, with_headers)
