"""The operators' callback (回访) desk: open tasks live, the script, the outcome and the score."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.render import page_user, render

router = APIRouter(include_in_schema=False)


@router.get("/callbacks", response_class=HTMLResponse)
def callbacks(request: Request) -> HTMLResponse:
    """Operators work the tasks; supervisors may look (read-only)."""
    return render(request, "callbacks.html", user=page_user(request, "operator", "supervisor"))
