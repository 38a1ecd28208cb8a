"""Tests for dispatch.geo: distances, GCJ-02/BD-09 transforms, China test, point-in-polygon."""

from __future__ import annotations

import math
import random

import pytest

from dispatch import geo
from dispatch.geo import (
    EARTH_RADIUS_M,
    bd09_to_wgs84,
    gcj02_to_bd09,
    gcj02_to_wgs84,
    haversine_m,
    in_china,
    point_in_polygon,
    to_wgs84,
    wgs84_to_bd09,
    wgs84_to_gcj02,
)

CHINESE_POINTS = [
    (39.9087, 116.3975),  # Beijing, Tiananmen
    (31.2304, 121.4737),  # Shanghai
    (33.3400, 120.1500),  # Yandu
    (43.8256, 87.6168),  # Urumqi
    (45.7567, 126.6424),  # Harbin
    (18.2528, 109.5119),  # Sanya
    (29.6520, 91.1721),  # Lhasa
    (22.5431, 114.0579),  # Shenzhen
    (25.0330, 121.5654),  # Taipei
]


# --------------------------------------------------------------------------- haversine


def test_haversine_beijing_shanghai() -> None:
    d = haversine_m(39.9042, 116.4074, 31.2304, 121.4737)
    assert abs(d - 1_067_000) < 2_000


def test_haversine_quarter_meridian_and_basics() -> None:
    assert haversine_m(0, 0, 90, 0) == pytest.approx(math.pi * EARTH_RADIUS_M / 2, rel=1e-12)
    assert haversine_m(0, 0, 0, 180) == pytest.approx(math.pi * EARTH_RADIUS_M, rel=1e-12)
    assert haversine_m(33.34, 120.15, 33.34, 120.15) == 0.0
    a = haversine_m(33.3, 120.1, 33.4, 120.2)
    assert a == pytest.approx(haversine_m(33.4, 120.2, 33.3, 120.1), rel=1e-12)
    # one minute of latitude is about a nautical mile (1852 m, within a few metres on a sphere)
    assert haversine_m(33.0, 120.0, 33.0 + 1 / 60, 120.0) == pytest.approx(1853.2, abs=1.0)


# --------------------------------------------------------------------------- GCJ-02 / BD-09


def test_forward_transforms_match_published_values() -> None:
    # wandergis/coordtransform test/app.js (lng, lat order there), the reference JS implementation
    lat, lon = wgs84_to_gcj02(39.915, 116.404)
    assert lat == pytest.approx(39.91640428150164, abs=1e-10)
    assert lon == pytest.approx(116.41024449916938, abs=1e-10)
    lat, lon = gcj02_to_bd09(39.915, 116.404)
    assert lat == pytest.approx(39.92133699351021, abs=1e-10)
    assert lon == pytest.approx(116.41036949371029, abs=1e-10)


def test_inverse_is_better_than_one_step_approximation() -> None:
    # the one-step gcj02towgs84 of the same library gives (39.91359571849836, 116.39775550083061):
    # close (within a metre) but not exact; the iterative inverse must round-trip to the input exactly.
    lat, lon = gcj02_to_wgs84(39.915, 116.404)
    assert haversine_m(lat, lon, 39.91359571849836, 116.39775550083061) < 1.0
    back = wgs84_to_gcj02(lat, lon)
    assert haversine_m(*back, 39.915, 116.404) < 1e-3
    one_step_back = wgs84_to_gcj02(39.91359571849836, 116.39775550083061)
    assert haversine_m(*one_step_back, 39.915, 116.404) > haversine_m(*back, 39.915, 116.404)


@pytest.mark.parametrize(("lat", "lon"), CHINESE_POINTS)
def test_round_trips_under_half_a_metre(lat: float, lon: float) -> None:
    g = wgs84_to_gcj02(lat, lon)
    b = wgs84_to_bd09(lat, lon)
    assert haversine_m(lat, lon, *g) > 50  # the obfuscation really moved the point
    assert haversine_m(lat, lon, *b) > 50
    assert haversine_m(lat, lon, *gcj02_to_wgs84(*g)) < 0.5
    assert haversine_m(lat, lon, *bd09_to_wgs84(*b)) < 0.5
    # in fact the iteration converges far below a millimetre
    assert haversine_m(lat, lon, *gcj02_to_wgs84(*g)) < 1e-3
    assert haversine_m(lat, lon, *bd09_to_wgs84(*b)) < 1e-3


def test_round_trips_random_points() -> None:
    rng = random.Random(12345)
    worst = 0.0
    for _ in range(2000):
        lat, lon = rng.uniform(18.0, 53.0), rng.uniform(74.0, 134.0)
        worst = max(worst, haversine_m(lat, lon, *gcj02_to_wgs84(*wgs84_to_gcj02(lat, lon))))
        worst = max(worst, haversine_m(lat, lon, *bd09_to_wgs84(*wgs84_to_bd09(lat, lon))))
    assert worst < 1e-3


def test_gcj_offset_magnitude_in_yandu() -> None:
    # GCJ-02 shifts are a few hundred metres in eastern China; BD-09 adds roughly another 700 m
    d_gcj = haversine_m(33.34, 120.15, *wgs84_to_gcj02(33.34, 120.15))
    d_bd = haversine_m(33.34, 120.15, *wgs84_to_bd09(33.34, 120.15))
    assert 100 < d_gcj < 800
    assert d_gcj < d_bd < 2000


def test_gcj_is_identity_outside_china() -> None:
    for lat, lon in [(35.68, 139.69), (51.5, -0.12), (-33.87, 151.21), (40.71, -74.0)]:
        assert wgs84_to_gcj02(lat, lon) == (lat, lon)
        assert gcj02_to_wgs84(lat, lon) == (lat, lon)
    # BD-09 is still applied outside China but round-trips
    assert haversine_m(51.5, -0.12, *bd09_to_wgs84(*wgs84_to_bd09(51.5, -0.12))) < 1e-3


