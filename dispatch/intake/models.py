from __future__ import annotations

from sqlmodel import Field, SQLModel


class Mailbox(SQLModel, table=True):
    """A sector mailbox (界别信箱) or a member mailbox (委员信箱), by its e-mail address."""

    __tablename__ = "mailbox"

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(max_length=128, unique=True, index=True)
    kind: str = Field(max_length=8)  # sector | member
    sector: str | None = Field(default=None, max_length=64)
    member_id: int | None = Field(default=None, foreign_key="member.id")
