"""What follows a resolution for the resident: the reply rows (same transaction), their send jobs, the sweeper."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import cast

from sqlmodel import Session

from dispatch import clock
from dispatch.broker import schedule
from dispatch.cases.models import Case
from dispatch.cases.states import Move
from dispatch.config import get_settings
from dispatch.db import after_commit, get_engine
from dispatch.notifications import service
from dispatch.notifications.backends import SendError, notifier_for

log = logging.getLogger(__name__)


def job_id(notification_id: int, attempt: int) -> str:
    return f"notify-{notification_id}-{attempt}"


def schedule_send(notification_id: int, at: datetime, attempt: int) -> bool:
    """Enqueue the send job (``sweep_notifications`` covers a lost one)."""
    return schedule(at, "workers.jobs.send_notification", notification_id, job_id=job_id(notification_id, attempt))


def reply_to_residents(session: Session, moves: list[Move]) -> None:
    """Subscribed to resolutions, whichever door they came through: in the resolution's transaction, the reply
    rows; their jobs are enqueued once it commits."""
    for m in moves:
        _reply(session, m.case)


def _reply(session: Session, case: Case) -> None:
    rows = service.queue_reply(session, case)
    planned = [(cast(int, r.id), r.next_attempt_at) for r in rows]  # flushed by queue_reply
    if planned:
        after_commit(session, lambda: [schedule_send(i, at, 1) for i, at in planned])


def run_send(notification_id: int) -> str:
    """The job: claim the row, send it, record the result. Returns the row's status afterwards ("skipped" when
    another sender had it or it was already sent)."""
    engine = get_engine()
    with Session(engine, expire_on_commit=False) as session:
        message = service.claim(session, notification_id, clock.now())
        session.commit()
    if message is None:
        return "skipped"
    try:
        provider_id = notifier_for(message.channel).send(message)
    except SendError as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 - a backend bug must not leave the row stuck in "sending"
        log.exception("notification %s: backend error", notification_id)
        error = f"{exc.__class__.__name__}: {exc}"
    else:
        with Session(engine) as session:
            service.record_sent(session, notification_id, provider_id, clock.now())
            session.commit()
        return "sent"
    with Session(engine, expire_on_commit=False) as session:
        row = session.get(service.Notification, notification_id)
        attempts = row.attempts if row else 0
        retry_at = service.record_failure(session, notification_id, error, clock.now())
        session.commit()
    log.warning("notification %s: attempt %s failed: %s", notification_id, attempts, error)
    if retry_at is None:
        return "failed"
    schedule_send(notification_id, retry_at, attempts + 1)
    return "pending"


def sweep_notifications(limit: int = 20) -> int:
    """Send the pending rows whose job is late by the grace period (lost: Redis down, worker killed), and free
    rows whose sender died mid-send. Returns how many this sweep sent."""
    at = clock.now()
    with Session(get_engine()) as session:
        service.release_stale(session, at)
        session.commit()
        ids = service.overdue_ids(session, at - timedelta(seconds=get_settings().notify_sweep_grace_s), limit)
    return sum(run_send(i) == "sent" for i in ids)
