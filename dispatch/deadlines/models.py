"""Tables of the deadline policy, the working-day calendar, a case's deadlines, its ladder steps and extensions."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel
from pydantic import Field as PField
from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow
from dispatch.validation import Text

Unit = Literal["hours", "working_days"]
UrgencyKey = Literal["normal", "urgent"]
STEPS = ("reminder", "yellow", "red", "supervision")  # the ladder, in firing order


class DeadlinePolicy(SQLModel, table=True):
    """One rule: for a category prefix ("" = every category), urgency and request kind ("" = any), within a
    profile (beijing / guangdong), the time to sign (签收) and the time to finish (办结)."""

    __tablename__ = "deadline_policy"
    __table_args__ = (UniqueConstraint("profile", "category_prefix", "urgency", "kind", name="uq_deadline_policy_key"),)

    id: int | None = Field(default=None, primary_key=True)
    profile: str = Field(max_length=32, index=True)
    category_prefix: str = Field(default="", max_length=128)
    urgency: str = Field(default="normal", max_length=8)
    kind: str = Field(default="", max_length=16)
    sign_amount: int
    sign_unit: str = Field(max_length=16)
    finish_amount: int
    finish_unit: str = Field(max_length=16)
    note: str | None = Field(default=None, max_length=256)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_by: str = Field(default="migration", max_length=64)


class CalendarDay(SQLModel, table=True):
    """An exception to the Monday–Friday week: a public holiday or a make-up working day (调休上班)."""

    __tablename__ = "calendar_day"

    day: date = Field(primary_key=True)
    kind: str = Field(max_length=8)  # holiday | workday
    name: str = Field(default="", max_length=64)


class CaseDeadline(SQLModel, table=True):
    """A case's deadlines as computed at intake, with the rule that produced them (explainable per case)."""

    __tablename__ = "case_deadline"

    case_id: int = Field(foreign_key="case.id", primary_key=True)
    start_at: datetime = Field(sa_type=UTCDateTime)
    sign_by: datetime = Field(sa_type=UTCDateTime)
    finish_by: datetime = Field(sa_type=UTCDateTime)  # the original 办结 deadline; case.due_at holds the current one
    rule: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class LadderStep(SQLModel, table=True):
    """One step of a case's escalation ladder; UNIQUE(case_id, step) and the pending→fired update make it fire once."""

    __tablename__ = "ladder_step"
    __table_args__ = (
        UniqueConstraint("case_id", "step", name="uq_ladder_step_case_step"),
        Index("ix_ladder_step_state_due_at", "state", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id")
    step: str = Field(max_length=16)  # reminder | yellow | red | supervision
    due_at: datetime = Field(sa_type=UTCDateTime)
    state: str = Field(default="pending", max_length=8)  # pending | fired | skipped
    fired_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


# ---- request and response schemas -------------------------------------------------------------------


class RuleIn(BaseModel):
    category_prefix: Text = PField(default="", max_length=128)
    urgency: UrgencyKey = "normal"
    kind: Text = PField(default="", max_length=16)
    sign_amount: int = PField(gt=0, le=10000)
    sign_unit: Unit
    finish_amount: int = PField(gt=0, le=10000)
    finish_unit: Unit
    note: Text | None = PField(default=None, max_length=256)


class RuleOut(RuleIn):
    profile: str


class PoliciesIn(BaseModel):
    profile: Text = PField(min_length=1, max_length=32)
    rules: list[RuleIn] = PField(min_length=1)


class PoliciesOut(BaseModel):
    profile: str
    active: bool
    source: Literal["table", "shipped defaults"]
    rules: list[RuleOut]


class DayIn(BaseModel):
    date: date
    kind: Literal["holiday", "workday"]
    name: Text = PField(default="", max_length=64)


class YearIn(BaseModel):
    days: list[DayIn]


class StepOut(BaseModel):
    step: str
    due_at: datetime
    state: str
    fired_at: datetime | None
