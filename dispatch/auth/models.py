from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel
from sqlmodel import Field, SQLModel

from dispatch.db import UTCDateTime, utcnow
from dispatch.validation import Text

SESSION_COOKIE = "sl_session"  # the staff's signed-in session (HttpOnly)

Role = Literal["admin", "operator", "supervisor", "member"]
ROLES = ("admin", "operator", "supervisor", "member")


class User(SQLModel, table=True):
    __tablename__ = "user_account"

    id: int | None = Field(default=None, primary_key=True)
    username: str = Field(max_length=64, unique=True, index=True)
    password_hash: str = Field(max_length=255)
    role: str = Field(max_length=16)
    member_id: int | None = Field(default=None, foreign_key="member.id")
    active: bool = True
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)


class ApiKey(SQLModel, table=True):
    """A key for a machine caller: the 12345 platform, a mail gateway, an Open311 app."""

    __tablename__ = "api_key"

    id: int | None = Field(default=None, primary_key=True)
    name: str = Field(max_length=128)
    key_hash: str = Field(max_length=64, unique=True, index=True)
    prefix: str = Field(max_length=16)
    scopes: str = Field(default="hotline,mail,open311", max_length=128)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)


class AuthSession(SQLModel, table=True):
    """One sign-in: the token carries its random id (stored hashed); revoking the row ends the token everywhere."""

    __tablename__ = "auth_session"

    id: str = Field(primary_key=True, max_length=64)  # sha256 hex of the token's ``sid``
    user_id: int = Field(foreign_key="user_account.id", index=True)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime)
    expires_at: datetime = Field(sa_type=UTCDateTime, index=True)
    revoked_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    revoked_reason: str | None = Field(default=None, max_length=32)


class TokenIn(BaseModel):
    username: Text
    password: str


class TokenOut(BaseModel):
    access_token: str
    token_type: str = "bearer"
    role: str
    expires_at: datetime
