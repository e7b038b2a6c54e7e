"""The GeoJSON map feeds (RFC 7946): every facility in the caller's scope with its status,
and the same sites counted on a grid (clusters) for a map zoomed out over many of them."""

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response

from app import access
from app.clock import local_today
from app.deps import CurrentUser, SessionDep, SettingsDep
from app.errors import OTHER_TOWNSHIP, SIGNED_IN, InvalidInput, error_responses
from app.geo import clusters, features
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


ClusterState = Literal["overdue", "due_soon", "ok", "archived"]


@router.get(
    "/clusters",
    response_class=Response,
    responses={**_GEOJSON_ANSWERS, **OTHER_TOWNSHIP},
    summary="The sites in your scope counted on a grid: count, worst state and centre per cell",
    description=(
        "One Point feature per grid cell that holds sites, at the average position of its"
        " sites, with `count`, `states` (how many overdue, due_soon, ok, archived), `state`"
        " (the most urgent of them) and `cell` ([column, row]); a cell of one site also"
        " carries its `facility_id`, `code` and `name`. Cells are squares of"
        " 360 / 2^zoom / 4 degrees anchored at (-180, -90): cell (c, r) holds the sites with"
        " c = floor((lon + 180) / size), r = floor((lat + 90) / size). A box whose grid would"
        f" exceed {clusters.MAX_CELLS} cells at `zoom` is answered at the finest coarser zoom"
        " that fits (`grid.zoom` says which). The collection also carries `total`, `states`"
        " (over all cells), `bbox` and `grid`. Filters and scope are the feed's, so the counts"
        " add up to the feed's features for the same box."
    ),
)
def facilities_clusters(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: CurrentUser,
    bbox: Annotated[
        str | None,
        Query(
            max_length=200,
            description="minLon,minLat,maxLon,maxLat (WGS-84); omitted: the extent of the sites"
            " the filters select",
        ),
    ] = None,
    zoom: Annotated[
        int,
        Query(
            ge=0,
            le=clusters.MAX_ZOOM,
            description="the map's web-mercator zoom (0–18): cells of 360 / 2^zoom / 4 degrees;"
            " omitted: the finest the cell limit allows",
        ),
    ] = clusters.MAX_ZOOM,
    township_id: Id | None = None,
    township_code: TownshipCode = None,
    tier: Tier | None = None,
    kind: FacilityKind | None = None,
    status: FacilityStatus | None = None,
    overdue: Annotated[bool | None, Query(description="due before today (county time)")] = None,
    state: Annotated[
        ClusterState | None, Query(description="only the sites in this patrol state")
    ] = None,
) -> Response:
    filters = features.FeatureFilters(
        bbox=query_bbox(bbox),
        township_id=township_id,
        township_code=township_code,
        tier=tier,
        kind=kind,
        status=status,
        overdue=overdue,
    )
    if township_id is not None:  # another township's: 404 before anything else
        access.ensure_visible(session, user, township_id, f"Township {township_id}")
    today = local_today(settings.tz)
    tag = features.feed_tag(
        session=session,
        user=user,
        filters=filters,
        today=today,
        extra=("clusters", zoom, state),
    )

    def build() -> bytes:
        collection = clusters.clusters(
            session=session, user=user, filters=filters, zoom=zoom, today=today, state=state
        )
        return features.encode(collection)

    return cached_body(request, tag=tag, build=build, owner=f"user:{user.id}")


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
