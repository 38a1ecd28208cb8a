"""Figures for the board's header and the supervisors' page, computed by SQL aggregation.

Formulas (a later issue deepens them into docs/kpis.md):
- on-time rate = cases resolved by their due time / cases resolved, among cases received in the period;
- satisfaction = (satisfied + basically satisfied) / rated cases, among cases received in the period;
- overdue = open cases whose due time has passed.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import and_, case, func
from sqlmodel import Session, col, select

from dispatch.cases.models import Case
from dispatch.cases.states import OPEN_STATUSES
from dispatch.db import utcnow
from dispatch.regions.models import Region

SHANGHAI = ZoneInfo("Asia/Shanghai")
GOOD = ("satisfied", "basically_satisfied")


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in Beijing time, as aware datetimes."""
    return (datetime.combine(start, time(), SHANGHAI), datetime.combine(end + timedelta(days=1), time(), SHANGHAI))


def _rate(num: int, den: int) -> float | None:
    return round(num / den, 4) if den else None


def _aggregates():
    resolved = col(Case.resolved_at).is_not(None)
    return (
        func.count().label("intake"),
        func.sum(case((resolved, 1), else_=0)).label("resolved"),
        func.sum(case((and_(resolved, col(Case.resolved_at) <= col(Case.due_at)), 1), else_=0)).label("on_time"),
        func.sum(case((col(Case.rating).is_not(None), 1), else_=0)).label("rated"),
        func.sum(case((col(Case.rating).in_(GOOD), 1), else_=0)).label("satisfied"),
        func.sum(case((and_(col(Case.status).in_(OPEN_STATUSES), col(Case.due_at) < utcnow()), 1), else_=0)).label(
            "overdue"
        ),
    )


def _row(r) -> dict:
    intake, resolved, on_time, rated, satisfied, overdue = (int(x or 0) for x in r)
    return {
        "intake": intake,
        "resolved": resolved,
        "on_time": on_time,
        "rated": rated,
        "satisfied": satisfied,
        "overdue": overdue,
        "resolution_rate": _rate(resolved, intake),
        "on_time_rate": _rate(on_time, resolved),
        "satisfaction_rate": _rate(satisfied, rated),
    }


def summary(session: Session, town_code: str | None = None) -> dict:
    """The board's header: today's intake per channel, open and overdue now, and the last 30 days' rates."""
    today = utcnow().astimezone(SHANGHAI).date()
    start, end = day_bounds(today, today)
    scope = [Case.town_code == town_code] if town_code else []
    by_channel = dict(
        session.exec(
            select(Case.channel, func.count())
            .where(Case.created_at >= start, Case.created_at < end, *scope)
            .group_by(Case.channel)
        ).all()
    )
    open_now = session.exec(
        select(func.count()).select_from(Case).where(col(Case.status).in_(OPEN_STATUSES), *scope)
    ).one()
    month_start, _ = day_bounds(today - timedelta(days=29), today)
    month = _row(session.exec(select(*_aggregates()).where(Case.created_at >= month_start, *scope)).one())
    overdue = session.exec(
        select(func.count())
        .select_from(Case)
        .where(col(Case.status).in_(OPEN_STATUSES), col(Case.due_at) < utcnow(), *scope)
    ).one()
    return {
        "date": today.isoformat(),
        "intake_today": {ch: by_channel.get(ch, 0) for ch in ("hotline", "mail", "qr", "phone", "open311")},
        "intake_today_total": sum(by_channel.values()),
        "open": open_now,
        "overdue": overdue,
        "on_time_rate": month["on_time_rate"],
        "satisfaction_rate": month["satisfaction_rate"],
        "rates_since": (today - timedelta(days=29)).isoformat(),
    }


def towns(session: Session, start: date, end: date, town_code: str | None = None) -> dict:
    """Per-town intake, resolution, on-time and satisfaction for cases received in [start, end]."""
    lo, hi = day_bounds(start, end)
    where = [Case.created_at >= lo, Case.created_at < hi]
    if town_code:
        where.append(Case.town_code == town_code)
    rows = session.exec(select(Case.town_code, *_aggregates()).where(*where).group_by(Case.town_code)).all()
    names = dict(session.exec(select(Region.code, Region.name).where(Region.level == "town")).all())
    table = [{"town_code": r[0], "town_name": names.get(r[0], "（未定位）"), **_row(r[1:])} for r in rows]
    table.sort(key=lambda r: (r["town_code"] is None, r["town_code"] or ""))
    total = _row(session.exec(select(*_aggregates()).where(*where)).one())
    overdue = session.exec(
        select(Case)
        .where(
            col(Case.status).in_(OPEN_STATUSES),
            col(Case.due_at) < utcnow(),
            *([Case.town_code == town_code] if town_code else []),
        )
        .order_by(Case.due_at)
        .limit(200)
    ).all()
    return {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "town_code": town_code,
        "towns": table,
        "total": total,
        "overdue": [
            {
                "id": c.id,
                "tracking_no": c.tracking_no,
                "status": c.status,
                "town_code": c.town_code,
                "category": c.category,
                "assignee_id": c.assignee_id,
                "due_at": c.due_at.isoformat(),
                "hours_over": round((utcnow() - c.due_at).total_seconds() / 3600, 1),
            }
            for c in overdue
        ],
    }
