"""Members' personal codes (委员信箱): the operator prints them, a member may fetch their own."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Response
from sqlmodel import Session

from dispatch.auth.deps import get_session, require
from dispatch.auth.service import Principal
from dispatch.errors import Forbidden
from dispatch.qrcodes import service
from qr import codes

router = APIRouter(prefix="/api/members", tags=["qr codes"])


def _own_or_operator(member_id: int, p: Principal) -> None:
    if p.role == "member" and p.member_id != member_id:
        raise Forbidden("forbidden", "只能获取本人的二维码", "A member may only get their own code", role=p.role)


def _url(session: Session, member_id: int, p: Principal) -> str:
    _own_or_operator(member_id, p)
    return service.member_url(service.member_token(session, member_id))


@router.get("/{member_id}/qr")
def member_qr(
    member_id: int, session: Session = Depends(get_session), p: Principal = Depends(require("operator", "member"))
) -> dict:
    """The member's personal code: its URL (opens the member's mailbox page)."""
    url = _url(session, member_id, p)
    return {"member_id": member_id, "qr_url": url, "png": f"/api/members/{member_id}/qr.png"}


@router.get("/{member_id}/qr.png", response_class=Response, responses={200: {"content": {"image/png": {}}}})
def member_qr_png(
    member_id: int, session: Session = Depends(get_session), p: Principal = Depends(require("operator", "member"))
) -> Response:
    return Response(codes.png(_url(session, member_id, p)), media_type="image/png")


@router.get("/{member_id}/qr.svg", response_class=Response, responses={200: {"content": {"image/svg+xml": {}}}})
def member_qr_svg(
    member_id: int, session: Session = Depends(get_session), p: Principal = Depends(require("operator", "member"))
) -> Response:
    return Response(codes.svg(_url(session, member_id, p)), media_type="image/svg+xml")


@router.post("/{member_id}/qr/rotate", dependencies=[Depends(require("operator"))])
def rotate_member_qr(member_id: int, session: Session = Depends(get_session)) -> dict:
    """A new personal code for the member (e.g. a printed card was lost); the old one answers 410."""
    token = service.rotate_member(session, member_id)
    session.commit()
    url = service.member_url(token)
    return {"member_id": member_id, "qr_url": url, "png": f"/api/members/{member_id}/qr.png"}
