"""The ladder's RQ jobs and the sweeper that fires the steps whose job was lost.

A case has one ladder job scheduled at a time, for its first pending step; the job (or the sweeper, when the
job was lost) schedules the next step's job after firing. Cases written together (an intake group) whose step
falls in the same second share one job."""

from __future__ import annotations

from datetime import timedelta

from sqlmodel import Session

from dispatch import clock
from dispatch.broker import run_each
from dispatch.cases.states import Move
from dispatch.config import get_settings
from dispatch.db import get_engine
from dispatch.deadlines import service


def cases_created(session: Session, moves: list[Move]) -> None:
    """Subscribed (before the trail) to new cases planned at intake (``Move.context``: ``policy.compute``'s
    answer): their sign deadline and rule stored, their escalation ladder planned, one statement per table."""
    planned = [(m.case, m.context) for m in moves if m.context is not None]
    if planned:
        service.plan_cases(session, planned)


def deadline_moved(session: Session, moves: list[Move]) -> None:
    """Subscribed to a new category or request kind (``policy.replan`` moved the deadline) and to an approved
    extension (``cases.extensions``): the ladder's pending steps move with the case's ``due_at``."""
    for m in moves:
        service.plan_steps(session, m.case)


def schedule_next(session: Session, case_id: int, current: str | None = None) -> bool:
    """Schedule the job of the case's first pending step (the same job id as when it was scheduled before).

    ``current``: the step of the running job. If that step is still pending and due within a second (the job
    ran early: RQ rounds times to the second), its next job runs a second later under another id than the
    running job's."""
    nxt = service.next_pending(session, case_id)
    if nxt is None:
        return False
    step, at = nxt
    now = clock.now()
    if step == current and at - now <= timedelta(seconds=1):
        at = max(at, now) + timedelta(seconds=1)
    return service.schedule_step(case_id, step, at)


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
        fired = service.fire_due(session, case_id, clock.now())
        session.commit()
        schedule_next(session, case_id, step)
        return fired


def sweep_ladder(limit: int = 200) -> int:
    """Fire steps overdue by more than the grace period (their job was lost: Redis down, worker killed)."""
    at = clock.now()
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
