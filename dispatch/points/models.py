from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow
from dispatch.validation import Text

PointKind = Literal["consultation_room", "member_studio", "opinion_point", "other"]


class Point(SQLModel, table=True):
    """A physical place where residents meet the system (点位); each carries a QR poster."""

    __tablename__ = "point"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    kind: str = Field(max_length=32)
    village_code: str = Field(foreign_key="region.code", max_length=12, index=True)
    town_code: str = Field(foreign_key="region.code", max_length=12, index=True)
    lat: float
    lon: float
    qr_token: str = Field(max_length=64, unique=True, index=True)
    active: bool = True
    demonstration: bool = False  # 示范点: at least four consultations a year
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class PointIn(BaseModel):
    name: Text = PField(min_length=1, max_length=128)
    kind: PointKind = "opinion_point"
    village_code: Text
    lat: float | None = PField(default=None, ge=-90, le=90)
    lon: float | None = PField(default=None, ge=-180, le=180)
    coord_system: Literal["wgs84", "gcj02", "bd09"] = "wgs84"


class PointOut(BaseModel):
    id: int
    name: str
    kind: str
    village_code: str
    town_code: str
    lat: float
    lon: float
    qr_token: str
    qr_url: str
    active: bool
    demonstration: bool = False
    created_at: datetime
