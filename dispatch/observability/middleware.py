"""ASGI middleware: the request id (X-Request-ID in, out and in every log line) and HTTP metrics by route."""

from __future__ import annotations

import time

from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.observability import metrics
from dispatch.observability.context import new_request_id, request_id_var, valid_request_id

HEADER = "X-Request-ID"
_METHODS = {"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}


def route_template(scope: Scope) -> str:
    """The matched route's path template (``/api/cases/{case_id}``): bounded label values, not raw paths."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) and path else "unmatched"


class RequestContext:
    """Pure ASGI (see ``SecurityHeaders`` in app.py for why): sets the request id for the request's lifetime."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return await self.app(scope, receive, send)
        given = next((v for k, v in scope.get("headers") or () if k == b"x-request-id"), None)
        rid = valid_request_id(given.decode("latin-1") if given else None) or new_request_id()
        token = request_id_var.set(rid)
        try:
            if scope["type"] == "websocket":
                return await self.app(scope, receive, send)
            await self._http(scope, receive, send, rid)
        finally:
            request_id_var.reset(token)

    async def _http(self, scope: Scope, receive: Receive, send: Send, rid: str) -> None:
        started = time.perf_counter()
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)[HEADER] = rid
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            method = scope.get("method", "GET") if scope.get("method") in _METHODS else "other"
            route = route_template(scope)
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_LATENCY.labels(method, route).observe(time.perf_counter() - started)
