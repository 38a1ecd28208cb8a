"""Live events over websockets: the operators' board and a member's own feed.

A socket lives as long as the session that opened it: the hub closes it (4401) when the session is revoked
or expires (``Hub.serve``).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from fastapi import APIRouter, WebSocket
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from dispatch.auth.deps import SESSION_COOKIE
from dispatch.auth.service import principal_from_token
from dispatch.db import get_engine
from dispatch.events.hub import EVENT_ID

router = APIRouter()

BOARD_ROLES = ("admin", "operator", "supervisor")
CLOSE_FORBIDDEN = 4403
CLOSE_BAD_REQUEST = 4400
MEMBER_TYPES = ("case.", "meeting.", "topic.")  # what a member socket forwards (to the routed members)


def _principal(token: str | None):
    with Session(get_engine()) as session:
        return principal_from_token(session, token)


async def _authorise(ws: WebSocket, roles: tuple[str, ...], last_event_id: str | None):
    token = ws.query_params.get("token")
    if not token and (token := ws.cookies.get(SESSION_COOKIE)):
        origin = ws.headers.get("origin")
        if origin and urlsplit(origin).netloc != ws.headers.get("host"):
            await ws.close(code=CLOSE_FORBIDDEN, reason="cross-site")  # a cookie from another site's page
            return None
    p = await run_in_threadpool(_principal, token)
    if p is None or p.role not in roles:
        await ws.close(code=CLOSE_FORBIDDEN, reason="forbidden")  # before accept: the client sees HTTP 403
        return None
    if last_event_id is not None and not EVENT_ID.match(last_event_id):
        await ws.accept()
        await ws.close(code=CLOSE_BAD_REQUEST, reason="invalid last_event_id")
        return None
    return p


@router.websocket("/ws/board")
async def board(ws: WebSocket, town_code: str | None = None, last_event_id: str | None = None) -> None:
    p = await _authorise(ws, BOARD_ROLES, last_event_id)
    if p is None:
        return

    def accepts(event: dict[str, Any]) -> bool:
        return town_code is None or event.get("route", {}).get("town_code") == town_code

    await ws.accept()
    hub = ws.app.state.hub
    key = ("board", town_code)
    await hub.serve(ws, accepts, last_event_id, key=key, session=p.session, expires_at=p.expires_at)


@router.websocket("/ws/member")
async def member(ws: WebSocket, last_event_id: str | None = None) -> None:
    p = await _authorise(ws, ("member",), last_event_id)
    if p is None:
        return
    member_id = p.member_id

    def accepts(event: dict[str, Any]) -> bool:
        return event.get("type", "").startswith(MEMBER_TYPES) and member_id in event.get("route", {}).get("members", ())

    await ws.accept()
    hub = ws.app.state.hub
    key = ("member", member_id)
    await hub.serve(ws, accepts, last_event_id, key=key, session=p.session, expires_at=p.expires_at)
