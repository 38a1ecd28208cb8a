"""Resident pages: the QR intake form (works without JavaScript, enhanced by resident.js) and case tracking."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from dispatch import ratelimit
from dispatch.auth.deps import get_session
from dispatch.cases import taxonomy
from dispatch.cases.models import REQUEST_KINDS, RESIDENT_KINDS
from dispatch.errors import AppError, NotFound
from dispatch.intake.views import receive_qr
from dispatch.points import service as points
from dispatch.qrcodes.service import QrReplaced
from dispatch.regions.models import Region
from web.qr_pages import replaced_page
from web.render import NO_STORE, received_page, render, token_error_page

_HINT = (
    "该二维码无效或已停用，可拨打 12345 市民热线反映诉求。",
    "This QR code is invalid or no longer in use; you can call the 12345 hotline.",
)
router = APIRouter(include_in_schema=False)


def _form(request: Request, session: Session, token: str, status: int = 200, **ctx) -> HTMLResponse:
    point = points.by_token(session, token)
    village = session.get(Region, point.village_code) if point.village_code else None
    town = session.get(Region, point.town_code) if point.town_code else None
    return render(
        request,
        "qr.html",
        status,
        token=token,
        point=point,
        town=town.name if town else "",
        village=village.name if village else "",
        categories=taxonomy.top_level(),
        request_kinds=[(k, *REQUEST_KINDS[k]) for k in RESIDENT_KINDS],
        values=ctx.pop("values", {}),
        **ctx,
    )


@router.get("/q/{token}", response_class=HTMLResponse)
def qr_form(request: Request, token: str, session: Session = Depends(get_session)) -> HTMLResponse:
    try:
        return _form(request, session, token)
    except QrReplaced as exc:  # a rotated code: 410, naming the point and where to go
        return replaced_page(request, exc)
    except NotFound as exc:
        return token_error_page(request, exc, *_HINT)


@router.post("/q/{token}", response_class=HTMLResponse)
async def qr_submit(
    request: Request,
    token: str,
    content: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    name: Annotated[str | None, Form()] = None,
    phone: Annotated[str | None, Form()] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
    request_kind: Annotated[str | None, Form()] = None,
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """The no-JavaScript path of the QR form: the same intake as the API, answered as a page."""
    try:
        await run_in_threadpool(ratelimit.check, "qr", request, token)
        if not content.strip():
            raise AppError("missing_field", "请填写诉求内容", "Please describe the issue", status=422)
        case, secret = await receive_qr(
            session, token, content, category, None, None, "wgs84", name, phone, photos, request_kind
        )
    except QrReplaced as exc:
        return replaced_page(request, exc)
    except NotFound as exc:  # the point's token is the only thing looked up
        return token_error_page(request, exc, *_HINT)
    except AppError as exc:
        values = {"content": content, "category": category, "name": name or "", "phone": phone or ""}
        values["request_kind"] = request_kind or ""
        try:
            page = _form(request, session, token, exc.status, error_zh=exc.zh, error_en=exc.en, values=values)
        except NotFound as gone:
            return token_error_page(request, gone, *_HINT)
        page.headers["X-Error-Code"] = exc.code
        if "retry_after_s" in exc.details:
            page.headers["Retry-After"] = str(exc.details["retry_after_s"])
        return page
    return received_page(request, case, secret)


@router.get("/t/{tracking_no}", response_class=HTMLResponse)
async def track_page(request: Request, tracking_no: str) -> HTMLResponse:
    """The resident's tracking page; the secret travels in the URL fragment (#s=...) and never reaches the server."""
    try:
        await run_in_threadpool(ratelimit.check, "track", request, tracking_no)
    except AppError as exc:
        page = render(
            request,
            "error.html",
            exc.status,
            code=exc.code,
            title_zh="请求过于频繁",
            title_en="Too many requests",
            message_zh=f"{exc.zh}。",
            message_en=f"{exc.en}.",
        )
        page.headers["Retry-After"] = str(exc.details["retry_after_s"])
        return page
    page = render(request, "track.html", tracking_no=tracking_no, secret=None, received=False)
    page.headers.update(NO_STORE)
    return page
