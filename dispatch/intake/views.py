"""The four doors: hotline feed, mail, QR code, operator phone entry."""

from __future__ import annotations

import logging
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from sqlalchemy.exc import DataError
from sqlmodel import Session

from dispatch.auth.deps import get_session, require
from dispatch.auth.service import Principal
from dispatch.cases.models import CaseIn, HotlineIn, IntakeOut
from dispatch.cases.service import NewCase
from dispatch.config import get_settings
from dispatch.errors import AppError, error_body, invalid_fields
from dispatch.intake import service
from dispatch.intake.mailparse import MailError, parse_mail
from dispatch.intake.models import HotlineFeedIn
from dispatch.jsonbody import body_json
from dispatch.points import service as points
from dispatch.ratelimit import rate_limit
from dispatch.validation import Text

log = logging.getLogger(__name__)
router = APIRouter(prefix="/api", tags=["intake"])

_hotline_items = TypeAdapter(HotlineIn | list[dict[str, Any]])


async def read_json(request: Request) -> Any:
    """The body as JSON (415 unless sent as application/json), by ``dispatch.jsonbody``'s rules."""
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise AppError(
            "unsupported_media_type",
            "请以 application/json 提交",
            "Send the body as application/json",
            status=415,
            content_type=ctype or None,
        )
    return await body_json(request)


def _from_case_in(body: CaseIn, channel: str, actor: str, external_id: str | None = None) -> NewCase:
    return NewCase(
        channel=channel,
        content=body.content,
        actor=actor,
        external_id=external_id,
        title=body.title,
        category=body.category,
        urgency=body.urgency,
        confidential=body.confidential,
        reporter_name=body.caller_name,
        reporter_phone=body.caller_phone,
        address=body.address,
        lat=body.lat,
        lon=body.lon,
        coord_system=body.coord_system,
        received_at=body.received_at,
        request_kind=body.request_kind,
    )


def _hotline_one(item: Any, actor: str) -> tuple[int, dict]:
    """One item of a batch, answered on its own: whatever this item's input makes fail is its own result, and
    writes nothing (each item is its own transaction). A service that is down fails the request: the items
    before were committed, and sending the batch again is safe (idempotent by ``external_id``)."""
    try:
        body = HotlineFeedIn.model_validate(item)
        case, created = service.submit_hotline(
            _from_case_in(body, "hotline", actor, body.external_id), body.version, body.platform_status
        )
    except ValidationError as exc:
        err = invalid_fields(exc.errors())
        return err.status, error_body(err.code, err.message, err.details)
    except AppError as exc:
        return exc.status, error_body(exc.code, exc.message, exc.details)
    except (DataError, OverflowError) as exc:  # checked by cases.service.prepare: should be unreachable
        log.warning("hotline item refused by the database: %s", exc.__class__.__name__)
        return 422, error_body("value_out_of_range", "请求中的数值超出范围 / A value in the request is out of range")
    assert case.id is not None  # a committed case
    return (201 if created else 200), IntakeOut(
        id=case.id, tracking_no=case.tracking_no, status=case.status
    ).model_dump()


@router.post(
    "/intake/hotline",
    status_code=201,
    response_model=IntakeOut | list[dict],
    responses={
        200: {"description": "already received (same external_id)"},
        207: {"description": "a batch: one result per item"},
    },
)
async def hotline(request: Request, p: Principal = Depends(require("operator", scope="hotline"))) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    data = await read_json(request)
    if isinstance(data, list):
        if not data or len(data) > 500:
            raise AppError("invalid_batch", "批量提交须为 1 到 500 条", "A batch holds 1 to 500 items", status=422)
        results = []
        for index, item in enumerate(data):
            status, item_body = await run_in_threadpool(_hotline_one, item, p.actor)
            results.append({"index": index, "status": status, "body": item_body})
        return JSONResponse(results, status_code=207)
    if not isinstance(data, dict):
        raise AppError("invalid_request", "请求体须为对象或数组", "The body must be an object or a list", status=422)
    try:
        body = HotlineFeedIn.model_validate(data)
    except ValidationError as exc:
        raise invalid_fields(exc.errors()) from exc
    new = _from_case_in(body, "hotline", p.actor, body.external_id)
    if service.plain_first(body.version, body.platform_status):
        case, _, created = await service.submit_async(new)
    else:
        case, created = await run_in_threadpool(service.submit_hotline, new, body.version, body.platform_status)
    assert case.id is not None  # a committed case
    out = IntakeOut(id=case.id, tracking_no=case.tracking_no, status=case.status)
    return JSONResponse(out.model_dump(), status_code=201 if created else 200)


