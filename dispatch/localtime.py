"""The one local time zone: China keeps a single one, Beijing time (Asia/Shanghai), so every county shows it.

Times are stored UTC-aware; pages, texts, tracking numbers, days of reports and working-day calendars read them
in ``SHANGHAI``. ``TZ_NAME`` is the same zone for SQL (``timezone(TZ_NAME, column)`` on PostgreSQL).
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

TZ_NAME = "Asia/Shanghai"
SHANGHAI = ZoneInfo(TZ_NAME)
