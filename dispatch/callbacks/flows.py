"""What follows a resolution or a rating for the callbacks: tasks, the unrated job, and its sweeper."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from dispatch import clock
from dispatch.broker import schedule
from dispatch.callbacks import service
from dispatch.cases.models import Case
from dispatch.cases.states import Move
from dispatch.config import get_settings
from dispatch.db import after_commit, get_engine


def job_id(case_id: int, resolved_at: datetime) -> str:
    # the resolution is part of the id: a case resolved again gets a new job; an old one finds nothing to do
    return f"callback-unrated-{case_id}-{int(resolved_at.timestamp() * 1000)}"


def cases_resolved(session: Session, moves: list[Move]) -> None:
    """Subscribed to resolutions, whichever door they came through: in the resolution's transaction, the
    ``resolved`` task; once committed, the unrated check's job. A case without a phone number cannot be called
    back: no task."""
    for m in moves:
        _resolved(session, m.case)


def _resolved(session: Session, case: Case) -> None:
    if not service.callable(case):
        return
    service.on_resolved(session, case)
    case_id, resolved_at = case.id, case.resolved_at
    assert case_id is not None and resolved_at is not None  # entering ``resolved``: handling.resolve set the time
    at = resolved_at + timedelta(days=get_settings().callback_unrated_days)
    after_commit(
        session, lambda: schedule(at, "workers.jobs.callback_unrated", case_id, job_id=job_id(case_id, resolved_at))
    )


def cases_answered(session: Session, moves: list[Move]) -> None:
    """Subscribed to ratings and to any move out of a resolution: in its transaction, the case's open tasks are
    cancelled (the resident has answered, or the case was reopened or closed another way)."""
    for m in moves:
        service.cancel_open(session, m.case, "rated" if m.action == "rated" else "case_changed")


def run_unrated_check(case_id: int) -> bool:
    """The job at resolved_at + N days: one ``unrated`` task if the case is still unrated. True if created."""
    with Session(get_engine(), expire_on_commit=False) as session:
        task = service.ensure_unrated(session, case_id)
        session.commit()
        return task is not None


def sweep_callbacks(limit: int = 100) -> int:
    """The safety net for lost jobs: unrated tasks that are due and missing; stale open tasks cancelled."""
    at = clock.now()
    with Session(get_engine()) as session:
        service.cancel_stale(session)
        session.commit()
        case_ids = service.unrated_due(session, at, limit)
    created = 0
    for case_id in case_ids:
        with Session(get_engine(), expire_on_commit=False) as session:
            created += service.ensure_unrated(session, case_id, at) is not None
            session.commit()
    return created
