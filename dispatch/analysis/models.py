"""Live hotspots (研判热点): clusters of similar cases flagged to operators and offered as consultation topics."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from pydantic import Field as PField
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow
from dispatch.validation import Text

HotspotStatus = Literal["open", "dismissed", "topic", "merged"]


class Hotspot(SQLModel, table=True):
    """A flagged cluster. Its identity is stable while cases join it: a newly detected group is matched to an
    open hotspot by the cases they share, so the same cluster is flagged once and later only grows."""

    __tablename__ = "hotspot"

    id: int | None = Field(default=None, primary_key=True)
    key: str = Field(max_length=64, unique=True, index=True)  # "{place code}:{first case id}", fixed when flagged
    status: str = Field(default="open", max_length=12, index=True)  # open | dismissed | topic | merged
    town_code: str | None = Field(default=None, foreign_key="region.code", max_length=12, index=True)
    village_code: str | None = Field(default=None, foreign_key="region.code", max_length=12)
    place: str | None = Field(default=None, max_length=128)  # the village (or town) name when there is one
    lat: float | None = None  # centroid of the located cases
    lon: float | None = None
    keywords: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    title: str = Field(max_length=200)  # the suggested consultation topic
    size: int = 0
    first_at: datetime = Field(sa_type=UTCDateTime)  # the cases' received_at span
    last_at: datetime = Field(sa_type=UTCDateTime)
    first_flagged_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    last_seen_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)  # last detection that found it
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    topic_id: int | None = Field(default=None, foreign_key="topic.id")
    merged_into_id: int | None = Field(default=None, foreign_key="hotspot.id")
    closed_by: str | None = Field(default=None, max_length=64)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    dismiss_reason: str | None = None


class HotspotCase(SQLModel, table=True):
    """The cases of a hotspot (it only grows)."""

    __tablename__ = "hotspot_case"

    hotspot_id: int = Field(foreign_key="hotspot.id", primary_key=True)
    case_id: int = Field(foreign_key="case.id", primary_key=True, index=True)
    added_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class DismissIn(BaseModel):
    reason: Text = PField(min_length=1, max_length=2000)


class HotspotTopicIn(BaseModel):
    """Optional edits of the suggested topic; the cases are the hotspot's."""

    title: Text | None = PField(default=None, min_length=1, max_length=200)
    description: Text | None = PField(default=None, max_length=20000)
