from __future__ import annotations

from sqlmodel import Session, select

from dispatch.errors import AppError, not_found
from dispatch.points.models import Point, PointIn
from dispatch.qrcodes import service as qrcodes
from dispatch.qrcodes.service import QrReplaced
from dispatch.regions.models import Region
from dispatch.regions.service import validate_location

__all__ = ["QrReplaced", "by_token", "create", "get", "new_token", "qr_url", "revoke", "rotate", "view"]

new_token = qrcodes.new_token


def qr_url(point: Point) -> str:
    return qrcodes.point_url(point.qr_token)


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
    assert lon is not None and village.parent_code is not None  # validate_location: both or neither; a village's town
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
    assert point.id is not None  # flushed above
    qrcodes.record(session, "point", point.id, point.qr_token)
    session.flush()
    return point


def get(session: Session, point_id: int) -> Point:
    point = session.get(Point, point_id)
    if point is None:
        raise not_found("点位", "Point", code="point_not_found", id=point_id)
    return point


def by_token(session: Session, token: str) -> Point:
    """The active point behind a QR token; unknown and revoked tokens both answer 404 (``NotFound``).

    A token replaced by a rotation raises ``QrReplaced`` (410, code ``qr_token_replaced``) naming the point,
    while the point is active.
    """
    point = session.exec(select(Point).where(Point.qr_token == token)).first()
    if point is not None and point.active:
        return point
    if point is None:
        current = qrcodes.point_by_old_token(session, token)
        if current is not None:
            raise qrcodes.point_replaced(session, current)
    raise qrcodes.invalid()


def rotate(session: Session, point: Point) -> Point:
    return qrcodes.rotate_point(session, point)


def revoke(session: Session, point: Point) -> Point:
    return qrcodes.revoke_point(session, point)


def view(point: Point) -> dict:
    return {**point.model_dump(), "qr_url": qr_url(point)}
