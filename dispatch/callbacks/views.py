"""Callback (回访) tasks for operators: list, claim, complete. Supervisors read them."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import Session

from dispatch.auth.deps import get_session, require
from dispatch.auth.service import Principal, actor_names
from dispatch.callbacks import service
from dispatch.callbacks.models import CallbackOut, CompleteIn
from dispatch.cases import service as cases

router = APIRouter(tags=["callbacks"])
REVEAL_ROLES = cases.PHONE_ROLES  # they make the call: the resident's name and phone in full


def _out(session: Session, task, case, p: Principal, names: dict[str, str] | None = None) -> dict:
    out = service.view(task, case, reveal=p.role in REVEAL_ROLES)
    if names is None:
        names = actor_names(session, filter(None, (task.claimed_by, task.completed_by)))
    return out | {
        "claimed_by_name": names.get(task.claimed_by or ""),
        "completed_by_name": names.get(task.completed_by or ""),
    }


@router.get("/api/callbacks", response_model=list[CallbackOut])
def list_callbacks(
    status: str | None = None,
    reason: str | None = None,
    case_id: int | None = None,
    limit: int = 200,
    session: Session = Depends(get_session),
    p: Principal = Depends(require("operator", "supervisor")),
) -> list[dict]:
    """Open and claimed tasks by default (``status=done,cancelled`` for the others), earliest due first."""
    found = service.search(session, status=status, reason=reason, case_id=case_id, limit=min(max(limit, 1), 1000))
    names = actor_names(session, (a for t, _ in found for a in (t.claimed_by, t.completed_by) if a))
    return [_out(session, t, c, p, names) for t, c in found]


@router.get("/api/callbacks/{task_id}", response_model=CallbackOut)
def get_callback(
    task_id: int, session: Session = Depends(get_session), p: Principal = Depends(require("operator", "supervisor"))
) -> dict:
    task = service.get(session, task_id)
    return _out(session, task, cases.get(session, task.case_id), p)


@router.post("/api/callbacks/{task_id}/claim", response_model=CallbackOut)
def claim(task_id: int, session: Session = Depends(get_session), p: Principal = Depends(require("operator"))) -> dict:
    task, case = service.claim(session, task_id, p.actor)
    session.commit()
    return _out(session, task, case, p)


@router.post("/api/callbacks/{task_id}/complete", response_model=CallbackOut)
def complete(
    task_id: int, body: CompleteIn, session: Session = Depends(get_session), p: Principal = Depends(require("operator"))
) -> dict:
    """Record the call: outcome, and the score when the resident was reached (a dissatisfied one reopens)."""
    task, case = service.complete(session, task_id, body, p.actor)
    session.commit()
    return _out(session, task, case, p)
