from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow


class Offer(SQLModel, table=True):
    """One offer of a case to one member. A case holds at most one open offer."""

    __tablename__ = "offer"

    id: int | None = Field(default=None, primary_key=True)
    case_id: int = Field(foreign_key="case.id", index=True)
    member_id: int = Field(foreign_key="member.id", index=True)
    state: str = Field(default="open", max_length=12, index=True)  # open accepted declined expired withdrawn
    distance_m: float | None = None
    offered_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime)
    responded_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    reason: str | None = None
