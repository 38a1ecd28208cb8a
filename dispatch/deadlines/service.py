"""The escalation ladder (催办, yellow and red cards, 督办) on each case's deadlines, and extension requests (延期).
The deadlines themselves come from ``deadlines.policy``.

"Now" is ``dispatch.clock.now`` (tests freeze it).
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.broker import schedule, schedule_after_commit
from dispatch.cases import states
from dispatch.cases.models import Case
from dispatch.config import get_settings
from dispatch.db import insert_rows
from dispatch.deadlines import policy
from dispatch.deadlines.calendar import Calendar
from dispatch.deadlines.models import STEPS, CaseDeadline, LadderStep
from dispatch.localtime import SHANGHAI

# ---- the ladder's jobs ------------------------------------------------------------------------------

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


# ---- a case's deadlines and ladder -------------------------------------------------------------------


def ladder_times(cal: Calendar, start: datetime, due: datetime) -> dict[str, datetime]:
    s = get_settings()
    reminder = start + (due - start) * (s.ladder_reminder_pct / 100)
    red = cal.add_working_days(due, s.ladder_red_after_working_days)
    supervision = cal.add_working_days(red, s.ladder_supervision_after_working_days)
    return {"reminder": min(reminder, due), "yellow": due, "red": red, "supervision": supervision}


def plan_cases(session: Session, planned: list[tuple[Case, dict[str, Any]]]) -> None:
    """At intake, for cases just inserted with their ``due_at``: store each one's sign deadline and the rule
    used (``planned`` is ``compute``'s answer) and plan its escalation ladder, one statement per table."""
    cal = policy.load_calendar(session)
    deadlines: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    jobs: list[tuple[int, str, datetime]] = []
    for case, out in planned:
        assert case.id is not None and case.due_at is not None  # inserted, with the due_at ``compute`` gave
        start = case.received_at
        deadlines.append(
            {
                "case_id": case.id,
                "start_at": start,
                "sign_by": out["sign_by"],
                "finish_by": out["due_at"],
                "rule": out["rule"],
            }
        )
        times = ladder_times(cal, start, case.due_at)
        steps += [{"case_id": case.id, "step": step, "due_at": times[step]} for step in STEPS]
        jobs.append((case.id, STEPS[0], times[STEPS[0]]))  # one job per case at a time: the first step's
    insert_rows(session, CaseDeadline, deadlines)
    insert_rows(session, LadderStep, steps)
    schedule_steps(session, jobs)


def plan_steps(session: Session, case: Case) -> None:
    """After the deadline moved (``policy.replan``): the ladder's pending steps move from the same start."""
    row = session.get(CaseDeadline, case.id)
    _plan_steps(session, case, row.start_at if row else case.received_at)


def _plan_steps(session: Session, case: Case, start: datetime) -> None:
    """Insert or move the pending steps (fired and skipped ones stay as they are), schedule the next one's job."""
    assert case.id is not None and case.due_at is not None  # after replan or an approved extension: set
    times = ladder_times(policy.load_calendar(session), start, case.due_at)
    existing = {s.step: s for s in session.exec(select(LadderStep).where(LadderStep.case_id == case.id)).all()}
    planned: list[tuple[str, datetime]] = []
    for step in STEPS:
        row = existing.get(step)
        if row is None:
            row = LadderStep(case_id=case.id, step=step, due_at=times[step])
        elif row.state == "pending":
            row.due_at = times[step]
        else:
            continue
        session.add(row)
        planned.append((step, times[step]))
    session.flush()
    _schedule_after_commit(session, case.id, planned)


def _schedule_after_commit(session: Session, case_id: int, pending: list[tuple[str, datetime]]) -> None:
    """One job per case at a time: the first pending step's. Its job schedules the following step once it ran
    (``flows.run_ladder_step``); ``flows.sweep_ladder`` fires a step whose job was lost, and schedules the next."""
    if not pending:
        return
    step, at = pending[0]  # steps are due in ladder order
    schedule_steps(session, [(case_id, step, at)])


def next_pending(session: Session, case_id: int) -> tuple[str, datetime] | None:
    """The case's first pending step and its time, or None."""
    rows = session.exec(
        select(LadderStep.step, LadderStep.due_at).where(LadderStep.case_id == case_id, LadderStep.state == "pending")
    ).all()
    if not rows:
        return None
    step, at = min(rows, key=lambda r: STEPS.index(r[0]))
    return step, at


def steps(session: Session, case_id: int) -> list[LadderStep]:
    rows = session.exec(select(LadderStep).where(LadderStep.case_id == case_id)).all()
    return sorted(rows, key=lambda s: STEPS.index(s.step))


def _local(at: datetime) -> str:
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M")


def _fire(session: Session, case: Case, step: LadderStep, at: datetime) -> None:
    s = get_settings()
    due = _local(case.due_at) if case.due_at else "-"
    data = {"step": step.step, "due_at": case.due_at.isoformat() if case.due_at else None, "at": at.isoformat()}
    if step.step == "reminder":
        action, note = "reminded", f"催办：请于 {due} 前办结 / reminder: due {due}"
    elif step.step == "yellow":
        action, note, data["level"] = "overdue", f"[yellow] 黄牌：已到办结时限 {due} / deadline reached", "yellow"
    elif step.step == "red":
        n = s.ladder_red_after_working_days
        action, note, data["level"] = "overdue", f"[red] 红牌：超期 {n} 个工作日 / {n} working days overdue", "red"
    else:
        action, note = "supervised", f"督办：超期未办结，请督查 / supervision order: overdue since {due}"
    states.record(session, case, actor="system:ladder", action=action, note=note, data=data)


def fire_due(session: Session, case_id: int, at: datetime | None = None) -> list[str]:
    """Fire the pending steps of a case that are due at ``at``, in ladder order; the caller commits.

    Each step moves pending → fired (or skipped, when the case is no longer open) by one conditional UPDATE
    under the case's row lock: two workers, or a worker and the sweeper, cannot both fire it.
    """
    at = at or clock.now()
    case = session.get(Case, case_id, with_for_update=True)
    if case is None:
        return []
    session.refresh(case)
    due = session.exec(
        select(LadderStep).where(
            LadderStep.case_id == case_id, LadderStep.state == "pending", col(LadderStep.due_at) <= at
        )
    ).all()
    fired: list[str] = []
    is_open = case.status in states.OPEN_STATUSES
    for step in sorted(due, key=lambda s: STEPS.index(s.step)):
        result = session.exec(  # exec: typed as an UPDATE's CursorResult (the same call as execute)
            update(LadderStep)
            .where(col(LadderStep.id) == step.id, col(LadderStep.state) == "pending")
            .values(state="fired" if is_open else "skipped", fired_at=at if is_open else None)
            .execution_options(synchronize_session=False)
        )
        if result.rowcount != 1:
            continue  # another process got there first
        session.expire(step)
        if is_open:
            _fire(session, case, step, at)
            fired.append(step.step)
    return fired


def pending_due_cases(session: Session, at: datetime, limit: int) -> list[int]:
    stmt = (
        select(LadderStep.case_id)
        .where(LadderStep.state == "pending", col(LadderStep.due_at) <= at)
        .distinct()
        .order_by(col(LadderStep.case_id))
        .limit(limit)
    )
    return list(session.exec(stmt).all())
