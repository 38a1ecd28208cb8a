"""The ladder's RQ jobs and the sweeper that fires the steps whose job was lost."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlmodel import Session

from dispatch.broker import schedule
from dispatch.config import get_settings
from dispatch.db import get_engine
from dispatch.deadlines import service


def job_id(case_id: int, step: str, at: datetime) -> str:
    # the time is part of the id: a re-planned step gets a new job; the old one finds nothing due and does nothing
    return f"ladder-{case_id}-{step}-{int(at.timestamp())}"


def schedule_step(case_id: int, step: str, at: datetime) -> bool:
    """Enqueue the RQ job for one ladder step (``sweep_ladder`` covers a lost job)."""
    return schedule(at, "workers.jobs.ladder_step", case_id, step, job_id=job_id(case_id, step, at))


def run_ladder_step(case_id: int, step: str | None = None) -> list[str]:
    """The job: fire every step of the case that is due now, in order (``step`` names the one it was for)."""
    with Session(get_engine(), expire_on_commit=False) as session:
        fired = service.fire_due(session, case_id, service.now())
        session.commit()
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
    return fired
