"""FastAPI dependencies: the session, the caller, and role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator

from fastapi import Depends, Request
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from dispatch.auth.models import SESSION_COOKIE
from dispatch.auth.service import Principal, principal_from_api_key, principal_from_token, remembered_api_key
from dispatch.config import get_settings
from dispatch.db import get_engine
from dispatch.errors import Forbidden, Unauthorized

STAFF = ("admin", "operator", "supervisor")
CSRF_HEADER = "x-requested-with"
SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def get_session() -> Iterator[Session]:
    with Session(get_engine(), expire_on_commit=False) as session:
        yield session


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip()
    token = request.cookies.get(SESSION_COOKIE)
    if token and request.method not in SAFE_METHODS:
        if not request.headers.get(CSRF_HEADER):
            # a cross-site form can carry the cookie but not a custom header: pages' scripts always send it
            raise Forbidden(
                "csrf_required",
                "请求缺少防伪标头，请刷新页面后重试",
                "Missing anti-forgery header; reload the page and try again",
            )
        if not same_origin(request):  # second line: the browser says where the write comes from
            raise Forbidden("csrf_origin", "请求来源不被允许", "Cross-site request refused")
    return token


def same_origin(request: Request) -> bool:
    """Whether Origin (else Referer), when the browser sends one, names this site or the public base URL."""
    from urllib.parse import urlsplit

    source = request.headers.get("origin") or request.headers.get("referer")
    if not source:
        return True  # not a browser, or a privacy setting: the custom header already proved same-origin script
    if source == "null":
        return False
    host = urlsplit(source).netloc.lower()
    allowed = {request.headers.get("host", "").lower(), urlsplit(get_settings().public_base_url).netloc.lower()}
    return bool(host) and host in allowed


def _lookup(token: str | None, key: str | None) -> Principal | None:
    # A session of its own, closed at once: on SQLite a transaction held through the request would block
    # the request's own writes.
    with Session(get_engine()) as session:
        principal = principal_from_token(session, token)
        if principal is None:
            principal = principal_from_api_key(session, key)
    return principal


async def optional_principal(request: Request) -> Principal | None:
    """The caller, if any. A machine key seen in the last seconds is answered without leaving the event loop
    (no thread hop, no database read); anything else is looked up in a worker thread."""
    token = _bearer(request)
    key = request.headers.get("x-api-key") or (token if token and token.startswith("sl_") else None)
    principal = remembered_api_key(key) if key and (token is None or token == key) else None
    if principal is None:
        principal = await run_in_threadpool(_lookup, token, key)
    request.state.principal = principal  # for the staff audit log (dispatch/audit)
    return principal


async def principal(p: Principal | None = Depends(optional_principal)) -> Principal:
    if p is None:
        raise Unauthorized("unauthorized", "请先登录或提供有效凭证", "Sign in or send a valid token")
    return p


def require(*roles: str, scope: str | None = None) -> Callable[..., Awaitable[Principal]]:
    """Allow these roles (admin always), or a machine key with ``scope``."""

    async def _check(p: Principal = Depends(principal)) -> Principal:
        if p.kind == "apikey":
            if scope and scope in p.scopes:
                return p
        elif p.role == "admin" or p.role in roles:
            return p
        raise Forbidden("forbidden", "您的角色无权执行此操作", "Your role may not do this", role=p.role)

    return _check
