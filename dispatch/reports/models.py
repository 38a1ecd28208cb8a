"""Stored reports: the weekly inspection report (督查周报), one row per week, kept for download."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import JSON, Column, LargeBinary
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow


class WeeklyReport(SQLModel, table=True):
    """The report for the week starting ``week_start`` (a Monday, Beijing time). Unique by week: the job is
    idempotent."""

    __tablename__ = "weekly_report"

    id: int | None = Field(default=None, primary_key=True)
    week_start: date = Field(unique=True, index=True)
    week_end: date
    generated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    totals: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    pdf: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
