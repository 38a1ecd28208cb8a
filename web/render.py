"""Page rendering (Jinja2) and the page guard: a session cookie, else the login page; a wrong role, 403."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.responses import HTMLResponse, RedirectResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from sqlmodel import Session

from dispatch.auth.deps import SESSION_COOKIE
from dispatch.auth.service import Principal, principal_from_token
from dispatch.cases import taxonomy
from dispatch.config import get_settings
from dispatch.db import get_engine
from dispatch.localtime import SHANGHAI
from web import assets

TEMPLATES = Path(__file__).parent / "templates"
env = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(["html"]))
# app.js reads the English category names from a meta tag: one source (categories_en.csv) for every page
env.globals["static"] = assets.url
env.globals["category_en"] = taxonomy.english_names()
env.globals["categories_en"] = json.dumps(taxonomy.english_names(), ensure_ascii=False, separators=(",", ":"))


def local_time(at: datetime) -> str:
    """A stored (UTC) time as residents read it: Asia/Shanghai, to the minute."""
    return (at if at.tzinfo else at.replace(tzinfo=UTC)).astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


HOME = {"admin": "/admin", "operator": "/board", "supervisor": "/inspect", "member": "/m"}


def render(request: Request, template: str, status: int = 200, **ctx: Any) -> HTMLResponse:
    settings = get_settings()
    ctx.setdefault("user", None)
    ctx.update(
        request=request,
        hotline=settings.hotline_number,
        tile_url=settings.map_tile_url,
        tile_attribution=settings.map_tile_attribution,
    )
    return HTMLResponse(env.get_template(template).render(**ctx), status_code=status)


class PageRedirect(Exception):
    def __init__(self, response: HTMLResponse | RedirectResponse) -> None:
        self.response = response


def page_user(request: Request, *roles: str) -> Principal:
    """The signed-in user of a page, if their role may see it (admin may see every page)."""
    token = request.cookies.get(SESSION_COOKIE)
    with Session(get_engine()) as session:
        p = principal_from_token(session, token) if token else None
    if p is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise PageRedirect(RedirectResponse(f"/login?next={quote(target)}", status_code=303))
    if p.role != "admin" and p.role not in roles:
        page = render(
            request,
            "error.html",
            403,
            user=p,
            code="forbidden",
            title_zh="无权访问",
            title_en="Forbidden",
            message_zh="您的账号无权查看此页面。",
            message_en="Your account may not see this page.",
        )
        raise PageRedirect(page)
    return p


def error_page(
    request: Request, status: int, code: str, title_zh: str, title_en: str, message_zh: str, message_en: str
) -> HTMLResponse:
    """The HTML error page (``dispatch.errors.install``'s page renderer: e.g. 503 while the database is down)."""
    return render(
        request,
        "error.html",
        status,
        code=code,
        title_zh=title_zh,
        title_en=title_en,
        message_zh=message_zh,
        message_en=message_en,
    )


NO_STORE = {"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"}


def token_error_page(request: Request, exc, hint_zh: str = "", hint_en: str = "") -> HTMLResponse:
    """The page for a QR link that leads nowhere (unknown or revoked), with the error's code in a header."""
    page = render(
        request,
        "error.html",
        exc.status,
        code=exc.code,
        title_zh="二维码无效",
        title_en="Invalid QR code",
        message_zh=f"{exc.zh}。{hint_zh}",
        message_en=f"{exc.en}. {hint_en}".strip(),
    )
    page.headers["X-Error-Code"] = exc.code
    return page


def received_page(request: Request, case, secret: str) -> HTMLResponse:
    """What a resident sees after submitting without JavaScript: the tracking number and secret to keep."""
    page = render(request, "track.html", 201, tracking_no=case.tracking_no, secret=secret, received=True)
    page.headers.update(NO_STORE)
    return page
