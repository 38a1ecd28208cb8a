"""KPIs by SQL aggregation (formulas: docs/kpis.md).

Each KPI is a pair of SQL conditions on a case — numerator and denominator — so one GROUP BY query sums
every KPI for every slice, and the drill-down (``cases_behind``) lists exactly the cases one figure counts.
Handling time (mean, p90) is computed in SQL too: the mean by AVG, the p90 from two ordered rows per group
(ROW_NUMBER over the group), interpolated as PostgreSQL's percentile_cont does — the same on both backends.

On PostgreSQL ``aggregate_many`` computes several dimensions from one scan of the cases (a hash aggregate by
all their keys, then GROUPING SETS), and the p90 from a histogram of whole hours plus the few cases of the
hours that hold the two ranks — no sort of the cases (1,000,000 cases: bench/bench_report.py).
"""

from __future__ import annotations

import os
from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Integer,
    Interval,
    and_,
    cast,
    exists,
    extract,
    func,
    literal,
    literal_column,
    or_,
    select,
    text,
    true,
    tuple_,
)
from sqlmodel import Session, col

from dispatch.cases.models import Case, CaseEvent
from dispatch.cases.states import OPEN_STATUSES, RESOLVED_STATUSES, VOID_STATUSES
from dispatch.consultations.models import Attendance, Evaluation, Meeting, Outcome, Participant, Topic
from dispatch.db import is_postgres, utcnow
from dispatch.departments.models import Department
from dispatch.errors import AppError
from dispatch.localtime import TZ_NAME, day_bounds
from dispatch.members.models import Member
from dispatch.regions.models import Region

GOOD = ("satisfied", "basically_satisfied")
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


def within_hours(session: Session, a, b, h: float):
    """``hours(a, b) <= h``; on PostgreSQL as an interval comparison (exact too, and no numeric arithmetic)."""
    if is_postgres(session):
        span = func.date_trunc("second", b) - func.date_trunc("second", a)
        return span <= literal(timedelta(hours=h), Interval)
    return hours(session, a, b) <= h


def bucket(session: Session, unit: str):
    """The Beijing-time day or ISO week (its Monday) of ``created_at``, as 'YYYY-MM-DD'."""
    if is_postgres(session):
        local = func.timezone(TZ_NAME, Case.created_at)
        return func.to_char(local if unit == "day" else func.date_trunc("week", local), "YYYY-MM-DD")
    if unit == "day":
        return func.date(Case.created_at, "+8 hours")
    return func.date(Case.created_at, "+8 hours", "weekday 0", "-6 days")


def dimension(session: Session, by: str):
    if by not in DIMENSIONS:
        raise AppError("invalid_dimension", "无效的统计维度", f"by must be one of {', '.join(DIMENSIONS)}", status=422)
    if by in ("day", "week"):
        return bucket(session, by)
    return None if by == "none" else _columns()[by]


def definitions(session: Session, now: datetime | None = None) -> dict[str, tuple[Any, Any]]:
    """KPI name → (numerator condition, denominator condition) over one case row."""
    now = now or utcnow()
    h = sign_deadline_h()
    status = col(Case.status)
    valid = status.not_in(VOID_STATUSES)
    is_open = status.in_(OPEN_STATUSES)
    resolved = status.in_(RESOLVED_STATUSES)
    done_at = func.coalesce(Case.resolved_at, Case.closed_at)
    accepted = col(Case.accepted_at).is_not(None)
    # a semi-join computed once (a hashed subplan), not a lookup per case
    reopened = col(Case.id).in_(select(col(CaseEvent.case_id)).where(col(CaseEvent.to_status) == "reopened"))
    overdue_open = and_(is_open, col(Case.due_at).is_not(None), col(Case.due_at) < now)
    on_time_done = and_(resolved, or_(col(Case.due_at).is_(None), done_at <= col(Case.due_at)))
    signed_in_time = and_(accepted, within_hours(session, Case.created_at, Case.accepted_at, h))
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

    keys = [k for k in keys if k is not None]
    if not keys:
        return {}
    if by in ("town", "village"):
        return dict(session.execute(select(col(Region.code), col(Region.name)).where(col(Region.code).in_(keys))).all())
    if by == "member":
        return dict(session.execute(select(col(Member.id), col(Member.name)).where(col(Member.id).in_(keys))).all())
    if by == "department":
        return dict(
            session.execute(select(col(Department.id), col(Department.name)).where(col(Department.id).in_(keys))).all()
        )
    return {}


