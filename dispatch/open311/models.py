"""Schemas of the admin's key API; the Open311 bodies themselves are plain dicts (see ``render``)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel
from pydantic import Field as PField

from dispatch.validation import Text

UPDATES_ANY_SCOPE = "open311_updates_any"  # servicerequestupdates on any public request, not only the key's own
KEY_SCOPES = ("hotline", "mail", "open311", UPDATES_ANY_SCOPE)


class ApiKeyIn(BaseModel):
    name: Text = PField(min_length=1, max_length=128)
    scopes: list[Text] = PField(default_factory=lambda: ["open311"], description="subset of " + ", ".join(KEY_SCOPES))


class ApiKeyOut(BaseModel):
    id: int
    name: str
    prefix: str
    scopes: list[str]
    created_at: datetime
    revoked_at: datetime | None
    active: bool


class ApiKeyCreated(ApiKeyOut):
    api_key: str  # shown once; only its hash is stored
