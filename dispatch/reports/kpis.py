"""KPIs by SQL aggregation (formulas: docs/kpis.md).

Each KPI is a pair of SQL conditions on a case — numerator and denominator — so one GROUP BY query sums
every KPI for every slice, and the drill-down (``cases_behind``) lists exactly the cases one figure counts.
Handling time (mean, p90) is computed in SQL too: the mean by AVG, the p90 from two ordered rows per group
(ROW_NUMBER over the group), interpolated as PostgreSQL's percentile_cont does — the same on both backends.
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, cast, exists, extract, func, literal_column, null, or_, select, true
from sqlmodel import Session, col

from dispatch.cases.models import Case, CaseEvent
from dispatch.cases.states import OPEN_STATUSES
from dispatch.db import is_postgres, utcnow
from dispatch.errors import AppError

GOOD = ("satisfied", "basically_satisfied")
RESOLVED = ("resolved", "closed")
VOID = ("merged", "cancelled")
DIMENSIONS = ("none", "town", "village", "member", "department", "channel", "category", "day", "week")
NULL_SLICE = "_null"


def sign_deadline_h() -> float:
    """Hours from receipt to signing (签收) counted on time; SHANGLIANG_SIGN_DEADLINE_H, default 24."""
    try:
        return float(os.environ.get("SHANGLIANG_SIGN_DEADLINE_H", "24"))
    except ValueError:
        return 24.0


def hours(session: Session, a, b):
    """Whole seconds from ``a`` to ``b``, in hours (exact on both backends)."""
    if is_postgres(session):
        return extract("epoch", func.date_trunc("second", b) - func.date_trunc("second", a)) / 3600.0
    sec = cast(func.strftime("%s", b), Integer) - cast(func.strftime("%s", a), Integer)
    return sec / 3600.0


def bucket(session: Session, unit: str):
    """The Beijing-time day or ISO week (its Monday) of ``created_at``, as 'YYYY-MM-DD'."""
    if is_postgres(session):
        local = func.timezone("Asia/Shanghai", Case.created_at)
        return func.to_char(local if unit == "day" else func.date_trunc("week", local), "YYYY-MM-DD")
    if unit == "day":
        return func.date(Case.created_at, "+8 hours")
    return func.date(Case.created_at, "+8 hours", "weekday 0", "-6 days")


def dimension(session: Session, by: str):
    if by not in DIMENSIONS:
        raise AppError("invalid_dimension", "无效的统计维度", f"by must be one of {', '.join(DIMENSIONS)}", status=422)
    return (
        {
            "none": None,
            "town": col(Case.town_code),
            "village": col(Case.village_code),
            "member": col(Case.assignee_id),
            "department": col(Case.department_id),
            "channel": col(Case.channel),
            "category": col(Case.category),
        }.get(by)
        if by not in ("day", "week")
        else bucket(session, by)
    )


def definitions(session: Session, now: datetime | None = None) -> dict[str, tuple[Any, Any]]:
    """KPI name → (numerator condition, denominator condition) over one case row."""
    now = now or utcnow()
    h = sign_deadline_h()
    status = col(Case.status)
    valid = status.not_in(VOID)
    is_open = status.in_(OPEN_STATUSES)
    resolved = status.in_(RESOLVED)
    done_at = func.coalesce(Case.resolved_at, Case.closed_at)
    accepted = col(Case.accepted_at).is_not(None)
    reopened = exists().where(CaseEvent.case_id == Case.id, CaseEvent.to_status == "reopened")
    overdue_open = and_(is_open, col(Case.due_at).is_not(None), col(Case.due_at) < now)
    on_time_done = and_(resolved, or_(col(Case.due_at).is_(None), done_at <= col(Case.due_at)))
    signed_in_time = and_(accepted, hours(session, Case.created_at, Case.accepted_at) <= h)
    unsigned_late = and_(is_open, col(Case.accepted_at).is_(None), col(Case.created_at) < now - timedelta(hours=h))
    handled = and_(resolved, col(Case.resolved_at).is_not(None))
    return {
        "received": (true(), true()),
        "response_rate": (and_(valid, or_(accepted, col(Case.department_id).is_not(None))), valid),
        "on_time_signing": (signed_in_time, or_(accepted, unsigned_late)),
        "resolution_rate": (resolved, valid),
        "on_time_closure": (on_time_done, or_(resolved, overdue_open)),
        "satisfaction": (col(Case.rating).in_(GOOD), col(Case.rating).is_not(None)),
        "reopen_rate": (reopened, or_(col(Case.resolved_at).is_not(None), col(Case.closed_at).is_not(None), reopened)),
        "overdue_open": (overdue_open, true()),
        "handling_time": (handled, handled),
    }


RATES = ("response_rate", "on_time_signing", "resolution_rate", "on_time_closure", "satisfaction", "reopen_rate")


def scope(start: date, end: date, filters: dict[str, Any] | None = None) -> list:
    from dispatch.reports.service import day_bounds

    lo, hi = day_bounds(start, end)
    where = [col(Case.created_at) >= lo, col(Case.created_at) < hi]
    columns = {
        "town_code": Case.town_code,
        "village_code": Case.village_code,
        "channel": Case.channel,
        "category": Case.category,
        "member_id": Case.assignee_id,
        "department_id": Case.department_id,
    }
    for key, value in (filters or {}).items():
        if value is not None and value != "":
            where.append(col(columns[key]) == value)
    return where


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _figures(values: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"received": int(values["received_num"] or 0)}
    for name in RATES:
        num, den = int(values[f"{name}_num"] or 0), int(values[f"{name}_den"] or 0)
        out[name] = {"num": num, "den": den, "rate": _rate(num, den)}
    out["overdue_open"] = int(values["overdue_open_num"] or 0)
    mean = values["handling_mean"]
    out["handling_time"] = {
        "n": int(values["handling_time_num"] or 0),
        "mean_h": None if mean is None else round(float(mean), 2),
        "p90_h": None,
    }
    return out


def _p90(session: Session, dim, where: list, handled) -> dict[Any, float]:
    """p90 of handling hours per group: percentile_cont(0.9) from the two rows around position 0.9·(n−1)."""
    h = hours(session, Case.created_at, Case.resolved_at)
    sub = (
        select(
            (literal_column("'all'") if dim is None else dim).label("g"),
            h.label("h"),
            func.row_number().over(partition_by=dim, order_by=h).label("rn"),
            func.count().over(partition_by=dim).label("n"),
        )
        .where(*where, handled)
        .subquery()
    )
    # keep rows k+1 and k+2 where k = floor(0.9·(n−1)), with integer arithmetic only: 10(rn−2) ≤ 9(n−1) < 10·rn
    rows = session.execute(
        select(sub.c.g, sub.c.rn, sub.c.n, sub.c.h)
        .where(10 * (sub.c.rn - 2) <= 9 * (sub.c.n - 1), 9 * (sub.c.n - 1) < 10 * sub.c.rn)
        .order_by(sub.c.g, sub.c.rn)
    ).all()
    picked: dict[Any, list] = {}
    for g, rn, n, value in rows:
        picked.setdefault(g, []).append((int(rn), int(n), float(value)))
    out = {}
    for g, pair in picked.items():
        rn, n, lo = pair[0]
        frac = (9 * (n - 1) - 10 * (rn - 1)) / 10
        hi = pair[1][2] if len(pair) > 1 else lo
        out[g] = round(lo + frac * (hi - lo), 2)
    return out


def _labels(session: Session, by: str, keys: list) -> dict:
    from dispatch.departments.models import Department
    from dispatch.members.models import Member
    from dispatch.regions.models import Region

    keys = [k for k in keys if k is not None]
    if not keys:
        return {}
    if by in ("town", "village"):
        return dict(session.execute(select(Region.code, Region.name).where(col(Region.code).in_(keys))).all())
    if by == "member":
        return dict(session.execute(select(Member.id, Member.name).where(col(Member.id).in_(keys))).all())
    if by == "department":
        return dict(session.execute(select(Department.id, Department.name).where(col(Department.id).in_(keys))).all())
    return {}


def aggregate(session: Session, where: list, by: str = "none", now: datetime | None = None) -> list[dict]:
    """One row of every KPI per value of dimension ``by`` for cases matching ``where``."""
    dim = dimension(session, by)
    defs = definitions(session, now)
    columns = [(literal_column("'all'") if dim is None else dim).label("g")]
    for name, (num, den) in defs.items():
        columns.append(func.sum(case((num, 1), else_=0)).label(f"{name}_num"))
        columns.append(func.sum(case((den, 1), else_=0)).label(f"{name}_den"))
    handled = defs["handling_time"][0]
    columns.append(func.avg(case((handled, hours(session, Case.created_at, Case.resolved_at)), else_=null())))
    query = select(*columns).select_from(Case).where(*where)
    result = session.execute(query if dim is None else query.group_by(dim)).all()
    if dim is not None:
        result = [r for r in result if r[1]]  # a group has at least one case
    p90 = _p90(session, dim, where, handled)
    names = [c.name for c in columns[:-1]] + ["handling_mean"]
    labels = _labels(session, by, [r[0] for r in result])
    rows = []
    for r in result:
        values = dict(zip(names, r, strict=True))
        figures = _figures(values)
        figures["handling_time"]["p90_h"] = p90.get(r[0])
        key = r[0]
        rows.append({"key": key, "label": labels.get(key, key), **figures})
    rows.sort(key=lambda x: (x["key"] is None, str(x["key"])))
    return rows


def empty_figures() -> dict[str, Any]:
    values = {f"{n}_{s}": 0 for n in (*RATES, "received", "overdue_open", "handling_time") for s in ("num", "den")}
    return _figures({**values, "handling_mean": None})


def kpis(
    session: Session,
    start: date,
    end: date,
    by: str = "town",
    trend: str = "week",
    filters: dict[str, Any] | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    where = scope(start, end, filters)
    total = aggregate(session, where, "none", now)
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "by": by,
        "filters": {k: v for k, v in (filters or {}).items() if v not in (None, "")},
        "sign_deadline_h": sign_deadline_h(),
        "rows": aggregate(session, where, by, now),
        "total": {k: v for k, v in (total[0] if total else empty_figures()).items() if k not in ("key", "label")},
        "trend_unit": trend,
        "trend": aggregate(session, where, trend, now) if trend in ("day", "week") else [],
    }


def _slice_value(by: str, value: str | None):
    if value is None or value == NULL_SLICE:
        return None
    if by in ("member", "department"):
        try:
            return int(value)
        except ValueError as exc:
            raise AppError("invalid_slice", "无效的切片", "slice must be an id for this dimension", status=422) from exc
    return value


def cases_behind(
    session: Session,
    kpi: str,
    start: date,
    end: date,
    by: str = "none",
    slice_: str | None = None,
    filters: dict[str, Any] | None = None,
    now: datetime | None = None,
    limit: int = 5000,
) -> dict[str, Any]:
    """The cases counted in one figure's numerator and denominator (ids and tracking numbers)."""
    defs = definitions(session, now)
    if kpi not in defs:
        raise AppError("invalid_kpi", "无效的指标", f"kpi must be one of {', '.join(defs)}", status=422)
    where = scope(start, end, filters)
    dim = dimension(session, by)
    if dim is not None:
        value = _slice_value(by, slice_)
        where.append(dim.is_(None) if value is None else dim == value)
    num, den = defs[kpi]
    out: dict[str, Any] = {"kpi": kpi, "by": by, "slice": slice_, "from": start.isoformat(), "to": end.isoformat()}
    for part, cond in (("numerator", num), ("denominator", den)):
        rows = session.execute(
            select(Case.id, Case.tracking_no).where(*where, cond).order_by(Case.id).limit(limit)
        ).all()
        out[part] = [{"id": r[0], "tracking_no": r[1]} for r in rows]
    return out


