from __future__ import annotations

from pydantic import BaseModel
from sqlmodel import Field, SQLModel


class Region(SQLModel, table=True):
    """District, town (镇/街道) or village (村/社区) with its official code."""

    __tablename__ = "region"

    code: str = Field(primary_key=True, max_length=12)
    name: str = Field(max_length=64)
    level: str = Field(max_length=8, index=True)  # district | town | village
    parent_code: str | None = Field(default=None, max_length=12, index=True)
    lat: float
    lon: float


class RegionOut(BaseModel):
    code: str
    name: str
    level: str
    parent_code: str | None
    lat: float
    lon: float
