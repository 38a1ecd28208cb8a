"""Every table, imported in one place for Alembic and for tests."""

from dispatch.auth.models import ApiKey, User
from dispatch.cases.models import Attachment, Case, CaseEvent, TrackingCounter
from dispatch.departments.models import Department
from dispatch.dispatching.models import Offer
from dispatch.events.models import Outbox
from dispatch.intake.models import Mailbox
from dispatch.members.models import Member
from dispatch.points.models import Point
from dispatch.regions.models import Region

__all__ = [
    "ApiKey",
    "Attachment",
    "Case",
    "CaseEvent",
    "Department",
    "Mailbox",
    "Member",
    "Offer",
    "Outbox",
    "Point",
    "Region",
    "TrackingCounter",
    "User",
]
