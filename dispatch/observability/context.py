"""The request id (and job id) of the work in progress, carried from a request into the jobs it schedules."""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

# what we accept from X-Request-ID: a proxy's or caller's id, bounded and safe to log and echo
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}$")


def valid_request_id(value: str | None) -> str | None:
    """``value`` when it is a usable request id, else None."""
    return value if value and _VALID.fullmatch(value) else None


def new_request_id() -> str:
    return uuid.uuid4().hex


def current_request_id() -> str | None:
    return request_id_var.get()
