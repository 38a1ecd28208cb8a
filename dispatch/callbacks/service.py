"""Callback (回访) tasks: the rules of when one exists, claiming and completing it, and the operator's script.

Rules (docs/notifications.md), for cases with the resident's phone number:
- a resolution creates one task (reason ``resolved``), due ``callback_due_h`` later;
- a case still resolved and unrated ``callback_unrated_days`` after its resolution gets one ``unrated`` task,
  unless a task of that case is still open (then that call is the one to make);
- a dissatisfied rating creates no task: the case is reopened and handled again, and its next resolution makes
  a new ``resolved`` task;
- a rating (by the resident online, or by phone through another task) cancels the case's open tasks; so does
  any other move out of the resolution (``case_changed``: e.g. closed on the 12345 platform).

"Now" of the unrated rule is ``dispatch.clock.now`` (tests freeze it).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import and_, exists
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch import clock
from dispatch.callbacks.models import OPEN_STATUSES, CallbackTask, CompleteIn
from dispatch.cases import handling, states
from dispatch.cases import service as cases
from dispatch.cases.models import Case
from dispatch.config import get_settings
from dispatch.db import utcnow
from dispatch.errors import AppError, Conflict, not_found
from dispatch.events.service import emit
from dispatch.localtime import SHANGHAI
from dispatch.statemachine import Transitions

MOVES = Transitions(
    {
        "open": {"claimed", "done", "cancelled"},
        "claimed": {"done", "cancelled"},
        "done": set(),
        "cancelled": set(),
    },
    "回访任务",
    "callback task",
)


# ---- the script (回访话术) ------------------------------------------------------------------------------


def mask_name(name: str | None) -> str | None:
    """张** : the surname, the rest masked (the operator confirms who answers before saying more)."""
    name = (name or "").strip()
    if not name:
        return None
    return name[0] + "*" * max(len(name) - 1, 1)


def _summary(text: str, n: int = 60) -> str:
    text = " ".join(text.split())
    return text if len(text) <= n else text[: n - 1] + "…"


def script(case: Case, reason: str) -> dict[str, str]:
    """What the operator says, in Chinese and in English, built from the case."""
    hotline = get_settings().hotline_number
    name = mask_name(case.reporter_name)
    day = case.received_at.astimezone(SHANGHAI)
    resolved = case.resolved_at.astimezone(SHANGHAI) if case.resolved_at else None
    reply = (case.resolution or "").strip() or "（无）"
    summary = _summary(case.content)
    who_zh = f"请问是{name}吗？" if name else "请问是反映该问题的市民吗？"
    who_en = f"Am I speaking with {name}?" if name else "Am I speaking with the resident who reported this issue?"
    zh = [
        f"【问候】您好！我是盐都区“有事好商量”指挥中心的回访员。{who_zh}",
        f"【核实】您在 {day:%Y年%m月%d日} 反映的问题（受理编号 {case.tracking_no}）：“{summary}”",
        f"【答复】该问题已于 {resolved:%m月%d日} 办结，办理结果是：{reply}"
        if resolved
        else f"【答复】办理结果是：{reply}",
    ]
    en = [
        f"[Greeting] Hello, this is the callback service of the Yandu dispatch centre (有事好商量). {who_en}",
        f"[Check] On {day:%Y-%m-%d} you reported (tracking number {case.tracking_no}): “{summary}”",
        f"[Reply] It was resolved on {resolved:%Y-%m-%d}. The result: {reply}" if resolved else f"[Reply] {reply}",
    ]
    if reason == "unrated":
        zh.append("【说明】我们注意到您还没有对办理结果作出评价，所以致电听取您的意见。")
        en.append("[Note] We see you have not rated the result yet, so we are calling to hear from you.")
    zh += [
        "【评价】请问您对办理结果满意吗？是满意、基本满意，还是不满意？",
        f"【结束】感谢您的支持！如还有问题，可扫描点位二维码或拨打 {hotline} 反映。再见！",
    ]
    en += [
        "[Rating] Are you satisfied with the result: satisfied, basically satisfied, or dissatisfied?",
        f"[Closing] Thank you! If anything else comes up, scan a point's QR code or call {hotline}. Goodbye.",
    ]
    return {"zh": "\n".join(zh), "en": "\n".join(en)}


# ---- views and events -----------------------------------------------------------------------------------


def case_view(case: Case, *, reveal: bool) -> dict[str, Any]:
    return {
        "id": case.id,
        "tracking_no": case.tracking_no,
        "status": case.status,
        "category": case.category,
        "content": case.content,
        "resolution": case.resolution,
        "resolved_at": case.resolved_at,
        "rating": case.rating,
        "town_code": case.town_code,
        "reporter_name": case.reporter_name if reveal else mask_name(case.reporter_name),
        "reporter_phone": case.reporter_phone if reveal else cases.mask_phone(case.reporter_phone),
    }


_FIELDS = (
    "id",
    "case_id",
    "reason",
    "status",
    "due_at",
    "created_at",
    "claimed_by",
    "claimed_at",
    "outcome",
    "score",
    "note",
    "completed_by",
    "completed_at",
    "cancel_reason",
)


def view(task: CallbackTask, case: Case, *, reveal: bool) -> dict[str, Any]:
    """The task for the operators' page: with the case (contact in full only for ``reveal``) and the script."""
    out = {k: getattr(task, k) for k in _FIELDS}
    out["case"] = case_view(case, reveal=reveal)
    out["script"] = script(case, task.reason)
    return out


