"""Issuing, rotating and revoking QR tokens; resolving a scanned token to its point or member.

Tokens are ``secrets.token_urlsafe(16)`` (128 bits): unguessable, so a code cannot be enumerated. A point's
current token lives on ``point.qr_token`` (the fast path of every scan) and in ``qr_token``; a member's personal
token only in ``qr_token``. Rotating keeps the old row, marked replaced, so an old poster answers 410 with the
point's name and where to go rather than an anonymous 404.
"""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch.config import get_settings
from dispatch.db import utcnow
from dispatch.errors import AppError, Conflict, NotFound, Unavailable, not_found
from dispatch.intake.models import Mailbox
from dispatch.members.models import Member
from dispatch.points.models import Point
from dispatch.qrcodes.models import QrToken
from dispatch.regions.models import Region


class QrReplaced(AppError):
    """A rotated token: 410 Gone, naming the point (or member) and where to go instead."""

    status = 410


def new_token() -> str:
    return secrets.token_urlsafe(16)


def base_url() -> str:
    return get_settings().public_base_url.rstrip("/")


def point_url(token: str) -> str:
    return f"{base_url()}/q/{token}"


def member_url(token: str) -> str:
    return f"{base_url()}/mb/{token}"


def invalid() -> NotFound:
    return NotFound(
        "qr_token_invalid",
        "二维码无效或已停用，请联系所在村（社区）或拨打 12345",
        "This QR code is unknown or was revoked; ask your village office or call 12345",
    )


def record(session: Session, kind: str, target_id: int, token: str) -> QrToken:
    row = QrToken(token=token, kind=kind, target_id=target_id)
    session.add(row)
    return row


def row(session: Session, token: str) -> QrToken | None:
    return session.exec(select(QrToken).where(QrToken.token == token)).first()


def _region_name(session: Session, code: str | None) -> str:
    region = session.get(Region, code) if code else None
    return region.name if region else ""


# ---- points ------------------------------------------------------------------------------------------


def point_replaced(session: Session, point: Point) -> QrReplaced:
    hotline = get_settings().hotline_number
    village = _region_name(session, point.village_code)
    town = _region_name(session, point.town_code)
    return QrReplaced(
        "qr_token_replaced",
        f"此二维码已更换（{point.name}）。请扫描现场新二维码或拨打 {hotline}",
        f"This code was replaced ({point.name}). Scan the new code on site or call {hotline}",
        point_id=point.id,
        point_name=point.name,
        village=village,
        town=town,
        hotline=hotline,
    )


def point_by_old_token(session: Session, token: str) -> Point | None:
    """The still-active point a replaced token used to open, if any."""
    old = row(session, token)
    if old is None or old.kind != "point" or old.replaced_at is None or old.revoked_at is not None:
        return None
    point = session.get(Point, old.target_id)
    return point if point is not None and point.active else None


def rotate_point(session: Session, point: Point) -> Point:
    """Issue a new token for an active point; the old one stays, replaced (its scans answer 410)."""
    if not point.active:
        raise Conflict(
            "point_revoked",
            "点位已停用，不能更换二维码",
            "The point is revoked; its code cannot be rotated",
            point_id=point.id,
        )
    now = utcnow()
    fresh = new_token()
    assert point.id is not None  # a point from the database
    old = row(session, point.qr_token)
    if old is None:  # issued before the token table existed (or by the demo loader)
        old = record(session, "point", point.id, point.qr_token)
        old.issued_at = point.created_at
    old.replaced_at = now
    old.replaced_by = fresh
    session.add(old)
    record(session, "point", point.id, fresh)
    point.qr_token = fresh
    session.add(point)
    session.flush()
    return point


def revoke_point(session: Session, point: Point) -> Point:
    now = utcnow()
    point.active = False
    point.revoked_at = point.revoked_at or now
    session.add(point)
    for r in session.exec(
        select(QrToken).where(QrToken.kind == "point", QrToken.target_id == point.id, col(QrToken.revoked_at).is_(None))
    ):
        r.revoked_at = now
        session.add(r)
    session.flush()
    return point


# ---- members -----------------------------------------------------------------------------------------


