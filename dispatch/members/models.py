from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from pydantic import Field as PField
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow
from dispatch.validation import OptionalPhone, Text

Level = Literal["district", "town", "village"]
CoordSystem = Literal["wgs84", "gcj02", "bd09"]


class Member(SQLModel, table=True):
    """A CPPCC member (委员) or attached worker who takes cases near them."""

    __tablename__ = "member"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=128)
    level: str = Field(max_length=8, index=True)
    sector: str | None = Field(default=None, max_length=64, index=True)
    town_code: str | None = Field(default=None, foreign_key="region.code", max_length=12, index=True)
    village_code: str | None = Field(default=None, foreign_key="region.code", max_length=12)
    point_id: int | None = Field(default=None, foreign_key="point.id")
    categories: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    capacity: int = 3
    on_duty: bool = True
    lat: float | None = None
    lon: float | None = None
    position_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class MemberIn(BaseModel):
    name: Text = PField(min_length=1, max_length=64)
    phone: OptionalPhone = PField(default=None, max_length=32)
    email: Text | None = PField(default=None, max_length=128)
    level: Level
    sector: Text | None = PField(default=None, max_length=64)
    town_code: Text | None = None
    village_code: Text | None = None
    point_id: int | None = None
    categories: list[Text] = PField(default_factory=list)
    capacity: int = PField(default=3, ge=0, le=1000)
    on_duty: bool = True
    lat: float | None = PField(default=None, ge=-90, le=90)
    lon: float | None = PField(default=None, ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"


class MemberPatch(BaseModel):
    name: Text | None = PField(default=None, min_length=1, max_length=64)
    phone: OptionalPhone = PField(default=None, max_length=32)
    email: Text | None = PField(default=None, max_length=128)
    level: Level | None = None
    sector: Text | None = None
    town_code: Text | None = None
    village_code: Text | None = None
    point_id: int | None = None
    categories: list[Text] | None = None
    capacity: int | None = PField(default=None, ge=0, le=1000)
    on_duty: bool | None = None
    lat: float | None = PField(default=None, ge=-90, le=90)
    lon: float | None = PField(default=None, ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"


class PositionIn(BaseModel):
    lat: float = PField(ge=-90, le=90)
    lon: float = PField(ge=-180, le=180)
    coord_system: CoordSystem = "wgs84"


class MemberOut(BaseModel):
    id: int
    name: str
    phone: str | None
    email: str | None
    level: str
    sector: str | None
    town_code: str | None
    village_code: str | None
    point_id: int | None
    categories: list[str]
    capacity: int
    on_duty: bool
    lat: float | None
    lon: float | None
    position_at: datetime | None
    load: int = 0
