"""The OGC API documents: landing page, conformance, collections, and the API definition.

Plain dictionaries built from the base URL of the request; the features themselves come
from ``app.geo.features``, the same rows as the GeoJSON feed.
"""

from datetime import datetime
from typing import Any

from sqlmodel import Session

from app.config import Settings
from app.geo import features
from app.models import FacilityKind, FacilityStatus, Tier, User
from app.ogc.params import CRS84, DEFAULT_LIMIT, MAX_LIMIT

JSON = "application/json"
GEOJSON = "application/geo+json"
OPENAPI = "application/vnd.oai.openapi+json;version=3.0"
SCHEMA = "application/schema+json"
GREGORIAN = "http://www.opengis.net/def/uri/ISO-8601/0/Gregorian"
CONFORMANCE = [
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/core",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/geojson",
    "http://www.opengis.net/spec/ogcapi-features-1/1.0/conf/oas30",
]
FACILITIES, COUNTY = "facilities", "county"
COLLECTIONS = (FACILITIES, COUNTY)
TITLE = "Memorial Patrol 烈士纪念设施"


def link(href: str, rel: str, media_type: str, title: str | None = None) -> dict[str, str]:
    found = {"href": href, "rel": rel, "type": media_type}
    return found | ({"title": title} if title else {})


def landing(base: str) -> dict[str, Any]:
    return {
        "title": TITLE,
        "description": "Scattered martyr memorial facilities of the county, with their "
        "patrol status, and the county's outline (OGC API – Features).",
        "links": [
            link(base, "self", JSON, "this document"),
            link(f"{base}/api", "service-desc", OPENAPI, "the API definition"),
            link(f"{base}/conformance", "conformance", JSON, "conformance classes"),
            link(f"{base}/collections", "data", JSON, "the collections"),
        ],
    }


def conformance() -> dict[str, Any]:
    return {"conformsTo": CONFORMANCE}


def county_features(session: Session, user: User | None) -> list[dict[str, Any]]:
    """The outlines of the counties ``user`` reaches (the public map: every county), one
    GeoJSON Feature each (WGS-84) with the county's division code as its id."""
    from app.counties import service as counties

    return list(counties.outline_features(session, user)["features"])


def county_feature(session: Session, user: User | None, feature_id: str) -> dict[str, Any] | None:
    """One county's outline by its code; ``county`` names the one county of a user who
    reaches a single one (the collection's one feature before counties were data)."""
    found = county_features(session, user)
    if feature_id == COUNTY and len(found) == 1:
        return found[0]
    return next((f for f in found if f["id"] == feature_id), None)


def county_extent(
    settings: Settings, session: Session | None = None, user: User | None = None
) -> tuple[float, float, float, float]:
    """Around the outlines of the counties in reach (the configured outline without any)."""
    from app.counties import service as counties
    from app.geo.outline import county_bbox

    box = None if session is None else counties.outline_bbox(session, user)
    return box or tuple(county_bbox(settings))  # type: ignore[return-value]


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat().replace("+00:00", "Z")


def collection(
    base: str, name: str, *, session: Session, settings: Settings, user: User | None
) -> dict[str, Any]:
    """One collection's description, with its extent computed from the data in scope."""
    here = f"{base}/collections/{name}"
    links = [
        link(here, "self", JSON, "this collection"),
        link(f"{here}/items", "items", GEOJSON, "its features"),
        link(f"{here}/queryables", "http://www.opengis.net/def/rel/ogc/1.0/queryables", SCHEMA),
    ]
    if name == FACILITIES:
        box, first, last = features.extent(session=session, user=user)
        spatial = box or county_extent(settings, session, user)
        extent: dict[str, Any] = {"spatial": {"bbox": [list(spatial)], "crs": CRS84}}
        title = "烈士纪念设施 Memorial facilities"
        if user is None:  # the public map shows nothing of the patrol schedule
            description = "Every facility with its status (the public map)."
        else:
            extent["temporal"] = {
                "interval": [[_time(first), _time(last)]],
                "trs": GREGORIAN,
            }
            description = (
                "Every facility in your scope with its status and patrol schedule "
                "(temporal extent: last_inspected_at)."
            )
    else:
        extent = {"spatial": {"bbox": [list(county_extent(settings, session, user))], "crs": CRS84}}
        title = "县域边界 County outlines"
        description = (
            "The boundary polygon (WGS-84) of each county in your scope, its id the"
            " county's 6-digit division code."
        )
    return {
        "id": name,
        "title": title,
        "description": description,
        "itemType": "feature",
        "crs": [CRS84],
        "storageCrs": CRS84,
        "extent": extent,
        "links": links,
    }


