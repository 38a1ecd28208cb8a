"""A case's handling after dispatch: progress, resolution, forwarding, cancelling, merging and the rating.

Each step checks who may take it and moves the case through ``states``; what follows in other domains (the
member's slot given back, the reply to the resident, the callback task, a reopened case offered again) is done
by the subscribers wired in ``dispatch.wiring``, whichever door the step came through.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session

from dispatch.cases import service as cases
from dispatch.cases import states
from dispatch.cases.models import Case
from dispatch.cases.states import HOLDS_SLOT, VOID_STATUSES
from dispatch.db import utcnow
from dispatch.departments.models import Department
from dispatch.errors import AppError, Conflict, Forbidden, not_found


def _require_assignee(case: Case, member_id: int | None) -> None:
    if member_id is not None and case.assignee_id != member_id:
        raise Forbidden("not_your_case", "该案件未派给您", "This case is not assigned to you")


def _signed_by_acting(case: Case, member_id: int | None) -> None:
    """A member who reports on a case an operator assigned them has taken it on: that is its 签收 time."""
    if member_id is not None and case.accepted_at is None and case.status in HOLDS_SLOT:
        case.accepted_at = utcnow()


def progress(session: Session, case_id: int, note: str, actor: str, member_id: int | None) -> Case:
    case = cases.get(session, case_id, lock=True)
    _require_assignee(case, member_id)
    _signed_by_acting(case, member_id)
    if case.status == "assigned":
        states.transition(session, case, "in_progress", actor=actor, action="progress", note=note)
    elif case.status == "in_progress":
        states.record(session, case, actor=actor, action="progress", note=note)
    else:
        states.check(case, "in_progress")
    return case


def resolve(session: Session, case_id: int, note: str, actor: str, member_id: int | None) -> Case:
    case = cases.get(session, case_id, lock=True)
    _require_assignee(case, member_id)
    states.check(case, "resolved")
    _signed_by_acting(case, member_id)
    case.resolution = note
    case.resolved_at = utcnow()
    states.transition(session, case, "resolved", actor=actor, action="resolved", note=note)
    return case


def forward(session: Session, case_id: int, department_id: int, actor: str, note: str | None) -> Case:
    case = cases.get(session, case_id, lock=True)
    if session.get(Department, department_id) is None:
        raise not_found("部门", "Department", code="department_not_found", id=department_id)
    states.check(case, "forwarded")
    case.department_id = department_id
    data = {"department_id": department_id}
    states.transition(session, case, "forwarded", actor=actor, action="forwarded", note=note, data=data)
    return case


def cancel(session: Session, case: Case, actor: str, note: str | None, data: dict[str, Any] | None = None) -> Case:
    """Cancel ``case`` (locked by the caller), e.g. closed on the 12345 platform."""
    states.check(case, "cancelled")
    states.transition(session, case, "cancelled", actor=actor, action="cancelled", note=note, data=data)
    return case


def merge(session: Session, case_id: int, into_id: int, actor: str) -> Case:
    if case_id == into_id:
        raise AppError("merge_into_self", "不能合并到自身", "A case cannot be merged into itself", status=422)
    target = cases.get(session, into_id)
    if target.status in VOID_STATUSES:
        raise Conflict("merge_target_closed", "目标案件已合并或撤销", "The target case is merged or cancelled")
    case = cases.get(session, case_id, lock=True)
    states.check(case, "merged")
    case.merged_into_id = into_id
    data = {"into_id": into_id}
    states.transition(session, case, "merged", actor=actor, action="merged", data=data)
    return case


def rate(
    session: Session, case: Case, score: str, comment: str | None, *, actor: str = "resident", channel: str = "online"
) -> Case:
    """The resident's satisfaction score: satisfied/basically → closed, dissatisfied → reopened.

    ``channel`` is "online" (the tracking page) or "callback" (an operator's phone call, ``actor`` the operator).
    """
    to_status = "reopened" if score == "dissatisfied" else "closed"
    if case.status not in ("resolved", "forwarded"):
        raise Conflict(
            "not_rateable", "案件尚未办结，暂不能评价", "The case is not resolved yet", status_from=case.status
        )
    case.rating = score
    case.rating_comment = comment
    case.rated_at = utcnow()
    if to_status == "closed":
        case.closed_at = case.rated_at
    data = {"score": score, "channel": channel}
    states.transition(session, case, to_status, actor=actor, action="rated", note=comment, data=data)
    return case


def rate_tracked(session: Session, tracking_no: str, secret: str, score: str, comment: str | None) -> Case:
    """The resident's rating through the tracking page (API or plain form): the secret opens the case, which
    is locked while it is rated."""
    case = cases.by_tracking_no(session, tracking_no, secret)
    assert case.id is not None  # a case from the database
    return rate(session, cases.get(session, case.id, lock=True), score, comment)
