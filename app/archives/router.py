"""``GET /api/v1/exports/facility/{id}.pdf`` (一处一表) and
``GET /api/v1/exports/township/{id}.pdf`` (一乡一册).

Scoped like the facility and township reads: anything outside the caller's reach is a 404.
Both routes are plain functions, so FastAPI runs them on a worker thread: the records are
loaded in a few queries, the PDF is drawn into a spooled temporary file (kept in memory up
to a megabyte, on disk beyond), and the file is streamed back in chunks; the event loop is
never held up by the rendering. These are the bureau's internal archives: they carry the
custodians' names and phone numbers and the inspectors' names.
"""

import re
from collections.abc import Callable
from typing import IO

from fastapi import APIRouter, Request
from fastapi.responses import Response

from app.archives import records, render
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.errors import OTHER_TOWNSHIP, SIGNED_IN, error_responses
from app.exports.tables import spooled_response
from app.pdf import font_name
from app.photos.store import PhotoStore
from app.plates import urls
from app.schemas import Id

router = APIRouter(prefix="/exports", tags=["exports"], responses=SIGNED_IN)

_PDF = {200: {"content": {"application/pdf": {}}, "description": "A4 PDF"}}
_ASCII = re.compile(r"[^A-Za-z0-9._-]+")


def _reader(store: PhotoStore) -> Callable[[str], bytes | None]:
    def read(key: str) -> bytes | None:
        found = store.open(key)
        return None if found is None else found.read()

    return read


def pdf_response(draw: Callable[[IO[bytes]], None], filename: str, fallback: str) -> Response:
    """The PDF ``draw`` writes, drawn whole into a spooled file first, then streamed."""
    return spooled_response(draw, "application/pdf", filename, fallback)


@router.get(
    "/facility/{facility_id}.pdf",
    response_class=Response,
    responses={**_PDF, **error_responses(404)},
    summary="一处一表: one facility's record on one A4 page (PDF)",
)
def export_facility_pdf(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, facility_id: Id
) -> Response:
    base = urls.base_url(request, settings, printing=True)
    record, printed_at = records.facility_record(session, user, facility_id, base)
    session.close()  # everything is loaded: no connection held while drawing
    font = font_name(settings.pdf_font)
    read = _reader(request.app.state.photo_store)
    code = record.facility.code
    return pdf_response(
        lambda target: render.render_facility(target, record, printed_at, font, read),
        f"一处一表_{code}.pdf",
        f"facility_{_ASCII.sub('_', code) or facility_id}.pdf",
    )


@router.get(
    "/township/{township_id}.pdf",
    response_class=Response,
    responses={**_PDF, **OTHER_TOWNSHIP},
    summary="一乡一册: a township's book of its facilities' records and plates (PDF)",
)
def export_township_pdf(
    request: Request, session: SessionDep, settings: SettingsDep, user: CurrentUser, township_id: Id
) -> Response:
    base = urls.base_url(request, settings, printing=True)
    book = records.township_book(session, user, township_id, base)
    session.close()
    font = font_name(settings.pdf_font)
    read = _reader(request.app.state.photo_store)
    day = book.printed_on.isoformat()
    return pdf_response(
        lambda target: render.render_book(target, book, font, read, base),
        f"一乡一册_{book.township.name}_{day}.pdf",
        f"township_{book.township.code}_{day}.pdf",
    )
