from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from pydantic import Field as PField
from sqlalchemy import Column, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch import validation
from dispatch.cases.models import Score
from dispatch.db import UTCDateTime, utcnow

Reason = Literal["resolved", "unrated"]
Outcome = Literal["reached", "unreachable", "refused"]
OPEN_STATUSES = ("open", "claimed")


class CallbackTask(SQLModel, table=True):
    """One call an operator is to make about one resolution of a case.

    ``round_at`` is the case's ``resolved_at`` the task belongs to: a case resolved again after a reopen gets
    new tasks, and (case, reason, round) is unique, so a job and a sweeper racing create one task.
    """

    __tablename__ = "callback_task"
    __table_args__ = (
        UniqueConstraint("case_id", "reason", "round_at", name="uq_callback_task_round"),
        Index("ix_callback_task_status_due", "status", "due_at"),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    reason: str = Field(max_length=16)  # resolved | unrated
    round_at: datetime = Field(sa_type=UTCDateTime)
    due_at: datetime = Field(sa_type=UTCDateTime)
    status: str = Field(default="open", max_length=16)  # open | claimed | done | cancelled
    claimed_by: str | None = Field(default=None, max_length=64)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    outcome: str | None = Field(default=None, max_length=16)  # reached | unreachable | refused
    score: str | None = Field(default=None, max_length=24)  # satisfied | basically_satisfied | dissatisfied
    note: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    completed_by: str | None = Field(default=None, max_length=64)
    completed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    cancel_reason: str | None = Field(default=None, max_length=32)  # rated_by_resident | case_changed
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class CompleteIn(BaseModel):
    outcome: Outcome
    score: Score | None = None  # required when the resident was reached
    note: validation.Text | None = PField(default=None, max_length=2000)


class CallbackOut(BaseModel):
    id: int
    case_id: int
    reason: str
    status: str
    due_at: datetime
    created_at: datetime
    claimed_by: str | None
    claimed_by_name: str | None = None  # the operator's username
    claimed_at: datetime | None
    outcome: str | None
    score: str | None
    note: str | None
    completed_by: str | None
    completed_by_name: str | None = None
    completed_at: datetime | None
    cancel_reason: str | None
    case: dict[str, Any]
    script: dict[str, str]
