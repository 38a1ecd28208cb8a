"""Consultation (协商) tables and schemas: topics, their audit trail, the think tank, participants and draws,
meetings with QR check-in, outcomes with their ledger, follow-up reviews and the evaluation panel."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AwareDatetime, BaseModel
from pydantic import Field as PField
from sqlalchemy import JSON, BigInteger, Column, UniqueConstraint
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow
from dispatch.experts.models import Expert, ExpertIn, ExpertPatch  # noqa: F401 - the think tank's, re-exported
from dispatch.validation import Text

Source = Literal["cases", "proposal", "plan"]
MeetingKind = Literal["bench", "roundtable", "onsite", "online"]
ScorerKind = Literal["member", "official", "resident"]
Principle = Literal["political", "group_interest", "forward_looking", "democratic", "feasible"]
Criterion = Literal["implementation", "participation", "satisfaction"]
PRINCIPLES: tuple[Principle, ...] = (
    "political",
    "group_interest",
    "forward_looking",
    "democratic",
    "feasible",
)
CRITERIA: tuple[Criterion, ...] = (
    "implementation",
    "participation",
    "satisfaction",
)


class Topic(SQLModel, table=True):
    """A consultation topic (议题). ``status`` is written only by ``consultations.states``."""

    __tablename__ = "topic"

    id: int | None = Field(default=None, primary_key=True)
    title: str = Field(max_length=200)
    description: str = ""
    source: str = Field(max_length=16)
    status: str = Field(default="proposed", max_length=24, index=True)
    town_code: str | None = Field(default=None, foreign_key="region.code", max_length=12, index=True)
    village_code: str | None = Field(default=None, foreign_key="region.code", max_length=12)
    point_id: int | None = Field(default=None, foreign_key="point.id")
    proposer_id: int | None = Field(default=None, foreign_key="member.id")
    department_id: int | None = Field(default=None, foreign_key="department.id")
    screening: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    created_by: str = Field(max_length=64)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TopicCase(SQLModel, table=True):
    """A case in the cluster a topic was raised from."""

    __tablename__ = "topic_case"

    topic_id: int = Field(foreign_key="topic.id", primary_key=True)
    case_id: int = Field(foreign_key="case.id", primary_key=True, index=True)


class TopicEvent(SQLModel, table=True):
    """Append-only audit trail of a topic."""

    __tablename__ = "topic_event"

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=24)
    to_status: str | None = Field(default=None, max_length=24)
    note: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class ExpertDraw(SQLModel, table=True):
    """One random draw of experts: reproducible from ``seed`` and the ordered ``pool``."""

    __tablename__ = "expert_draw"

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    field: str = Field(max_length=64)
    seed: int = Field(sa_type=BigInteger)  # random seeds are 48-bit: beyond PostgreSQL's INTEGER
    pool: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    picks: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    replaces_expert_id: int | None = Field(default=None, foreign_key="expert.id")
    reason: str | None = None
    actor: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Participant(SQLModel, table=True):
    """Who takes part (明确主体): a member, a department, a resident representative or an expert."""

    __tablename__ = "participant"

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    kind: str = Field(max_length=16)
    member_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    expert_id: int | None = Field(default=None, foreign_key="expert.id")
    draw_id: int | None = Field(default=None, foreign_key="expert_draw.id")
    name: str | None = Field(default=None, max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    removed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    removed_reason: str | None = None


class Meeting(SQLModel, table=True):
    """A consultation meeting (开展协商) with its check-in token."""

    __tablename__ = "meeting"

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    kind: str = Field(max_length=16)
    starts_at: datetime = Field(sa_type=UTCDateTime)
    point_id: int | None = Field(default=None, foreign_key="point.id", index=True)
    online_url: str | None = Field(default=None, max_length=512)
    agenda: str = ""
    checkin_token: str = Field(max_length=64, unique=True, index=True)
    minutes: str | None = None
    held_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Attendance(SQLModel, table=True):
    __tablename__ = "attendance"
    __table_args__ = (UniqueConstraint("meeting_id", "member_id", name="uq_attendance_meeting_member"),)

    id: int | None = Field(default=None, primary_key=True)
    meeting_id: int = Field(foreign_key="meeting.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Outcome(SQLModel, table=True):
    """An outcome (成果) reported to the party/government, owned by a department."""

    __tablename__ = "outcome"

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    text: str
    department_id: int = Field(foreign_key="department.id")
    due_date: date
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class LedgerEntry(SQLModel, table=True):
    """One line of an outcome's implementation ledger (台账)."""

    __tablename__ = "ledger_entry"

    id: int | None = Field(default=None, primary_key=True)
    outcome_id: int = Field(foreign_key="outcome.id", index=True)
    note: str
    percent: int
    milestone: bool = False
    actor: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class FollowUp(SQLModel, table=True):
    """A follow-up review (回头看): scheduled → due (the RQ job) → recorded."""

    __tablename__ = "follow_up"

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    due_at: datetime = Field(sa_type=UTCDateTime)
    state: str = Field(default="scheduled", max_length=16, index=True)
    note: str | None = None
    notified_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    result: str | None = None
    recorded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class Evaluation(SQLModel, table=True):
    """One scorer's sheet on the evaluation panel (评估质效)."""

    __tablename__ = "evaluation"

    id: int | None = Field(default=None, primary_key=True)
    topic_id: int = Field(foreign_key="topic.id", index=True)
    scorer_kind: str = Field(max_length=16)
    scorer_name: str = Field(max_length=64)
    scores: dict[str, int] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))
    comment: str | None = None
    actor: str = Field(max_length=64)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