def _emit(session: Session, type_: str, task: CallbackTask, case: Case) -> None:
    """A live event for the board socket: no contact details, no script."""
    body = {k: getattr(task, k) for k in ("id", "case_id", "reason", "status", "claimed_by", "outcome", "score")}
    body |= {"due_at": task.due_at.isoformat(), "tracking_no": case.tracking_no, "town_code": case.town_code}
    emit(session, type_, town_code=case.town_code, extra={"callback": body})


# ---- creation -------------------------------------------------------------------------------------------


def _create(session: Session, case: Case, reason: str, at: datetime) -> CallbackTask:
    due = at + timedelta(hours=get_settings().callback_due_h)
    assert case.id is not None and case.resolved_at is not None  # a resolved case (handling.resolve sets the time)
    task = CallbackTask(
        case_id=case.id, reason=reason, round_at=case.resolved_at, due_at=due, created_at=at, updated_at=at
    )
    session.add(task)
    session.flush()
    _emit(session, "callback.created", task, case)
    return task


def callable(case: Case) -> bool:  # noqa: A001 - reads well at the call sites
    """Only a case with the resident's phone number can be called back."""
    return bool((case.reporter_phone or "").strip())


def on_resolved(session: Session, case: Case) -> CallbackTask:
    """In the resolution's transaction: the task to call the resident about this resolution."""
    return _create(session, case, "resolved", case.resolved_at or utcnow())


def _open_tasks(session: Session, case_id: int) -> list[CallbackTask]:
    stmt = select(CallbackTask).where(CallbackTask.case_id == case_id, col(CallbackTask.status).in_(OPEN_STATUSES))
    return list(session.exec(stmt.with_for_update()).all())


def ensure_unrated(session: Session, case_id: int, at: datetime | None = None) -> CallbackTask | None:
    """Create the ``unrated`` task of the case's current resolution if it is due and does not exist yet.

    Under the case's row lock (and the unique round), so a job and sweepers racing create exactly one.
    """
    at = at or clock.now()
    case = session.get(Case, case_id, with_for_update=True, populate_existing=True)
    if case is None or case.status != "resolved" or case.resolved_at is None or not callable(case):
        return None  # rated (closed / reopened), moved on, or nobody to call
    if case.resolved_at + timedelta(days=get_settings().callback_unrated_days) > at:
        return None
    done = session.exec(
        select(CallbackTask.id).where(
            CallbackTask.case_id == case_id, CallbackTask.reason == "unrated", CallbackTask.round_at == case.resolved_at
        )
    ).first()
    if done is not None or _open_tasks(session, case_id):
        return None
    try:
        with session.begin_nested():
            return _create(session, case, "unrated", at)
    except IntegrityError:  # another process created it between our check and insert
        return None


def unrated_due(session: Session, at: datetime, limit: int) -> list[int]:
    """Cases resolved more than N days before ``at``, unrated, with no unrated task for this resolution and no
    open task (the sweeper's query)."""
    cutoff = at - timedelta(days=get_settings().callback_unrated_days)
    has_round = exists().where(
        and_(
            col(CallbackTask.case_id) == Case.id,
            col(CallbackTask.reason) == "unrated",
            col(CallbackTask.round_at) == Case.resolved_at,
        )
    )
    has_open = exists().where(and_(col(CallbackTask.case_id) == Case.id, col(CallbackTask.status).in_(OPEN_STATUSES)))
    stmt = (
        select(Case.id)
        .where(Case.status == "resolved", col(Case.resolved_at) <= cutoff, ~has_round, ~has_open)
        .where(col(Case.reporter_phone).is_not(None), col(Case.reporter_phone) != "")
        .order_by(col(Case.resolved_at))
        .limit(limit)
    )
    return cast(list[int], list(session.exec(stmt).all()))  # primary keys


# ---- a rating, from either door --------------------------------------------------------------------------


def cancel_open(session: Session, case: Case, reason: str) -> list[CallbackTask]:
    """The case's open tasks are no longer needed: ``rated`` (the resident answered), ``case_changed`` (it left
    its resolution another way, e.g. closed on the 12345 platform)."""
    cancelled = []
    now = utcnow()
    assert case.id is not None  # a case from the database
    for task in _open_tasks(session, case.id):
        MOVES.move(task, "cancelled")
        task.cancel_reason, task.updated_at = reason, now
        session.add(task)
        _emit(session, "callback.updated", task, case)
        cancelled.append(task)
    return cancelled


