"""The county's outline: is a facility's WGS-84 point inside it, give or take a margin in metres?

The outline is data (``seed/county-<code>.geojson``, see ``seed/README.md``), loaded once per
file. Shapely works in plane coordinates, so the outline is also kept in a local
equirectangular frame around its centroid (metres east and north of it), where the inside
test runs on a prepared polygon. A point outside is then measured on the sphere: the frame
only picks the nearest point of the boundary, and the distance is the haversine from the
point to that boundary point. Over a county (about 0.7° of latitude) the frame's scale is
off by at most ~0.5 %, which can only shift which boundary point is nearest by a negligible
amount; the distance itself is good to a few metres, far under the 2 km default margin.
"""

import json
import logging
from dataclasses import dataclass
from functools import lru_cache
from math import cos, radians
from pathlib import Path
from typing import TYPE_CHECKING, Any

import shapely
from shapely.geometry import MultiPolygon, Point, Polygon, mapping, shape
from shapely.ops import nearest_points

from app.geo.distance import EARTH_RADIUS_M, haversine_m

if TYPE_CHECKING:
    from app.config import Settings
    from app.models import County

logger = logging.getLogger(__name__)

_M_PER_DEG = radians(1) * EARTH_RADIUS_M


@dataclass(frozen=True)
class LocalFrame:
    """Metres east and north of ``(lon0, lat0)``: a plane good enough over one county."""

    lon0: float
    lat0: float

    @property
    def _scale(self) -> tuple[float, float]:
        return _M_PER_DEG * cos(radians(self.lat0)), _M_PER_DEG

    def to_metres(self, geometry: Any) -> Any:
        origin, scale = (self.lon0, self.lat0), self._scale
        return shapely.transform(geometry, lambda xy: (xy - origin) * scale)

    def to_degrees(self, geometry: Any) -> Any:
        origin, scale = (self.lon0, self.lat0), self._scale
        return shapely.transform(geometry, lambda xy: xy / scale + origin)


class CountyOutline:
    """One county's boundary polygon (WGS-84) with fast point tests in metres."""

    def __init__(self, geometry: Polygon | MultiPolygon, *, code: str, name: str) -> None:
        self.code, self.name, self.geometry = code, name, geometry
        self.frame = LocalFrame(geometry.centroid.x, geometry.centroid.y)
        self._metric = self.frame.to_metres(geometry)
        self._boundary = self._metric.boundary
        shapely.prepare(self._metric)

    def distance_outside_m(self, lon: float, lat: float) -> float:
        """0 for a point inside (or on) the outline; otherwise metres to its nearest edge."""
        point = self.frame.to_metres(Point(lon, lat))
        if self._metric.covers(point):
            return 0.0
        nearest, _ = nearest_points(self._boundary, point)
        edge = self.frame.to_degrees(nearest)
        return haversine_m(lon, lat, edge.x, edge.y)

    def contains(self, lon: float, lat: float, *, margin_m: float = 0.0) -> bool:
        """Whether the point lies inside the outline widened by ``margin_m`` metres."""
        return self.distance_outside_m(lon, lat) <= margin_m

    def inset(self, metres: float) -> Polygon | MultiPolygon:
        """The outline shrunk by ``metres``, in the local metric frame (``self.frame``)."""
        return self._metric.buffer(-metres)

    @property
    def bbox(self) -> tuple[float, float, float, float]:
        """``(min_lon, min_lat, max_lon, max_lat)`` of the outline."""
        return tuple(float(v) for v in self.geometry.bounds)  # type: ignore[return-value]

    def feature(self) -> dict[str, Any]:
        """The outline as one GeoJSON Feature (RFC 7946, WGS-84)."""
        return {
            "type": "Feature",
            "id": self.code,
            "geometry": mapping(self.geometry),
            "properties": {"code": self.code, "name": self.name},
        }


def parse_outline(data: Any, *, where: str, code: str | None = None) -> CountyOutline:
    """An outline from GeoJSON: a (Multi)Polygon, a Feature, or a FeatureCollection of one;
    ValueError says what is wrong, starting with ``where`` (a file, a county)."""
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
        if len(features) != 1:
            raise ValueError(f"{where} must hold exactly one feature, not {len(features)}")
        data = features[0]
    properties: dict[str, Any] = {}
    if isinstance(data, dict) and data.get("type") == "Feature":
        properties = data.get("properties") or {}
        data = data.get("geometry")
    try:
        geometry = shape(data)
    except Exception as exc:  # shapely raises several types for malformed geometry
        raise ValueError(f"{where} holds no valid geometry: {exc}") from None
    if not isinstance(geometry, Polygon | MultiPolygon) or geometry.is_empty:
        raise ValueError(f"{where} must hold a Polygon or MultiPolygon")
    if not geometry.is_valid:
        raise ValueError(f"{where}: {shapely.is_valid_reason(geometry)}")
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValueError(f"{where} is not in longitude/latitude degrees")
    code = code or str(properties.get("code") or properties.get("adcode") or "")
    return CountyOutline(geometry, code=code, name=str(properties.get("name") or code))


def _read(path: Path) -> CountyOutline:
    """Parse a boundary file (see ``parse_outline``)."""
    where = f"county boundary file {path}"
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"{where} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{where} is not readable GeoJSON: {exc}") from None
    parsed = parse_outline(data, where=where)
    if not parsed.code:
        parsed.code = parsed.name = path.stem
    return parsed


@lru_cache(maxsize=8)
def _cached(path: Path, mtime_ns: int) -> CountyOutline:
    return _read(path)


def load_outline(path: Path) -> CountyOutline:
    """The outline in ``path``, parsed once per file version; ValueError says what is wrong."""
    resolved = path.resolve()
    try:
        mtime_ns = resolved.stat().st_mtime_ns
    except OSError:
        raise ValueError(f"county boundary file {path} does not exist") from None
    return _cached(resolved, mtime_ns)


def outline(settings: "Settings") -> CountyOutline:
    """The configured county's outline (``MEMORIAL_COUNTY_BOUNDARY``)."""
    return load_outline(settings.county_boundary)


#: outlines of counties (``County.outline``), by id and version: read from the database, so
#: every host sees a change at once (the key changes with ``updated_at``)
_BY_COUNTY: dict[tuple[int, str], CountyOutline] = {}


def of_county(county: "County") -> CountyOutline | None:
    """The outline a county keeps in the database (None: none given, nothing to check)."""
    if county.outline is None:
        return None
    key = (county.id or 0, county.updated_at.isoformat())
    found = _BY_COUNTY.get(key)
    if found is None:
        if len(_BY_COUNTY) >= 4096:
            _BY_COUNTY.clear()
        try:
            found = parse_outline(
                county.outline, where=f"the outline of county {county.code}", code=county.code
            )
        except ValueError as exc:  # stored by hand or by an old migration: checked by none
            logger.warning("%s; its facilities' positions are not checked", exc)
            return None
        _BY_COUNTY[key] = found
        found.name = county.name
    return found


def within_county(settings: "Settings", lon: float, lat: float) -> bool:
    """Whether a WGS-84 point lies inside the county widened by ``MEMORIAL_COUNTY_MARGIN_M``."""
    return outline(settings).contains(lon, lat, margin_m=settings.county_margin_m)


def county_outline(settings: "Settings") -> dict[str, Any]:
    """The county as one GeoJSON Feature, for the map's ``county`` collection."""
    return outline(settings).feature()


def county_bbox(settings: "Settings") -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` of the county's outline, WGS-84."""
    return outline(settings).bbox
