"""Staff pages: the operators' live board, the supervisors' inspection page, the admin pages."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse

from web.render import HOME, page_user, render

router = APIRouter(include_in_schema=False)


@router.get("/", response_model=None)
def home(request: Request) -> RedirectResponse:
    """Each role's own start page (the login page for visitors)."""
    p = page_user(request, "admin", "operator", "supervisor", "member")
    return RedirectResponse(HOME.get(p.role, "/login"), status_code=303)


@router.get("/board", response_class=HTMLResponse)
def board(request: Request) -> HTMLResponse:
    return render(request, "board.html", user=page_user(request, "operator", "supervisor"))


@router.get("/inspect", response_class=HTMLResponse)
def inspect(request: Request) -> HTMLResponse:
    return render(request, "inspect.html", user=page_user(request, "supervisor", "operator"))


@router.get("/admin", response_class=HTMLResponse)
def admin(request: Request) -> HTMLResponse:
    return render(request, "admin.html", user=page_user(request))


from web.consult import router as consult_router  # noqa: E402

router.include_router(consult_router)
