"""Extension requests (延期): the assignee asks for a later 办结 date, an operator approves or rejects it; an
approved one moves the case's ``due_at`` (and, by subscription, its ladder)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import Session, col, select

from dispatch.cases import service, states
from dispatch.cases.models import ExtensionRequest
from dispatch.db import utcnow
from dispatch.errors import AppError, Conflict, Forbidden, not_found
from dispatch.localtime import SHANGHAI


def _aware(at: datetime) -> datetime:
    return at.replace(tzinfo=SHANGHAI) if at.tzinfo is None else at  # a local time without offset: Beijing time


def request_extension(
    session: Session, case_id: int, member_id: int, reason: str, new_due_at: datetime
) -> ExtensionRequest:
    case = service.get(session, case_id, lock=True)
    if case.assignee_id != member_id:
        raise Forbidden("not_your_case", "该案件未派给您", "This case is not assigned to you")
    if case.status not in states.HOLDS_SLOT:
        raise Conflict(
            "not_extendable", "案件当前状态不能申请延期", "The case cannot be extended now", status_from=case.status
        )
    new_due_at = _aware(new_due_at).astimezone(UTC)
    if case.due_at is not None and new_due_at <= case.due_at:
        raise AppError(
            "extension_not_later",
            "新的办结时限须晚于现时限",
            "The new due date must be later than the current one",
            status=422,
            due_at=case.due_at.isoformat(),
        )
    pending = session.exec(
        select(ExtensionRequest.id).where(ExtensionRequest.case_id == case_id, ExtensionRequest.state == "pending")
    ).first()
    if pending is not None:
        raise Conflict(
            "extension_pending", "已有待审批的延期申请", "An extension request is already pending", id=pending
        )
    ext = ExtensionRequest(
        case_id=case_id, member_id=member_id, reason=reason, old_due_at=case.due_at, new_due_at=new_due_at
    )
    session.add(ext)
    session.flush()
    states.record(
        session,
        case,
        actor=f"member:{member_id}",
        action="extension_requested",
        note=reason,
        data={"request_id": ext.id, "new_due_at": new_due_at.isoformat()},
    )
    return ext


def decide_extension(session: Session, ext_id: int, approve: bool, actor: str, note: str | None) -> ExtensionRequest:
    ext = session.get(ExtensionRequest, ext_id)
    if ext is None:
        raise not_found("延期申请", "Extension request", code="extension_not_found", id=ext_id)
    case = service.get(session, ext.case_id, lock=True)
    session.refresh(ext)
    if ext.state != "pending":
        raise Conflict("extension_decided", "该延期申请已处理", "This request was already decided", state=ext.state)
    ext.state = "approved" if approve else "rejected"
    ext.decided_by, ext.decided_at, ext.decision_note = actor, utcnow(), note
    session.add(ext)
    data = {"request_id": ext.id, "old_due_at": case.due_at.isoformat() if case.due_at else None}
    if approve:  # the ladder follows (``deadlines.flows.deadline_moved``)
        case.due_at = ext.new_due_at
        data["new_due_at"] = ext.new_due_at.isoformat()
    states.record(
        session,
        case,
        actor=actor,
        action="extension_approved" if approve else "extension_rejected",
        note=note,
        data=data,
        notify=(ext.member_id,),
    )
    return ext


def extensions(session: Session, case_id: int) -> list[ExtensionRequest]:
    stmt = select(ExtensionRequest).where(ExtensionRequest.case_id == case_id).order_by(col(ExtensionRequest.id))
    return list(session.exec(stmt).all())


def by_state(session: Session, state: str) -> list[ExtensionRequest]:
    """Every request in ``state`` (the operators' queue: "pending"), oldest first."""
    stmt = select(ExtensionRequest).where(ExtensionRequest.state == state).order_by(col(ExtensionRequest.id))
    return list(session.exec(stmt).all())
