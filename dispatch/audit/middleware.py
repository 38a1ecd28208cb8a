"""ASGI middleware writing the staff audit log.

Pure ASGI (like ``SecurityHeaders``): it holds back the last body message of an audited answer, lets the app
finish (its sessions closed), writes the entry in its own short transaction, then releases the message — so
the caller sees the answer only once it is on record, and no transaction is held while another writes.
"""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.audit import service
from dispatch.observability.context import current_request_id
from dispatch.ratelimit import client_ip

SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}
BODY_CAP = 64 * 1024


def _principal(scope: Scope):
    state = scope.get("state")
    return state.get("principal") if isinstance(state, dict) else getattr(state, "principal", None)


def _audited(scope: Scope) -> bool:
    p = _principal(scope)
    if p is None or p.kind == "apikey":  # machine feeds are not staff actions: their cases' trails name the key
        return False
    if scope["method"] not in SAFE_METHODS:
        return True
    return getattr(scope.get("route"), "name", None) in service.AUDITED_READS


def _request_id(scope: Scope) -> str | None:
    try:
        rid = current_request_id()
    except ImportError:  # pragma: no cover - the request-id middleware is optional
        rid = None
    state = scope.get("state")
    rid = rid or (state.get("request_id") if isinstance(state, dict) else None)
    if not rid:
        rid = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1") or None
    return rid[:128] if rid else None


class AuditLog:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        body = bytearray()
        truncated = False
        status = 500
        held: Message | None = None
        writes = scope["method"] not in SAFE_METHODS

        async def receive_copy() -> Message:
            nonlocal truncated
            message = await receive()
            if writes and message["type"] == "http.request":
                chunk = message.get("body", b"")
                room = BODY_CAP - len(body)
                body.extend(chunk[:room])
                truncated = truncated or len(chunk) > room
            return message

        async def send_held(message: Message) -> None:
            nonlocal status, held
            if message["type"] == "http.response.start":
                status = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body") and _audited(scope):
                held = message
                return
            await send(message)

        try:
            await self.app(scope, receive_copy, send_held)
        finally:
            if _audited(scope):
                await run_in_threadpool(service.record, self._entry(scope, status, bytes(body), truncated))
            if held is not None:
                await send(held)

    @staticmethod
    def _entry(scope: Scope, status: int, body: bytes, truncated: bool) -> dict[str, Any]:

        p = _principal(scope)
        request = Request(scope)
        summary, digest = service.summarise(
            request.headers.get("content-type", ""), body, truncated, scope.get("query_string", b"").decode("latin-1")
        )
        kind, target_id = service.target(scope.get("path_params") or {})
        return {
            "actor_kind": p.kind,
            "actor_id": p.id,
            "actor_name": (p.name or "")[:128],
            "actor_role": p.role,
            "method": scope["method"][:8],
            "path": scope["path"][:512],
            "route": (getattr(scope.get("route"), "name", None) or "")[:128] or None,
            "target_type": kind,
            "target_id": target_id,
            "status": status,
            "client_ip": client_ip(request)[:64],
            "request_id": _request_id(scope),
            "summary": summary,
            "body_sha256": digest,
        }