@router.post("/cases", status_code=201, response_model=IntakeOut)
async def phone_entry(request: Request, p: Principal = Depends(require("operator"))) -> JSONResponse:
    """An operator enters a phone call by hand."""
    data = await read_json(request)
    try:
        body = CaseIn.model_validate(data)
    except ValidationError as exc:
        raise invalid_fields(exc.errors()) from exc
    case, secret, _ = await service.submit_async(_from_case_in(body, "phone", p.actor))
    assert case.id is not None  # a committed case
    out = IntakeOut(id=case.id, tracking_no=case.tracking_no, status=case.status, secret=secret)
    return JSONResponse(out.model_dump(), status_code=201)


@router.post(
    "/intake/mail",
    status_code=201,
    response_model=IntakeOut,
    openapi_extra={"requestBody": {"content": {"message/rfc822": {"schema": {"type": "string"}}}, "required": True}},
)
async def mail(request: Request, p: Principal = Depends(require("operator", scope="mail"))) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "message/rfc822":
        raise AppError(
            "unsupported_media_type",
            "请以 message/rfc822 提交原始邮件",
            "Send the raw mail as message/rfc822",
            status=415,
            content_type=ctype or None,
        )
    raw = await request.body()
    try:
        parsed = parse_mail(raw)
    except MailError as exc:
        raise AppError(exc.code, exc.zh, exc.en, status=422) from exc
    new = await run_in_threadpool(service.mail_case, parsed, p.actor)
    case, _, created = await service.submit_async(new)
    assert case.id is not None  # a committed case
    out = IntakeOut(id=case.id, tracking_no=case.tracking_no, status=case.status)
    return JSONResponse(out.model_dump(), status_code=201 if created else 200)


async def receive_qr(
    session: Session,
    token: str,
    content: str,
    category: str,
    lat: float | None,
    lon: float | None,
    coord_system: str,
    name: str | None,
    phone: str | None,
    photos: list[UploadFile] | None,
    request_kind: str | None = None,
):
    """Read the uploads (bounded) and submit; shared by this API and the plain QR page."""
    from starlette.concurrency import run_in_threadpool

    point = points.by_token(session, token)
    session.close()
    uploads = [p for p in (photos or []) if p.filename or p.size]
    service.check_photo_count(len(uploads))
    limit = get_settings().max_photo_bytes
    files = [(u.filename or "photo", await u.read(limit + 1)) for u in uploads]
    new = await run_in_threadpool(service.qr_case, point, content, category, lat, lon, coord_system, name, phone, files)
    new.request_kind = request_kind or None  # 诉求类型 (optional; validated by cases.service.prepare)
    case, secret, _ = await service.submit_async(new)
    return case, secret


@router.post(
    "/intake/qr/{token}", status_code=201, response_model=IntakeOut, dependencies=[Depends(rate_limit("qr", "token"))]
)
async def qr(
    token: str,
    content: Annotated[Text, Form(min_length=1, max_length=5000)],
    category: Annotated[Text, Form(min_length=1, max_length=128)],
    lat: Annotated[float | None, Form()] = None,
    lon: Annotated[float | None, Form()] = None,
    coord_system: Annotated[Text, Form()] = "wgs84",
    name: Annotated[Text | None, Form(max_length=64)] = None,
    phone: Annotated[Text | None, Form(max_length=32)] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
    request_kind: Annotated[Text | None, Form(max_length=16)] = None,
    session: Session = Depends(get_session),
) -> JSONResponse:
    """A resident's submission from a point's QR page (no account; the secret lets them follow the case)."""
    case, secret = await receive_qr(
        session, token, content, category, lat, lon, coord_system, name, phone, photos, request_kind
    )
    assert case.id is not None  # a committed case
    out = IntakeOut(id=case.id, tracking_no=case.tracking_no, status=case.status, secret=secret)
    return JSONResponse(out.model_dump(), status_code=201)
