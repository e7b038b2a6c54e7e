"""HTTP for the map feeds: conditional GET on a cheap ETag, and gzip for large bodies.

The app has no compression middleware: the feeds compress their own bodies (once, here),
so nothing compresses them twice and small JSON answers elsewhere stay as they are.
"""

import gzip
from collections.abc import Callable

from fastapi import Request, Response

GEOJSON = "application/geo+json"
#: below this a gzip header and dictionary cost more than they save
GZIP_MIN_BYTES = 1024
#: a moderate level: most of level 9's saving at a fraction of its time on 50,000 sites
GZIP_LEVEL = 5


def _opaque(tag: str) -> str:
    return tag.strip().removeprefix("W/")


def not_modified(request: Request, tag: str) -> bool:
    """Whether ``If-None-Match`` names ``tag`` (weak comparison, lists and ``*`` allowed)."""
    header = request.headers.get("if-none-match")
    if not header:
        return False
    wanted = _opaque(tag)
    return any(t.strip() == "*" or _opaque(t) == wanted for t in header.split(","))


def accepts_gzip(request: Request) -> bool:
    """``Accept-Encoding`` allows gzip (by name, or by ``*``) with a q-value above zero."""
    allowed: dict[str, bool] = {}
    for item in request.headers.get("accept-encoding", "").split(","):
        name, _, params = item.strip().partition(";")
        quality = 1.0
        for param in params.split(";"):
            key, _, value = param.strip().partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        allowed[name.strip().lower()] = quality > 0
    return allowed.get("gzip", allowed.get("*", False))


def cached_body(
    request: Request,
    *,
    tag: str,
    build: Callable[[], bytes],
    media_type: str = GEOJSON,
    cache_control: str = "private, no-cache",
    headers: dict[str, str] | None = None,
) -> Response:
    """304 when the client holds ``tag``; otherwise the body ``build`` makes, gzipped when
    the client accepts it and it is large enough to gain."""
    common = {"ETag": tag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    common |= headers or {}
    if not_modified(request, tag):
        return Response(status_code=304, headers=common)
    body = build()
    if len(body) > GZIP_MIN_BYTES and accepts_gzip(request):
        body = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        common["Content-Encoding"] = "gzip"
    return Response(body, media_type=media_type, headers=common)
