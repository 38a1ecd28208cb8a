"""Pure geographic helpers: distances, Chinese datum shifts (GCJ-02, BD-09) and point-in-polygon.

All public functions take and return ``(lat, lon)`` in decimal degrees, except GeoJSON coordinate
arrays, which keep GeoJSON's ``[lon, lat]`` order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

EARTH_RADIUS_M = 6371008.8  # IUGG mean Earth radius

_A = 6378245.0  # Krasovsky 1940 semi-major axis, as used by GCJ-02
_EE = 0.00669342162296594323  # Krasovsky 1940 first eccentricity squared
_X_PI = math.pi * 3000.0 / 180.0  # BD-09 constant
_INVERSE_TOL_DEG = 1e-11  # ~1 micrometre; fixed-point iterations stop below this
_INVERSE_MAX_ITER = 10

COORD_SYSTEMS = ("wgs84", "gcj02", "bd09")


def haversine_m(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance in metres between two WGS-84 points (spherical Earth)."""
    p1 = math.radians(lat1)
    p2 = math.radians(lat2)
    dp = p2 - p1
    dl = math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


# --------------------------------------------------------------------------- GCJ-02 / BD-09


def _out_of_china(lat: float, lon: float) -> bool:
    """The customary GCJ-02 bounding box: outside it the obfuscation is the identity."""
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _transform_lat(x: float, y: float) -> float:
    ret = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (160.0 * math.sin(y / 12.0 * math.pi) + 320.0 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return ret


def _transform_lon(x: float, y: float) -> float:
    ret = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    ret += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    ret += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    ret += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return ret


def _gcj_delta(lat: float, lon: float) -> tuple[float, float]:
    """GCJ-02 offset (dlat, dlon) in degrees at a WGS-84 point inside China."""
    dlat = _transform_lat(lon - 105.0, lat - 35.0)
    dlon = _transform_lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = math.sin(radlat)
    magic = 1 - _EE * magic * magic
    sqrtmagic = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((_A * (1 - _EE)) / (magic * sqrtmagic) * math.pi)
    dlon = (dlon * 180.0) / (_A / sqrtmagic * math.cos(radlat) * math.pi)
    return dlat, dlon


def wgs84_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """WGS-84 → GCJ-02 (the standard forward transform; identity outside China)."""
    if _out_of_china(lat, lon):
        return lat, lon
    dlat, dlon = _gcj_delta(lat, lon)
    return lat + dlat, lon + dlon


def gcj02_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """GCJ-02 → WGS-84 by fixed-point iteration of the forward transform (error ≪ 1 mm)."""
    if _out_of_china(lat, lon):
        return lat, lon
    wlat, wlon = lat, lon
    for _ in range(_INVERSE_MAX_ITER):
        glat, glon = wgs84_to_gcj02(wlat, wlon)
        elat, elon = glat - lat, glon - lon
        wlat -= elat
        wlon -= elon
        if abs(elat) < _INVERSE_TOL_DEG and abs(elon) < _INVERSE_TOL_DEG:
            break
    return wlat, wlon


def gcj02_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """GCJ-02 → BD-09 (Baidu's forward transform)."""
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * _X_PI)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * _X_PI)
    return z * math.sin(theta) + 0.006, z * math.cos(theta) + 0.0065


def bd09_to_gcj02(lat: float, lon: float) -> tuple[float, float]:
    """BD-09 → GCJ-02: the usual closed-form estimate refined by fixed-point iteration."""
    x, y = lon - 0.0065, lat - 0.006
    z = math.sqrt(x * x + y * y) - 0.00002 * math.sin(y * _X_PI)
    theta = math.atan2(y, x) - 0.000003 * math.cos(x * _X_PI)
    glat, glon = z * math.sin(theta), z * math.cos(theta)
    for _ in range(_INVERSE_MAX_ITER):
        blat, blon = gcj02_to_bd09(glat, glon)
        elat, elon = blat - lat, blon - lon
        glat -= elat
        glon -= elon
        if abs(elat) < _INVERSE_TOL_DEG and abs(elon) < _INVERSE_TOL_DEG:
            break
    return glat, glon


def wgs84_to_bd09(lat: float, lon: float) -> tuple[float, float]:
    """WGS-84 → BD-09 (via GCJ-02)."""
    return gcj02_to_bd09(*wgs84_to_gcj02(lat, lon))


def bd09_to_wgs84(lat: float, lon: float) -> tuple[float, float]:
    """BD-09 → GCJ-02 → WGS-84, both steps inverted iteratively."""
    return gcj02_to_wgs84(*bd09_to_gcj02(lat, lon))


