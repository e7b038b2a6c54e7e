from typing import Annotated

from fastapi import APIRouter, Header, Request, UploadFile, status
from fastapi.responses import Response, StreamingResponse

from app.config import Settings
from app.db import Database
from app.deps import CurrentUser, SessionDep
from app.errors import BODY, SIGNED_IN, NotFound, error_responses
from app.models import User
from app.photos import service
from app.photos.schemas import PhotoRead
from app.schemas import Id

router = APIRouter(prefix="/photos", tags=["photos"], responses=SIGNED_IN)

_NOT_MODIFIED = {304: {"description": "unchanged since the ETag sent in If-None-Match"}}
#: an object store that cannot be reached is a 503 (with Retry-After), never a 500
_READ_ERRORS = error_responses(404, 503, why={503: "the photo store cannot be reached"})
_IMAGE = {
    200: {"content": {"image/jpeg": {}, "image/png": {}, "image/webp": {}}},
    **_NOT_MODIFIED,
    **_READ_ERRORS,
}
#: If-None-Match: one or a few ETags
IfNoneMatch = Annotated[str | None, Header(max_length=1000)]

#: the answers of every photo upload route (reports and maintenance orders alike)
UPLOAD_RESPONSES: dict[int | str, dict] = {
    200: {"model": PhotoRead, "description": "the same bytes again: the stored photo"},
    **error_responses(
        *BODY,
        403,
        404,
        409,
        415,
        503,
        why={
            409: "already 8 photos",
            413: "over 10 MiB",
            415: "not JPEG, PNG or WebP",
            503: "busy decoding other photos, or the photo store cannot be reached: send it"
            " again after Retry-After seconds",
        },
    ),
}


def receive_upload(
    *,
    request: Request,
    db: Database,
    settings: Settings,
    user: User,
    response: Response,
    owner: service.PhotoOwner,
    file: UploadFile,
) -> PhotoRead:
    """Attach the uploaded file to ``owner``: 201 for a new photo, 200 for the same bytes."""
    photo, created = service.attach(
        db=db,
        store=request.app.state.photo_store,
        settings=settings,
        user=user,
        owner=owner,
        data=file.file.read(),
        gate=request.app.state.decode_gate,
    )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return PhotoRead.of(photo)


def _serve(request: Request, key: str, media_type: str, if_none_match: str | None) -> Response:
    # Keys are content addresses: a key's bytes never change, so caching is forever.
    etag = f'"{key.rsplit("/", 1)[-1].split(".")[0]}"'
    headers = {"ETag": etag, "Cache-Control": "private, max-age=31536000, immutable"}
    if if_none_match and etag in [t.strip() for t in if_none_match.split(",")]:
        return Response(status_code=304, headers=headers)
    # Streamed through the app from whichever store holds it (a directory or an object
    # store): the same sign-in and scope, and the store need not be reachable by clients.
    stored = request.app.state.photo_store.open(key)
    if stored is None:
        raise NotFound("The photo's file is missing from the photo store")
    headers["Content-Length"] = str(stored.size)
    return StreamingResponse(stored.chunks, media_type=media_type, headers=headers)


@router.get("/{photo_id}", response_class=StreamingResponse, responses=_IMAGE, summary="A photo")
def read_photo(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    photo_id: Id,
    if_none_match: IfNoneMatch = None,
) -> Response:
    photo = service.get_photo(session=session, user=user, photo_id=photo_id)
    return _serve(request, photo.stored_key, photo.content_type, if_none_match)


@router.get(
    "/{photo_id}/thumbnail",
    response_class=StreamingResponse,
    responses={200: {"content": {"image/jpeg": {}}}, **_NOT_MODIFIED, **_READ_ERRORS},
    summary="A photo's thumbnail (JPEG, at most 320 px)",
)
def read_thumbnail(
    request: Request,
    session: SessionDep,
    user: CurrentUser,
    photo_id: Id,
    if_none_match: IfNoneMatch = None,
) -> Response:
    photo = service.get_photo(session=session, user=user, photo_id=photo_id)
    return _serve(request, photo.thumbnail_key, "image/jpeg", if_none_match)