def test_to_wgs84() -> None:
    lat, lon = 33.34, 120.15
    assert to_wgs84(lat, lon) == (lat, lon)
    assert to_wgs84(lat, lon, "wgs84") == (lat, lon)
    assert haversine_m(lat, lon, *to_wgs84(*wgs84_to_gcj02(lat, lon), "gcj02")) < 1e-3
    assert haversine_m(lat, lon, *to_wgs84(*wgs84_to_bd09(lat, lon), "bd09")) < 1e-3
    assert to_wgs84(*wgs84_to_gcj02(lat, lon), "GCJ02") == to_wgs84(*wgs84_to_gcj02(lat, lon), "gcj02")
    for bad in ["utm", "", "wgs-84", "bd09mc", None]:
        with pytest.raises(ValueError):
            to_wgs84(lat, lon, bad)  # type: ignore[arg-type]


# --------------------------------------------------------------------------- in_china


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (39.9042, 116.4074),  # Beijing
        (43.8256, 87.6168),  # Urumqi
        (45.7567, 126.6424),  # Harbin
        (18.2528, 109.5119),  # Sanya
        (29.6520, 91.1721),  # Lhasa
        (33.34, 120.15),  # Yandu
        (31.2304, 121.4737),  # Shanghai
        (22.3193, 114.1694),  # Hong Kong
        (25.0330, 121.5654),  # Taipei
        (39.47, 75.99),  # Kashgar
        (31.5, 80.0),  # Zanda, Ngari (far west Tibet)
        (52.97, 122.54),  # Mohe
        (36.07, 120.38),  # Qingdao
        (38.91, 121.60),  # Dalian
    ],
)
def test_in_china(lat: float, lon: float) -> None:
    assert in_china(lat, lon)


@pytest.mark.parametrize(
    ("lat", "lon"),
    [
        (50.0, 80.0),  # Kazakhstan
        (35.68, 139.69),  # Tokyo
        (37.56, 126.97),  # Seoul
        (39.02, 125.75),  # Pyongyang
        (43.12, 131.89),  # Vladivostok
        (47.92, 106.92),  # Ulaanbaatar
        (43.24, 76.89),  # Almaty
        (27.72, 85.32),  # Kathmandu
        (21.03, 105.85),  # Hanoi
        (14.60, 120.98),  # Manila
        (28.61, 77.21),  # New Delhi
        (120.15, 33.34),  # Yandu with lat/lon swapped
        (0.0, 0.0),
        (-33.34, 120.15),
        (33.34, -120.15),
    ],
)
def test_not_in_china(lat: float, lon: float) -> None:
    assert not in_china(lat, lon)


def test_in_china_never_outside_bbox() -> None:
    rng = random.Random(7)
    for _ in range(5000):
        lat, lon = rng.uniform(-90, 90), rng.uniform(-180, 180)
        if in_china(lat, lon):
            assert 3.8 <= lat <= 53.6 and 73.5 <= lon <= 135.1


# --------------------------------------------------------------------------- point_in_polygon

SQUARE_WITH_HOLE = [
    [[0.0, 0.0], [10.0, 0.0], [10.0, 10.0], [0.0, 10.0], [0.0, 0.0]],
    [[4.0, 4.0], [6.0, 4.0], [6.0, 6.0], [4.0, 6.0], [4.0, 4.0]],
]
FAR_SQUARE = [[[20.0, 20.0], [22.0, 20.0], [22.0, 22.0], [20.0, 22.0], [20.0, 20.0]]]


def test_point_in_polygon_polygon_with_hole() -> None:
    # coordinates are [lon, lat]; arguments are (lat, lon)
    assert point_in_polygon(1.0, 1.0, SQUARE_WITH_HOLE)
    assert point_in_polygon(8.0, 2.0, SQUARE_WITH_HOLE)
    assert not point_in_polygon(5.0, 5.0, SQUARE_WITH_HOLE)  # in the hole
    assert not point_in_polygon(11.0, 5.0, SQUARE_WITH_HOLE)
    assert not point_in_polygon(-0.5, 5.0, SQUARE_WITH_HOLE)


def test_point_in_polygon_multipolygon_and_lat_lon_order() -> None:
    multi = [SQUARE_WITH_HOLE, FAR_SQUARE]
    assert point_in_polygon(21.0, 21.0, multi)
    assert point_in_polygon(1.0, 9.0, multi)
    assert not point_in_polygon(5.0, 5.0, multi)
    assert not point_in_polygon(15.0, 15.0, multi)
    tall = [[[0.0, 0.0], [1.0, 0.0], [1.0, 10.0], [0.0, 10.0]]]  # unclosed ring, 1 wide (lon), 10 tall (lat)
    assert point_in_polygon(8.0, 0.5, tall)
    assert not point_in_polygon(0.5, 8.0, tall)
    assert not point_in_polygon(0.5, 0.5, [])


def test_point_in_polygon_concave() -> None:
    u_shape = [[[0, 0], [3, 0], [3, 3], [2, 3], [2, 1], [1, 1], [1, 3], [0, 3], [0, 0]]]
    assert point_in_polygon(2.0, 0.5, u_shape)  # left arm
    assert point_in_polygon(2.0, 2.5, u_shape)  # right arm
    assert not point_in_polygon(2.0, 1.5, u_shape)  # the notch
    assert point_in_polygon(0.5, 1.5, u_shape)  # the base


def test_module_constants() -> None:
    assert geo.EARTH_RADIUS_M == 6371008.8
