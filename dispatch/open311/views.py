"""GeoReport v2 at /open311/v2 (``.xml`` and ``.json``) and the admin's API keys at /api/open311/keys.

Every failure under /open311/v2 — ours, the platform's (``AppError``), FastAPI's validation or a rate limit —
answers in the specification's error format, in the format the URL asked for.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.routing import APIRoute
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException

from dispatch.auth.deps import get_session, require
from dispatch.auth.service import Principal, create_api_key, revoke_api_key
from dispatch.db import get_engine
from dispatch.errors import AppError, brief, not_found, unavailable
from dispatch.open311 import catalog, service
from dispatch.open311.models import KEY_SCOPES, ApiKeyCreated, ApiKeyIn, ApiKeyOut
from dispatch.open311.render import FORMATS, errors, respond
from dispatch.open311.service import Open311Error, Params
from dispatch.ratelimit import rate_limit
from dispatch.validation import refuse_bad_text

log = logging.getLogger(__name__)
PREFIX = "/open311/v2"
_KEEP = (400, 403, 404, 413, 429, 503)  # other 4xx (409, 415, 422) are the specification's 400


def _format(request: Request) -> str:
    fmt = request.path_params.get("fmt")
    if fmt is None:
        fmt = request.url.path.rsplit(".", 1)[-1] if "." in request.url.path.rsplit("/", 1)[-1] else "xml"
    return fmt.lower()


class Open311Route(APIRoute):
    """Renders every failure of its endpoint as the specification's ``errors`` list."""

    def get_route_handler(self) -> Callable:
        handler = super().get_route_handler()

        async def route(request: Request) -> Response:
            fmt = _format(request)
            try:
                return await handler(request)
            except Open311Error as exc:
                return errors(fmt, exc.status, exc.description, headers=exc.headers)
            except AppError as exc:
                status = exc.status if exc.status in _KEEP else 400
                headers = {"Retry-After": str(exc.details["retry_after_s"])} if "retry_after_s" in exc.details else None
                return errors(fmt, status, exc.message, headers=headers)
            except RequestValidationError as exc:
                names = ", ".join(".".join(str(p) for p in e.get("loc", ())[1:]) for e in exc.errors()) or "request"
                return errors(fmt, 400, f"请求参数有误：{names} / Invalid arguments: {names}")
            except StarletteHTTPException as exc:
                status = exc.status_code if exc.status_code in _KEEP else 400
                return errors(fmt, status, f"请求失败 / Request failed ({exc.status_code})", headers=exc.headers)
            except Exception as exc:
                down = unavailable(exc)  # the database or Redis: 503 with Retry-After, in the spec's format
                if down is None:
                    raise
                log.warning("%s: %s", down.code, brief(exc))
                retry = {"Retry-After": str(down.details["retry_after_s"]), "X-Error-Code": down.code}
                return errors(fmt, 503, down.message, headers=retry)

        return route


router = APIRouter(prefix=PREFIX, tags=["open311"], route_class=Open311Route)
keys_router = APIRouter(prefix="/api/open311/keys", tags=["open311"])


def _check_format(fmt: str) -> str:
    fmt = fmt.lower()
    if fmt not in FORMATS:
        raise Open311Error(
            404, f"不支持的格式：.{fmt}（仅 .xml 与 .json）", f"Unknown format .{fmt} (use .xml or .json)"
        )
    return fmt


