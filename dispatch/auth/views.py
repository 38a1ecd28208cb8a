from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends, Request, Response
from sqlmodel import Session

from dispatch.auth import service
from dispatch.auth.deps import get_session, principal
from dispatch.auth.models import TokenIn, TokenOut
from dispatch.auth.service import Principal
from dispatch.errors import AppError, Unauthorized
from dispatch.ratelimit import client_ip

router = APIRouter(prefix="/api/auth", tags=["auth"])


def check_login(session: Session, username: str, password: str, ip: str):
    """The one login rule for the API and the login page: throttled per name and address."""
    wait = service.login_blocked(username, ip)
    if wait:
        raise AppError(
            "too_many_attempts",
            f"登录失败次数过多，请 {wait // 60 + 1} 分钟后再试",
            f"Too many failed sign-ins; try again in {wait // 60 + 1} min",
            status=429,
            retry_after_s=wait,
        )
    user = service.authenticate(session, username, password)
    service.record_login(username, ip, user is not None)
    if user is None:
        raise Unauthorized("invalid_credentials", "用户名或密码错误", "Wrong username or password")
    return user


@router.post("/token", response_model=TokenOut)
def token(body: TokenIn, request: Request, session: Session = Depends(get_session)) -> TokenOut:
    user = check_login(session, body.username, body.password, client_ip(request))
    token, exp = service.issue_token(session, user)
    session.commit()
    return TokenOut(access_token=token, role=user.role, expires_at=datetime.fromtimestamp(exp, UTC))


@router.post("/logout", status_code=204)
def logout(p: Principal = Depends(principal), session: Session = Depends(get_session)) -> Response:
    """End the caller's session: its token stops working everywhere (API, pages, sockets) at once."""
    if p.session is None:  # an API key: nothing to sign out of
        raise AppError("not_a_session", "API 密钥无需退出，请吊销它", "An API key has no session; revoke it")
    service.revoke_session(session, p.session)
    session.commit()
    return Response(status_code=204)


@router.get("/me")
def me(p: Principal = Depends(principal)) -> dict:
    """Who the caller is: pages use it to choose what to show."""
    return {"id": p.id, "username": p.name, "role": p.role, "member_id": p.member_id}