def queryables(base: str, name: str, *, public: bool = False) -> dict[str, Any]:
    """JSON Schema of the properties a client may filter ``/items`` on (the public map
    has no schedule, so no ``overdue``)."""
    properties: dict[str, Any] = {}
    if name == FACILITIES:
        properties = {
            "tier": {"type": "string", "enum": [t.value for t in Tier]},
            "kind": {"type": "string", "enum": [k.value for k in FacilityKind]},
            "status": {"type": "string", "enum": [s.value for s in FacilityStatus]},
            "township_code": {"type": "string", "pattern": "^[0-9]{9}$"},
        }
        if not public:
            properties["overdue"] = {"type": "boolean"}
    return {
        "$schema": "https://json-schema.org/draft/2019-09/schema",
        "$id": f"{base}/collections/{name}/queryables",
        "type": "object",
        "title": name,
        "properties": properties,
        "additionalProperties": False,
    }


def _parameter(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "style": "form",
        "explode": False,
        "description": description,
        "schema": schema,
    }


def _answer(description: str, media_type: str = JSON) -> dict[str, Any]:
    return {"description": description, "content": {media_type: {"schema": {"type": "object"}}}}


def openapi(base: str) -> dict[str, Any]:
    """The OpenAPI 3.0 definition of the ``/ogc`` routes (what GDAL reads for paging)."""
    errors = {
        "400": _answer("an invalid parameter: {code, description}"),
        "401": _answer("no or an invalid bearer token: {code, description}"),
        "404": _answer("no such collection or feature: {code, description}"),
    }
    collection_id = {
        "name": "collectionId",
        "in": "path",
        "required": True,
        "schema": {"type": "string", "enum": list(COLLECTIONS)},
    }
    feature_id = {"name": "featureId", "in": "path", "required": True, "schema": {"type": "string"}}
    number = {"type": "number"}
    items_parameters = [
        collection_id,
        _parameter(
            "limit",
            {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            f"features per page (a larger value is read as {MAX_LIMIT})",
        ),
        _parameter("offset", {"type": "integer", "minimum": 0, "default": 0}, "features to skip"),
        _parameter(
            "bbox",
            {"type": "array", "minItems": 4, "maxItems": 6, "items": number},
            "minLon,minLat,maxLon,maxLat (CRS84)",
        ),
        _parameter("bbox-crs", {"type": "string", "enum": [CRS84]}, "the bbox's CRS"),
        _parameter("datetime", {"type": "string"}, "on last_inspected_at: instant or interval"),
        _parameter("tier", {"type": "string", "enum": [t.value for t in Tier]}, "tier"),
        _parameter("kind", {"type": "string", "enum": [k.value for k in FacilityKind]}, "kind"),
        _parameter(
            "status", {"type": "string", "enum": [s.value for s in FacilityStatus]}, "status"
        ),
        _parameter("township_code", {"type": "string"}, "9-digit township division code"),
        _parameter("overdue", {"type": "boolean"}, "due before today (county time)"),
    ]

    def get(summary: str, answer: dict[str, Any], parameters: list[Any] | None = None) -> Any:
        operation = {"summary": summary, "responses": {"200": answer, **errors}}
        if parameters:
            operation["parameters"] = parameters
        return {"get": operation}

    return {
        "openapi": "3.0.3",
        "info": {"title": f"{TITLE} — OGC API Features", "version": "1.0.0"},
        "servers": [{"url": base}],
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer"}},
        },
        "security": [{"bearer": []}],
        "paths": {
            "/": get("landing page", _answer("links to the API")),
            "/api": get("this API definition", _answer("OpenAPI 3.0", OPENAPI)),
            "/conformance": get("conformance classes", _answer("conformsTo")),
            "/collections": get("the collections", _answer("collections")),
            "/collections/{collectionId}": get(
                "one collection", _answer("a collection"), [collection_id]
            ),
            "/collections/{collectionId}/queryables": get(
                "the queryable properties", _answer("JSON Schema", SCHEMA), [collection_id]
            ),
            "/collections/{collectionId}/items": get(
                "features", _answer("a FeatureCollection", GEOJSON), items_parameters
            ),
            "/collections/{collectionId}/items/{featureId}": get(
                "one feature", _answer("a Feature", GEOJSON), [collection_id, feature_id]
            ),
        },
    }
