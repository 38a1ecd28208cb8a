"""The transactional outbox: events are written in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from dispatch.db import insert_rows, utcnow
from dispatch.events.models import Outbox
from dispatch.events.relay import request_relay


def event_body(
    type_: str,
    *,
    case: dict[str, Any] | None = None,
    member: dict[str, Any] | None = None,
    town_code: str | None = None,
    members: list[int] | tuple[int, ...] = (),
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A live event. ``town_code`` and ``members`` route it to boards and member sockets."""
    body: dict[str, Any] = {"type": type_, "at": utcnow().isoformat()}
    if case is not None:
        body["case"] = case
    if member is not None:
        body["member"] = member
    if extra:
        body.update(extra)
    body["route"] = {"town_code": town_code, "members": sorted({m for m in members if m is not None})}
    return body


def emit_many(session: Session, bodies: list[dict[str, Any]]) -> None:
    """Add events (``event_body``) to the outbox with one statement; relayed once the transaction commits."""
    if not bodies:
        return
    insert_rows(session, Outbox, [{"type": b["type"], "payload": b} for b in bodies])

    request_relay(session)


def emit(session: Session, type_: str, **kwargs: Any) -> None:
    """Add one event to the outbox (see ``event_body`` for the arguments)."""
    emit_many(session, [event_body(type_, **kwargs)])
