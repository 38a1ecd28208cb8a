"""What counts as valid input text and a plausible client time: the rules every door applies, in one place.

``Text`` is the type of every text field of a request model (and of every text form field): it refuses C0 and
C1 control characters other than tab, line feed and carriage return, and lone surrogates — PostgreSQL cannot
store a NUL, no terminal or spreadsheet shows the others honestly, and SQLite would keep them all. The
pydantic error type ``invalid_text`` is an error code of its own (``dispatch.errors.invalid_fields``).
Input that is parsed rather than validated (mail) is cleaned with ``clean_text`` instead.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator
from pydantic_core import PydanticCustomError

from dispatch.errors import AppError

_FORBIDDEN = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]")

EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)  # no work order, mail or call of this system is older


# one-line values from spreadsheets (names, phones, codes): also no tab or line break, and no bidirectional
# override or isolate (a name that reads backwards in a list)
_LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\ud800-\udfff]")


def forbidden_in_line(value: str) -> str | None:
    """The first character refused in a one-line value (stricter than ``Text``), or None."""
    found = _LINE_FORBIDDEN.search(value)
    return found.group() if found else None


def forbidden_char(value: str) -> str | None:
    """The first character ``Text`` refuses in ``value``, or None."""
    found = _FORBIDDEN.search(value)
    return found.group() if found else None


def char_name(char: str) -> str:
    return f"U+{ord(char):04X}"


def check_text(value: str) -> str:
    bad = forbidden_char(value)
    if bad is not None:
        raise PydanticCustomError(
            "invalid_text", "text must not contain the control character {char}", {"char": char_name(bad)}
        )
    return value


Text = Annotated[str, AfterValidator(check_text)]


def clean_text(value: str) -> str:
    """``value`` without the characters ``Text`` refuses (for text parsed from a mail, not typed at a door)."""
    return _FORBIDDEN.sub("", value) if _FORBIDDEN.search(value) else value


def invalid_text(field: str, char: str) -> AppError:
    """422 ``invalid_text`` for a field checked outside a request model, in the shape of a model's error."""
    problem = f"text must not contain the control character {char_name(char)}"
    return AppError(
        "invalid_text",
        f"文本含有不允许的控制字符：{field}",
        f"Text contains a control character that is not allowed: {field}",
        status=422,
        fields=[{"field": field, "problem": problem, "type": "invalid_text"}],
    )


def refuse_bad_text(values: dict[str, str | None]) -> None:
    """422 ``invalid_text`` naming the first field of ``values`` that holds a character ``Text`` refuses."""
    for field, value in values.items():
        if value:
            bad = forbidden_char(value)
            if bad is not None:
                raise invalid_text(field, bad)


def plausible_time(when: datetime, max_ahead_s: float) -> bool:
    """Whether an aware client time is after ``EARLIEST`` and at most ``max_ahead_s`` seconds in the future."""
    try:
        return EARLIEST <= when <= datetime.now(UTC) + timedelta(seconds=max_ahead_s)
    except (OverflowError, ValueError):  # an offset that pushes year 1 or 9999 out of range
        return False
