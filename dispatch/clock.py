"""The one clock of the rules that depend on "now": the escalation ladder, the callback rules, the sends of the
replies. Wall time, UTC-aware (``db.utcnow``), and ``monotonic`` for how long something took. Timestamps that
merely record when a row was written use ``db.utcnow`` directly.

Tests move this clock, and only this one, with ``tests/helpers.py``'s ``freeze_clock``.
"""

from __future__ import annotations

import time
from datetime import datetime

from dispatch.db import utcnow


def now() -> datetime:
    return utcnow()


def monotonic() -> float:
    return time.monotonic()
