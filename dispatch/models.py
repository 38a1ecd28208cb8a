"""Every table, imported in one place for Alembic and for tests."""

from dispatch.auth.models import ApiKey, User
from dispatch.cases.models import Attachment, Case, CaseEvent, TrackingCounter
from dispatch.consultations.models import (
    Attendance,
    Evaluation,
    Expert,
    ExpertDraw,
    FollowUp,
    LedgerEntry,
    Meeting,
    Outcome,
    Participant,
    Topic,
    TopicCase,
    TopicEvent,
)
from dispatch.deadlines.models import CalendarDay, CaseDeadline, DeadlinePolicy, ExtensionRequest, LadderStep
from dispatch.departments.models import Department
from dispatch.dispatching.models import Offer
from dispatch.events.models import Outbox
from dispatch.intake.models import Mailbox
from dispatch.members.models import Member
from dispatch.points.models import Point
from dispatch.qrcodes.models import QrToken
from dispatch.regions.models import Region
from dispatch.reports.models import WeeklyReport

__all__ = [
    "ApiKey",
    "Attachment",
    "Attendance",
    "CalendarDay",
    "Case",
    "CaseDeadline",
    "CaseEvent",
    "DeadlinePolicy",
    "Department",
    "Evaluation",
    "Expert",
    "ExpertDraw",
    "ExtensionRequest",
    "FollowUp",
    "LadderStep",
    "LedgerEntry",
    "Mailbox",
    "Meeting",
    "Member",
    "Offer",
    "Outbox",
    "Outcome",
    "Participant",
    "Point",
    "QrToken",
    "Region",
    "Topic",
    "TopicCase",
    "TopicEvent",
    "TrackingCounter",
    "User",
    "WeeklyReport",
]
