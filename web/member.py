"""The member's phone page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.render import page_user, render

router = APIRouter(include_in_schema=False)


@router.get("/m", response_class=HTMLResponse)
def member_home(request: Request) -> HTMLResponse:
    return render(request, "member.html", user=page_user(request, "member"))
