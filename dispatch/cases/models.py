from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel
from pydantic import Field as PField
from pydantic_core import PydanticCustomError
from sqlalchemy import JSON, Column, Index, LargeBinary, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow
from dispatch.validation import Text

Channel = Literal["hotline", "mail", "qr", "phone", "open311"]
Urgency = Literal["normal", "urgent"]
CoordSystem = Literal["wgs84", "gcj02", "bd09"]
Score = Literal["satisfied", "basically_satisfied", "dissatisfied"]

# Request type (诉求类型): the one vocabulary of cases and of the deadline policy's ``kind`` (deadline_policy.kind;
# "" there means any kind). Key → (中文, English). "complex" is Beijing's 复杂诉求 (15 days).
REQUEST_KINDS: dict[str, tuple[str, str]] = {
    "咨询": ("咨询", "enquiry"),
    "求助": ("求助", "request for help"),
    "建议": ("建议", "suggestion"),
    "投诉": ("投诉", "complaint"),
    "举报": ("举报", "report"),
    "complex": ("复杂诉求", "complex request"),
}
if TYPE_CHECKING:  # a Literal built at run time: a type checker sees a str
    RequestKind = str
else:
    RequestKind = Literal[tuple(REQUEST_KINDS)]  # the keys above, for validation
RESIDENT_KINDS = ("咨询", "求助", "建议", "投诉", "举报")  # what the QR form offers

# The open statuses (cases.states.OPEN_STATUSES, which imports this module) as the SQL of a partial index.
OPEN_SQL = "status IN ('new', 'offered', 'escalated', 'assigned', 'in_progress', 'reopened')"


class Case(SQLModel, table=True):
    """One issue raised by a resident (工单). ``status`` is written only by ``cases.states``."""

    __tablename__ = "case"
    __table_args__ = (
        UniqueConstraint("channel", "external_id", name="uq_case_channel_external_id"),
        # reports: the overdue list in due_at order (migration 0011; the statuses are cases.states.OPEN_STATUSES)
        Index("ix_case_open_due", "due_at", postgresql_where=text(OPEN_SQL), sqlite_where=text(OPEN_SQL)),
    )

    id: int | None = Field(default=None, primary_key=True)
    tracking_no: str = Field(max_length=32, unique=True, index=True)
    secret_hash: str = Field(max_length=64)
    channel: str = Field(max_length=16, index=True)
    external_id: str | None = Field(default=None, max_length=128)
    status: str = Field(default="new", max_length=16, index=True)
    category: str | None = Field(default=None, max_length=128, index=True)
    title: str | None = Field(default=None, max_length=256)
    content: str
    urgency: str = Field(default="normal", max_length=8)
    request_kind: str | None = Field(default=None, max_length=16)  # a REQUEST_KINDS key; None = unknown
    confidential: bool = False
    reporter_name: str | None = Field(default=None, max_length=64)
    reporter_phone: str | None = Field(default=None, max_length=32)
    reporter_email: str | None = Field(default=None, max_length=128)
    address: str | None = Field(default=None, max_length=256)
    lat: float | None = None
    lon: float | None = None
    town_code: str | None = Field(default=None, foreign_key="region.code", max_length=12, index=True)
    village_code: str | None = Field(default=None, foreign_key="region.code", max_length=12, index=True)
    point_id: int | None = Field(default=None, foreign_key="point.id")
    mailbox_id: int | None = Field(default=None, foreign_key="mailbox.id")
    offered_to: int | None = Field(default=None, foreign_key="member.id", index=True)
    offer_expires_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    assignee_id: int | None = Field(default=None, foreign_key="member.id", index=True)
    department_id: int | None = Field(default=None, foreign_key="department.id")
    merged_into_id: int | None = Field(default=None, foreign_key="case.id")
    received_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    accepted_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolved_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    resolution: str | None = None
    rating: str | None = Field(default=None, max_length=24)
    rating_comment: str | None = None
    rated_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class CaseEvent(SQLModel, table=True):
    """Append-only audit trail of a case: who did what, from which status to which."""

    __tablename__ = "case_event"
    __table_args__ = (
        # reports: the reopened cases (reopen rate), read once per report (migration 0011)
        Index(
            "ix_case_event_reopened",
            "case_id",
            postgresql_where=text("to_status = 'reopened'"),
            sqlite_where=text("to_status = 'reopened'"),
        ),
    )

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    actor: str = Field(max_length=64)
    action: str = Field(max_length=32)
    from_status: str | None = Field(default=None, max_length=16)
    to_status: str | None = Field(default=None, max_length=16)
    note: str | None = None
    data: dict[str, Any] = Field(default_factory=dict, sa_column=Column(JSON, nullable=False))


class Attachment(SQLModel, table=True):
    __tablename__ = "attachment"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    filename: str = Field(max_length=255)
    content_type: str = Field(max_length=128)
    size: int
    sha256: str = Field(max_length=64)
    data: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class TrackingCounter(SQLModel, table=True):
    """Per-day sequence behind tracking numbers such as YD20261121-0001."""

    __tablename__ = "tracking_counter"

    day: str = Field(primary_key=True, max_length=8)
    last: int = 0


# ---- request and response schemas -------------------------------------------------------------------


