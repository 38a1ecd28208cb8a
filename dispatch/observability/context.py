"""The request id (and job id) of the work in progress, carried from a request into the jobs it schedules."""

from __future__ import annotations

import itertools
import os
import re
from contextvars import ContextVar

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
job_id_var: ContextVar[str | None] = ContextVar("job_id", default=None)

# what we accept from X-Request-ID: a proxy's or caller's id, bounded and safe to log and echo
_VALID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@+=/-]{0,127}$")


def valid_request_id(value: str | None) -> str | None:
    """``value`` when it is a usable request id, else None."""
    return value if value and _VALID.fullmatch(value) else None


class _Ids:
    """Request ids: a random prefix per process and a counter, as unique as uuid4 across processes and without
    a getrandom call per request (which gives up the GIL, and a busy server waits to get it back)."""

    def __init__(self) -> None:
        self.prefix = os.urandom(8).hex()
        self.counter = itertools.count(1)

    def next(self) -> str:
        return f"{self.prefix}{next(self.counter):016x}"


_ids = _Ids()
os.register_at_fork(after_in_child=lambda: globals().update(_ids=_Ids()))  # uvicorn workers, RQ work horses


def new_request_id() -> str:
    return _ids.next()


def current_request_id() -> str | None:
    return request_id_var.get()
