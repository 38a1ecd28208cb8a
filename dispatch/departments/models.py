from __future__ import annotations

from pydantic import BaseModel
from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from dispatch.validation import Text


class Department(SQLModel, table=True):
    """A government department (职能部门) that individual claims are forwarded to."""

    __tablename__ = "department"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128, unique=True)
    phone: str | None = Field(default=None, max_length=32)
    email: str | None = Field(default=None, max_length=128)


class DepartmentIn(BaseModel):
    name: Text = PField(min_length=1, max_length=128)
    phone: Text | None = None
    email: Text | None = None


class DepartmentOut(DepartmentIn):
    id: int