# ---- request schemas --------------------------------------------------------------------------------


class TopicIn(BaseModel):
    title: Text = PField(min_length=1, max_length=200)
    description: Text = PField(default="", max_length=20000)
    source: Source = "cases"
    case_ids: list[int] = PField(default_factory=list, max_length=200)
    town_code: Text | None = None
    village_code: Text | None = None
    point_id: int | None = None
    proposer_id: int | None = None


class PrincipleCheck(BaseModel):
    ok: bool
    note: Text | None = PField(default=None, max_length=2000)


class ScreeningIn(BaseModel):
    decision: Literal["accept", "reject"]
    principles: dict[Principle, PrincipleCheck]
    note: Text | None = PField(default=None, max_length=5000)
    # what residents of the linked cases read on their tracking page (default: the title as accepted)
    public_title: Text | None = PField(default=None, min_length=1, max_length=200)


class ForwardTopicIn(BaseModel):
    department_id: int
    note: Text | None = PField(default=None, max_length=5000)


class NoteIn(BaseModel):
    note: Text | None = PField(default=None, max_length=5000)


class ParticipantIn(BaseModel):
    kind: Literal["member", "department", "resident"]
    member_id: int | None = None
    department_id: int | None = None
    name: Text | None = PField(default=None, max_length=64)
    phone: Text | None = PField(default=None, max_length=32)


class DrawIn(BaseModel):
    field: Text = PField(min_length=1, max_length=64)
    count: int = PField(default=1, ge=1, le=50)
    seed: int | None = PField(default=None, ge=0, le=2**62)


class RedrawIn(BaseModel):
    expert_id: int
    reason: Text = PField(min_length=1, max_length=2000)
    seed: int | None = PField(default=None, ge=0, le=2**62)


class MeetingIn(BaseModel):
    kind: MeetingKind
    starts_at: AwareDatetime
    point_id: int | None = None
    online_url: Text | None = PField(default=None, max_length=512)
    agenda: Text = PField(default="", max_length=20000)


class HeldIn(BaseModel):
    # why a meeting is marked held before its start time (it really began early): kept on the topic's trail
    reason: Text | None = PField(default=None, max_length=2000)


class MinutesIn(BaseModel):
    minutes: Text = PField(min_length=1, max_length=100000)


class OutcomeIn(BaseModel):
    text: Text = PField(min_length=1, max_length=20000)
    department_id: int
    due_date: date


class LedgerIn(BaseModel):
    note: Text = PField(min_length=1, max_length=5000)
    percent: int = PField(ge=0, le=100)
    milestone: bool = False


class FollowUpIn(BaseModel):
    due_at: AwareDatetime
    note: Text | None = PField(default=None, max_length=5000)


class FollowUpResultIn(BaseModel):
    result: Text = PField(min_length=1, max_length=20000)


class EvaluationIn(BaseModel):
    scorer_kind: ScorerKind
    scorer_name: Text = PField(min_length=1, max_length=64)
    scores: dict[Criterion, Annotated[int, PField(ge=1, le=5)]]
    comment: Text | None = PField(default=None, max_length=5000)


class DemonstrationIn(BaseModel):
    demonstration: bool