def _sums(session: Session, defs: dict[str, tuple[Any, Any]]) -> list:
    """Every KPI's numerator and denominator as conditional counts, plus the mean handling hours."""
    columns = []
    for name, (num, den) in defs.items():
        columns.append(func.count().filter(num).label(f"{name}_num"))
        columns.append(func.count().filter(den).label(f"{name}_den"))
    handled = defs["handling_time"][0]
    columns.append(func.avg(hours(session, Case.created_at, Case.resolved_at)).filter(handled).label("handling_mean"))
    return columns


def _raw_key(by: str):
    """PostgreSQL: the cheap per-case value a dimension is grouped on (a week is formatted only per group)."""
    if by in ("day", "week"):
        return func.date_trunc(by, func.timezone(TZ_NAME, Case.created_at))
    return _columns()[by]


def _columns() -> dict[str, Any]:
    """The case column of each dimension but the time buckets."""
    return {
        "town": col(Case.town_code),
        "village": col(Case.village_code),
        "member": col(Case.assignee_id),
        "department": col(Case.department_id),
        "channel": col(Case.channel),
        "category": col(Case.category),
    }


def _by_set(rows, keyed: list[str], with_none: bool) -> dict[str, list[tuple]]:
    """Rows ``(grouping bitmask, key 1 … key n, values …)`` of a GROUPING SETS query → dimension → (key, values…)."""
    full = (1 << len(keyed)) - 1
    sets = {full & ~(1 << (len(keyed) - 1 - i)): (i, by) for i, by in enumerate(keyed)}
    out: dict[str, list[tuple]] = {by: [] for by in keyed}
    if with_none:
        out["none"] = []
    for r in rows:
        values = r[1 + len(keyed) :]
        if r[0] == full:
            out["none"].append(("all", *values))
        elif r[0] in sets:
            i, by = sets[r[0]]
            out[by].append((r[1 + i], *values))
    return out


def _pg_sums(session: Session, where: list, dims: list[str], defs: dict) -> dict[str, list[tuple]]:
    """PostgreSQL: every dimension's sums in one scan of the cases — a hash aggregate by the raw keys of all the
    dimensions together (a few thousand groups), then GROUPING SETS over those groups. Counts add up exactly,
    and the mean is the exact numeric sum of hours over the count (what AVG computes)."""
    keyed = [by for by in dims if by != "none"]
    sums = _sums(session, defs)
    if not keyed:
        return {"none": [("all", *r) for r in session.execute(select(*sums).select_from(Case).where(*where)).all()]}
    raw = [_raw_key(by).label(f"k_{i}") for i, by in enumerate(keyed)]
    handled = defs["handling_time"][0]
    hsum = func.sum(hours(session, Case.created_at, Case.resolved_at)).filter(handled).label("h_sum")
    inner = select(*raw, *sums[:-1], hsum).select_from(Case).where(*where).group_by(*raw).subquery()
    keys = [inner.c[f"k_{i}"] for i in range(len(keyed))]
    shown = [func.to_char(k, "YYYY-MM-DD") if by in ("day", "week") else k for k, by in zip(keys, keyed, strict=True)]
    outer: list[ColumnElement[Any]] = [func.sum(inner.c[c.name]) for c in sums[:-1]]
    outer.append(func.sum(inner.c.h_sum) / func.nullif(func.sum(inner.c.handling_time_num), 0))
    sets = [tuple_(k) for k in keys] + ([tuple_()] if "none" in dims else [])
    query = select(func.grouping(*keys), *shown, *outer).group_by(func.grouping_sets(*sets))
    return _by_set(session.execute(query).all(), keyed, "none" in dims)