def to_wgs84(lat: float, lon: float, coord_system: str = "wgs84") -> tuple[float, float]:
    """Convert a point given in ``wgs84``, ``gcj02`` or ``bd09`` (case-insensitive) to WGS-84."""
    cs = coord_system.strip().lower() if isinstance(coord_system, str) else coord_system
    if cs == "wgs84":
        return float(lat), float(lon)
    if cs == "gcj02":
        return gcj02_to_wgs84(lat, lon)
    if cs == "bd09":
        return bd09_to_wgs84(lat, lon)
    raise ValueError(f"unknown coordinate system {coord_system!r}; expected one of {'|'.join(COORD_SYSTEMS)}")


# --------------------------------------------------------------------------- polygons


def _in_ring(lat: float, lon: float, ring: Sequence[Sequence[float]]) -> bool:
    """Even-odd crossing test of one linear ring of ``[lon, lat]`` vertices (closed or not)."""
    inside = False
    n = len(ring)
    j = n - 1
    for i in range(n):
        xi, yi = ring[i][0], ring[i][1]
        xj, yj = ring[j][0], ring[j][1]
        if (yi > lat) != (yj > lat) and lon < (xj - xi) * (lat - yi) / (yj - yi) + xi:
            inside = not inside
        j = i
    return inside


def point_in_polygon(lat: float, lon: float, polygon: Sequence) -> bool:
    """Whether a point lies in a GeoJSON Polygon or MultiPolygon ``coordinates`` array.

    Vertices are ``[lon, lat]``; rings are combined with the even-odd rule, so holes are excluded.
    """
    if not polygon:
        return False
    # Polygon: [[ [lon, lat], ... ], ...]; MultiPolygon: [[[ [lon, lat], ... ], ...], ...]
    polygons = [polygon] if isinstance(polygon[0][0][0], (int, float)) else polygon
    for poly in polygons:
        inside = False
        for ring in poly:
            if _in_ring(lat, lon, ring):
                inside = not inside
        if inside:
            return True
    return False


# Coarse outlines ([lon, lat]) of mainland China (incl. Bohai and coastal islands), Hainan and Taiwan.
_CHINA_OUTLINE: tuple[tuple[tuple[float, float], ...], ...] = (
    (
        (73.5, 39.4), (74.8, 37.2), (75.9, 35.8), (78.0, 35.5), (79.3, 32.7), (78.6, 31.2),
        (81.0, 30.1), (85.0, 28.3), (88.0, 27.9), (92.0, 27.8), (96.2, 28.3), (97.5, 28.0),
        (98.5, 25.0), (97.6, 24.0), (99.2, 22.1), (101.1, 21.2), (102.1, 22.4), (105.5, 23.0),
        (106.7, 22.0), (108.0, 21.5), (110.0, 20.2), (110.6, 21.0), (113.0, 21.8), (116.5, 22.8),
        (119.0, 25.0), (120.5, 27.0), (122.2, 30.0), (122.0, 31.5), (120.9, 33.5), (119.3, 35.0),
        (120.5, 36.0), (122.7, 37.4), (121.1, 37.8), (121.2, 38.7), (124.2, 39.8), (126.0, 41.4),
        (128.2, 41.4), (129.5, 42.4), (130.6, 42.4), (131.2, 42.9), (131.0, 44.8), (133.1, 45.1),
        (134.8, 48.45), (133.5, 48.45), (132.5, 47.7), (130.6, 48.9), (127.5, 50.2), (125.5, 53.0),
        (123.0, 53.6), (120.8, 53.3), (119.2, 50.3), (117.8, 49.5), (116.7, 49.8), (118.3, 48.0),
        (119.8, 47.1), (119.9, 46.7), (117.4, 46.6), (116.0, 45.7), (113.6, 44.8), (112.0, 43.6),
        (105.0, 41.6), (96.5, 42.6), (91.0, 45.2), (90.5, 47.9), (87.8, 49.2), (85.5, 47.0),
        (82.5, 45.4), (80.2, 45.0), (80.3, 42.3), (76.0, 40.4), (73.5, 39.4),
    ),
    (
        (108.6, 19.2), (109.5, 18.1), (110.5, 18.5), (111.1, 19.7), (110.6, 20.2), (109.7, 20.2),
        (108.6, 19.2),
    ),
    (
        (120.1, 22.5), (120.8, 21.8), (121.6, 23.0), (122.1, 25.0), (121.0, 25.4), (120.0, 23.5),
        (120.1, 22.5),
    ),
)  # fmt: skip


def in_china(lat: float, lon: float) -> bool:
    """Coarse test for China (mainland, Hainan, Taiwan); never true outside lat 3.8–53.6, lon 73.5–135.1.

    Accurate to tens of kilometres near borders: good enough to reject swapped or foreign coordinates.
    """
    if not (3.8 <= lat <= 53.6 and 73.5 <= lon <= 135.1):
        return False
    return any(_in_ring(lat, lon, ring) for ring in _CHINA_OUTLINE)
