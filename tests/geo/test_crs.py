"""Golden vectors: published fixtures of the reference implementations (eviltransform,
wandergis/coordtransform), and inverses good to well under a metre."""

import random

import pytest

from app.geo.crs import (
    bd09_to_gcj02,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    out_of_china,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)
from app.geo.distance import haversine_m
from app.models import Crs

# (lon, lat) WGS-84 → GCJ-02, eviltransform's test fixture (Shanghai, Shenzhen, Beijing)
# and coordtransform's README example.
WGS_TO_GCJ = [
    ((121.5272106, 31.1774276), (121.531541859215, 31.17530398364597)),
    ((113.912316, 22.543847), (113.9171764808363, 22.540796131694766)),
    ((116.377817, 39.911954), (116.38404722455657, 39.91334545536069)),
    ((116.404, 39.915), (116.41024449916938, 39.91640428150164)),
]
# GCJ-02 → BD-09, coordtransform's README example
GCJ_TO_BD = [((116.404, 39.915), (116.41036949371029, 39.92133699351021))]


@pytest.mark.parametrize(("wgs", "gcj"), WGS_TO_GCJ)
def test_wgs84_to_gcj02_matches_the_published_vectors(wgs, gcj) -> None:
    assert wgs84_to_gcj02(*wgs) == pytest.approx(gcj, abs=1e-9)


@pytest.mark.parametrize(("wgs", "gcj"), WGS_TO_GCJ)
def test_gcj02_inverse_recovers_wgs84_within_a_centimetre(wgs, gcj) -> None:
    assert haversine_m(*gcj02_to_wgs84(*gcj), *wgs) < 0.01


@pytest.mark.parametrize(("gcj", "bd"), GCJ_TO_BD)
def test_gcj02_to_bd09_matches_the_published_vector(gcj, bd) -> None:
    assert gcj02_to_bd09(*gcj) == pytest.approx(bd, abs=1e-9)
    assert haversine_m(*bd09_to_gcj02(*bd), *gcj) < 0.01


def test_bd09_inverse_agrees_with_the_closed_form_approximation_to_a_metre() -> None:
    # coordtransform's one-step bd09togcj02(116.404, 39.915), itself approximate
    assert haversine_m(*bd09_to_gcj02(116.404, 39.915), 116.39762729119315, 39.90865673957631) < 1


def test_round_trips_across_china_stay_under_a_metre() -> None:
    rng = random.Random(7)
    for _ in range(2000):
        lon, lat = rng.uniform(73.7, 134.9), rng.uniform(18.2, 53.4)
        assert haversine_m(*gcj02_to_wgs84(*wgs84_to_gcj02(lon, lat)), lon, lat) < 1
        assert haversine_m(*bd09_to_wgs84(*wgs84_to_bd09(lon, lat)), lon, lat) < 1


def test_the_shift_around_qinshui_is_hundreds_of_metres() -> None:
    lon, lat = 112.3, 35.7
    assert 500 < haversine_m(lon, lat, *wgs84_to_gcj02(lon, lat)) < 700
    assert 1200 < haversine_m(lon, lat, *wgs84_to_bd09(lon, lat)) < 1500


@pytest.mark.parametrize("point", [(2.35, 48.85), (-104.9903, 39.7392), (153.0251, -27.4698)])
def test_points_outside_china_are_not_shifted(point) -> None:
    assert out_of_china(*point)
    assert wgs84_to_gcj02(*point) == point
    assert gcj02_to_wgs84(*point) == point


def test_to_wgs84_dispatches_on_crs() -> None:
    wgs = (112.3, 35.7)
    assert to_wgs84(*wgs, Crs.wgs84) == wgs
    assert haversine_m(*to_wgs84(*wgs84_to_gcj02(*wgs), Crs.gcj02), *wgs) < 0.01
    assert haversine_m(*to_wgs84(*wgs84_to_bd09(*wgs), Crs.bd09), *wgs) < 0.01