def _pg_p90(session: Session, where: list, dims: list[str], handled) -> dict[str, dict[Any, float]]:
    """PostgreSQL: p90 of handling hours per group without sorting the cases (docs/kpis.md).

    1. a histogram of whole hours per group (hash aggregates, GROUPING SETS as in ``_pg_sums``);
    2. the ranks k+1 and k+2 (k = ⌊0.9·(n−1)⌋) fall in known hours: only the cases of those hours are read, and
       sorted here. Exact: the same interpolation as ``_p90`` (and percentile_cont)."""
    keyed = [by for by in dims if by != "none"]
    secs = func.date_part(
        "epoch", func.date_trunc("second", Case.resolved_at) - func.date_trunc("second", Case.created_at)
    )  # whole seconds, exact in a float
    hour = func.floor(secs / 3600)
    raw = [_raw_key(by).label(f"k_{i}") for i, by in enumerate(keyed)]
    inner = (
        select(*raw, hour.label("b"), func.count().label("n"))
        .select_from(Case)
        .where(*where, handled)
        .group_by(*raw, hour)
        .subquery()
    )
    keys = [inner.c[f"k_{i}"] for i in range(len(keyed))]
    shown = [func.to_char(k, "YYYY-MM-DD") if by in ("day", "week") else k for k, by in zip(keys, keyed, strict=True)]
    if keyed:
        sets = [tuple_(k, inner.c.b) for k in keys] + ([tuple_(inner.c.b)] if "none" in dims else [])
        query = select(func.grouping(*keys), *shown, inner.c.b, func.sum(inner.c.n)).group_by(func.grouping_sets(*sets))
        hist = _by_set(session.execute(query).all(), keyed, "none" in dims)
    else:
        hist = {"none": [("all", b, n) for b, n in session.execute(select(inner.c.b, inner.c.n)).all()]}
    # per group: n, and for ranks k+1 and k+2 the hour holding it and how many cases lie in earlier hours
    wanted: dict[tuple[str, Any], tuple[int, list[tuple[int, float, int]]]] = {}
    for by, group_rows in hist.items():
        groups: dict[Any, list[tuple[float, int]]] = {}
        for key, b, n in group_rows:
            groups.setdefault(key, []).append((float(b), int(n)))
        for key, counts in groups.items():
            counts.sort()
            total = sum(n for _, n in counts)
            k = 9 * (total - 1) // 10
            picks = []
            for rank in sorted({k + 1, min(k + 2, total)}):
                below = 0
                for b, n in counts:
                    if below + n >= rank:
                        picks.append((rank, b, below))
                        break
                    below += n
            wanted[(by, key)] = (total, picks)
    out: dict[str, dict[Any, float]] = {by: {} for by in dims}
    hours_needed = sorted({b for _, picks in wanted.values() for _, b, _ in picks})
    if not hours_needed:
        return out
    display = [dimension(session, by) for by in keyed]
    rows = session.execute(
        select(*display, secs).select_from(Case).where(*where, handled, hour.in_(hours_needed))
    ).all()
    in_hour: dict[tuple[str, Any, float], list[float]] = {}
    for r in rows:
        value = float(r[-1])
        b = float(value // 3600)
        for i, by in enumerate(keyed):
            in_hour.setdefault((by, r[i], b), []).append(value)
        in_hour.setdefault(("none", "all", b), []).append(value)
    for values in in_hour.values():
        values.sort()
    for (by, key), (n, picks) in wanted.items():
        at = [in_hour[(by, key, b)][rank - below - 1] / 3600 for rank, b, below in picks]
        lo, hi = at[0], at[-1]
        frac = (9 * (n - 1) - 10 * (picks[0][0] - 1)) / 10
        out[by][key] = round(lo + frac * (hi - lo), 2)
    return out


def aggregate_many(
    session: Session, where: list, dims: tuple[str, ...] | list[str], now: datetime | None = None
) -> dict[str, list[dict]]:
    """``aggregate`` for several dimensions at once: dimension → its rows.

    PostgreSQL computes every dimension in one pass over the cases (``_pg_sums``, ``_pg_p90``), with JIT off
    (compiling the expressions costs more than it saves) and room for the hash aggregates in memory, both
    for this transaction only; SQLite runs one ``GROUP BY`` (and one p90 query) per dimension."""
    dims = list(dict.fromkeys(dims))
    exprs = {by: dimension(session, by) for by in dims}
    defs = definitions(session, now)
    handled = defs["handling_time"][0]
    names = [c.name for c in _sums(session, defs)]
    results: dict[str, Any]  # per dimension: its rows (tuples from PostgreSQL's pass, rows from SQLite's)
    if is_postgres(session):
        session.execute(text("SET LOCAL jit = off"))
        session.execute(text("SET LOCAL work_mem = '64MB'"))
        # the planner estimates a group per case (it counts the distinct created_at behind a week) and would
        # sort a million rows to group what hashes into a few thousand groups
        session.execute(text("SET LOCAL enable_sort = off; SET LOCAL enable_incremental_sort = off"))
        results = _pg_sums(session, where, dims, defs)
        p90s = _pg_p90(session, where, dims, handled)
        session.execute(text("RESET enable_sort; RESET enable_incremental_sort"))
    else:
        sums = _sums(session, defs)
        results, p90s = {}, {}
        for by in dims:
            dim = exprs[by]
            query = select((literal_column("'all'") if dim is None else dim).label("g"), *sums)
            query = query.select_from(Case).where(*where)
            results[by] = session.execute(query if dim is None else query.group_by(dim)).all()
            p90s[by] = _p90(session, dim, where, handled)
    out = {}
    for by in dims:
        result = results[by]
        if exprs[by] is not None:
            result = [r for r in result if r[1]]  # a group has at least one case
        labels = _labels(session, by, [r[0] for r in result])
        rows = []
        for r in result:
            figures = _figures(dict(zip(names, r[1:], strict=True)))
            figures["handling_time"]["p90_h"] = p90s[by].get(r[0])
            rows.append({"key": r[0], "label": labels.get(r[0], r[0]), **figures})
        rows.sort(key=lambda x: (x["key"] is None, str(x["key"])))
        out[by] = rows
    return out


def aggregate(session: Session, where: list, by: str = "none", now: datetime | None = None) -> list[dict]:
    """One row of every KPI per value of dimension ``by`` for cases matching ``where``."""
    return aggregate_many(session, where, (by,), now)[by]


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
    figures: dict[str, list[dict]] | None = None,
) -> dict[str, Any]:
    """The figures of /api/reports/kpis; ``figures`` (``aggregate_many`` over the same scope, with at least
    "none", ``by`` and the trend unit) avoids computing them again."""
    where = scope(start, end, filters)
    trend_by = trend if trend in ("day", "week") else None
    if figures is None:
        figures = aggregate_many(session, where, ["none", by, *([trend_by] if trend_by else [])], now)
    total = figures["none"]
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "by": by,
        "filters": {k: v for k, v in (filters or {}).items() if v not in (None, "")},
        "sign_deadline_h": sign_deadline_h(),
        "rows": figures[by],
        "total": {k: v for k, v in (total[0] if total else empty_figures()).items() if k not in ("key", "label")},
        "trend_unit": trend,
        "trend": figures[trend_by] if trend_by else [],
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
            select(col(Case.id), col(Case.tracking_no)).where(*where, cond).order_by(col(Case.id)).limit(limit)
        ).all()
        out[part] = [{"id": r[0], "tracking_no": r[1]} for r in rows]
    return out


