"""The case state machine: the only code that writes ``case.status``.

Every change checks the move, appends a ``CaseEvent`` and adds an outbox event, all in the caller's
transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session

from dispatch.cases.models import Case, CaseEvent
from dispatch.db import insert_rows, utcnow
from dispatch.events.service import emit_many, event_body
from dispatch.statemachine import Transitions

_OPEN = {"forwarded", "merged", "cancelled"}
TRANSITIONS: dict[str, set[str]] = {
    "new": {"offered", "assigned", "escalated"} | _OPEN,
    "offered": {"new", "assigned", "escalated"} | _OPEN,
    "escalated": {"offered", "assigned"} | _OPEN,
    "assigned": {"in_progress", "resolved", "escalated"} | _OPEN,
    "in_progress": {"resolved", "escalated"} | _OPEN,
    "resolved": {"closed", "reopened"},
    "reopened": {"offered", "assigned", "escalated"} | _OPEN,
    "forwarded": {"resolved", "closed", "reopened"},
    "closed": {"reopened"},
    "merged": set(),
    "cancelled": set(),
}
STATUSES = tuple(TRANSITIONS)
# The groups every module counts by, here only.
OPEN_STATUSES = ("new", "offered", "escalated", "assigned", "in_progress", "reopened")  # on the office's desk
HOLDS_SLOT = ("assigned", "in_progress")  # a member works on it: it takes one of their capacity
RESOLVED_STATUSES = ("resolved", "closed")  # answered
VOID_STATUSES = ("merged", "cancelled")  # counts nowhere: folded into another case, or withdrawn
CLOSED_STATUSES = RESOLVED_STATUSES + VOID_STATUSES
DONE_HERE = tuple(s for s in STATUSES if s not in OPEN_STATUSES)  # off the desk: answered, forwarded or void

# The live event type of each action; any other status change is "case.status_changed".
ACTION_EVENTS = {
    "created": "case.created",
    "offered": "case.offered",
    "declined": "case.declined",
    "offer_expired": "case.offer_expired",
    "accepted": "case.accepted",
    "assigned": "case.assigned",
    "escalated": "case.escalated",
    "progress": "case.progress",
    "rated": "case.rated",
    "overdue": "case.overdue",
    "reminded": "case.reminded",
    "supervised": "case.supervised",
}


MOVES = Transitions(TRANSITIONS, "案件", "case")
allowed = MOVES.allowed


def check(case: Case, to_status: str) -> None:
    MOVES.check(case.status, to_status)


def _snapshot(case: Case) -> dict[str, Any]:
    from dispatch.cases.service import event_view  # the public, masked view of a case

    return event_view(case)


@dataclass
class Move:
    """One entry of a case's trail: ``action`` by ``actor``, changing the status when ``to_status`` is given."""

    case: Case
    action: str
    actor: str
    to_status: str | None = None
    note: str | None = None
    data: dict[str, Any] | None = None
    notify: tuple[int | None, ...] = ()


def record_many(session: Session, moves: list[Move], *, returning: bool = False) -> list[dict[str, Any]]:
    """Check and apply each move in order, then write their audit events and live events with one statement
    each; returns the audit rows (with their ids when ``returning``). The cases must have ids; their own
    changes are written by the session's flush."""
    if not moves:
        return []
    events, bodies = [], []
    for m in moves:
        case, action = m.case, m.action
        if case not in session:
            session.add(case)
        from_status = None if action == "created" else case.status
        if m.to_status is not None and action != "created":
            check(case, m.to_status)
            case.status = m.to_status
        if action != "created" or case.updated_at is None:  # a new case keeps its creation time (no second write)
            case.updated_at = utcnow()
        events.append(
            {
                "case_id": case.id,
                "at": utcnow(),
                "actor": m.actor,
                "action": action,
                "from_status": from_status,
                "to_status": case.status if m.to_status is not None or action == "created" else None,
                "note": m.note,
                "data": m.data or {},
            }
        )
        type_ = ACTION_EVENTS.get(action, "case.status_changed" if m.to_status else "case.updated")
        members = (case.offered_to, case.assignee_id, *m.notify)
        bodies.append(
            event_body(
                type_,
                case=_snapshot(case),
                town_code=case.town_code,
                members=[x for x in members if x],
                extra={"action": action, "note": m.note} if m.note else {"action": action},
            )
        )
    ids = insert_rows(session, CaseEvent, events, returning=returning)
    emit_many(session, bodies)
    for row, event_id in zip(events, ids, strict=False):
        row["id"] = event_id
    return events


def record(
    session: Session,
    case: Case,
    *,
    actor: str,
    action: str,
    to_status: str | None = None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    notify: tuple[int | None, ...] = (),
) -> CaseEvent:
    """Write one audit event (and its live event); change the status when ``to_status`` is given."""
    if case.id is None:
        session.add(case)
        session.flush()
    return CaseEvent(
        **record_many(session, [Move(case, action, actor, to_status, note, data, notify)], returning=True)[0]
    )


def transition(
    session: Session,
    case: Case,
    to_status: str,
    *,
    actor: str,
    action: str | None = None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    notify: tuple[int | None, ...] = (),
) -> CaseEvent:
    """Move ``case`` to ``to_status`` (409 with the allowed moves if illegal)."""
    return record(
        session, case, actor=actor, action=action or to_status, to_status=to_status, note=note, data=data, notify=notify
    )
