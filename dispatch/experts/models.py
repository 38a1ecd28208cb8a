"""The think tank (协商智库): experts drawn at random into consultations, by field.

Yandu's think tank gathers policy experts, departments' specialists, lawyers, seasoned people of the trades and
local notables (政策专家、部门业务骨干、法律人士、行业资深人士、乡贤能人); ``kind`` says which group an expert is
of, ``fields`` what they may be drawn for, ``town_code`` where they live or work (local notables: their town).
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from pydantic import Field as PField
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow
from dispatch.validation import Text

ExpertKind = Literal["policy", "department", "law", "trade", "notable"]
KINDS: tuple[str, ...] = ("policy", "department", "law", "trade", "notable")
KIND_ZH = {
    "policy": "政策专家",
    "department": "部门业务骨干",
    "law": "法律人士",
    "trade": "行业人士",
    "notable": "乡贤",
}
KIND_EN = {
    "policy": "Policy expert",
    "department": "Department specialist",
    "law": "Legal professional",
    "trade": "Trade expert",
    "notable": "Local notable",
}
MAX_FIELDS = 20


class Expert(SQLModel, table=True):
    """A member of the think tank (协商智库)."""

    __tablename__ = "expert"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=64)
    phone: str | None = Field(default=None, max_length=32)
    organisation: str | None = Field(default=None, max_length=128)
    title: str | None = Field(default=None, max_length=64)  # 职务/职称
    kind: str = Field(default="policy", max_length=16, index=True)
    town_code: str | None = Field(default=None, foreign_key="region.code", max_length=12, index=True)
    fields: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    active: bool = True
    conflict_towns: list[str] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    conflict_topics: list[int] = Field(default_factory=list, sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ExpertIn(BaseModel):
    name: Text = PField(min_length=1, max_length=64)
    phone: Text | None = PField(default=None, max_length=32)
    organisation: Text | None = PField(default=None, max_length=128)
    title: Text | None = PField(default=None, max_length=64)
    kind: ExpertKind = "policy"
    town_code: Text | None = PField(default=None, max_length=12)
    fields: list[Text] = PField(default_factory=list, max_length=MAX_FIELDS)
    active: bool = True
    conflict_towns: list[Text] = PField(default_factory=list, max_length=300)
    conflict_topics: list[int] = PField(default_factory=list, max_length=1000)


class ExpertPatch(BaseModel):
    name: Text | None = PField(default=None, min_length=1, max_length=64)
    phone: Text | None = PField(default=None, max_length=32)
    organisation: Text | None = PField(default=None, max_length=128)
    title: Text | None = PField(default=None, max_length=64)
    kind: ExpertKind | None = None
    town_code: Text | None = PField(default=None, max_length=12)
    fields: list[Text] | None = PField(default=None, max_length=MAX_FIELDS)
    active: bool | None = None
    conflict_towns: list[Text] | None = PField(default=None, max_length=300)
    conflict_topics: list[int] | None = PField(default=None, max_length=1000)
