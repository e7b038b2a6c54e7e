"""OGC API – Features routes: who may call, what they take, which document they answer.

A bearer token scopes the features like the JSON API (a township user sees their own
township); without one the answer is 401, unless the public map is on, when the features
carry the public properties only.
"""

from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Request, Response

from app.clock import local_today
from app.deps import DatabaseDep, SessionDep, SettingsDep, user_for_token
from app.errors import AppError
from app.geo import features
from app.geo.responses import cached_body
from app.models import User
from app.models.base import utcnow
from app.ogc import service
from app.ogc.errors import InvalidParameter, NotFound, OgcError
from app.ogc.params import COMMON, CRS84, items_query, single

router = APIRouter(prefix="/ogc", include_in_schema=False)
_CRS_HEADER = {"Content-Crs": f"<{CRS84}>"}
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


def map_user(request: Request, db: DatabaseDep, settings: SettingsDep) -> User | None:
    """The signed-in user, or None for the public map (when it is on); else 401."""
    header = request.headers.get("authorization")
    if not header:
        if settings.public_map:
            return None
        raise OgcError(401, "Sign in: send 'Authorization: Bearer <token>'", headers=_CHALLENGE)
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise OgcError(401, "Send 'Authorization: Bearer <token>'", headers=_CHALLENGE)
    try:
        return user_for_token(db, settings, token.strip())
    except AppError as exc:
        raise OgcError(exc.status_code, str(exc.detail), headers=exc.headers) from None


MapUser = Annotated[User | None, Depends(map_user)]


def _base(request: Request) -> str:
    return str(request.base_url).rstrip("/") + "/ogc"


def _json(document: dict[str, Any], media_type: str = service.JSON) -> Response:
    return Response(features.encode(document), media_type=media_type)


def _known(name: str) -> str:
    if name not in service.COLLECTIONS:
        raise NotFound(f"No collection {name!r}; the collections are facilities and county")
    return name


@router.get("")
@router.get("/")
def landing(request: Request, _user: MapUser) -> Response:
    single(request.query_params, COMMON)
    return _json(service.landing(_base(request)))


@router.get("/conformance")
def conformance(request: Request, _user: MapUser) -> Response:
    single(request.query_params, COMMON)
    return _json(service.conformance())


@router.get("/api")
def api(request: Request, _user: MapUser) -> Response:
    single(request.query_params, COMMON)
    return _json(service.openapi(_base(request)), service.OPENAPI)


@router.get("/collections")
def collections(
    request: Request, session: SessionDep, settings: SettingsDep, user: MapUser
) -> Response:
    single(request.query_params, COMMON)
    base = _base(request)
    return _json(
        {
            "links": [service.link(f"{base}/collections", "self", service.JSON)],
            "collections": [
                service.collection(base, name, session=session, settings=settings, user=user)
                for name in service.COLLECTIONS
            ],
        }
    )


@router.get("/collections/{collection_id}")
def collection(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: MapUser,
    collection_id: str,
) -> Response:
    single(request.query_params, COMMON)
    name = _known(collection_id)
    return _json(
        service.collection(_base(request), name, session=session, settings=settings, user=user)
    )


@router.get("/collections/{collection_id}/queryables")
def queryables(request: Request, user: MapUser, collection_id: str) -> Response:
    single(request.query_params, COMMON)
    document = service.queryables(_base(request), _known(collection_id), public=user is None)
    return _json(document, service.SCHEMA)


def _alternate(request: Request, user: User | None, values: dict[str, str]) -> str:
    """The same selection in the GeoJSON feed of the JSON API (or the public map)."""
    root = str(request.base_url).rstrip("/")
    names = ("bbox", "tier", "kind", "status", "township_code")
    if user is None:
        path = "/public/facilities.geojson"
    else:
        path, names = "/api/v1/map/facilities.geojson", (*names, "overdue")
    query = urlencode({n: values[n] for n in names if n in values})
    return f"{root}{path}" + (f"?{query}" if query else "")


@router.get("/collections/{collection_id}/items")
def items(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: MapUser,
    collection_id: str,
) -> Response:
    name = _known(collection_id)
    query = items_query(request.query_params, settings.tz)
    if name == service.COUNTY:
        outlines = service.county_features(session, user)
        page = outlines[query.offset : query.offset + query.limit]
        document = features.feature_collection(
            page,
            numberMatched=len(outlines),
            numberReturned=len(page),
            timeStamp=utcnow(),
            links=[service.link(str(request.url), "self", service.GEOJSON)],
        )
        return Response(features.encode(document), media_type=service.GEOJSON, headers=_CRS_HEADER)
    if user is None and (query.filters.overdue is not None or query.filters.by_inspection_time):
        raise InvalidParameter("overdue and datetime are not offered on the public map")
    today = local_today(settings.tz)
    tag = features.feed_tag(
        session=session,
        user=user,
        filters=query.filters,
        today=today,
        extra=("ogc", query.limit, query.offset),
    )

    def build() -> bytes:
        found, matched = features.features(
            session=session,
            user=user,
            filters=query.filters,
            today=today,
            limit=query.limit,
            offset=query.offset,
        )
        links = [
            service.link(str(request.url), "self", service.GEOJSON, "this page"),
            service.link(_alternate(request, user, query.values), "alternate", service.GEOJSON),
        ]
        if query.offset + len(found) < matched:
            after = request.url.include_query_params(
                offset=query.offset + query.limit, limit=query.limit
            )
            links.append(service.link(str(after), "next", service.GEOJSON, "next page"))
        if query.offset > 0:
            before = request.url.include_query_params(
                offset=max(0, query.offset - query.limit), limit=query.limit
            )
            links.append(service.link(str(before), "prev", service.GEOJSON, "previous page"))
        return features.encode(
            features.feature_collection(
                found,
                numberMatched=matched,
                numberReturned=len(found),
                timeStamp=utcnow(),
                links=links,
            )
        )

    owner = "public" if user is None else f"user:{user.id}"
    return cached_body(request, tag=tag, build=build, headers=_CRS_HEADER, owner=owner)


@router.get("/collections/{collection_id}/items/{feature_id}")
def item(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    user: MapUser,
    collection_id: str,
    feature_id: str,
) -> Response:
    single(request.query_params, COMMON)
    name = _known(collection_id)
    here = f"{_base(request)}/collections/{name}"
    if name == service.COUNTY:
        county = service.county_feature(session, user, feature_id)
        if county is None:
            raise NotFound(f"No feature {feature_id!r} in county; its features are counties' codes")
        found = dict(county)
    else:
        number = int(feature_id) if feature_id.isascii() and feature_id.isdigit() else 0
        rows: list[dict[str, Any]] = []
        if 0 < number <= 2_147_483_647:
            rows, _ = features.features(
                session=session,
                user=user,
                filters=features.FeatureFilters(facility_id=number),
                today=local_today(settings.tz),
            )
        if not rows:  # another township's facility is as absent as one that never was
            raise NotFound(f"No feature {feature_id!r} in {name}")
        found = rows[0]
    found["links"] = [
        service.link(f"{here}/items/{feature_id}", "self", service.GEOJSON),
        service.link(here, "collection", service.JSON),
    ]
    return Response(features.encode(found), media_type=service.GEOJSON, headers=_CRS_HEADER)
