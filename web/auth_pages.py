"""Sign-in and sign-out for the pages: the API's token in an HttpOnly, SameSite session cookie."""

from __future__ import annotations

from typing import Annotated
from urllib.parse import unquote

import anyio
from anyio import from_thread
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


async def _answer_status(app, scope: dict) -> int:
    """The status the app answers ``scope`` with (the body is dropped), as an ASGI client would see it."""
    status, asked = 0, False
    done = anyio.Event()

    async def receive() -> dict:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await done.wait()  # the client "leaves" once the answer is complete
        return {"type": "http.disconnect"}

    async def send(message: dict) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body" and not message.get("more_body"):
            done.set()

    await app(scope, receive, send)
    done.set()
    return status


def _opens(request: Request, target: str, token: str) -> bool:
    """Whether the page at ``target`` opens for the session ``token``: the app itself is asked (in process, a
    GET with that session), so the page's own guard decides (``page_user`` with the roles its route names) and
    who may open which page stays written once, at the page. A 403 is a page the role may not open; anything
    else (the page, a 404, a redirect) is the page's to answer."""
    path, _, query = target.partition("?")
    scope = {
        "type": "http",
        "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": request.url.scheme,
        "path": unquote(path),
        "raw_path": path.encode("latin-1", "replace"),
        "query_string": query.split("#", 1)[0].encode("latin-1", "replace"),
        "root_path": "",
        "headers": [
            (b"host", (request.headers.get("host") or "localhost").encode("latin-1", "replace")),
            (b"accept", b"text/html"),
            (b"cookie", f"{SESSION_COOKIE}={token}".encode()),
        ],
        "client": request.scope.get("client"),
        "server": request.scope.get("server"),
        "state": {},  # its own: nothing of the sign-in request (its principal, its id) carries over
    }
    return from_thread.run(_answer_status, request.app, scope) != 403


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
        page = render(
            request, "login.html", exc.status, next=_safe_next(next) or "", error=exc.message, username=username
        )
        if exc.status == 429:
            page.headers["Retry-After"] = str(exc.details.get("retry_after_s", 60))
        return page
    token, _ = issue_token(session, user)
    session.commit()
    target = _safe_next(next)
    if target and not _opens(request, target, token):
        target = None  # e.g. a member sent to /board: their own start page, not a 403
    response = RedirectResponse(target or HOME.get(user.role, "/"), status_code=303)
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
