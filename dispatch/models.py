"""Every table, imported in one place for Alembic and for tests."""

from dispatch.analysis.models import Hotspot, HotspotCase
from dispatch.audit.models import StaffAudit
from dispatch.auth.models import ApiKey, User
from dispatch.callbacks.models import CallbackTask
from dispatch.cases.models import Attachment, Case, CaseEvent, ExtensionRequest, TrackingCounter
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
from dispatch.deadlines.models import CalendarDay, CaseDeadline, DeadlinePolicy, LadderStep
from dispatch.departments.models import Department
from dispatch.dispatching.models import Offer
from dispatch.events.models import Outbox
from dispatch.intake.models import Mailbox
from dispatch.members.models import Member
from dispatch.notifications.models import Notification
from dispatch.points.models import Point
from dispatch.qrcodes.models import QrToken
from dispatch.regions.models import Region
from dispatch.reports.models import WeeklyReport

__all__ = [
    "ApiKey",
    "Attachment",
    "Attendance",
    "CalendarDay",
    "CallbackTask",
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
    "Hotspot",
    "HotspotCase",
    "LadderStep",
    "LedgerEntry",
    "Mailbox",
    "Meeting",
    "Member",
    "Notification",
    "Offer",
    "Outbox",
    "Outcome",
    "Participant",
    "Point",
    "QrToken",
    "Region",
    "StaffAudit",
    "Topic",
    "TopicCase",
    "TopicEvent",
    "TrackingCounter",
    "User",
    "WeeklyReport",
]
