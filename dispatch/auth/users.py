"""Accounts administration (admin only): list, create, change role/duty/password/member link.

Password hashes never leave the server. An admin may not lock themself out: no self-deactivation or demotion.
A new password, a deactivation, a role or member-link change ends every session of the account (its tokens,
pages and open sockets), so whoever held one signs in again under the new terms.
"""

from __future__ import annotations

from datetime import datetime

from fastapi import APIRouter, Depends
from pydantic import BaseModel
from pydantic import Field as PField
from sqlmodel import Session, col, select

from dispatch.auth.deps import get_session, require
from dispatch.auth.models import ROLES, Role, User
from dispatch.auth.service import Principal, create_user, revoke_user_sessions, set_password
from dispatch.errors import AppError, Forbidden, not_found
from dispatch.members.models import Member
from dispatch.validation import Text

router = APIRouter(prefix="/api/users", tags=["users"])
admin_only = require()  # nobody but admin passes an empty role list


class UserIn(BaseModel):
    username: Text = PField(min_length=1, max_length=64, pattern=r"^[\w.@-]+$")
    password: str = PField(max_length=1024)  # the password rule words the limits
    role: Text
    member_id: int | None = None


class UserPatch(BaseModel):
    role: Role | None = None
    active: bool | None = None
    password: str | None = PField(default=None, max_length=1024)
    member_id: int | None = None


class UserOut(BaseModel):
    id: int
    username: str
    role: str
    member_id: int | None
    active: bool
    created_at: datetime


def _view(user: User) -> dict:
    return {
        "id": user.id,
        "username": user.username,
        "role": user.role,
        "member_id": user.member_id,
        "active": user.active,
        "created_at": user.created_at,
    }


def _check_member(session: Session, member_id: int | None) -> None:
    if member_id is not None and session.get(Member, member_id) is None:
        raise AppError("member_not_found", "委员不存在", "Member not found", status=422, id=member_id)


@router.get("", response_model=list[UserOut])
def list_users(session: Session = Depends(get_session), _p: Principal = Depends(admin_only)) -> list[dict]:
    return [_view(u) for u in session.exec(select(User).order_by(col(User.id))).all()]


@router.post("", status_code=201, response_model=UserOut)
def add_user(body: UserIn, session: Session = Depends(get_session), _p: Principal = Depends(admin_only)) -> dict:
    _check_member(session, body.member_id)
    user = create_user(session, body.username.strip(), body.password, body.role, body.member_id)
    session.commit()
    return _view(user)


@router.patch("/{user_id}", response_model=UserOut)
def change_user(
    user_id: int, body: UserPatch, session: Session = Depends(get_session), p: Principal = Depends(admin_only)
) -> dict:
    user = session.get(User, user_id)
    if user is None:
        raise not_found("账号", "Account", code="user_not_found", id=user_id)
    data = body.model_dump(exclude_unset=True)
    if p.kind == "user" and user.id == p.id:
        if data.get("active") is False:
            raise Forbidden("cannot_deactivate_self", "不能停用自己的账号", "You cannot deactivate your own account")
        if "role" in data and data["role"] != "admin":
            raise Forbidden("cannot_demote_self", "不能降低自己的角色", "You cannot demote your own account")
    if data.get("role") is not None and data["role"] not in ROLES:  # Literal already checks; kept for clarity
        raise AppError("invalid_role", "无效角色", "Invalid role", status=422)
    before = (user.role, user.member_id, user.active)
    if "member_id" in data:
        _check_member(session, data["member_id"])
        user.member_id = data["member_id"]
    if data.get("role") is not None:
        user.role = data["role"]
    if user.role == "member" and user.member_id is None:
        raise AppError("member_id_required", "委员账号须关联委员", "A member account needs a member_id", status=422)
    if data.get("active") is not None:
        user.active = data["active"]
    if data.get("password") is not None:
        set_password(session, user, data["password"])  # the password rule; ends every session
    assert user.id is not None  # a user from the database
    if before[2] and not user.active:
        revoke_user_sessions(session, user.id, "deactivated")
    elif before[:2] != (user.role, user.member_id):
        revoke_user_sessions(session, user.id, "role_changed")
    session.add(user)
    session.commit()
    return _view(user)
