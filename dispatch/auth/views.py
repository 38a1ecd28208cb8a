from __future__ import annotations

from datetime import UTC, datetime

from fastapi import APIRouter, Depends
from sqlmodel import Session

from dispatch.auth import service
from dispatch.auth.deps import get_session
from dispatch.auth.models import TokenIn, TokenOut
from dispatch.errors import Unauthorized

router = APIRouter(prefix="/api/auth", tags=["auth"])


@router.post("/token", response_model=TokenOut)
def token(body: TokenIn, session: Session = Depends(get_session)) -> TokenOut:
    user = service.authenticate(session, body.username, body.password)
    if user is None:
        raise Unauthorized("invalid_credentials", "用户名或密码错误", "Wrong username or password")
    token, exp = service.issue_token(user)
    return TokenOut(access_token=token, role=user.role, expires_at=datetime.fromtimestamp(exp, UTC))
