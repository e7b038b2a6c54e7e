"""HTTP for the map feeds: conditional GET on a cheap ETag, and gzip for large bodies.

The app has no compression middleware: the feeds compress their own bodies (once, here),
so nothing compresses them twice and small JSON answers elsewhere stay as they are.

Large bodies are also kept, gzipped, in a small in-process cache: the latest body of each
URL and user, with its ETag. The tag is computed from the database on every request, so
a cached body is served only while nothing it shows has changed, and any number of
workers or hosts stay correct (each merely warms its own cache). A map client that asks
again without ``If-None-Match`` (a browser reloading the page, a second QGIS project)
then costs a tag and a copy, not a rebuild.
"""

import gzip
import threading
from collections import OrderedDict
from collections.abc import Callable

from fastapi import Request, Response

GEOJSON = "application/geo+json"
#: below this a gzip header and dictionary cost more than they save
GZIP_MIN_BYTES = 1024
#: a moderate level: most of level 9's saving at a fraction of its time on 50,000 sites
GZIP_LEVEL = 5


#: bodies at least this large are cached; all of them together at most CACHE_BYTES
CACHE_MIN_BYTES = 64 * 1024
CACHE_BYTES = 32 * 1024 * 1024


class _GzipCache:
    """The latest gzipped body of each request slot (URL and who asked), with its ETag;
    least recently used slots go first, within a byte budget. A slot holds one body: once
    its tag moves on, the old body is useless and is replaced, not kept beside it."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._bodies: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._size = 0
        self._lock = threading.Lock()

    def get(self, slot: str, tag: str) -> bytes | None:
        with self._lock:
            found = self._bodies.get(slot)
            if found is None or found[0] != tag:
                return None
            self._bodies.move_to_end(slot)
            return found[1]

    def put(self, slot: str, tag: str, body: bytes) -> None:
        if len(body) > self.budget:
            return
        with self._lock:
            if (old := self._bodies.pop(slot, None)) is not None:
                self._size -= len(old[1])
            self._bodies[slot] = (tag, body)
            self._size += len(body)
            while self._size > self.budget:
                _slot, (_tag, dropped) = self._bodies.popitem(last=False)
                self._size -= len(dropped)


def _slot(request: Request, owner: str) -> str:
    """What was asked, and for whom (a user, or the public map)."""
    return f"{owner}:{request.url}"  # the whole URL: OGC links name the host asked


def _cache_of(request: Request) -> _GzipCache:
    """The app's own cache (one per app, so two apps in one process never share bodies)."""
    state = request.app.state
    if getattr(state, "feed_cache", None) is None:
        state.feed_cache = _GzipCache(CACHE_BYTES)
    return state.feed_cache


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
    owner: str = "",
) -> Response:
    """304 when the client holds ``tag``; otherwise the body ``build`` makes (or the one
    cached for ``owner`` and this URL while its tag holds), gzipped when the client accepts
    it and it is large enough to gain."""
    common = {"ETag": tag, "Cache-Control": cache_control, "Vary": "Accept-Encoding"}
    common |= headers or {}
    if not_modified(request, tag):
        return Response(status_code=304, headers=common)
    gzip_ok = accepts_gzip(request)
    cache, slot = _cache_of(request), _slot(request, owner)
    if (packed := cache.get(slot, tag)) is not None:
        if gzip_ok:
            return Response(
                packed, media_type=media_type, headers=common | {"Content-Encoding": "gzip"}
            )
        return Response(gzip.decompress(packed), media_type=media_type, headers=common)
    body = build()
    packed = None
    if len(body) >= CACHE_MIN_BYTES:
        packed = gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        cache.put(slot, tag, packed)
    if gzip_ok and len(body) > GZIP_MIN_BYTES:
        packed = packed or gzip.compress(body, compresslevel=GZIP_LEVEL, mtime=0)
        return Response(
            packed, media_type=media_type, headers=common | {"Content-Encoding": "gzip"}
        )
    return Response(body, media_type=media_type, headers=common)
