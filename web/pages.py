"""Resident pages: the QR intake form (works without JavaScript, enhanced by resident.js) and case tracking."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import HTMLResponse
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from dispatch import ratelimit
from dispatch.auth.deps import get_session
from dispatch.cases import handling, taxonomy
from dispatch.cases import service as cases
from dispatch.cases.models import REQUEST_KINDS, RESIDENT_KINDS, RatingIn
from dispatch.consultations.service import consultation_for_case
from dispatch.db import get_engine
from dispatch.errors import AppError, NotFound
from dispatch.intake.views import receive_qr
from dispatch.points import service as points
from dispatch.qrcodes.service import QrReplaced
from dispatch.regions.models import Region
from dispatch.validation import Text
from web.qr_pages import replaced_page
from web.render import NO_STORE, local_time, received_page, render, token_error_page

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
        return _too_many_page(request, exc)
    secret = request.query_params.get("secret")  # the contract's query form; the no-JS link from a receipt
    if not secret:
        page = render(request, "track.html", tracking_no=tracking_no, secret=None, received=False)
        page.headers.update(NO_STORE)
        return page
    return await run_in_threadpool(_tracking_page, request, tracking_no, secret, None, None)  # database work


@router.post("/t/{tracking_no}", response_class=HTMLResponse)
async def track_submit(
    request: Request,
    tracking_no: str,
    secret: Annotated[Text, Form(max_length=200)] = "",
    score: Annotated[Text | None, Form(max_length=40)] = None,
    comment: Annotated[Text | None, Form(max_length=2000)] = None,
) -> HTMLResponse:
    """The no-JavaScript tracking page: the secret posted (not put in a URL), and the rating form's answer;
    the same rules as /api/track and its rating, answered as a page."""
    rule = "rating" if score is not None else "track"
    try:
        await run_in_threadpool(ratelimit.check, rule, request, tracking_no)
    except AppError as exc:
        return _too_many_page(request, exc)
    return await run_in_threadpool(_tracking_page, request, tracking_no, secret.strip(), score, comment)


def _tracking_page(
    request: Request, tracking_no: str, secret: str, score: str | None, comment: str | None
) -> HTMLResponse:
    """The progress page for a posted or linked secret, after rating when a score came with it."""
    with Session(get_engine()) as session:
        if score is None:
            return _progress_page(request, session, tracking_no, secret)
        try:
            body = RatingIn.model_validate(
                {"secret": secret, "score": score, "comment": (comment or "").strip() or None}
            )
            handling.rate_tracked(session, tracking_no, body.secret, body.score, body.comment)
            session.commit()
        except ValidationError:
            session.rollback()
            error = AppError("invalid_rating", "请选择评价等级", "Please choose a rating", status=422)
            return _progress_page(request, session, tracking_no, secret, error=error)
        except AppError as exc:
            session.rollback()
            return _progress_page(request, session, tracking_no, secret, error=exc)
        return _progress_page(request, session, tracking_no, secret, rated=body.score)


def _progress_page(
    request: Request,
    session: Session,
    tracking_no: str,
    secret: str,
    *,
    error: AppError | None = None,
    rated: str | None = None,
) -> HTMLResponse:
    """Status, timeline, result and the rating form, rendered on the server (resident.js takes over when it
    runs). A wrong secret shows the secret form again, with the same answer as the API's."""
    try:
        case = cases.by_tracking_no(session, tracking_no, secret)
    except NotFound as exc:
        page = render(request, "track.html", 404, tracking_no=tracking_no, secret=None, received=False, error=exc)
        page.headers.update(NO_STORE)
        return page
    assert case.id is not None  # a case from the database
    view = cases.track_view(session, case, consultation_for_case(session, case.id))
    view["timeline"] = [{**e, "local": local_time(e["at"])} for e in reversed(view["timeline"])]
    page = render(
        request,
        "track.html",
        error.status if error else 200,
        tracking_no=tracking_no,
        secret=secret,
        received=False,
        view=view,
        error=error,
        rated=rated or view["rating"],
        now=local_time(datetime.now(UTC)),
    )
    page.headers.update(NO_STORE)
    return page


def _too_many_page(request: Request, exc: AppError) -> HTMLResponse:
    """429 from the tracking rules, as a page with Retry-After."""
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
    if "retry_after_s" in exc.details:
        page.headers["Retry-After"] = str(exc.details["retry_after_s"])
    return page