def consultation_rates(session: Session, start: date, end: date, town_code: str | None = None) -> dict[str, Any]:
    """The seeds' rates for meetings held in the period: participation = members who checked in ÷ members
    invited (participants of the meeting's topic, not removed); success = topics with an outcome ÷ topics that
    held a meeting; satisfaction = mean satisfaction score on the evaluation panel ÷ 5."""
    from dispatch.consultations.models import Attendance, Evaluation, Meeting, Outcome, Participant, Topic
    from dispatch.reports.service import day_bounds

    lo, hi = day_bounds(start, end)
    held = [col(Meeting.held_at).is_not(None), col(Meeting.held_at) >= lo, col(Meeting.held_at) < hi]
    if town_code:
        held.append(col(Topic.town_code) == town_code)
    meetings = select(Meeting.id, Meeting.topic_id).join(Topic, col(Topic.id) == Meeting.topic_id).where(*held)
    m = meetings.subquery()
    invited = session.execute(
        select(func.count())
        .select_from(m)
        .join(Participant, col(Participant.topic_id) == m.c.topic_id)
        .where(
            Participant.kind == "member", col(Participant.member_id).is_not(None), col(Participant.removed_at).is_(None)
        )
    ).scalar_one()
    attended = session.execute(
        select(func.count()).select_from(m).join(Attendance, col(Attendance.meeting_id) == m.c.id)
    ).scalar_one()
    topics = session.execute(select(func.count(func.distinct(m.c.topic_id)))).scalar_one()
    with_outcome = session.execute(
        select(func.count(func.distinct(m.c.topic_id))).where(exists().where(Outcome.topic_id == m.c.topic_id))
    ).scalar_one()
    scores = (
        session.execute(select(Evaluation.scores).where(col(Evaluation.topic_id).in_(select(m.c.topic_id))))
        .scalars()
        .all()
    )
    sat = [s.get("satisfaction") for s in scores if isinstance(s, dict) and s.get("satisfaction")]
    meetings_n = session.execute(select(func.count()).select_from(m)).scalar_one()
    return {
        "meetings_held": int(meetings_n),
        "participation": {"num": int(attended), "den": int(invited), "rate": _rate(int(attended), int(invited))},
        "success": {"num": int(with_outcome), "den": int(topics), "rate": _rate(int(with_outcome), int(topics))},
        "satisfaction": {"n": len(sat), "rate": round(sum(sat) / (5 * len(sat)), 4) if sat else None},
    }
