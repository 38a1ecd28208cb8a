"""Notification rows: what is sent to a resident, and the claim → send → record cycle that sends it once.

A row is ``pending`` until a sender claims it with one conditional UPDATE (``pending`` → ``sending``, attempts + 1),
so a job and the sweeper cannot both send it; the send happens outside any transaction; the result is recorded
as ``sent`` (never sent again), ``pending`` with a later ``next_attempt_at`` (retry), or ``failed`` after the last
attempt. A sender that dies mid-send leaves ``sending``; after a lease the sweeper puts the row back to pending.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import ColumnElement, update
from sqlmodel import Session, col, select

from dispatch.cases.models import Case
from dispatch.config import get_settings
from dispatch.notifications.backends import Message, mask_recipient
from dispatch.notifications.models import Notification
from dispatch.statemachine import Transitions

MAX_BACKOFF_S = 3600.0
MOVES = Transitions(
    {"pending": {"sending"}, "sending": {"sent", "pending", "failed"}, "sent": set(), "failed": set()},
    "通知",
    "notification",
)


def _moving(from_status: str, to_status: str) -> tuple[ColumnElement[bool], dict[str, str]]:
    """The WHERE and SET of a conditional UPDATE that makes the move (checked against ``MOVES``): a row
    changes only if it is still in ``from_status``, so two senders cannot both make it."""
    MOVES.check(from_status, to_status)
    return col(Notification.status) == from_status, {"status": to_status}


def tracking_url(case: Case) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/t/{case.tracking_no}"


def _short(text: str, n: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def render_reply(case: Case, channel: str) -> tuple[str | None, str]:
    """The resolution reply (Chinese first, then English): subject (e-mail only) and body."""
    s = get_settings()
    no, url, reply = case.tracking_no, tracking_url(case), (case.resolution or "").strip()
    if channel == "sms":
        body = (
            f"【有事好商量】您反映的问题（受理编号{no}）已办结：{_short(reply, 60)}。"
            f"查看结果并评价（满意/基本满意/不满意）：{url} 如有疑问请拨打{s.hotline_number}。"
        )
        return None, body
    subject = f"【有事好商量】您反映的问题已办结（{no}）/ Your case {no} is resolved"
    body = "\n".join(
        [
            "您好：",
            "",
            f"您反映的问题（受理编号 {no}）已办结。",
            f"办理结果：{reply}",
            "",
            f"查看办理结果并评价：{url}",
            "请用受理时获得的查询码打开页面，对办理结果作出评价：满意、基本满意或不满意。",
            "如不满意，案件将重新办理。",
            f"如有疑问，请拨打 {s.hotline_number} 市民热线。",
            "",
            "盐都区“有事好商量”指挥中心",
            "",
            "----",
            "Hello,",
            "",
            f"Your case {no} has been resolved.",
            f"Result: {reply}",
            "",
            f"See the result and rate it (satisfied, basically satisfied or dissatisfied): {url}",
            "Use the secret you were given when the case was received. A dissatisfied rating reopens the case.",
            f"Questions: call the {s.hotline_number} citizen hotline.",
        ]
    )
    return subject, body


def queue_reply(session: Session, case: Case) -> list[Notification]:
    """Add the resolution reply for every contact the case has (e-mail, phone); the caller commits."""
    assert case.id is not None  # a case from the database
    rows = []
    for channel, to in (("email", case.reporter_email), ("sms", case.reporter_phone)):
        if not to or not to.strip():
            continue
        subject, body = render_reply(case, channel)
        rows.append(
            Notification(
                case_id=case.id,
                channel=channel,
                recipient=to.strip(),
                template="case_resolved",
                subject=subject,
                body=body,
            )
        )
    session.add_all(rows)
    session.flush()
    return rows


def claim(session: Session, notification_id: int, at: datetime) -> Message | None:
    """pending (and due) → sending, attempts + 1, in one conditional UPDATE; the message to send, or None."""
    still, moved = _moving("pending", "sending")
    result = session.exec(  # exec: typed as an UPDATE's CursorResult (the same call as execute)
        update(Notification)
        .where(col(Notification.id) == notification_id, still, col(Notification.next_attempt_at) <= at)
        .values(**moved, attempts=Notification.attempts + 1, claimed_at=at)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        return None
    row = session.get(Notification, notification_id, populate_existing=True)
    assert row is not None and row.id is not None  # just updated, in this transaction
    return Message(id=row.id, channel=row.channel, to=row.recipient, subject=row.subject, body=row.body)


def backoff(attempts: int) -> float:
    return min(get_settings().notify_backoff_s * 2 ** max(attempts - 1, 0), MAX_BACKOFF_S)


def record_sent(session: Session, notification_id: int, provider_id: str, at: datetime) -> None:
    still, moved = _moving("sending", "sent")
    session.execute(
        update(Notification)
        .where(col(Notification.id) == notification_id, still)
        .values(**moved, provider_id=provider_id[:256], sent_at=at, last_error=None)
        .execution_options(synchronize_session=False)
    )


def record_failure(session: Session, notification_id: int, error: str, at: datetime) -> datetime | None:
    """Back to pending with a later attempt, or failed after the last one; the time of the retry, if any."""
    row = session.get(Notification, notification_id, populate_existing=True, with_for_update=True)
    if row is None or row.status != "sending":
        return None
    row.last_error = error[:2000]
    if row.attempts >= get_settings().notify_max_attempts:
        MOVES.move(row, "failed")
        retry_at = None
    else:
        retry_at = at + timedelta(seconds=backoff(row.attempts))
        MOVES.move(row, "pending")
        row.next_attempt_at = retry_at
    session.add(row)
    return retry_at


def lease_s() -> float:
    """How long a send may take before its row is presumed abandoned (the sender died)."""
    return max(60.0, get_settings().smtp_timeout_s * 6)


def release_stale(session: Session, at: datetime) -> int:
    """Rows stuck in ``sending`` past the lease go back to pending (their attempt counts as failed)."""
    still, moved = _moving("sending", "pending")
    expired = (still, col(Notification.claimed_at) < at - timedelta(seconds=lease_s()))
    if session.exec(select(Notification.id).where(*expired).limit(1)).first() is None:
        return 0  # the common case: a read, no write lock
    result = session.exec(  # exec: typed as an UPDATE's CursorResult (the same call as execute)
        update(Notification)
        .where(*expired)
        .values(**moved, next_attempt_at=at, last_error="sender lost mid-send (lease expired)")
        .execution_options(synchronize_session=False)
    )
    return result.rowcount or 0


def overdue_ids(session: Session, before: datetime, limit: int) -> list[int]:
    stmt = (
        select(Notification.id)
        .where(Notification.status == "pending", col(Notification.next_attempt_at) <= before)
        .order_by(col(Notification.next_attempt_at), col(Notification.id))
        .limit(limit)
    )
    return cast(list[int], list(session.exec(stmt).all()))  # primary keys


def for_case(session: Session, case_id: int) -> list[Notification]:
    stmt = select(Notification).where(Notification.case_id == case_id).order_by(col(Notification.id))
    return list(session.exec(stmt).all())


def search(session: Session, *, case_id: int | None, status: str | None, limit: int) -> list[Notification]:
    stmt = select(Notification)
    if case_id is not None:
        stmt = stmt.where(Notification.case_id == case_id)
    if status:
        stmt = stmt.where(col(Notification.status).in_(status.split(",")))
    return list(session.exec(stmt.order_by(col(Notification.id).desc()).limit(limit)).all())


_FIELDS = (
    "id",
    "case_id",
    "channel",
    "template",
    "subject",
    "body",
    "status",
    "attempts",
    "last_error",
    "provider_id",
    "created_at",
    "next_attempt_at",
    "sent_at",
)


def view(row: Notification, *, reveal: bool) -> dict:
    """The row as staff see it: the recipient in full only for ``reveal`` (operators), else masked."""
    out = {k: getattr(row, k) for k in _FIELDS}
    out["to"] = row.recipient if reveal else mask_recipient(row.recipient)
    if row.status != "pending":
        out["next_attempt_at"] = None
    return out
