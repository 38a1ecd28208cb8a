"""Error codes → HTTP answers in the contract's shape.

``{"error": {"code": "snake_case", "message": "中文 / English", "details": {...}}}``
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)


class AppError(Exception):
    """A failure the caller can act on. ``message`` is bilingual: "中文 / English"."""

    status = 400

    def __init__(self, code: str, zh: str, en: str, status: int | None = None, **details: Any) -> None:
        super().__init__(f"{code}: {en}")
        self.code = code
        self.zh, self.en = zh, en
        self.message = f"{zh} / {en}"
        if status is not None:
            self.status = status
        self.details = details


class NotFound(AppError):
    status = 404


class Conflict(AppError):
    status = 409


class Forbidden(AppError):
    status = 403


class Unauthorized(AppError):
    status = 401


class Unavailable(AppError):
    status = 503


def not_found(what_zh: str, what_en: str, code: str = "not_found", **details: Any) -> NotFound:
    return NotFound(code, f"{what_zh}不存在", f"{what_en} not found", **details)


class ErrorDetail(BaseModel):
    code: str = Field(description="machine code, snake_case")
    message: str = Field(description="中文 / English")
    details: dict[str, Any] = Field(default_factory=dict)


class ErrorBody(BaseModel):
    """Every 4xx/5xx answer of the API."""

    error: ErrorDetail


ERROR_STATUSES = ("400", "401", "403", "404", "405", "409", "410", "413", "415", "422", "429", "503")


def _document_errors(app: FastAPI) -> None:
    """Add the shared error body to every operation's 4xx answers (and 503) in the OpenAPI schema."""
    build = app.openapi  # FastAPI's own, which caches in app.openapi_schema

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        schema = build()
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        components["ErrorBody"] = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
        detail = components["ErrorBody"].pop("$defs", {})
        components.update(detail)
        ref = {"$ref": "#/components/schemas/ErrorBody"}
        for path, item in schema.get("paths", {}).items():
            if path.startswith("/open311/"):
                continue  # the GeoReport v2 specification's own error list
            for operation in item.values():
                responses = operation.setdefault("responses", {})
                for status in ERROR_STATUSES:
                    if status == "422" or status not in responses:
                        responses[status] = {
                            "description": responses.get(status, {}).get("description") or "Error",
                            "content": {"application/json": {"schema": ref}},
                        }
        for name in ("HTTPValidationError", "ValidationError"):
            if not any(name in str(op) for item in schema.get("paths", {}).values() for op in item.values()):
                components.pop(name, None)
        app.openapi_schema = schema
        return schema

    app.openapi = openapi


def error_body(code: str, message: str, details: dict | None = None) -> dict:
    return {"error": {"code": code, "message": message, "details": details or {}}}


_HTTP_CODES = {
    400: ("bad_request", "请求有误", "Bad request"),
    401: ("unauthorized", "需要登录", "Authentication required"),
    403: ("forbidden", "无权访问", "Forbidden"),
    404: ("not_found", "资源不存在", "Not found"),
    405: ("method_not_allowed", "不支持该方法", "Method not allowed"),
    413: ("body_too_large", "请求体过大", "Request body too large"),
    415: ("unsupported_media_type", "不支持的内容类型", "Unsupported content type"),
    429: ("too_many_requests", "请求过于频繁", "Too many requests"),
}


# pydantic error types that are error codes of their own (raised by dispatch.validation and request models)
FIELD_CODES: dict[str, tuple[str, str]] = {
    "invalid_text": ("文本含有不允许的控制字符", "Text contains a control character that is not allowed"),
    "invalid_external_id": (
        "external_id 须非空、可打印、不超过 128 个字符",
        "external_id must be non-blank, printable, at most 128 characters",
    ),
}
_SAME_CODE = {"string_unicode": "invalid_text"}  # pydantic's own refusal of a lone surrogate
_LOCATIONS = ("body", "query", "path", "form")


def invalid_fields(errors: Sequence[Mapping[str, Any]]) -> AppError:
    """The one answer to input that failed a request model: 422 naming each field and its problem.

    Code: ``missing_field`` when only fields are missing, the error type when every error has the same one of
    ``FIELD_CODES`` (e.g. ``invalid_text``), else ``invalid_request``."""
    fields = []
    for err in errors:
        loc = list(err.get("loc", ()))
        if loc and loc[0] in _LOCATIONS:
            loc = loc[1:]
        fields.append(
            {"field": ".".join(str(p) for p in loc), "problem": err.get("msg", ""), "type": err.get("type", "")}
        )
    types = {_SAME_CODE.get(f["type"], f["type"]) for f in fields}
    if types == {"missing"}:
        code, (zh, en) = "missing_field", ("请求字段有误", "Invalid or missing fields")
    elif len(types) == 1 and next(iter(types)) in FIELD_CODES:
        code = next(iter(types))
        zh, en = FIELD_CODES[code]
    else:
        code, (zh, en) = "invalid_request", ("请求字段有误", "Invalid or missing fields")
    names = ", ".join(f["field"] for f in fields) or "body"
    return AppError(code, f"{zh}：{names}", f"{en}: {names}", status=422, fields=fields)


def install(app: FastAPI) -> None:
    _document_errors(app)

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        headers = {"Retry-After": str(exc.details["retry_after_s"])} if "retry_after_s" in exc.details else None
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        err = invalid_fields(exc.errors())
        return JSONResponse(error_body(err.code, err.message, err.details), status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code, zh, en = _HTTP_CODES.get(exc.status_code, ("http_error", "请求失败", "Request failed"))
        detail = exc.detail if isinstance(exc.detail, str) and exc.detail not in (en, "Not Found") else None
        details = {"detail": detail} if detail else {}
        return JSONResponse(
            error_body(code, f"{zh} / {en}", details),
            status_code=exc.status_code,
            headers=getattr(exc, "headers", None),
        )

    @app.exception_handler(OverflowError)
    @app.exception_handler(DataError)
    async def _out_of_range(_request: Request, exc: Exception) -> JSONResponse:
        # e.g. an id beyond the database's integer range: the input's fault, not the server's
        log.info("value out of range: %s", exc.__class__.__name__)
        body = error_body("value_out_of_range", "请求中的数值超出范围 / A value in the request is out of range")
        return JSONResponse(body, status_code=422)

    @app.exception_handler(RedisError)
    async def _redis(_request: Request, exc: RedisError) -> JSONResponse:
        log.warning("redis unavailable: %s", exc)
        body = error_body(
            "dependency_unavailable", "实时服务暂不可用，请稍后重试 / Live service unavailable, retry shortly"
        )
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
