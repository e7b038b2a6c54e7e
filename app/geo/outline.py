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


def _read(path: Path) -> CountyOutline:
    """Parse a boundary file: a (Multi)Polygon, a Feature, or a FeatureCollection of one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ValueError(f"county boundary file {path} does not exist") from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"county boundary file {path} is not readable GeoJSON: {exc}") from None
    if isinstance(data, dict) and data.get("type") == "FeatureCollection":
        features = data.get("features") or []
        if len(features) != 1:
            raise ValueError(
                f"county boundary file {path} must hold exactly one feature, not {len(features)}"
            )
        data = features[0]
    properties: dict[str, Any] = {}
    if isinstance(data, dict) and data.get("type") == "Feature":
        properties = data.get("properties") or {}
        data = data.get("geometry")
    try:
        geometry = shape(data)
    except Exception as exc:  # shapely raises several types for malformed geometry
        raise ValueError(f"county boundary file {path} holds no valid geometry: {exc}") from None
    if not isinstance(geometry, Polygon | MultiPolygon) or geometry.is_empty:
        raise ValueError(f"county boundary file {path} must hold a Polygon or MultiPolygon")
    if not geometry.is_valid:
        raise ValueError(f"county boundary file {path}: {shapely.is_valid_reason(geometry)}")
    min_lon, min_lat, max_lon, max_lat = geometry.bounds
    if not (-180 <= min_lon <= max_lon <= 180 and -90 <= min_lat <= max_lat <= 90):
        raise ValueError(f"county boundary file {path} is not in longitude/latitude degrees")
    code = str(properties.get("code") or properties.get("adcode") or path.stem)
    return CountyOutline(geometry, code=code, name=str(properties.get("name") or code))


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


def within_county(settings: "Settings", lon: float, lat: float) -> bool:
    """Whether a WGS-84 point lies inside the county widened by ``MEMORIAL_COUNTY_MARGIN_M``."""
    return outline(settings).contains(lon, lat, margin_m=settings.county_margin_m)


def county_outline(settings: "Settings") -> dict[str, Any]:
    """The county as one GeoJSON Feature, for the map's ``county`` collection."""
    return outline(settings).feature()


def county_bbox(settings: "Settings") -> tuple[float, float, float, float]:
    """``(min_lon, min_lat, max_lon, max_lat)`` of the county's outline, WGS-84."""
    return outline(settings).bbox
