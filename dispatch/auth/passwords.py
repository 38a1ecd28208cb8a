"""The password rule (NIST SP 800-63B §3.1.1.2): length and a blocklist, no composition rules.

At least 8 characters, at most 256 (spaces and any Unicode allowed); refused when the value is all
whitespace, commonly used or compromised (the lists in ``data/``, also after stripping a few leading or
trailing digits and symbols and undoing l33t substitutions), made of repeated or sequential characters
(``aaaaaaaa``, ``12345678``, ``abcabcabc``), or when it contains the username or the service's name.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from pathlib import Path

from dispatch.errors import AppError

MIN_LENGTH = 8
MAX_LENGTH = 256
DATA = Path(__file__).parent / "data"
LISTS = ("common-passwords.txt", "common-passwords-zh.txt")
CONTEXT_WORDS = ("shangliang", "商量", "yandu", "盐都")  # the service and the deployment's own name
_EDGES = re.compile(r"^[\d\W_]{1,6}|[\d\W_]{1,6}$")
_LEET = str.maketrans({"@": "a", "4": "a", "0": "o", "1": "i", "!": "i", "3": "e", "$": "s", "5": "s", "7": "t"})
_LEET_L = str.maketrans({"1": "l", "|": "l"})
_NOT_WORD = re.compile(r"[\W_]+")

REASONS = {
    "too_short": (f"密码至少 {MIN_LENGTH} 个字符", f"The password needs at least {MIN_LENGTH} characters"),
    "too_long": (f"密码最多 {MAX_LENGTH} 个字符", f"The password may have at most {MAX_LENGTH} characters"),
    "whitespace": ("密码不能全是空格", "The password cannot be only spaces"),
    "common": ("这是常见密码，容易被猜中，请换一个", "This is a commonly used password, easy to guess; choose another"),
    "repetitive": ("密码不能是重复的字符", "The password cannot be repeated characters"),
    "sequential": ("密码不能是连续的字符（如 12345678、abcdefgh）", "The password cannot be a sequence like 12345678"),
    "contains_username": ("密码不能包含用户名", "The password cannot contain the username"),
    "contains_service_name": ("密码不能包含系统或地名", "The password cannot contain the service's or place's name"),
}


@lru_cache(maxsize=1)
def common_passwords() -> frozenset[str]:
    """The blocklist, read on first use (only processes that set passwords pay for it)."""
    words: set[str] = set()
    for name in LISTS:
        for line in (DATA / name).read_text(encoding="utf-8").splitlines():
            if line and not line.startswith("#"):
                words.add(_norm(line.strip()))
    return frozenset(words)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _weak_reason(password: str, username: str) -> str | None:
    if len(password) < MIN_LENGTH:
        return "too_short"
    if len(password) > MAX_LENGTH:
        return "too_long"
    if not password.strip():
        return "whitespace"
    pw = _norm(password)
    if _is_common(pw):
        return "common"
    if len(set(pw)) < 4 or _period(pw) <= 4:
        return "repetitive"
    if len(pw) - _longest_run(pw) < 3:
        return "sequential"
    name = _NOT_WORD.sub("", _norm(username))
    if len(name) >= 3 and (name in _NOT_WORD.sub("", pw) or name[::-1] in _NOT_WORD.sub("", pw)):
        return "contains_username"
    if any(word in pw for word in CONTEXT_WORDS):
        return "contains_service_name"
    return None


def _is_common(pw: str) -> bool:
    """In a list, as typed or once its decorations are gone: digits and symbols at either end, separators,
    one extra character at either end, l33t substitutions (``P@ssw0rd!`` is ``password``)."""
    words = common_passwords()
    base = {pw, _EDGES.sub("", pw), _NOT_WORD.sub("", pw), pw[1:], pw[:-1]}
    candidates = base | {c.translate(_LEET) for c in base} | {c.translate(_LEET_L).translate(_LEET) for c in base}
    return any(c in words for c in candidates if len(c) >= 6)


def _period(pw: str) -> int:
    """The length of the shortest unit the password repeats (its own length when it repeats none)."""
    for p in range(1, len(pw) // 2 + 1):
        if all(pw[i] == pw[i - p] for i in range(p, len(pw))):
            return p
    return len(pw)


def _longest_run(pw: str) -> int:
    """The longest stretch whose characters step by one code point (up or down): ``1234``, ``dcba``."""
    best = run = 1
    step = None
    for a, b in zip(pw, pw[1:], strict=False):
        d = ord(b) - ord(a)
        if d in (1, -1) and (step is None or d == step):
            run, step = run + 1, d
        elif d in (1, -1):
            run, step = 2, d
        else:
            run, step = 1, None
        best = max(best, run)
    return best


def check_password(password: str, username: str = "") -> None:
    """Refuse a weak new password: 422 ``weak_password`` with ``details.reason`` (the one rule, every door)."""
    reason = _weak_reason(password, username)
    if reason is not None:
        zh, en = REASONS[reason]
        raise AppError("weak_password", zh, en, status=422, reason=reason, min_length=MIN_LENGTH, max_length=MAX_LENGTH)
