"""The ladder's RQ jobs and the sweeper that fires the steps whose job was lost.

A case has one ladder job scheduled at a time, for its first pending step; the job (or the sweeper, when the
job was lost) schedules the next step's job after firing. Cases written together (an intake group) whose step
falls in the same second share one job."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from sqlmodel import Session

from dispatch.broker import run_each, schedule, schedule_after_commit
from dispatch.config import get_settings
from dispatch.db import get_engine
from dispatch.deadlines import service

LADDER_JOB = "workers.jobs.ladder_step"


def job_id(case_id: int, step: str, at: datetime) -> str:
    # the time is part of the id: a re-planned step gets a new job; the old one finds nothing due and does nothing
    return f"ladder-{case_id}-{step}-{int(at.timestamp())}"


def schedule_step(case_id: int, step: str, at: datetime) -> bool:
    """Enqueue the RQ job for one ladder step now (``sweep_ladder`` covers a lost job)."""
    return schedule(at, LADDER_JOB, case_id, step, job_id=job_id(case_id, step, at))


def schedule_steps(session: Session, planned: list[tuple[int, str, datetime]]) -> None:
    """Once ``session`` commits, the jobs of (case id, step, time): one per step and second, shared by the
    cases due then (the job runs each case's step as its own)."""
    groups: dict[tuple[str, int], list[tuple[int, datetime]]] = {}
    for case_id, step, at in planned:
        groups.setdefault((step, math.ceil(at.timestamp())), []).append((case_id, at))
    for (step, _), members in groups.items():
        at = max(when for _, when in members)
        ids = [case_id for case_id, _ in members]
        jid = job_id(ids[0], step, at) + (f"-{len(ids)}" if len(ids) > 1 else "")
        schedule_after_commit(session, at, LADDER_JOB, ids[0], step, *ids[1:], job_id=jid)


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


def run_ladder_steps(case_ids: list[int], step: str | None = None) -> list[str]:
    """A shared job: each case's step on its own."""
    return [
        name
        for fired in run_each(lambda c: run_ladder_step(c, step), case_ids, f"ladder {step} of case")
        for name in fired
    ]


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
