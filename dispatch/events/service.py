"""The transactional outbox: events are written in the same transaction as the change they describe."""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from dispatch.db import utcnow
from dispatch.events.models import Outbox


def emit(
    session: Session,
    type_: str,
    *,
    case: dict[str, Any] | None = None,
    member: dict[str, Any] | None = None,
    town_code: str | None = None,
    members: list[int] | tuple[int, ...] = (),
    extra: dict[str, Any] | None = None,
) -> Outbox:
    """Add an event to the outbox. ``town_code`` and ``members`` route it to boards and member sockets."""
    body: dict[str, Any] = {"type": type_, "at": utcnow().isoformat()}
    if case is not None:
        body["case"] = case
    if member is not None:
        body["member"] = member
    if extra:
        body.update(extra)
    body["route"] = {"town_code": town_code, "members": sorted({m for m in members if m is not None})}
    row = Outbox(type=type_, payload=body)
    session.add(row)
    from dispatch.events.relay import request_relay  # late import: relay needs the broker

    request_relay(session)
    return row