def _member(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise not_found("委员", "Member", code="member_not_found", id=member_id)
    return member


def current_member_row(session: Session, member_id: int) -> QrToken | None:
    return session.exec(
        select(QrToken)
        .where(
            QrToken.kind == "member",
            QrToken.target_id == member_id,
            col(QrToken.replaced_at).is_(None),
            col(QrToken.revoked_at).is_(None),
        )
        .order_by(col(QrToken.id).desc())
    ).first()


def member_token(session: Session, member_id: int) -> str:
    """The member's personal token, issued (and committed) on first use."""
    _member(session, member_id)
    current = current_member_row(session, member_id)
    if current is not None:
        return current.token
    record(session, "member", member_id, new_token())
    try:
        session.commit()
    except IntegrityError:  # two first requests at once: the other one's token stands
        session.rollback()
    current = current_member_row(session, member_id)
    assert current is not None
    return current.token


def rotate_member(session: Session, member_id: int) -> str:
    _member(session, member_id)
    now = utcnow()
    fresh = new_token()
    for r in session.exec(
        select(QrToken).where(
            QrToken.kind == "member",
            QrToken.target_id == member_id,
            col(QrToken.replaced_at).is_(None),
            col(QrToken.revoked_at).is_(None),
        )
    ):
        r.replaced_at, r.replaced_by = now, fresh
        session.add(r)
    record(session, "member", member_id, fresh)
    session.flush()
    return fresh


def member_by_token(session: Session, token: str) -> Member:
    """The member behind a personal code; unknown/revoked → 404, replaced → 410 naming the member."""
    r = row(session, token)
    if r is None or r.kind != "member" or r.revoked_at is not None:
        raise invalid()
    member = session.get(Member, r.target_id)
    if member is None:
        raise invalid()
    if r.replaced_at is not None:
        hotline = get_settings().hotline_number
        raise QrReplaced(
            "qr_token_replaced",
            f"此二维码已更换（{member.name} 委员信箱）。请向委员索取新二维码或拨打 {hotline}",
            f"This code was replaced ({member.name}'s mailbox). Ask the member for the new code or call {hotline}",
            member_id=member.id,
            member_name=member.name,
            hotline=hotline,
        )
    return member


def member_mailbox(session: Session, member: Member) -> Mailbox:
    """The member's mailbox (委员信箱), created on first use."""
    box = session.exec(
        select(Mailbox).where(Mailbox.kind == "member", Mailbox.member_id == member.id).order_by(col(Mailbox.id))
    ).first()
    if box is not None:
        return box
    box = Mailbox(address=f"member{member.id}@{get_settings().mail_domain}", kind="member", member_id=member.id)
    session.add(box)
    try:
        session.commit()
    except IntegrityError:  # created meanwhile by a concurrent first use
        session.rollback()
        found = session.exec(
            select(Mailbox).where(Mailbox.address == f"member{member.id}@{get_settings().mail_domain}")
        )
        box = found.one()
    return box


# ---- posters -----------------------------------------------------------------------------------------


def poster_points(session: Session, points: list[Point]) -> list:
    from qr.posters import PosterPoint

    names = {r.code: r.name for r in session.exec(select(Region).where(col(Region.level).in_(("town", "village"))))}
    return [
        PosterPoint(
            name=p.name,
            town=names.get(p.town_code, ""),
            village=names.get(p.village_code, ""),
            url=point_url(p.qr_token),
        )
        for p in points
    ]


def posters_pdf(session: Session, points: list[Point], progress=None) -> bytes:
    """One A4 poster per active point, in one PDF; 404 when none, 503 when the CJK font is missing."""
    from qr import posters

    points = [p for p in points if p.active]
    if not points:
        raise NotFound("no_points", "没有可打印的点位", "No active points to print")
    try:
        return posters.build(poster_points(session, points), get_settings().hotline_number, progress)
    except posters.PosterFontMissing as exc:
        raise Unavailable("poster_font_missing", "缺少中文字体，无法生成海报", str(exc)) from exc


def town_points(session: Session, town_code: str) -> list[Point]:
    town = session.get(Region, town_code)
    if town is None or town.level != "town":
        raise AppError(
            "unknown_region", f"未知的镇（街道）代码：{town_code}", f"Unknown town code: {town_code}", status=422
        )
    return list(
        session.exec(
            select(Point).where(Point.town_code == town_code, col(Point.active).is_(True)).order_by(col(Point.id))
        )
    )
