"""What counts as valid input text and a plausible client time: the rules every door applies, in one place.

``Text`` is the type of every text field of a request model (and of every text form field): it refuses C0 and
C1 control characters other than tab, line feed and carriage return, and lone surrogates — PostgreSQL cannot
store a NUL, no terminal or spreadsheet shows the others honestly, and SQLite would keep them all. The
pydantic error type ``invalid_text`` is an error code of its own (``dispatch.errors.invalid_fields``).
Input that is parsed rather than validated (mail) is cleaned with ``clean_text`` instead.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import Annotated

from pydantic import AfterValidator, BeforeValidator
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


# --------------------------------------------------------------------------- Chinese phone numbers

# a mobile number: 1[3-9] and nine more digits, optionally after the country code (+86 / 86)
_MOBILE = re.compile(r"(?:\+?86)?(1[3-9]\d{9})")
# a landline: area code 010 / 02X (three digits) or 0[3-9]XX (four), then a local number of 7-8 digits that does
# not start with 0 or 1
_LANDLINE = re.compile(r"(?P<area>010|02\d|0[3-9]\d\d)(?P<local>[2-9]\d{6,7})")
# an extension: 转123, 分机123, ext123, x123, #123 (or a last group after a dash: 0515-88881234-123)
_EXTENSION = re.compile(r"(?:转|分机|ext\.?|x|#)(\d{1,6})$", re.IGNORECASE)
_PHONE_SEPARATORS = re.compile(r"[\s\u3000()（）]+")
PHONE_RULE_ZH = "手机号须为 1[3-9] 开头的 11 位数字（可带 +86），座机须带区号，如 0515-88881234（可加分机号）"
PHONE_RULE_EN = (
    "a mobile number is 11 digits starting 13-19 (+86 allowed); a landline needs its area code, "
    "e.g. 0515-88881234 (an extension may follow)"
)


def normalise_phone(value: str) -> str | None:
    """A Chinese phone number in one spelling, or None when ``value`` is not one.

    Mobile: ``13800001234`` (a +86 / 86 prefix, spaces and dashes dropped). Landline: ``0515-88881234``, with an
    extension ``0515-88881234-123`` (spaces, brackets around the area code and full-width digits accepted)."""
    text = unicodedata.normalize("NFKC", value).strip()
    text = _PHONE_SEPARATORS.sub("", text)
    mobile = _MOBILE.fullmatch(text.replace("-", ""))
    if mobile:
        return mobile.group(1)
    if text.startswith(("+86", "86")):  # +86-515-88881234: the area code without its leading 0
        text = "0" + text.removeprefix("+").removeprefix("86").lstrip("-")
    ext = _EXTENSION.search(text)
    if ext:
        return _landline(text[: ext.start()].replace("-", ""), ext.group(1))
    head, _, tail = text.rpartition("-")
    if head and re.fullmatch(r"\d{1,6}", tail):  # 0515-88881234-123: the last group is the extension...
        found = _landline(head.replace("-", ""), tail)
        if found:
            return found
    return _landline(text.replace("-", ""), None)  # ...unless the number needs it: 010-6666-7777


def _landline(digits: str, ext: str | None) -> str | None:
    land = _LANDLINE.fullmatch(digits)
    if land is None:
        return None
    out = f"{land['area']}-{land['local']}"
    return f"{out}-{ext}" if ext else out


def check_phone(value: str) -> str:
    """The pydantic rule: a phone number normalised by ``normalise_phone``, else the error type ``invalid_phone``."""
    bad = forbidden_char(value)
    if bad is not None:
        raise PydanticCustomError(
            "invalid_text", "text must not contain the control character {char}", {"char": char_name(bad)}
        )
    phone = normalise_phone(value)
    if phone is None:
        raise PydanticCustomError("invalid_phone", "not a Chinese phone number: " + PHONE_RULE_EN)
    return phone


def _blank_is_none(value: object) -> object:
    return None if isinstance(value, str) and not value.strip() else value


Phone = Annotated[str, AfterValidator(check_phone)]
# an optional phone field: blank means none
OptionalPhone = Annotated[Phone | None, BeforeValidator(_blank_is_none)]


def plausible_time(when: datetime, max_ahead_s: float) -> bool:
    """Whether an aware client time is after ``EARLIEST`` and at most ``max_ahead_s`` seconds in the future."""
    try:
        return EARLIEST <= when <= datetime.now(UTC) + timedelta(seconds=max_ahead_s)
    except (OverflowError, ValueError):  # an offset that pushes year 1 or 9999 out of range
        return False
