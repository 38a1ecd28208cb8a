"""Error codes → HTTP answers in the contract's shape.

``{"error": {"code": "snake_case", "message": "中文 / English", "details": {...}}}``
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import RedisError
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


def install(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        headers = {"Retry-After": str(exc.details["retry_after_s"])} if "retry_after_s" in exc.details else None
        return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_request: Request, exc: RequestValidationError) -> JSONResponse:
        fields = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path", "form")]
            fields.append({"field": ".".join(loc), "problem": err.get("msg", ""), "type": err.get("type", "")})
        missing = [f["field"] for f in fields if f["type"] == "missing"]
        code = "missing_field" if missing and len(missing) == len(fields) else "invalid_request"
        names = ", ".join(f["field"] for f in fields) or "body"
        body = error_body(code, f"请求字段有误：{names} / Invalid or missing fields: {names}", {"fields": fields})
        return JSONResponse(body, status_code=422)

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

    @app.exception_handler(RedisError)
    async def _redis(_request: Request, exc: RedisError) -> JSONResponse:
        log.warning("redis unavailable: %s", exc)
        body = error_body(
            "dependency_unavailable", "实时服务暂不可用，请稍后重试 / Live service unavailable, retry shortly"
        )
        return JSONResponse(body, status_code=503, headers={"Retry-After": "5"})