# ---- the operator's actions ------------------------------------------------------------------------------


def get(session: Session, task_id: int, *, lock: bool = False) -> CallbackTask:
    stmt = select(CallbackTask).where(CallbackTask.id == task_id)
    task = session.exec(stmt.with_for_update() if lock else stmt).first()
    if task is None:
        raise not_found("回访任务", "Callback task", code="callback_not_found", id=task_id)
    return task


def _refuse_if_claimed_by_other(task: CallbackTask, actor: str) -> None:
    if task.status == "claimed" and task.claimed_by != actor:
        raise Conflict(
            "callback_claimed",
            "该回访任务已由其他值班员认领",
            "Another operator has claimed this callback",
            claimed_by=task.claimed_by,
        )


def claim(session: Session, task_id: int, actor: str) -> tuple[CallbackTask, Case]:
    """open → claimed by ``actor`` (again by the same operator: no change); someone else's → 409."""
    task = get(session, task_id, lock=True)
    case = cases.get(session, task.case_id)
    if task.status == "claimed" and task.claimed_by == actor:
        return task, case
    _refuse_if_claimed_by_other(task, actor)
    MOVES.move(task, "claimed")
    now = utcnow()
    task.claimed_by, task.claimed_at, task.updated_at = actor, now, now
    session.add(task)
    _emit(session, "callback.updated", task, case)
    return task, case


def complete(session: Session, task_id: int, body: CompleteIn, actor: str) -> tuple[CallbackTask, Case]:
    """Record the call. A score goes through the resident's rating path (``cases.handling.rate``), so a dissatisfied
    answer reopens the case and counts in the reopen rate, with the operator as the actor."""
    if body.outcome == "reached" and body.score is None:
        raise AppError(
            "score_required", "已联系上群众，请记录满意度", "The resident was reached: record the score", status=422
        )
    if body.outcome != "reached" and body.score is not None:
        raise AppError(
            "score_without_contact",
            "未联系上群众，不能记录满意度",
            "No score without reaching the resident",
            status=422,
        )
    probe = get(session, task_id)
    case = cases.get(session, probe.case_id, lock=True)  # the case first: the same order as a rating
    task = session.get(CallbackTask, task_id, with_for_update=True, populate_existing=True)
    assert task is not None  # ``get`` above found it; tasks are never deleted
    _refuse_if_claimed_by_other(task, actor)
    MOVES.move(task, "done")
    now = utcnow()
    task.outcome, task.score, task.note = body.outcome, body.score, body.note
    task.completed_by, task.completed_at, task.updated_at = actor, now, now
    if task.claimed_by is None:
        task.claimed_by, task.claimed_at = actor, now
    session.add(task)
    session.flush()
    if body.score is not None:
        handling.rate(session, case, body.score, body.note, actor=actor, channel="callback")
    else:
        states.record(
            session,
            case,
            actor=actor,
            action="callback",
            note=body.note,
            data={"callback_id": task.id, "outcome": body.outcome},
        )
    _emit(session, "callback.updated", task, case)
    return task, case


def search(
    session: Session, *, status: str | None, reason: str | None, case_id: int | None, limit: int
) -> list[tuple[CallbackTask, Case]]:
    stmt = select(CallbackTask, Case).join(Case, col(Case.id) == CallbackTask.case_id)
    statuses = status.split(",") if status else list(OPEN_STATUSES)
    stmt = stmt.where(col(CallbackTask.status).in_(statuses))
    if reason:
        stmt = stmt.where(col(CallbackTask.reason).in_(reason.split(",")))
    if case_id is not None:
        stmt = stmt.where(CallbackTask.case_id == case_id)
    stmt = stmt.order_by(col(CallbackTask.due_at), col(CallbackTask.id)).limit(limit)
    return [(t, c) for t, c in session.exec(stmt).all()]


def cancel_stale(session: Session, limit: int = 500) -> int:
    """The safety net: open tasks whose case is no longer resolved (its move's subscriber cancels them; this
    catches a change made outside the state machine, e.g. a database restored or edited by hand): cancelled
    through ``MOVES`` with their live events, as ``case_changed``. How many."""
    stale = select(CallbackTask.case_id).join(Case, col(Case.id) == CallbackTask.case_id)
    stale = stale.where(col(CallbackTask.status).in_(OPEN_STATUSES), col(Case.status) != "resolved")
    case_ids = sorted(set(session.exec(stale.limit(limit)).all()))
    if not case_ids:  # the common case: a read, no write lock
        return 0
    found = session.exec(select(Case).where(col(Case.id).in_(case_ids)).order_by(col(Case.id)).with_for_update())
    return sum(len(cancel_open(session, case, "case_changed")) for case in found.all() if case.status != "resolved")
