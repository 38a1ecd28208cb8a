from __future__ import annotations

from datetime import date, timedelta

from fastapi import APIRouter, Depends
from sqlmodel import Session

from dispatch.auth.deps import get_session, require
from dispatch.errors import AppError
from dispatch.reports import service

router = APIRouter(prefix="/api/reports", tags=["reports"])
READERS = ("operator", "supervisor")


@router.get("/summary", dependencies=[Depends(require(*READERS))])
def summary(town_code: str | None = None, session: Session = Depends(get_session)) -> dict:
    return service.summary(session, town_code)


@router.get("/towns", dependencies=[Depends(require(*READERS))])
def towns(
    start: date | None = None,
    end: date | None = None,
    town_code: str | None = None,
    session: Session = Depends(get_session),
) -> dict:
    """Per-town figures for cases received from ``start`` to ``end`` (Beijing dates, default: last 30 days)."""
    end = end or service.utcnow().astimezone(service.SHANGHAI).date()
    start = start or end - timedelta(days=29)
    if start > end or (end - start).days > 366:
        raise AppError("invalid_period", "时间段无效（最长一年）", "Invalid period (at most a year)", status=422)
    return service.towns(session, start, end, town_code)
