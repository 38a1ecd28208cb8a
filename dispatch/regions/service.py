from __future__ import annotations

import math
from functools import lru_cache

from sqlmodel import Session, select

from dispatch.errors import AppError
from dispatch.geo import in_china, to_wgs84
from dispatch.regions import reference
from dispatch.regions.models import Region


def load_reference(session: Session) -> int:
    """Insert the district, its towns and villages (reference data; idempotent)."""
    existing = set(session.exec(select(Region.code)).all())
    rows = [Region(**r) for r in reference.load_reference() if r["code"] not in existing]
    session.add_all(rows)
    return len(rows)


def search(session: Session, level: str | None = None, parent_code: str | None = None) -> list[Region]:
    stmt = select(Region)
    if level:
        stmt = stmt.where(Region.level == level)
    if parent_code:
        stmt = stmt.where(Region.parent_code == parent_code)
    return list(session.exec(stmt.order_by(Region.code)).all())


def validate_location(lat: float | None, lon: float | None, coord_system: str) -> tuple[float | None, float | None]:
    """The one rule for a location from any caller: both or neither, finite, a known datum, inside China.

    Returns WGS-84, rounded to 7 decimals (about 1 cm).
    """
    if lat is None and lon is None:
        return None, None
    if lat is None or lon is None:
        raise AppError("incomplete_location", "经纬度须同时提供", "lat and lon must be given together", status=422)
    if not (math.isfinite(lat) and math.isfinite(lon)):  # NaN/Infinity: also unserialisable in an error's details
        raise AppError("invalid_location", "经纬度须为有限数值", "lat and lon must be finite numbers", status=422)
    try:
        lat, lon = to_wgs84(float(lat), float(lon), coord_system)
    except ValueError as exc:
        raise AppError("invalid_coord_system", "坐标系无效", "Invalid coordinate system", status=422) from exc
    if not in_china(lat, lon):
        raise AppError(
            "location_outside_china",
            "位置不在中国境内",
            "The location is outside China",
            status=422,
            lat=lat,
            lon=lon,
        )
    return round(lat, 7), round(lon, 7)


def _clip(ring: list[tuple[float, float]], a: tuple[float, float], b: tuple[float, float]):
    """Sutherland–Hodgman: the part of ``ring`` nearer to ``a`` than to ``b`` (planar x, y)."""
    nx, ny = b[0] - a[0], b[1] - a[1]
    mx, my = (a[0] + b[0]) / 2, (a[1] + b[1]) / 2

    def side(p: tuple[float, float]) -> float:
        return (p[0] - mx) * nx + (p[1] - my) * ny  # <= 0: a's side

    out: list[tuple[float, float]] = []
    for i, cur in enumerate(ring):
        prev = ring[i - 1]
        sc, sp = side(cur), side(prev)
        if sc <= 0:
            if sp > 0:
                t = sp / (sp - sc)
                out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
            out.append(cur)
        elif sp <= 0:
            t = sp / (sp - sc)
            out.append((prev[0] + t * (cur[0] - prev[0]), prev[1] + t * (cur[1] - prev[1])))
    return out


@lru_cache
def boundaries() -> dict:
    """The district outline and town areas as GeoJSON (for maps that have no tiles).

    The real town boundaries are not public; a town's area is the part of the district nearer to its
    (placed) centre than to any other, which is also how the demo's villages were placed.
    """
    outer = reference.district_polygon()[0][0]
    lat0 = sum(p[1] for p in outer) / len(outer)
    k = math.cos(math.radians(lat0))
    ring = [(lon * k, lat) for lon, lat in outer[:-1]]
    towns = [r for r in reference.load_reference() if r["level"] == "town"]
    centres = [(t["lon"] * k, t["lat"]) for t in towns]
    features = [
        {
            "type": "Feature",
            "properties": {"code": reference.DISTRICT_CODE, "name": reference.DISTRICT_NAME, "level": "district"},
            "geometry": {"type": "MultiPolygon", "coordinates": reference.district_polygon()},
        }
    ]
    for i, town in enumerate(towns):
        cell = ring
        for j, other in enumerate(centres):
            if j != i and cell:
                cell = _clip(cell, centres[i], other)
        if len(cell) < 3:
            continue
        coords = [[round(x / k, 6), round(y, 6)] for x, y in cell]
        features.append(
            {
                "type": "Feature",
                "properties": {
                    "code": town["code"],
                    "name": town["name"],
                    "level": "town",
                    "centre": [town["lon"], town["lat"]],
                },
                "geometry": {"type": "Polygon", "coordinates": [coords + [coords[0]]]},
            }
        )
    return {"type": "FeatureCollection", "features": features}
