"""The admins' audit page: the staff audit log with filters (data from GET /api/admin/audit)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from web.render import page_user, render

router = APIRouter(include_in_schema=False)


@router.get("/admin/audit", response_class=HTMLResponse)
def audit_page(request: Request) -> HTMLResponse:
    return render(request, "audit.html", user=page_user(request))
