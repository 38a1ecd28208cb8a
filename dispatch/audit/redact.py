"""What must never be written down whole: secrets by name, credentials by shape, phone numbers.

One rule for the staff audit log (dispatch/audit/service.py: query strings and JSON bodies) and for every log
line of every process (dispatch/observability/logs.py: access lines, websocket lines, messages, extras,
tracebacks). No imports beyond the standard library: logging is configured before the app is built.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

MASK = "***"

# query parameters and fields named exactly so (case-insensitive) ...
SECRET_NAMES = frozenset({"secret", "token", "access_token", "api_key", "key", "password"})
# ... or with a name containing one of these (new_password, x-api-key, csrf_token, client_secret)
_SECRET_PART = re.compile(r"pass|secret|token|api[_-]?key|authorization|credential", re.IGNORECASE)

# name=value in a query string, a form body, keyword arguments in a repr, a libpq conninfo
_PAIR = re.compile(r"(?<![\w%.-])([\w.%-]+)=('[^']*'|\"[^\"]*\"|[^&\s\"'#;,)<>\]]*)")
# "name": "value" in JSON or a dict's repr
_QUOTED = re.compile(r"([\"'])([\w.-]+)\1(\s*:\s*)([\"'])((?:(?!\4).)*)\4")
_BEARER = re.compile(r"\b(bearer)(\s+)[\w.~+/=-]{8,}", re.IGNORECASE)
_USERINFO = re.compile(r"\b([a-z][a-z0-9+.-]*://[^/\s:@]+):[^@\s/]+@", re.IGNORECASE)
_SIGNED_TOKEN = re.compile(r"\beyJ[\w-]{6,}\.[\w-]{6,}(?:\.[\w-]*)?")  # our session tokens, JWTs
_API_KEY = re.compile(r"\bsl_[\w-]{16,}")  # dispatch.auth.service.create_api_key
# mainland mobiles (optionally +86 / 86), and landlines written with their area code: 0517-86612345
_MOBILE = re.compile(r"(?<![0-9A-Za-z])((?:\+|%2B)?(?:86)?1[3-9]\d)\d{4}(\d{4})(?![0-9A-Za-z])")
_LANDLINE = re.compile(r"(?<![0-9A-Za-z])(0\d{2,3}-)\d{3,4}(\d{4})(?![0-9A-Za-z])")


def is_secret_name(name: str) -> bool:
    """Whether a parameter or field of this name holds a secret."""
    name = unquote_plus(name).strip()
    return name.lower() in SECRET_NAMES or bool(_SECRET_PART.search(name))


def redact_query(query: str) -> str:
    """``a=1&secret=S&token=T`` → ``a=1&secret=***&token=***``."""
    return _PAIR.sub(_pair, query) if "=" in query else query


def _pair(m: re.Match) -> str:
    return f"{m.group(1)}={MASK}" if is_secret_name(m.group(1)) else m.group(0)


def _quoted(m: re.Match) -> str:
    if not is_secret_name(m.group(2)):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}{m.group(1)}{m.group(3)}{m.group(4)}{MASK}{m.group(4)}"


def mask_phones(text: str) -> str:
    """13812345678 → 138****5678 wherever a phone number appears (the form of ``cases.service.mask_phone``)."""
    text = _MOBILE.sub(r"\1****\2", text)
    return _LANDLINE.sub(r"\1****\2", text)


def redact_text(text: str) -> str:
    """Free text (a log message, a traceback, a URL) with its secrets masked and phone numbers shortened."""
    if "=" in text:
        text = _PAIR.sub(_pair, text)
    if ":" in text:
        text = _QUOTED.sub(_quoted, text)
        text = _USERINFO.sub(rf"\1:{MASK}@", text)
    text = _BEARER.sub(rf"\1\2{MASK}", text)
    if "eyJ" in text:
        text = _SIGNED_TOKEN.sub(f"eyJ{MASK}", text)
    if "sl_" in text:
        text = _API_KEY.sub(f"sl_{MASK}", text)
    return mask_phones(text)


def redact(value: Any) -> Any:
    """A structure with every secret-named field replaced by ``***`` (recursively); strings as ``redact_text``."""
    if isinstance(value, dict):
        return {k: MASK if is_secret_name(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, list):
        return [redact(v) for v in value]
    if isinstance(value, tuple):
        return tuple(redact(v) for v in value)
    if isinstance(value, str):
        return redact_text(value)
    return value
