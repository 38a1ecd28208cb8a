from __future__ import annotations

from datetime import datetime

from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow


class QrToken(SQLModel, table=True):
    """Every QR token ever issued. A point's current token is also ``point.qr_token``; a rotated one stays here
    with ``replaced_at``/``replaced_by`` so its old posters can say where to go instead of "unknown code"."""

    __tablename__ = "qr_token"

    id: int | None = Field(default=None, primary_key=True)
    token: str = Field(max_length=64, unique=True, index=True)
    kind: str = Field(max_length=8)  # point | member
    target_id: int = Field(index=True)
    issued_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    replaced_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    replaced_by: str | None = Field(default=None, max_length=64)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
