from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import Field as PField
from sqlmodel import Field, SQLModel

from dispatch.cases.models import HotlineIn
from dispatch.db import UTCDateTime, utcnow


class Mailbox(SQLModel, table=True):
    """A sector mailbox (界别信箱) or a member mailbox (委员信箱), by its e-mail address."""

    __tablename__ = "mailbox"

    id: int | None = Field(default=None, primary_key=True)
    address: str = Field(max_length=128, unique=True, index=True)
    kind: str = Field(max_length=8)  # sector | member
    sector: str | None = Field(default=None, max_length=64)
    member_id: int | None = Field(default=None, foreign_key="member.id")


class HotlineOrder(SQLModel, table=True):
    """The newest revision of a 12345 work order applied to its case, so that a late, older revision of the
    feed never overwrites a newer one. Only work orders that came with a revision or a closing have a row."""

    __tablename__ = "hotline_order"

    case_id: int = Field(primary_key=True, foreign_key="case.id")
    version: int = 0
    platform_status: str = Field(default="open", max_length=16)  # open | closed
    updated_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class HotlineFeedIn(HotlineIn):
    """A work order from the feed: a full snapshot of it, optionally with the platform's revision number.

    ``version`` increases with every revision of the same ``external_id`` (absent: 0, the first); a revision
    not newer than the one applied changes nothing. ``platform_status: "closed"`` means the platform closed or
    withdrew the work order.
    """

    version: int = PField(default=0, ge=0, le=2**31 - 1)
    platform_status: Literal["open", "closed"] = "open"
