"""Deadline policy and calendar (admin), previews, a case's ladder and the resident's view of its deadline."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path
from sqlmodel import Session, col, select

from dispatch.auth.deps import STAFF, get_session, principal, require
from dispatch.auth.service import Principal
from dispatch.cases import extensions
from dispatch.cases import service as cases
from dispatch.cases.models import Urgency
from dispatch.config import get_settings
from dispatch.deadlines import policy, service
from dispatch.deadlines.calendar import read_csv
from dispatch.deadlines.models import (
    CalendarDay,
    PoliciesIn,
    PoliciesOut,
    StepOut,
    YearIn,
)
from dispatch.errors import AppError, Forbidden, not_found
from dispatch.localtime import SHANGHAI

router = APIRouter(tags=["deadlines"])
admin_only = require()  # nobody but admin passes an empty role list


@router.get("/api/deadlines/policies", response_model=PoliciesOut)
def get_policies(
    profile: str | None = None, session: Session = Depends(get_session), _p: Principal = Depends(admin_only)
) -> dict:
    active = get_settings().deadline_profile
    rules, source = policy.policy_rules(session, profile or active)
    return {
        "profile": profile or active,
        "active": (profile or active) == active,
        "source": source,
        "rules": [{**r, "profile": profile or active} for r in rules],
    }


@router.put("/api/deadlines/policies", response_model=PoliciesOut)
def put_policies(body: PoliciesIn, session: Session = Depends(get_session), p: Principal = Depends(admin_only)) -> dict:
    rules = [r.model_dump() | {"category_prefix": r.category_prefix.strip().strip("/")} for r in body.rules]
    policy.replace_policies(session, body.profile, rules, p.actor)
    session.commit()
    return get_policies(body.profile, session, p)


@router.get("/api/deadlines/calendar")
def get_calendar(
    year: int | None = None, session: Session = Depends(get_session), _p: Principal = Depends(require(*STAFF))
) -> list[dict]:
    stmt = select(CalendarDay).order_by(col(CalendarDay.day))
    rows: list[dict[str, Any]] = [{"date": r.day, "kind": r.kind, "name": r.name} for r in session.exec(stmt).all()]
    if not rows:
        rows = [{"date": r["day"], "kind": r["kind"], "name": r["name"]} for r in read_csv()]
    return [r for r in rows if year is None or r["date"].year == year]


@router.put("/api/deadlines/calendar/{year}")
def put_year(
    year: Annotated[int, Path(ge=2000, le=2100)],
    body: YearIn,
    session: Session = Depends(get_session),
    _p: Principal = Depends(admin_only),
) -> list[dict]:
    policy.replace_year(session, year, [{"day": d.date, "kind": d.kind, "name": d.name} for d in body.days])
    session.commit()
    return get_calendar(year, session, _p)


@router.get("/api/deadlines/preview")
def preview(
    received_at: datetime,
    category: str | None = None,
    urgency: Urgency = "normal",
    kind: str = "",
    profile: str | None = None,
    session: Session = Depends(get_session),
    _p: Principal = Depends(require(*STAFF)),
) -> dict:
    """The deadlines a case with these fields would get (a local time without offset is Beijing time)."""
    start = received_at.replace(tzinfo=SHANGHAI) if received_at.tzinfo is None else received_at
    try:
        return policy.compute(session, cases.validate_category(category), urgency, start, kind, profile)
    except AppError as exc:  # no rule for these inputs: the question's fault here, not a broken policy
        if exc.code == "no_deadline_policy":
            exc.status = 422
        raise


def _visible(session: Session, case_id: int, p: Principal):
    case = cases.get(session, case_id)
    if p.role == "member" and p.member_id not in (case.offered_to, case.assignee_id):
        raise not_found("案件", "Case", code="case_not_found", id=case_id)
    if p.kind != "user" or p.role not in (*STAFF, "member"):
        raise Forbidden("forbidden", "您的角色无权执行此操作", "Your role may not do this", role=p.role)
    return case


@router.get("/api/cases/{case_id}/ladder", response_model=list[StepOut])
def case_ladder(case_id: int, session: Session = Depends(get_session), p: Principal = Depends(principal)) -> list:
    _visible(session, case_id, p)
    return service.steps(session, case_id)


@router.get("/api/track/{tracking_no}/deadline")
def track_deadline(tracking_no: str, secret: str | None = None, session: Session = Depends(get_session)) -> dict:
    """The resident's view of the 办结 deadline, with approved extensions (no reasons, no names)."""
    case = cases.by_tracking_no(session, tracking_no, secret)
    assert case.id is not None  # a case from the database
    approved = [e for e in extensions.extensions(session, case.id) if e.state == "approved"]
    return {
        "tracking_no": case.tracking_no,
        "due_at": case.due_at,
        "extended": bool(approved),
        "extensions": [{"from": e.old_due_at, "to": e.new_due_at, "approved_at": e.decided_at} for e in approved],
    }
