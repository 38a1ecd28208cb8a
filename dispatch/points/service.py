from __future__ import annotations

import secrets

from sqlmodel import Session, select

from dispatch.config import get_settings
from dispatch.errors import AppError, NotFound, not_found
from dispatch.points.models import Point, PointIn
from dispatch.regions.models import Region
from dispatch.regions.service import validate_location


def new_token() -> str:
    return secrets.token_urlsafe(16)


def qr_url(point: Point) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/q/{point.qr_token}"


def create(session: Session, body: PointIn) -> Point:
    village = session.get(Region, body.village_code)
    if village is None or village.level != "village":
        raise AppError(
            "unknown_region",
            f"未知的村/社区代码：{body.village_code}",
            f"Unknown village code: {body.village_code}",
            status=422,
        )
    lat, lon = validate_location(body.lat, body.lon, body.coord_system)
    if lat is None:
        lat, lon = village.lat, village.lon
    point = Point(
        name=body.name,
        kind=body.kind,
        village_code=village.code,
        town_code=village.parent_code,
        lat=round(lat, 7),
        lon=round(lon, 7),
        qr_token=new_token(),
    )
    session.add(point)
    session.flush()
    return point


def get(session: Session, point_id: int) -> Point:
    point = session.get(Point, point_id)
    if point is None:
        raise not_found("点位", "Point", code="point_not_found", id=point_id)
    return point


def by_token(session: Session, token: str) -> Point:
    """The active point behind a QR token; unknown and revoked tokens both answer 404."""
    point = session.exec(select(Point).where(Point.qr_token == token)).first()
    if point is None or not point.active:
        raise NotFound(
            "qr_token_invalid",
            "二维码无效或已停用，请联系所在村（社区）或拨打 12345",
            "This QR code is unknown or was revoked; ask your village office or call 12345",
        )
    return point


def view(point: Point) -> dict:
    return {**point.model_dump(), "qr_url": qr_url(point)}