def _text(items: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """Arguments as ``validation.Text`` wants text (a 400 in the specification's format otherwise)."""
    for key, value in items:
        refuse_bad_text({key: key})
        if isinstance(value, str):
            refuse_bad_text({key: value})
    return items


def _query(request: Request) -> list[tuple[str, Any]]:
    return _text(list(request.query_params.multi_items()))


def _params(request: Request, body: list[tuple[str, Any]] | None = None) -> Params:
    params = Params(body or [], _query(request))
    service.check_jurisdiction(params)
    return params


def _read(fn: Callable[[Session, Params], Any], params: Params) -> Any:
    with Session(get_engine()) as session:
        return fn(session, params)


async def _form(request: Request) -> list[tuple[str, Any]]:
    ctype = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if ctype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.form()
        return _text(list(form.multi_items()))
    if await request.body():
        raise Open311Error(
            400,
            "请以 application/x-www-form-urlencoded 提交",
            "Send the arguments as application/x-www-form-urlencoded",
        )
    return []


@router.get("/discovery.{fmt}", summary="Service discovery")
def discovery(fmt: str, request: Request) -> Response:
    fmt = _check_format(fmt)
    _params(request)
    return respond(fmt, "discovery", service.discovery())


@router.get("/services.{fmt}", summary="GET Service List")
def services(fmt: str, request: Request) -> Response:
    fmt = _check_format(fmt)
    _params(request)
    return respond(fmt, "services", catalog.service_list())


@router.get("/services/{service_code}.{fmt}", summary="GET Service Definition")
def service_definition(service_code: str, fmt: str, request: Request) -> Response:
    fmt = _check_format(fmt)
    _params(request)
    return respond(fmt, "service_definition", catalog.definition(service.find_service(service_code)))


@router.post("/requests.{fmt}", summary="POST Service Request", dependencies=[Depends(rate_limit("open311"))])
async def post_request(fmt: str, request: Request) -> Response:
    """Form-encoded (multipart accepted); ``api_key`` and ``jurisdiction_id`` from the query or the body."""
    fmt = _check_format(fmt)
    body = await _form(request)
    params = Params(body, _query(request))
    key = await run_in_threadpool(_read, lambda session, p: service.require_key(session, p), params)
    service.check_jurisdiction(params)
    sub = service.submission(params, key.actor)
    case = await run_in_threadpool(service.submit, sub)
    body_out = [
        {
            "service_request_id": str(case.id),
            "service_notice": service.service_notice(case),
            "account_id": sub.account_id,
        }
    ]
    return respond(fmt, "service_requests", body_out)


@router.get("/requests.{fmt}", summary="GET Service Requests")
def get_requests(fmt: str, request: Request) -> Response:
    fmt = _check_format(fmt)
    return respond(fmt, "service_requests", _read(service.search, _params(request)))


@router.get("/requests/{service_request_id}.{fmt}", summary="GET Service Request")
def get_request(service_request_id: str, fmt: str, request: Request) -> Response:
    fmt = _check_format(fmt)
    _params(request)
    with Session(get_engine()) as session:
        return respond(fmt, "service_requests", service.one(session, service_request_id))


@router.get("/tokens/{token}.{fmt}", summary="GET service_request_id from a token")
def get_token(token: str, fmt: str, request: Request) -> Response:
    fmt = _check_format(fmt)
    _params(request)
    with Session(get_engine()) as session:
        return respond(fmt, "service_requests", service.token(session, token))


@router.get("/servicerequestupdates.{fmt}", summary="GET Service Request Updates (FixMyStreet)")
def get_updates(fmt: str, request: Request) -> Response:
    fmt = _check_format(fmt)
    return respond(fmt, "service_request_updates", _read(service.updates, _params(request)))


@router.post("/servicerequestupdates.{fmt}", summary="POST Service Request Update (FixMyStreet)")
async def post_update(fmt: str, request: Request) -> Response:
    fmt = _check_format(fmt)
    body = await _form(request)
    params = Params(body, _query(request))

    def _post(session: Session, p: Params) -> dict:
        key = service.require_key(session, p)
        service.check_jurisdiction(p)
        return service.post_update(session, p, key)

    return respond(fmt, "service_request_updates", [await run_in_threadpool(_read, _post, params)])


@router.api_route("/{rest:path}", methods=["GET", "POST", "PUT", "PATCH", "DELETE"], include_in_schema=False)
def unknown(rest: str) -> Response:
    raise Open311Error(404, "未知的接口或格式", "Unknown endpoint or format")


# ---- API keys (admin) ---------------------------------------------------------------------------------


@keys_router.post("", status_code=201, response_model=ApiKeyCreated)
def issue_key(body: ApiKeyIn, session: Session = Depends(get_session), _p: Principal = Depends(require("admin"))):
    """A new key; the raw key is in this answer only (stored hashed)."""
    name = body.name.strip()
    scopes = sorted(set(body.scopes))
    if not name:
        raise AppError("missing_field", "请填写名称", "Give the key a name", status=422)
    if not scopes or not set(scopes) <= set(KEY_SCOPES):
        raise AppError(
            "invalid_scopes",
            "权限范围须为 " + "、".join(KEY_SCOPES) + " 中的一项或几项",
            "scopes must be some of " + ", ".join(KEY_SCOPES),
            status=422,
            allowed=list(KEY_SCOPES),
        )
    key, raw = create_api_key(session, name, ",".join(scopes))
    session.commit()
    return service.key_view(key, raw)


@keys_router.get("", response_model=list[ApiKeyOut])
def list_keys(session: Session = Depends(get_session), _p: Principal = Depends(require("admin"))):
    """Every key (machine callers of every door), newest first; never the raw key."""
    return [service.key_view(k) for k in service.list_keys(session)]


@keys_router.delete("/{key_id}", response_model=ApiKeyOut)
def revoke_key(key_id: int, session: Session = Depends(get_session), _p: Principal = Depends(require("admin"))):
    """Revoke at once (idempotent): the key's next call gets 403."""
    key = revoke_api_key(session, key_id)
    if key is None:
        raise not_found("API 密钥", "API key", code="api_key_not_found", id=key_id)
    session.commit()
    return service.key_view(key)
