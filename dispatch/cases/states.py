"""The case state machine: the only code that writes ``case.status``.

Every change checks the move, appends a ``CaseEvent`` and adds an outbox event, all in the caller's
transaction. What follows a move in other domains (a member's slot given back, the reply to the resident, the
callback task, the deadline ladder, hotspot detection) subscribes to it (``subscribe``); the subscriptions are
made in one place, ``dispatch.wiring``, which the app, the CLI, the workers and the tests install.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from sqlmodel import Session

from dispatch.cases.models import Case, CaseEvent
from dispatch.db import insert_rows, utcnow
from dispatch.deadlines.policy import sign_by_of
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


def _snapshot(case: Case, sign_by: dict[int, datetime | None]) -> dict[str, Any]:
    from dispatch.cases.service import event_view  # the public, masked view of a case

    return event_view(case, sign_by)


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
    context: Any = None  # for subscribers only (not written): e.g. the deadlines a new case was planned with
    from_status: str | None = field(default=None, init=False)  # set when the move is recorded


Handler = Callable[[Session, list[Move]], None]
Phase = Literal["before", "after"]


@dataclass(frozen=True)
class Subscription:
    """``handler(session, moves)`` for the moves of one ``record_many`` that match: an action in ``actions``, a
    status entered in ``entering`` or left in ``leaving`` (any of them; all empty: every move).

    "before" runs once the statuses are set, before the trail and the live events are written: it may change
    the cases' fields (the events show them) and write rows, but records no move. "after" runs once they are
    written, still in the caller's transaction: it may record further moves (e.g. offer a reopened case)."""

    handler: Handler
    phase: Phase
    actions: frozenset[str]
    entering: frozenset[str]
    leaving: frozenset[str]

    def matches(self, m: Move) -> bool:
        if not (self.actions or self.entering or self.leaving):
            return True
        if m.action in self.actions:
            return True
        moved = m.to_status is not None and m.to_status != m.from_status
        return moved and (m.to_status in self.entering or m.from_status in self.leaving)


_subscriptions: list[Subscription] = []


def subscribe(
    handler: Handler,
    *,
    phase: Phase = "after",
    actions: Iterable[str] = (),
    entering: Iterable[str] = (),
    leaving: Iterable[str] = (),
) -> None:
    """Call ``handler`` for the matching moves (see ``Subscription``); subscribing the same again is a no-op."""
    sub = Subscription(handler, phase, frozenset(actions), frozenset(entering), frozenset(leaving))
    if sub not in _subscriptions:
        _subscriptions.append(sub)


def subscriptions() -> list[Subscription]:
    return list(_subscriptions)


def _notify(session: Session, phase: Phase, moves: list[Move]) -> None:
    for sub in _subscriptions:
        if sub.phase == phase:
            matched = [m for m in moves if sub.matches(m)]
            if matched:
                sub.handler(session, matched)


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
        m.from_status = None if action == "created" else case.status
        if m.to_status is not None and action != "created":
            check(case, m.to_status)
            case.status = m.to_status
        if action != "created" or case.updated_at is None:  # a new case keeps its creation time (no second write)
            case.updated_at = utcnow()
    _notify(session, "before", moves)
    signing = sign_by_of(session, [m.case.id for m in moves if m.case.id is not None])  # as planned just now
    for m in moves:
        case, action, from_status = m.case, m.action, m.from_status
        events.append(
            {
                "case_id": case.id,
                "at": utcnow(),
                "actor": m.actor,
                "action": action,
                "from_status": from_status,
                "to_status": m.to_status if m.to_status is not None or action != "created" else case.status,
                "note": m.note,
                "data": m.data or {},
            }
        )
        type_ = ACTION_EVENTS.get(action, "case.status_changed" if m.to_status else "case.updated")
        members = (case.offered_to, case.assignee_id, *m.notify)
        bodies.append(
            event_body(
                type_,
                case=_snapshot(case, signing),
                town_code=case.town_code,
                members=[x for x in members if x],
                extra={"action": action, "note": m.note} if m.note else {"action": action},
            )
        )
    ids = insert_rows(session, CaseEvent, events, returning=returning)
    emit_many(session, bodies)
    for row, event_id in zip(events, ids, strict=False):
        row["id"] = event_id
    _notify(session, "after", moves)
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
