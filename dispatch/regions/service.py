from __future__ import annotations

import math

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
