"""Sign-in and sign-out for the pages: the API's token in an HttpOnly, SameSite session cookie."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlmodel import Session

from dispatch.auth.deps import SESSION_COOKIE, get_session
from dispatch.auth.service import issue_token, revoke_token
from dispatch.auth.views import check_login
from dispatch.config import get_settings
from dispatch.errors import AppError
from dispatch.ratelimit import client_ip
from dispatch.validation import Text
from web.render import HOME, render

router = APIRouter(include_in_schema=False)


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site (no //host, no scheme): no open redirect."""
    if target and target.startswith("/") and not target.startswith("//") and "\\\\" not in target:
        return target
    return None


@router.get("/login", response_class=HTMLResponse)
def login_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(request, "login.html", next=_safe_next(next) or "", error=None)


@router.post("/login")
def login(
    request: Request,
    username: Annotated[Text, Form()] = "",
    password: Annotated[str, Form()] = "",
    next: Annotated[Text, Form()] = "",
    session: Session = Depends(get_session),
):
    ip = client_ip(request)
    try:
        user = check_login(session, username.strip(), password, ip)
    except AppError as exc:
        response = render(
            request, "login.html", exc.status, next=_safe_next(next) or "", error=exc.message, username=username
        )
        if exc.status == 429:
            response.headers["Retry-After"] = str(exc.details.get("retry_after_s", 60))
        return response
    token, _ = issue_token(session, user)
    session.commit()
    response = RedirectResponse(_safe_next(next) or HOME.get(user.role, "/"), status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        token,
        max_age=get_settings().token_ttl_s,
        httponly=True,
        samesite="lax",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


@router.post("/logout")
def logout(request: Request, session: Session = Depends(get_session)) -> RedirectResponse:
    """Sign out: the session ends on the server (the token is dead everywhere), then the cookie goes."""
    revoke_token(session, request.cookies.get(SESSION_COOKIE))
    session.commit()
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
