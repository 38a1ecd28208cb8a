"""The weekly inspection report (督查周报): an RQ job each Monday 08:00 Beijing time builds the PDF for the
previous week (Monday–Sunday) and stores it. Idempotent by week (a unique row per ``week_start``); each run
schedules the next one (one RQ job id per week, so scheduling twice is harmless)."""

from __future__ import annotations

import logging
from datetime import date, datetime, time, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from dispatch.broker import schedule
from dispatch.db import get_engine, utcnow
from dispatch.localtime import SHANGHAI
from dispatch.reports import export
from dispatch.reports.models import WeeklyReport

log = logging.getLogger(__name__)
JOB = "workers.jobs.weekly_report"
RUN_AT = time(8, 0)


def previous_week(now: datetime) -> tuple[date, date]:
    """The Monday and Sunday of the week before the one ``now`` falls in (Beijing time)."""
    today = now.astimezone(SHANGHAI).date()
    monday = today - timedelta(days=today.weekday())
    return monday - timedelta(days=7), monday - timedelta(days=1)


def next_run(now: datetime) -> datetime:
    """The next Monday 08:00 Beijing time strictly after ``now``."""
    local = now.astimezone(SHANGHAI)
    monday = local.date() - timedelta(days=local.weekday())
    at = datetime.combine(monday, RUN_AT, SHANGHAI)
    return at if at > local else at + timedelta(days=7)


def ensure_scheduled(now: datetime | None = None) -> bool:
    at = next_run(now or utcnow())
    return schedule(at, JOB, job_id=f"weekly-report-{at.date().isoformat()}")


def generate(session: Session, week_start: date) -> WeeklyReport:
    """The stored report for the week starting ``week_start``; built once."""
    existing = session.exec(select(WeeklyReport).where(WeeklyReport.week_start == week_start)).first()
    if existing is not None:
        return existing
    week_end = week_start + timedelta(days=6)
    data = export.inspection(session, week_start, week_end)
    total = data["page"]["total"]
    report = WeeklyReport(week_start=week_start, week_end=week_end, totals=total, pdf=export.pdf(data))
    session.add(report)
    try:
        session.commit()
    except IntegrityError:  # another run stored it first
        session.rollback()
        return session.exec(select(WeeklyReport).where(WeeklyReport.week_start == week_start)).one()
    return report


def run_weekly(now: datetime | None = None) -> int:
    """The job: store last week's report (if not yet stored), schedule the next run; returns the report id."""
    now = now or utcnow()
    week_start, _ = previous_week(now)
    with Session(get_engine(), expire_on_commit=False) as session:
        report = generate(session, week_start)
    ensure_scheduled(max(now, utcnow()))  # the next Monday still ahead, even when this run was late
    log.info("weekly report %s for week of %s", report.id, week_start)
    assert report.id is not None  # stored by generate
    return report.id
