"""The topic state machine: the only code that writes ``topic.status``.

Every change checks the move, appends a ``TopicEvent`` and adds an outbox event, in the caller's transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlmodel import Session, select

from dispatch.consultations.models import Participant, Topic, TopicEvent
from dispatch.db import utcnow
from dispatch.errors import Conflict
from dispatch.events.service import emit
from dispatch.localtime import SHANGHAI
from dispatch.statemachine import Transitions

TRANSITIONS: dict[str, set[str]] = {
    "proposed": {"screened", "rejected", "forwarded"},
    "screened": {"participants_set", "rejected", "forwarded"},
    "participants_set": {"scheduled"},
    "scheduled": {"held"},
    "held": {"reported"},
    "reported": {"implementing"},
    "implementing": {"reviewed"},
    "reviewed": {"evaluated"},
    "evaluated": {"closed"},
    "rejected": set(),
    "forwarded": set(),
    "closed": set(),
}
STATUSES = tuple(TRANSITIONS)
# the path of a topic that is consulted on, in order
STAGES = (
    "proposed",
    "screened",
    "participants_set",
    "scheduled",
    "held",
    "reported",
    "implementing",
    "reviewed",
    "evaluated",
    "closed",
)


MOVES = Transitions(TRANSITIONS, "议题", "topic")
allowed = MOVES.allowed


@dataclass(frozen=True)
class NotBefore:
    """A move that may not happen before a time (the meeting's start, the review's due time)."""

    code: str
    zh: str  # "{at}" is the time, in Beijing time
    en: str
    early_with_reason: bool  # when it really happened earlier: allowed with a reason, recorded on the trail


# the one rule for moves bound to a time: nothing is marked done before it was due
NOT_BEFORE: dict[str, NotBefore] = {
    "held": NotBefore(
        "meeting_not_started",
        "协商活动定于 {at}（北京时间）开始，尚未到时间，不能标记为已召开；如确已提前召开，请填写提前召开的原因",
        "The meeting starts at {at} (Beijing time); it cannot be marked held before then. If it really was held "
        "early, give the reason",
        early_with_reason=True,
    ),
    "reviewed": NotBefore(
        "follow_up_not_due",
        "回头看定于 {at}（北京时间），尚未到期，不能记录结果",
        "The follow-up review is due at {at} (Beijing time); its result cannot be recorded before then",
        early_with_reason=False,
    ),
}


def check_time(to_status: str, not_before: datetime, now: datetime, reason: str | None = None) -> bool:
    """Refuse (409 with ``not_before``) a move to ``to_status`` before ``not_before``; a move that may happen
    early with a reason passes when one is given. Returns whether the move is early."""
    rule = NOT_BEFORE[to_status]
    if now >= not_before:
        return False
    if rule.early_with_reason and reason and reason.strip():
        return True
    at = not_before.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")
    raise Conflict(
        rule.code,
        rule.zh.format(at=at),
        rule.en.format(at=at),
        not_before=not_before.isoformat(),
        reason_required=rule.early_with_reason,
    )


def check(topic: Topic, to_status: str) -> None:
    MOVES.check(topic.status, to_status)


def require_status(topic: Topic, *statuses: str, doing: tuple[str, str]) -> None:
    """Refuse an action (not a move) that this status does not permit: 409 with the allowed statuses."""
    if topic.status not in statuses:
        raise Conflict(
            "illegal_transition",
            f"议题当前状态为 {topic.status}，不能{doing[0]}",
            f"A topic in status {topic.status} does not allow: {doing[1]}",
            status_from=topic.status,
            allowed_in=list(statuses),
            allowed=allowed(topic.status),
        )


def participant_members(session: Session, topic: Topic) -> list[int]:
    stmt = select(Participant.member_id).where(
        Participant.topic_id == topic.id,
        Participant.kind == "member",
        Participant.removed_at.is_(None),  # type: ignore[union-attr]
    )
    ids = {m for m in session.exec(stmt).all() if m}
    if topic.proposer_id:
        ids.add(topic.proposer_id)
    return sorted(ids)


def snapshot(topic: Topic) -> dict[str, Any]:
    return {
        "id": topic.id,
        "title": topic.title,
        "status": topic.status,
        "source": topic.source,
        "town_code": topic.town_code,
        "village_code": topic.village_code,
        "point_id": topic.point_id,
    }


def record(
    session: Session,
    topic: Topic,
    *,
    actor: str,
    action: str,
    to_status: str | None = None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    event_type: str | None = None,
) -> TopicEvent:
    """Write one audit event and its live event; change the status when ``to_status`` is given."""
    from_status = None if action == "proposed" else topic.status
    if to_status is not None and action != "proposed":
        check(topic, to_status)
        topic.status = to_status
    topic.updated_at = utcnow()
    session.add(topic)
    if topic.id is None:
        session.flush()
    assert topic.id is not None  # flushed above
    event = TopicEvent(
        topic_id=topic.id,
        actor=actor,
        action=action,
        from_status=from_status,
        to_status=topic.status if to_status is not None else None,
        note=note,
        data=data or {},
    )
    session.add(event)
    type_ = event_type or ("topic.status_changed" if to_status else "topic.updated")
    extra: dict[str, Any] = {"topic": snapshot(topic), "action": action}
    if note:
        extra["note"] = note
    emit(session, type_, town_code=topic.town_code, members=participant_members(session, topic), extra=extra)
    return event


def transition(
    session: Session,
    topic: Topic,
    to_status: str,
    *,
    actor: str,
    action: str | None = None,
    note: str | None = None,
    data: dict[str, Any] | None = None,
    not_before: datetime | None = None,
    reason: str | None = None,
) -> TopicEvent:
    """Move ``topic`` to ``to_status`` (409 with the allowed moves if illegal). A move bound to a time
    (``NOT_BEFORE``) needs ``not_before``: before it, 409, or (where allowed) the ``reason`` it happened early,
    which becomes the event's note and ``data.early_reason``."""
    if to_status in NOT_BEFORE:
        if not_before is None:
            raise TypeError(f"a move to {to_status} needs its not_before time")
        check(topic, to_status)
        if check_time(to_status, not_before, utcnow(), reason):
            note = reason.strip() if reason else note
            data = {**(data or {}), "early": True, "early_reason": note, "not_before": not_before.isoformat()}
    return record(session, topic, actor=actor, action=action or to_status, to_status=to_status, note=note, data=data)
