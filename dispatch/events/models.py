from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, text
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow


class Outbox(SQLModel, table=True):
    """Transactional outbox: written with the change it describes, relayed to the Redis stream later."""

    __tablename__ = "outbox"
    __table_args__ = (
        # the relay's "next unsent rows, in id order" (migration 0012): sent rows leave it
        Index("ix_outbox_unsent", "id", postgresql_where=text("sent_at IS NULL"), sqlite_where=text("sent_at IS NULL")),
    )

    id: int | None = Field(default=None, primary_key=True)
    type: str = Field(max_length=32)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    sent_at: datetime | None = Field(default=None, sa_type=UTCDateTime, index=True)
    stream_id: str | None = Field(default=None, max_length=32)
