from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import Column, Index, Text
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow

Channel = Literal["sms", "email"]
STATUSES = ("pending", "sending", "sent", "failed")


class Notification(SQLModel, table=True):
    """One message to a resident. Written in the transaction of the change it reports; sent at most once
    once marked ``sent`` (a crash in the middle of a send may repeat that one attempt)."""

    __tablename__ = "notification"
    __table_args__ = (Index("ix_notification_status_next", "status", "next_attempt_at"),)

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    channel: str = Field(max_length=8)  # sms | email
    recipient: str = Field(max_length=128)  # as given by the resident
    template: str = Field(max_length=32)
    subject: str | None = Field(default=None, max_length=256)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=8)  # pending | sending | sent | failed
    attempts: int = 0
    last_error: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    provider_id: str | None = Field(default=None, max_length=256)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    next_attempt_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    claimed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class NotificationOut(BaseModel):
    id: int
    case_id: int
    channel: str
    to: str
    template: str
    subject: str | None
    body: str
    status: str
    attempts: int
    last_error: str | None
    provider_id: str | None
    created_at: datetime
    next_attempt_at: datetime | None
    sent_at: datetime | None