class CaseIn(BaseModel):
    """Fields shared by the hotline feed and the operator's phone-call entry."""

    received_at: datetime | None = None
    caller_name: Text | None = PField(default=None, max_length=64)
    caller_phone: Text | None = PField(default=None, max_length=32)
    address: Text | None = PField(default=None, max_length=256)
    lat: float | None = None
    lon: float | None = None
    coord_system: CoordSystem = "wgs84"
    content: Text = PField(min_length=1, max_length=20000)
    category: Text | None = PField(default=None, max_length=128)
    urgency: Urgency = "normal"
    confidential: bool = False
    title: Text | None = PField(default=None, max_length=256)
    request_kind: RequestKind | None = None  # 诉求类型; absent = unknown (the general deadline rule)


def check_external_id(value: str) -> str:
    """The hotline's idempotency key: surrounding blanks dropped, then non-empty, printable, at most 128."""
    value = value.strip()
    if not value or len(value) > 128 or not value.isprintable():
        raise PydanticCustomError(
            "invalid_external_id", "external_id must be non-blank, printable, at most 128 characters"
        )
    return value


ExternalId = Annotated[str, AfterValidator(check_external_id)]


class HotlineIn(CaseIn):
    external_id: ExternalId = PField(json_schema_extra={"minLength": 1, "maxLength": 128})


class IntakeOut(BaseModel):
    id: int
    tracking_no: str
    status: str
    secret: str | None = None


class AttachmentOut(BaseModel):
    id: int
    filename: str
    content_type: str
    size: int
    kind: Literal["image", "file"] = "file"  # image: a re-encoded photo (shown); file: a download only
    url: str


class CaseOut(BaseModel):
    id: int
    tracking_no: str
    channel: str
    external_id: str | None
    status: str
    category: str | None
    title: str | None
    content: str
    urgency: str
    request_kind: str | None = None
    confidential: bool
    reporter_name: str | None
    reporter_phone: str | None
    address: str | None
    lat: float | None
    lon: float | None
    town_code: str | None
    village_code: str | None
    point_id: int | None
    mailbox_id: int | None
    offered_to: int | None
    assignee_id: int | None
    department_id: int | None
    merged_into_id: int | None
    deadlines: dict[str, datetime | None]
    created_at: datetime
    received_at: datetime
    updated_at: datetime
    accepted_at: datetime | None = None  # the member signed (签收); an operator's assignment alone leaves it empty
    resolved_at: datetime | None = None
    closed_at: datetime | None = None
    resolution: str | None
    rating: str | None
    attachments: list[AttachmentOut] = []


class CaseCardOut(BaseModel):
    """What a board card and marker show of a case (``GET /api/cases/cards``); the drawer reads the case whole."""

    id: int
    tracking_no: str
    status: str
    category: str | None
    urgency: str
    address: str | None
    lat: float | None
    lon: float | None
    town_code: str | None
    village_code: str | None
    offered_to: int | None
    assignee_id: int | None
    deadlines: dict[str, datetime | None]
    created_at: datetime
    updated_at: datetime
    accepted_at: datetime | None = None


class CaseEventOut(BaseModel):
    id: int
    case_id: int
    at: datetime
    actor: str
    actor_name: str | None = None  # the user's, member's or key's name; None for resident, system, demo
    action: str
    from_status: str | None
    to_status: str | None
    note: str | None
    data: dict[str, Any]


class ReasonIn(BaseModel):
    reason: Text | None = PField(default=None, max_length=2000)


class NoteIn(BaseModel):
    note: Text = PField(min_length=1, max_length=5000)


class CategoryIn(BaseModel):
    category: Text = PField(min_length=1, max_length=128)


class RequestKindIn(BaseModel):
    request_kind: RequestKind | None  # null: unknown


class AssignIn(BaseModel):
    member_id: int


class ForwardIn(BaseModel):
    department_id: int
    note: Text | None = None


class MergeIn(BaseModel):
    into_id: int


class RatingIn(BaseModel):
    secret: Text
    score: Score
    comment: Text | None = PField(default=None, max_length=2000)


class TrackOut(BaseModel):
    tracking_no: str
    status: str
    category: str | None
    content: str
    created_at: datetime
    resolution: str | None
    rating: str | None
    timeline: list[dict[str, Any]]
    consultation: dict[str, Any] | None = None  # the topic a linked case is part of, with its outcomes
    due_at: datetime | None = None  # moves when an extension is approved


class ExtensionRequest(SQLModel, table=True):
    """延期申请: the assignee asks for a new 办结 date; an operator approves or rejects it."""

    __tablename__ = "extension_request"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    member_id: int = Field(foreign_key="member.id")
    reason: str
    old_due_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    new_due_at: datetime = Field(sa_type=UTCDateTime)
    state: str = Field(default="pending", max_length=10)  # pending | approved | rejected
    requested_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    decided_by: str | None = Field(default=None, max_length=64)
    decided_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    decision_note: str | None = None


class ExtensionIn(BaseModel):
    reason: Text = PField(min_length=1, max_length=2000)
    new_due_at: datetime


class DecisionIn(BaseModel):
    note: Text | None = PField(default=None, max_length=2000)


class ExtensionOut(BaseModel):
    id: int
    case_id: int
    member_id: int
    reason: str
    old_due_at: datetime | None
    new_due_at: datetime
    state: str
    requested_at: datetime
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str | None
