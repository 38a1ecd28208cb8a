"""Error codes → HTTP answers in the contract's shape.

``{"error": {"code": "snake_case", "message": "中文 / English", "details": {...}}}``
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request, WebSocket
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, Field
from redis.exceptions import RedisError
from sqlalchemy import exc as sa_exc
from sqlalchemy.exc import DataError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.websockets import WebSocketState

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


RETRY_AFTER_S = 5
# SQLite's result codes for "the file cannot be used now" (Python 3.11+: sqlite_errorname); any other
# OperationalError of SQLite (no such table, a syntax error) is a bug, answered 500
_SQLITE_UNAVAILABLE = (
    "SQLITE_BUSY",
    "SQLITE_LOCKED",
    "SQLITE_CANTOPEN",
    "SQLITE_IOERR",
    "SQLITE_FULL",
    "SQLITE_READONLY",
)
# WebSocket close code 1013 "Try Again Later" (RFC 6455 registry): a dependency is down, reconnect later
CLOSE_TRY_AGAIN_LATER = 1013


def database_unavailable(exc: BaseException) -> bool:
    """Whether ``exc`` says the database cannot be reached or used right now (down, restarting, cut off, out
    of connections, locked past the busy timeout) rather than that a statement is wrong."""
    if isinstance(exc, sa_exc.DisconnectionError | sa_exc.TimeoutError):  # TimeoutError: no pooled connection
        return True
    if not isinstance(exc, sa_exc.DBAPIError):
        return False
    if exc.connection_invalidated:
        return True
    if not isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError):
        return False
    name = getattr(exc.orig, "sqlite_errorname", None)
    if name is not None or type(exc.orig).__module__ == "sqlite3":
        return name is not None and name.startswith(_SQLITE_UNAVAILABLE)
    return True  # PostgreSQL: connection refused or lost, shutting down, too many clients, timeouts


def unavailable(exc: BaseException) -> Unavailable | None:
    """The 503 for an exception that says a dependency is down (the database, Redis); None for any other."""
    if isinstance(exc, RedisError):
        return Unavailable(
            "dependency_unavailable",
            "实时服务暂不可用，请稍后重试",
            "Live service unavailable, retry shortly",
            retry_after_s=RETRY_AFTER_S,
        )
    if database_unavailable(exc):
        return Unavailable(
            "database_unavailable",
            "数据库暂不可用，请稍后重试",
            "Database unavailable, retry shortly",
            retry_after_s=RETRY_AFTER_S,
        )
    return None


def brief(exc: BaseException) -> str:
    """One line about an exception for a log: its class and the first line of its message (no SQL)."""
    text = str(exc).strip().splitlines()
    return f"{exc.__class__.__name__}: {text[0][:300]}" if text else exc.__class__.__name__


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

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend the schema


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
    "invalid_phone": (
        "电话号码格式不正确：手机号 11 位，座机须带区号",
        "Not a Chinese phone number: 11-digit mobile, or a landline with its area code",
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


# (request, status, code, title_zh, title_en, message_zh, message_en) -> the HTML error page
PageRenderer = Callable[[Request, int, str, str, str, str, str], Response]
_NOT_PAGES = ("/api/", "/open311/", "/static/", "/metrics", "/healthz", "/readyz", "/docs", "/redoc", "/openapi")


def wants_page(request: Request) -> bool:
    """A browser navigating to one of the pages (not a script calling the API)."""
    return not request.url.path.startswith(_NOT_PAGES) and "text/html" in request.headers.get("accept", "")


def _app_error_response(exc: AppError) -> JSONResponse:
    headers = {"Retry-After": str(exc.details["retry_after_s"])} if "retry_after_s" in exc.details else None
    return JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status, headers=headers)


def install(app: FastAPI, page: PageRenderer | None = None) -> None:
    """The error handlers of ``app``; ``page`` renders the HTML error page for browsers on the pages."""
    _document_errors(app)

    @app.exception_handler(AppError)
    async def _app_error(_request: Request, exc: AppError) -> JSONResponse:
        return _app_error_response(exc)

    async def _unavailable(conn: Request | WebSocket, exc: Exception) -> Response | None:
        """A dependency down, wherever it showed (a route, a dependency in a thread, the intake writer): 503
        in the error shape with Retry-After; the error page for a browser; 1013 for a socket."""
        err = unavailable(exc)
        if err is None:
            raise exc  # a bug, not an outage: the 500 and its traceback
        log.warning("%s: %s", err.code, brief(exc))
        if isinstance(conn, WebSocket):
            with contextlib.suppress(RuntimeError, OSError):  # the client may be gone already
                if conn.client_state == WebSocketState.CONNECTING:
                    await conn.accept()  # a close before accept would read as 403 "forbidden"
                if conn.client_state == WebSocketState.CONNECTED:
                    await conn.close(code=CLOSE_TRY_AGAIN_LATER, reason="service unavailable, try again later")
            return None
        if page is not None and wants_page(conn):
            response = page(conn, err.status, err.code, "暂时无法服务", "Temporarily unavailable", err.zh, err.en)
            response.headers["Retry-After"] = str(err.details["retry_after_s"])
            response.headers["X-Error-Code"] = err.code
            return response
        return _app_error_response(err)

    for kind in (RedisError, sa_exc.DBAPIError, sa_exc.DisconnectionError, sa_exc.TimeoutError):
        app.add_exception_handler(kind, _unavailable)  # type: ignore[arg-type]  # Starlette types a handler for HTTP or WebSocket, not both

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
