"""The GeoJSON map feed (RFC 7946): every facility in the caller's scope, with its status."""

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response

from app.clock import local_today
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.errors import OTHER_TOWNSHIP, SIGNED_IN, InvalidInput, error_responses
from app.geo import features
from app.geo.query import parse_instant, query_bbox
from app.geo.responses import GEOJSON, cached_body
from app.models import FacilityKind, FacilityStatus, Tier, User
from app.schemas import Id, Offset

router = APIRouter(prefix="/map", tags=["map"], responses=SIGNED_IN)
#: mounted only when MEMORIAL_PUBLIC_MAP is on
public_router = APIRouter(prefix="/public", tags=["map"], responses=error_responses(503))

_GEOJSON_ANSWERS: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {GEOJSON: {"schema": {"type": "object"}}},
        "description": "an RFC 7946 FeatureCollection",
    },
    304: {"description": "unchanged since the ETag sent in If-None-Match"},
}

TownshipCode = Annotated[
    str | None,
    Query(max_length=9, pattern=r"^[0-9]{9}$", description="9-digit township division code"),
]
BBoxText = Annotated[
    str | None, Query(max_length=200, description="minLon,minLat,maxLon,maxLat (WGS-84)")
]


def _updated_since(value: str | None) -> Any:
    if value is None:
        return None
    try:
        return parse_instant(value)
    except ValueError as exc:
        raise InvalidInput(("query", "updated_since"), f"updated_since: {exc}") from None


def _answer(
    request: Request,
    *,
    session: Any,
    settings: Any,
    user: User | None,
    filters: features.FeatureFilters,
    limit: int | None,
    offset: int,
    cache_control: str,
) -> Response:
    today = local_today(settings.tz)
    tag = features.feed_tag(
        session=session, user=user, filters=filters, today=today, extra=("geojson", limit, offset)
    )

    def build() -> bytes:
        return features.collection_bytes(
            session=session, user=user, filters=filters, today=today, limit=limit, offset=offset
        )

    owner = "public" if user is None else f"user:{user.id}"
    return cached_body(request, tag=tag, build=build, cache_control=cache_control, owner=owner)


@router.get(
    "/facilities.geojson",
    response_class=Response,
    responses={**_GEOJSON_ANSWERS, **OTHER_TOWNSHIP},
    summary="Every facility in your scope as GeoJSON (ETag; gzip)",
)
def facilities_geojson(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    bbox: BBoxText = None,
    township_id: Id | None = None,
    township_code: TownshipCode = None,
    tier: Tier | None = None,
    kind: FacilityKind | None = None,
    status: FacilityStatus | None = None,
    overdue: Annotated[bool | None, Query(description="due before today (county time)")] = None,
    updated_since: Annotated[
        str | None,
        Query(
            max_length=64,
            description="changed at or after this instant (ISO 8601 with offset): the "
            "facility, its township, or one of its reports or maintenance orders",
        ),
    ] = None,
    limit: Annotated[int | None, Query(ge=1, le=1_000_000, description="at most")] = None,
    offset: Offset = 0,
) -> Response:
    filters = features.FeatureFilters(
        bbox=query_bbox(bbox),
        township_id=township_id,
        township_code=township_code,
        tier=tier,
        kind=kind,
        status=status,
        overdue=overdue,
        updated_since=_updated_since(updated_since),
    )
    return _answer(
        request,
        session=session,
        settings=settings,
        user=user,
        filters=filters,
        limit=limit,
        offset=offset,
        cache_control="private, no-cache",
    )


@public_router.get(
    "/facilities.geojson",
    response_class=Response,
    responses=_GEOJSON_ANSWERS,
    summary="The public map: code, name, kind, tier, status, township and location only",
)
def public_facilities_geojson(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    bbox: BBoxText = None,
    township_code: TownshipCode = None,
    tier: Tier | None = None,
    kind: FacilityKind | None = None,
    status: FacilityStatus | None = None,
) -> Response:
    filters = features.FeatureFilters(
        bbox=query_bbox(bbox), township_code=township_code, tier=tier, kind=kind, status=status
    )
    return _answer(
        request,
        session=session,
        settings=settings,
        user=None,
        filters=filters,
        limit=None,
        offset=0,
        cache_control="public, no-cache",
    )
