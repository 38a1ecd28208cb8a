"""The one local time zone: China keeps a single one, Beijing time (Asia/Shanghai), so every county shows it.

Times are stored UTC-aware; pages, texts, tracking numbers, days of reports and working-day calendars read them
in ``SHANGHAI``. ``TZ_NAME`` is the same zone for SQL (``timezone(TZ_NAME, column)`` on PostgreSQL).
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

TZ_NAME = "Asia/Shanghai"
SHANGHAI = ZoneInfo(TZ_NAME)


def day_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in Beijing time, as aware datetimes: the days of a report."""
    return (datetime.combine(start, time(), SHANGHAI), datetime.combine(end + timedelta(days=1), time(), SHANGHAI))
