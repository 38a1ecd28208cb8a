from __future__ import annotations

from datetime import date, timedelta
from typing import Literal
from urllib.parse import quote

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import Session, col, select

from dispatch.auth.deps import get_session, principal, require
from dispatch.auth.service import Principal
from dispatch.errors import AppError, Forbidden, not_found
from dispatch.localtime import SHANGHAI
from dispatch.reports import export, kpis, service
from dispatch.reports.flows import ensure_scheduled
from dispatch.reports.models import WeeklyReport

# no prefix: the member record lives under /api/members
router = APIRouter(tags=["reports"])
READERS = ("operator", "supervisor")
PDF = "application/pdf"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _period(start: date | None, end: date | None) -> tuple[date, date]:
    end = end or service.utcnow().astimezone(SHANGHAI).date()
    start = start or end - timedelta(days=29)
    if start > end or (end - start).days > 366:
        raise AppError("invalid_period", "时间段无效（最长一年）", "Invalid period (at most a year)", status=422)
    return start, end


def _filters(
    town_code: str | None = None,
    village_code: str | None = None,
    channel: str | None = None,
    category: str | None = None,
    member_id: int | None = None,
    department_id: int | None = None,
) -> dict:
    return {
        "town_code": town_code,
        "village_code": village_code,
        "channel": channel,
        "category": category,
        "member_id": member_id,
        "department_id": department_id,
    }


def _download(body: bytes, media: str, name: str) -> Response:
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}", "Cache-Control": "no-store"},
    )


@router.get("/api/reports/summary", dependencies=[Depends(require(*READERS))])
def summary(town_code: str | None = None, session: Session = Depends(get_session)) -> dict:
    return service.summary(session, town_code)


@router.get("/api/reports/towns", dependencies=[Depends(require(*READERS))])
def towns(
    start: date | None = None,
    end: date | None = None,
    town_code: str | None = None,
    session: Session = Depends(get_session),
) -> dict:
    """Per-town figures for cases received from ``start`` to ``end`` (Beijing dates, default: last 30 days)."""
    start, end = _period(start, end)
    return service.towns(session, start, end, town_code)


@router.get("/api/reports/kpis", dependencies=[Depends(require(*READERS))])
def kpis_view(
    start: date | None = None,
    end: date | None = None,
    by: str = Query("town", description=", ".join(kpis.DIMENSIONS)),
    trend: str = Query("week", pattern="^(day|week|none)$"),
    filters: dict = Depends(_filters),
    session: Session = Depends(get_session),
) -> dict:
    """Every KPI of docs/kpis.md with numerator and denominator, per value of ``by``, the total and a trend."""
    start, end = _period(start, end)
    return kpis.kpis(session, start, end, by=by, trend=trend, filters=filters)


@router.get("/api/reports/cases", dependencies=[Depends(require(*READERS))])
def cases_behind(
    kpi: str,
    start: date | None = None,
    end: date | None = None,
    by: str = "none",
    slice: str | None = Query(None, description=f"the value of ``by``; {kpis.NULL_SLICE} for none"),  # noqa: A002
    filters: dict = Depends(_filters),
    session: Session = Depends(get_session),
) -> dict:
    """The cases counted in one figure: its numerator and denominator, as ids and tracking numbers."""
    start, end = _period(start, end)
    return kpis.cases_behind(session, kpi, start, end, by=by, slice_=slice, filters=filters)


EXPORTS = {"pdf": (export.pdf, PDF), "xlsx": (export.xlsx, XLSX)}


@router.get("/api/reports/inspection.{fmt}", dependencies=[Depends(require(*READERS))])
def inspection_file(
    fmt: Literal["pdf", "xlsx"],
    start: date | None = None,
    end: date | None = None,
    town_code: str | None = Query(default=None, pattern=r"^[0-9]{1,12}$"),
    session: Session = Depends(get_session),
) -> Response:
    """The inspection report for a period and town: an A4 PDF or an XLSX workbook."""
    start, end = _period(start, end)
    render, media_type = EXPORTS[fmt]
    return _download(
        render(export.inspection(session, start, end, town_code)), media_type, f"督查报告_{start}_{end}.{fmt}"
    )


@router.get("/api/reports/weekly", dependencies=[Depends(require(*READERS))])
def weekly_list(session: Session = Depends(get_session)) -> list[dict]:
    """Stored weekly reports, newest first (the job also makes sure its next run is scheduled)."""

    ensure_scheduled()
    rows = session.exec(
        select(
            col(WeeklyReport.id),
            col(WeeklyReport.week_start),
            col(WeeklyReport.week_end),
            col(WeeklyReport.generated_at),
        )
        .order_by(col(WeeklyReport.week_start).desc())
        .limit(200)
    ).all()
    return [
        {
            "id": r[0],
            "week_start": r[1].isoformat(),
            "week_end": r[2].isoformat(),
            "generated_at": r[3].isoformat(),
            "url": f"/api/reports/weekly/{r[0]}.pdf",
        }
        for r in rows
    ]


@router.get("/api/reports/weekly/{report_id}.pdf", dependencies=[Depends(require(*READERS))])
def weekly_pdf(report_id: int, session: Session = Depends(get_session)) -> Response:
    report = session.get(WeeklyReport, report_id)
    if report is None:
        raise not_found("周报", "Weekly report", code="report_not_found", id=report_id)
    return _download(report.pdf, PDF, f"督查周报_{report.week_start}.pdf")


@router.get("/api/members/{member_id}/record", tags=["members"])
def member_record(
    member_id: int,
    year: int | None = Query(None, ge=2000, le=2100),
    p: Principal = Depends(principal),
    session: Session = Depends(get_session),
) -> dict:
    """A member's performance record (履职档案): staff, or the member themself."""
    staff = p.kind == "user" and p.role in ("admin", *READERS)
    own = p.kind == "user" and p.role == "member" and p.member_id == member_id
    if not (staff or own):
        raise Forbidden("forbidden", "只能查看本人的履职档案", "You may read only your own record", role=p.role)
    year = year or service.utcnow().astimezone(SHANGHAI).year
    return service.member_record(session, member_id, year)