def consultation_rates(session: Session, start: date, end: date, town_code: str | None = None) -> dict[str, Any]:
    """The seeds' rates for meetings held in the period: participation = members who checked in ÷ members
    invited (participants of the meeting's topic, not removed); success = topics with an outcome ÷ topics that
    held a meeting; satisfaction = mean satisfaction score on the evaluation panel ÷ 5."""

    lo, hi = day_bounds(start, end)
    held = [col(Meeting.held_at).is_not(None), col(Meeting.held_at) >= lo, col(Meeting.held_at) < hi]
    if town_code:
        held.append(col(Topic.town_code) == town_code)
    meetings = (
        select(col(Meeting.id), col(Meeting.topic_id)).join(Topic, col(Topic.id) == Meeting.topic_id).where(*held)
    )
    m = meetings.subquery()
    invited = session.execute(
        select(func.count())
        .select_from(m)
        .join(Participant, col(Participant.topic_id) == m.c.topic_id)
        .where(
            col(Participant.kind) == "member",
            col(Participant.member_id).is_not(None),
            col(Participant.removed_at).is_(None),
        )
    ).scalar_one()
    attended = session.execute(
        select(func.count()).select_from(m).join(Attendance, col(Attendance.meeting_id) == m.c.id)
    ).scalar_one()
    topics = session.execute(select(func.count(func.distinct(m.c.topic_id)))).scalar_one()
    with_outcome = session.execute(
        select(func.count(func.distinct(m.c.topic_id))).where(exists().where(col(Outcome.topic_id) == m.c.topic_id))
    ).scalar_one()
    scores = (
        session.execute(select(col(Evaluation.scores)).where(col(Evaluation.topic_id).in_(select(m.c.topic_id))))
        .scalars()
        .all()
    )
    sat = [v for s in scores if isinstance(s, dict) and (v := s.get("satisfaction"))]
    meetings_n = session.execute(select(func.count()).select_from(m)).scalar_one()
    return {
        "meetings_held": int(meetings_n),
        "participation": {"num": int(attended), "den": int(invited), "rate": _rate(int(attended), int(invited))},
        "success": {"num": int(with_outcome), "den": int(topics), "rate": _rate(int(with_outcome), int(topics))},
        "satisfaction": {"n": len(sat), "rate": round(sum(sat) / (5 * len(sat)), 4) if sat else None},
    }
