"""The ladder's RQ jobs and the sweeper that fires the steps whose job was lost.

A case has one ladder job scheduled at a time, for its first pending step; the job (or the sweeper, when the
job was lost) schedules the next step's job after firing."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from dispatch.broker import schedule, schedule_after_commit
from dispatch.config import get_settings
from dispatch.db import get_engine
from dispatch.deadlines import service

LADDER_JOB = "workers.jobs.ladder_step"


def job_id(case_id: int, step: str, at: datetime) -> str:
    # the time is part of the id: a re-planned step gets a new job; the old one finds nothing due and does nothing
    return f"ladder-{case_id}-{step}-{int(at.timestamp())}"


def schedule_step(case_id: int, step: str, at: datetime, session: Session | None = None) -> bool:
    """Enqueue the RQ job for one ladder step (``sweep_ladder`` covers a lost job); with ``session``, once it
    commits, together with the transaction's other jobs."""
    if session is not None:
        schedule_after_commit(session, at, LADDER_JOB, case_id, step, job_id=job_id(case_id, step, at))
        return True
    return schedule(at, LADDER_JOB, case_id, step, job_id=job_id(case_id, step, at))


def schedule_next(session: Session, case_id: int, current: str | None = None) -> bool:
    """Schedule the job of the case's first pending step (the same job id as when it was scheduled before).

    ``current``: the step of the running job. If that step is still pending and due within a second (the job
    ran early: RQ rounds times to the second), its next job runs a second later under another id than the
    running job's."""
    nxt = service.next_pending(session, case_id)
    if nxt is None:
        return False
    step, at = nxt
    now = service.now()
    if step == current and at - now <= timedelta(seconds=1):
        at = max(at, now) + timedelta(seconds=1)
    return schedule_step(case_id, step, at)


def run_ladder_step(case_id: int, step: str | None = None) -> list[str]:
    """The job: fire every step of the case that is due now, in order (``step`` names the one it was for),
    then schedule the job of the next pending step (only one job per case is scheduled at a time)."""
    with Session(get_engine(), expire_on_commit=False) as session:
        fired = service.fire_due(session, case_id, service.now())
        session.commit()
        schedule_next(session, case_id, step)
        return fired


def sweep_ladder(limit: int = 200) -> int:
    """Fire steps overdue by more than the grace period (their job was lost: Redis down, worker killed)."""
    at = service.now()
    late = at - timedelta(seconds=get_settings().ladder_sweep_grace_s)
    with Session(get_engine()) as session:
        case_ids = service.pending_due_cases(session, late, limit)
    fired = 0
    for case_id in case_ids:
        with Session(get_engine(), expire_on_commit=False) as session:
            fired += len(service.fire_due(session, case_id, at))
            session.commit()
            schedule_next(session, case_id)  # the lost job would have scheduled it
    return fired
