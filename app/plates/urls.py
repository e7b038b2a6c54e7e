"""The address a plate's QR code holds before ``/f/{code}``: one rule for the plate sheet,
the archives and the facility page.

``MEMORIAL_PUBLIC_URL`` when it is set: the address phones in the hills reach. Without it
the address the request came in on, which behind a reverse proxy may be an internal one
(``http://10.0.0.5:8000``). Plates are cast or printed once and fixed to graves, so in
production a PDF that prints QR codes is refused (409) until the setting says where phones
go; a page that only shows the code on screen still uses the request's address.
"""

from fastapi import Request

from app.config import Settings
from app.errors import Conflict

UNSET = (
    "Set MEMORIAL_PUBLIC_URL to the address phones reach before printing plates: "
    "a plate's QR code must not hold this server's internal address"
)


def base_url(request: Request, settings: Settings, *, printing: bool = False) -> str:
    if settings.public_url:
        return settings.public_url.rstrip("/")
    if printing and settings.env == "production":
        raise Conflict(UNSET)
    return str(request.base_url).rstrip("/")
