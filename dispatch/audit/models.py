from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow


class StaffAudit(SQLModel, table=True):
    """One staff request: who, what, on which target, with which outcome. Never a password or token."""

    __tablename__ = "staff_audit"

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, index=True)
    actor_kind: str = Field(max_length=16)  # user | apikey
    actor_id: int = Field(index=True)
    actor_name: str = Field(default="", max_length=128)
    actor_role: str = Field(max_length=16, index=True)  # admin | operator | supervisor | member | machine
    method: str = Field(max_length=8)
    path: str = Field(max_length=512)
    route: str | None = Field(default=None, max_length=128)
    target_type: str | None = Field(default=None, max_length=64)
    target_id: str | None = Field(default=None, max_length=128)
    status: int = Field(index=True)
    client_ip: str = Field(default="", max_length=64)
    request_id: str | None = Field(default=None, max_length=128)
    summary: str = Field(default="", max_length=1000)
    body_sha256: str | None = Field(default=None, max_length=64)


class AuditOut(BaseModel):
    id: int
    at: datetime
    actor_kind: str
    actor_id: int
    actor_name: str
    actor_role: str
    method: str
    path: str
    route: str | None
    target_type: str | None
    target_id: str | None
    status: int
    client_ip: str
    request_id: str | None
    summary: str
    body_sha256: str | None


class AuditPage(BaseModel):
    items: list[AuditOut]
    total: int
    page: int
    page_size: int
