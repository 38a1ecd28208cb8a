"""The working-day calendar of mainland China: weekends, public holidays and make-up working days (调休).

Rule of ``add_working_days(start, n)``: in Asia/Shanghai, count the working days strictly after the start's date;
the deadline is the same time of day on the n-th of them. A start on a day off is therefore counted from the next
working day (Saturday 10:00 + 1 working day = Monday 10:00), and a start on a working day does not count that day
(Wednesday 16:00 + 1 = Thursday 16:00).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from dispatch.localtime import SHANGHAI

CSV_FILE = Path(__file__).parent / "data" / "holidays.csv"
KINDS = ("holiday", "workday")


def read_csv(path: Path = CSV_FILE) -> list[dict]:
    """The rows of the shipped calendar: ``{"day": date, "kind": "holiday"|"workday", "name": str}``."""
    with path.open(encoding="utf-8") as fh:
        lines = [line for line in fh if line.strip() and not line.lstrip().startswith("#")]
    rows = []
    for row in csv.DictReader(lines):
        kind = row["kind"].strip()
        if kind not in KINDS:
            raise ValueError(f"{path}: unknown kind {kind!r}")
        rows.append({"day": date.fromisoformat(row["date"].strip()), "kind": kind, "name": row["name"].strip()})
    return rows


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)  # make-up working days on a weekend

    @classmethod
    def from_rows(cls, rows: Iterable[dict]) -> Calendar:
        holidays: set[date] = set()
        workdays: set[date] = set()
        for r in rows:
            (holidays if r["kind"] == "holiday" else workdays).add(r["day"])
        return cls(frozenset(holidays), frozenset(workdays))

    @property
    def years(self) -> set[int]:
        return {d.year for d in self.holidays | self.workdays}

    def is_working_day(self, day: date) -> bool:
        if day in self.workdays:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: datetime, n: int) -> datetime:
        """``start`` plus ``n`` working days (see the module's rule); aware in, aware UTC out."""
        if start.tzinfo is None:
            raise ValueError("naive datetime given; use timezone-aware datetimes")
        local = start.astimezone(SHANGHAI)
        day, counted = local.date(), 0
        while counted < n:
            day += timedelta(days=1)
            if self.is_working_day(day):
                counted += 1
        return datetime.combine(day, local.time(), SHANGHAI).astimezone(UTC)

    def working_days_between(self, start: datetime, end: datetime) -> int:
        """Working days after ``start``'s date up to and including ``end``'s date (Asia/Shanghai)."""
        a, b = start.astimezone(SHANGHAI).date(), end.astimezone(SHANGHAI).date()
        return sum(self.is_working_day(a + timedelta(days=i)) for i in range(1, (b - a).days + 1))


def shipped() -> Calendar:
    return Calendar.from_rows(read_csv())


def add_working_days(start: datetime, n: int, calendar: Calendar | None = None) -> datetime:
    return (calendar or shipped()).add_working_days(start, n)
