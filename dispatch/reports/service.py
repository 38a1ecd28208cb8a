"""Figures for the board's header and the supervisors' page, computed by SQL aggregation.

The formulas are those of docs/kpis.md (``dispatch.reports.kpis``), so the page, the PDF, the XLSX and
/api/reports/kpis agree:
- resolution rate = cases resolved or closed / valid cases (not merged or cancelled) received in the period;
- on-time rate = on-time closure: resolved by the due time / (resolved + open and overdue);
- satisfaction = (satisfied + basically satisfied) / rated cases, among cases received in the period;
- overdue = open cases whose due time has passed.
"""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.cases.models import Case
from dispatch.cases.states import OPEN_STATUSES
from dispatch.consultations.models import Attendance, Meeting, Participant
from dispatch.db import utcnow
from dispatch.dispatching.models import Offer
from dispatch.errors import not_found
from dispatch.localtime import SHANGHAI, day_bounds
from dispatch.members.models import Member
from dispatch.regions.models import Region
from dispatch.reports import kpis

GOOD = ("satisfied", "basically_satisfied")


def _row(k: dict) -> dict:
    """The page's figures from one row of ``kpis.aggregate``."""
    resolved, on_time, sat = k["resolution_rate"], k["on_time_closure"], k["satisfaction"]
    return {
        "intake": k["received"],
        "resolved": resolved["num"],
        "on_time": on_time["num"],
        "rated": sat["den"],
        "satisfied": sat["num"],
        "overdue": k["overdue_open"],
        "resolution_rate": resolved["rate"],
        "on_time_rate": on_time["rate"],
        "satisfaction_rate": sat["rate"],
    }


def _total(session: Session, where: list) -> dict:

    rows = kpis.aggregate(session, where, "none")
    return _row(rows[0] if rows else kpis.empty_figures())


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
    month = _total(session, [col(Case.created_at) >= month_start, *scope])
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


def towns(
    session: Session, start: date, end: date, town_code: str | None = None, figures: dict[str, list[dict]] | None = None
) -> dict:
    """Per-town intake, resolution, on-time and satisfaction for cases received in [start, end].

    ``figures``: ``kpis.aggregate_many`` over the same scope with "town" and "none", when already computed."""

    if figures is None:
        figures = kpis.aggregate_many(session, kpis.scope(start, end, {"town_code": town_code}), ("town", "none"))
    names = dict(session.exec(select(Region.code, Region.name).where(Region.level == "town")).all())
    table = [
        {"town_code": r["key"], "town_name": names.get(r["key"], "（未定位）"), **_row(r)} for r in figures["town"]
    ]
    table.sort(key=lambda r: (r["town_code"] is None, r["town_code"] or ""))
    total = _row(figures["none"][0] if figures["none"] else kpis.empty_figures())
    # the 200 most overdue: read in due_at order from the partial index ix_case_open_due (open cases only)
    overdue = session.exec(
        select(Case)
        .where(
            col(Case.status).in_(OPEN_STATUSES),
            col(Case.due_at) < utcnow(),
            *([Case.town_code == town_code] if town_code else []),
        )
        .order_by(col(Case.due_at))
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
            if c.due_at is not None  # always: the query's due_at < now leaves out a NULL
        ],
    }


def member_record(session: Session, member_id: int, year: int) -> dict:
    """A member's performance record (履职档案) for a year (Beijing time): cases assigned, resolved, on-time
    closure and satisfaction (the KPI formulas of docs/kpis.md, sliced to the member), offers answered, and
    consultations invited to and attended."""

    member = session.get(Member, member_id)
    if member is None:
        raise not_found("委员", "Member", code="member_not_found", id=member_id)
    start, end = date(year, 1, 1), date(year, 12, 31)
    lo, hi = day_bounds(start, end)
    k = kpis.kpis(session, start, end, by="none", trend="none", filters={"member_id": member_id})["total"]
    offers = dict(
        session.exec(
            select(Offer.state, func.count())
            .where(Offer.member_id == member_id, col(Offer.offered_at) >= lo, col(Offer.offered_at) < hi)
            .group_by(Offer.state)
        ).all()
    )
    held = [col(Meeting.held_at).is_not(None), col(Meeting.held_at) >= lo, col(Meeting.held_at) < hi]
    attended = session.exec(
        select(func.count())
        .select_from(Attendance)
        .join(Meeting, col(Meeting.id) == Attendance.meeting_id)
        .where(Attendance.member_id == member_id, *held)
    ).one()
    invited = session.exec(
        select(func.count())
        .select_from(Meeting)
        .join(Participant, col(Participant.topic_id) == Meeting.topic_id)
        .where(Participant.member_id == member_id, col(Participant.removed_at).is_(None), *held)
    ).one()
    return {
        "member_id": member_id,
        "name": member.name,
        "year": year,
        "assignments": k["received"],
        "resolved": k["resolution_rate"]["num"],
        "resolution_rate": k["resolution_rate"]["rate"],
        "on_time": k["on_time_closure"],
        "on_time_rate": k["on_time_closure"]["rate"],
        "on_time_signing": k["on_time_signing"],
        "satisfaction": k["satisfaction"],
        "satisfaction_rate": k["satisfaction"]["rate"],
        "reopen_rate": k["reopen_rate"]["rate"],
        "handling_time": k["handling_time"],
        "offers": {s: int(offers.get(s, 0)) for s in ("accepted", "declined", "expired", "withdrawn", "open")},
        "consultations_invited": int(invited),
        "consultations_attended": int(attended),
    }
