"""WGS-84 ⇄ GCJ-02 ⇄ BD-09, for coordinates from Chinese map apps.

GCJ-02 ("Mars coordinates", AMap / Tencent / WeChat) is WGS-84 pushed by a published
obfuscation polynomial; BD-09 (Baidu) is GCJ-02 pushed once more. Both forward maps are
closed-form; their inverses are not, so we invert them by fixed-point iteration until the
forward map of our answer lands within ~1 mm of the input (far under the 1 m we promise).
Outside mainland China the forward maps are the identity, as in every reference
implementation.
"""

from collections.abc import Callable
from math import atan2, cos, pi, sin, sqrt

from app.models.enums import Crs

Point = tuple[float, float]  # (longitude, latitude) in degrees

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as GCJ-02 uses
_EE = 0.00669342162296594323  # its first eccentricity squared
_X_PI = pi * 3000.0 / 180.0
_TOLERANCE_DEG = 1e-8  # about 1 mm
_MAX_ITERATIONS = 30


def out_of_china(lon: float, lat: float) -> bool:
    """The rough rectangle outside which GCJ-02 applies no shift."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _shift_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * sqrt(abs(x))
    ret += (20.0 * sin(6.0 * x * pi) + 20.0 * sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * sin(y * pi) + 40.0 * sin(y / 3.0 * pi)) * 2.0 / 3.0
    ret += (160.0 * sin(y / 12.0 * pi) + 320.0 * sin(y * pi / 30.0)) * 2.0 / 3.0
    return ret


def _shift_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * sqrt(abs(x))
    ret += (20.0 * sin(6.0 * x * pi) + 20.0 * sin(2.0 * x * pi)) * 2.0 / 3.0
    ret += (20.0 * sin(x * pi) + 40.0 * sin(x / 3.0 * pi)) * 2.0 / 3.0
    ret += (150.0 * sin(x / 12.0 * pi) + 300.0 * sin(x / 30.0 * pi)) * 2.0 / 3.0
    return ret


def wgs84_to_gcj02(lon: float, lat: float) -> Point:
    if out_of_china(lon, lat):
        return lon, lat
    dlat = _shift_lat(lon - 105.0, lat - 35.0)
    dlon = _shift_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * pi
    magic = 1 - _EE * sin(radlat) ** 2
    sqrt_magic = sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrt_magic) * pi)
    dlon = (dlon * 180.0) / (_A / sqrt_magic * cos(radlat) * pi)
    return lon + dlon, lat + dlat


def gcj02_to_bd09(lon: float, lat: float) -> Point:
    z = sqrt(lon * lon + lat * lat) + 0.00002 * sin(lat * _X_PI)
    theta = atan2(lat, lon) + 0.000003 * cos(lon * _X_PI)
    return z * cos(theta) + 0.0065, z * sin(theta) + 0.006


def _invert(forward: Callable[[float, float], Point], lon: float, lat: float) -> Point:
    """Find p with forward(p) == (lon, lat); the maps are near-translations, so this converges."""
    guess_lon, guess_lat = lon, lat
    for _ in range(_MAX_ITERATIONS):
        fwd_lon, fwd_lat = forward(guess_lon, guess_lat)
        err_lon, err_lat = fwd_lon - lon, fwd_lat - lat
        if abs(err_lon) < _TOLERANCE_DEG and abs(err_lat) < _TOLERANCE_DEG:
            break
        guess_lon, guess_lat = guess_lon - err_lon, guess_lat - err_lat
    return guess_lon, guess_lat


def gcj02_to_wgs84(lon: float, lat: float) -> Point:
    if out_of_china(lon, lat):
        return lon, lat
    return _invert(wgs84_to_gcj02, lon, lat)


def bd09_to_gcj02(lon: float, lat: float) -> Point:
    return _invert(gcj02_to_bd09, lon, lat)


def bd09_to_wgs84(lon: float, lat: float) -> Point:
    return gcj02_to_wgs84(*bd09_to_gcj02(lon, lat))


def wgs84_to_bd09(lon: float, lat: float) -> Point:
    return gcj02_to_bd09(*wgs84_to_gcj02(lon, lat))


def to_wgs84(lon: float, lat: float, crs: Crs) -> Point:
    """Convert a point given in ``crs`` to WGS-84."""
    if crs is Crs.gcj02:
        return gcj02_to_wgs84(lon, lat)
    if crs is Crs.bd09:
        return bd09_to_wgs84(lon, lat)
    return lon, lat
