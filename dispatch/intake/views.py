"""The four doors: hotline feed, mail, QR code, operator phone entry."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, File, Form, Request, UploadFile
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError
from sqlmodel import Session

from dispatch.auth.deps import get_session, require
from dispatch.auth.service import Principal
from dispatch.cases.models import CaseIn, HotlineIn, IntakeOut
from dispatch.cases.service import NewAttachment, NewCase
from dispatch.errors import AppError, error_body
from dispatch.intake import service
from dispatch.intake.mailparse import MailError, parse_mail
from dispatch.points import service as points

router = APIRouter(prefix="/api", tags=["intake"])

MAX_PHOTOS = 3
IMAGE_MAGIC = {
    b"\xff\xd8\xff": "image/jpeg",
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"GIF8": "image/gif",
    b"RIFF": "image/webp",
}
_hotline_items = TypeAdapter(HotlineIn | list[dict[str, Any]])


async def read_json(request: Request) -> Any:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype != "application/json":
        raise AppError(
            "unsupported_media_type",
            "请以 application/json 提交",
            "Send the body as application/json",
            status=415,
            content_type=ctype or None,
        )
    raw = await request.body()
    try:
        return json.loads(raw)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AppError(
            "invalid_json", "请求体不是有效的 JSON", "The body is not valid JSON", status=400, problem=str(exc)
        ) from exc


def _validation_error(exc: ValidationError) -> AppError:
    fields = [
        {"field": ".".join(str(p) for p in e["loc"]), "problem": e["msg"], "type": e["type"]} for e in exc.errors()
    ]
    missing = all(f["type"] == "missing" for f in fields)
    names = ", ".join(f["field"] for f in fields)
    return AppError(
        "missing_field" if missing else "invalid_request",
        f"请求字段有误：{names}",
        f"Invalid or missing fields: {names}",
        status=422,
        fields=fields,
    )


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
    )


def _hotline_one(item: Any, actor: str) -> tuple[int, dict]:
    try:
        body = HotlineIn.model_validate(item)
        case, _, created = service.submit(_from_case_in(body, "hotline", actor, body.external_id))
    except ValidationError as exc:
        err = _validation_error(exc)
        return err.status, error_body(err.code, err.message, err.details)
    except AppError as exc:
        return exc.status, error_body(exc.code, exc.message, exc.details)
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
            status, body = await run_in_threadpool(_hotline_one, item, p.actor)
            results.append({"index": index, "status": status, "body": body})
        return JSONResponse(results, status_code=207)
    if not isinstance(data, dict):
        raise AppError("invalid_request", "请求体须为对象或数组", "The body must be an object or a list", status=422)
    try:
        body = HotlineIn.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from exc
    case, _, created = await run_in_threadpool(
        service.submit, _from_case_in(body, "hotline", p.actor, body.external_id)
    )
    out = IntakeOut(id=case.id, tracking_no=case.tracking_no, status=case.status)
    return JSONResponse(out.model_dump(), status_code=201 if created else 200)


@router.post("/cases", status_code=201, response_model=IntakeOut)
async def phone_entry(request: Request, p: Principal = Depends(require("operator"))) -> JSONResponse:
    """An operator enters a phone call by hand."""
    from starlette.concurrency import run_in_threadpool

    data = await read_json(request)
    try:
        body = CaseIn.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc) from exc
    case, secret, _ = await run_in_threadpool(service.submit, _from_case_in(body, "phone", p.actor))
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
        raise AppError(exc.code, *_split(str(exc)), status=422) from exc
    new = await run_in_threadpool(service.mail_case, parsed, p.actor)
    case, _, created = await run_in_threadpool(service.submit, new)
    out = IntakeOut(id=case.id, tracking_no=case.tracking_no, status=case.status)
    return JSONResponse(out.model_dump(), status_code=201 if created else 200)


def _split(message: str) -> tuple[str, str]:
    zh, sep, en = message.partition(" / ")
    return (zh, en) if sep else (message, message)


def _photo(upload: UploadFile, data: bytes, limit: int) -> NewAttachment:
    if len(data) > limit:
        raise AppError(
            "photo_too_large",
            f"照片不能超过 {limit // 1048576} MB",
            f"A photo may be at most {limit // 1048576} MB",
            status=413,
            filename=upload.filename,
        )
    kind = next((t for magic, t in IMAGE_MAGIC.items() if data.startswith(magic)), None)
    if kind is None:
        raise AppError(
            "unsupported_photo",
            "只接受 JPEG、PNG、GIF、WebP 照片",
            "Photos must be JPEG, PNG, GIF or WebP",
            status=415,
            filename=upload.filename,
        )
    return NewAttachment(upload.filename or "photo", kind, data)


@router.post("/intake/qr/{token}", status_code=201, response_model=IntakeOut)
async def qr(
    token: str,
    content: Annotated[str, Form(min_length=1, max_length=5000)],
    category: Annotated[str, Form(min_length=1, max_length=128)],
    lat: Annotated[float | None, Form()] = None,
    lon: Annotated[float | None, Form()] = None,
    coord_system: Annotated[str, Form()] = "wgs84",
    name: Annotated[str | None, Form(max_length=64)] = None,
    phone: Annotated[str | None, Form(max_length=32)] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
    session: Session = Depends(get_session),
) -> JSONResponse:
    from starlette.concurrency import run_in_threadpool

    from dispatch.config import get_settings

    point = points.by_token(session, token)
    session.close()
    uploads = [p for p in (photos or []) if p.filename or p.size]
    if len(uploads) > MAX_PHOTOS:
        raise AppError("too_many_photos", "最多上传 3 张照片", "At most 3 photos", status=422)
    limit = get_settings().max_photo_bytes
    attachments = [_photo(u, await u.read(limit + 1), limit) for u in uploads]
    if lat is None or lon is None:
        lat, lon, coord_system = point.lat, point.lon, "wgs84"
        town, village = point.town_code, point.village_code
    else:
        town = village = None
    new = NewCase(
        channel="qr",
        content=content,
        category=category,
        actor="resident",
        reporter_name=name or None,
        reporter_phone=phone or None,
        lat=lat,
        lon=lon,
        coord_system=coord_system,
        point_id=point.id,
        town_code=town,
        village_code=village,
        attachments=attachments,
    )
    case, secret, _ = await run_in_threadpool(service.submit, new)
    out = IntakeOut(id=case.id, tracking_no=case.tracking_no, status=case.status, secret=secret)
    return JSONResponse(out.model_dump(), status_code=201)
