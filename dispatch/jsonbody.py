"""The rules for every JSON request body, applied once by one ASGI step in front of every route.

A body is refused with 400 when it nests deeper than ``MAX_DEPTH`` (``json_too_deep``: no parser recursion to
exhaust, no structure a model walks without end) or repeats a key in one object (``duplicate_key``: which of
two values a parser keeps is not something a caller should have to guess). The step parses each JSON body
once; ``body_json`` hands views that read the body themselves (the intake doors) that parse instead of a
second one. FastAPI parses the bodies of its model parameters again, after the step let them through.
Malformed JSON goes on to the route, which answers it as it always has.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dispatch.errors import AppError, error_body

MAX_DEPTH = 64
SCOPE_KEY = "shangliang.json"  # the parsed body, in the request's ASGI scope
_SKIP = ("/open311/",)  # GeoReport v2 takes forms only and answers every failure in its own format


class _DuplicateKey(Exception):  # not a ValueError: json.loads must not take it for a syntax error
    def __init__(self, key: str) -> None:
        self.key = key


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    obj = dict(pairs)
    if len(obj) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise _DuplicateKey(key)
            seen.add(key)
    return obj


def _too_deep(value: Any) -> bool:
    stack = [(value, 1)] if isinstance(value, dict | list) else []
    while stack:
        node, depth = stack.pop()
        if depth > MAX_DEPTH:
            return True
        for child in node.values() if isinstance(node, dict) else node:
            if isinstance(child, dict | list):
                stack.append((child, depth + 1))
    return False


def too_deep() -> AppError:
    return AppError(
        "json_too_deep",
        f"JSON 嵌套过深（最多 {MAX_DEPTH} 层）",
        f"The JSON body nests too deeply (at most {MAX_DEPTH} levels)",
        status=400,
        max_depth=MAX_DEPTH,
    )


def loads(raw: bytes | str) -> Any:
    """Parse a request body: 400 ``invalid_json``, ``json_too_deep`` or ``duplicate_key`` (naming the key)."""
    try:
        value = json.loads(raw, object_pairs_hook=_object)
    except _DuplicateKey as exc:
        raise AppError(
            "duplicate_key",
            f"JSON 对象中的键重复：{exc.key}",
            f"A key appears twice in a JSON object: {exc.key}",
            status=400,
            key=exc.key,
        ) from None
    except RecursionError:
        raise too_deep() from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise AppError(
            "invalid_json", "请求体不是有效的 JSON", "The body is not valid JSON", status=400, problem=str(exc)
        ) from exc
    if _too_deep(value):
        raise too_deep()
    return value


async def body_json(request: Request) -> Any:
    """The request's JSON body, parsed by ``JsonBody`` when it ran (else here, by the same rules)."""
    raw = await request.body()  # read anyway: the audit log sees the body as it passes
    if SCOPE_KEY in request.scope:
        return request.scope[SCOPE_KEY]
    return loads(raw)


def _is_json(scope: Scope) -> bool:
    for name, value in scope.get("headers") or ():
        if name == b"content-type":
            kind = value.split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or (kind.startswith(b"application/") and kind.endswith(b"+json"))
    return False


class JsonBody:
    """Pure ASGI: reads a JSON body whole (inside ``BodyLimit``), refuses it by the rules above or keeps its
    parse in the scope, then hands the app the same bytes."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope) or scope["path"].startswith(_SKIP):
            return await self.app(scope, receive, send)
        chunks: list[bytes] = []
        tail: Message | None = None  # a disconnect before the body ended
        failure: Exception | None = None
        try:
            while True:
                message = await receive()
                if message["type"] != "http.request":
                    tail = message
                    break
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    break
        except Exception as exc:  # noqa: BLE001 - e.g. BodyLimit's 413: the app meets it where it reads the body
            failure = exc
        raw = b"".join(chunks)
        if failure is None and tail is None and raw:
            try:
                scope[SCOPE_KEY] = loads(raw)
            except AppError as exc:
                if exc.code != "invalid_json":  # malformed JSON: each route answers it in its own way
                    response = JSONResponse(error_body(exc.code, exc.message, exc.details), status_code=exc.status)
                    return await response(scope, receive, send)
        pending: list[Message] = [{"type": "http.request", "body": raw, "more_body": tail is not None}]
        if tail is not None:
            pending.append(tail)

        async def replay() -> Message:
            if failure is not None:
                raise failure
            return pending.pop(0) if pending else await receive()

        await self.app(scope, replay, send)
