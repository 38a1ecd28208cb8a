from __future__ import annotations

from typing import Literal, cast

from fastapi import APIRouter, Depends
from sqlmodel import Session

from dispatch.auth.deps import get_session, principal, require
from dispatch.auth.service import Principal
from dispatch.cases import service as cases
from dispatch.errors import Forbidden
from dispatch.members import service
from dispatch.members.models import MemberIn, MemberOut, MemberPatch, PositionIn

router = APIRouter(prefix="/api/members", tags=["members"])
PHONE_ROLES = cases.PHONE_ROLES


def _out(session: Session, member, p: Principal) -> dict:
    load = service.loads(session, [member.id]).get(member.id, 0)
    return service.view(member, load, reveal_phone=p.role in PHONE_ROLES or p.member_id == member.id)


@router.post("", status_code=201, response_model=MemberOut)
def create_member(
    body: MemberIn, session: Session = Depends(get_session), p: Principal = Depends(require("operator"))
) -> dict:
    member = service.create(session, body)
    session.commit()
    return _out(session, member, p)


@router.get("", response_model=list[MemberOut])
def list_members(
    on_duty: bool | None = None,
    town_code: str | None = None,
    level: Literal["district", "town", "village"] | None = None,
    session: Session = Depends(get_session),
    p: Principal = Depends(require("operator", "supervisor")),
) -> list[dict]:
    members = service.search(session, on_duty=on_duty, town_code=town_code, level=level)
    loads = service.loads(session)
    # loaded members: their ids are set
    return [service.view(m, loads.get(cast(int, m.id), 0), reveal_phone=p.role in PHONE_ROLES) for m in members]


def _self_or_operator(member_id: int, p: Principal) -> None:
    if p.role in ("admin", "operator") or (p.role == "member" and p.member_id == member_id):
        return
    raise Forbidden("forbidden", "无权操作该委员", "You may not change this member")


@router.get("/{member_id}", response_model=MemberOut)
def get_member(
    member_id: int,
    session: Session = Depends(get_session),
    p: Principal = Depends(require("operator", "supervisor", "member")),
) -> dict:
    if p.role == "member" and p.member_id != member_id:
        raise Forbidden("forbidden", "无权查看该委员", "You may not see this member")
    return _out(session, service.get(session, member_id), p)


@router.patch("/{member_id}", response_model=MemberOut)
def patch_member(
    member_id: int, body: MemberPatch, session: Session = Depends(get_session), p: Principal = Depends(principal)
) -> dict:
    _self_or_operator(member_id, p)
    if p.role == "member" and body.model_dump(exclude_unset=True).keys() - {"on_duty", "lat", "lon", "coord_system"}:
        raise Forbidden("forbidden", "委员只能修改在岗状态和位置", "Members may change only their duty and position")
    member = service.patch(session, member_id, body)
    session.commit()
    return _out(session, member, p)


@router.put("/{member_id}/position", response_model=MemberOut)
def put_position(
    member_id: int, body: PositionIn, session: Session = Depends(get_session), p: Principal = Depends(principal)
) -> dict:
    _self_or_operator(member_id, p)
    member = service.set_position(session, member_id, body.lat, body.lon, body.coord_system)
    session.commit()
    return _out(session, member, p)
