"""Rate limits for the public doors, in Redis: one rule per name, counted per client address AND per token.

Algorithm: a fixed window per counter that starts at the counter's first hit (``INCR`` then ``PEXPIRE`` when
new, in one Lua script so every counter of a rule is checked and counted atomically). A caller over the limit
gets 429 with ``Retry-After`` = the time left in the window. Refused requests count too (hammering does not
reset the window, but cannot extend it either).

Rules (``DEFAULT_RULES``, overridable with ``SHANGLIANG_RATE_LIMITS``, a JSON object such as
``{"qr": {"ip": "10/60", "token": "30/60"}}``; a limit is ``COUNT/SECONDS`` or ``off``):

- ``qr``: resident reports from a point's QR code (API and the plain form); token: the point's QR token.
- ``track``: tracking lookups (API and the ``/t`` page); token: the tracking number.
- ``rating``: ratings; token: the tracking number.
- ``open311``: Open311 POST requests; token: the API key.
- ``login``: failed sign-ins only (``peek``/``hit`` around the password check); token: name + address.

The client address is ``dispatch.clientaddr.client_ip``'s: the connection's peer, or what ``X-Forwarded-For``
says behind ``SHANGLIANG_TRUSTED_PROXIES`` only.
With Redis down nothing is limited (a warning is logged): a limiter must never turn into an outage.
"""

from __future__ import annotations

import hashlib
import logging
import math
from collections.abc import Callable
from dataclasses import dataclass

from fastapi import Request
from redis.exceptions import RedisError
from starlette.concurrency import run_in_threadpool

from dispatch.auth.models import SESSION_COOKIE
from dispatch.broker import get_broker
from dispatch.clientaddr import client_ip
from dispatch.config import get_settings
from dispatch.errors import AppError

log = logging.getLogger(__name__)

DEFAULT_RULES: dict[str, dict[str, str]] = {
    "qr": {"ip": "10/60", "token": "30/60"},
    "track": {"ip": "60/60", "token": "60/60"},
    "rating": {"ip": "30/60", "token": "10/60"},
    "open311": {"ip": "120/60", "token": "60/60"},
    "login": {"ip": "50/900", "token": "5/900"},
}

_SCRIPT = """
local count = ARGV[#ARGV] == '1'
local wait = 0
for i, key in ipairs(KEYS) do
  local window = tonumber(ARGV[2 * i - 1])
  local limit = tonumber(ARGV[2 * i])
  local n
  if count then
    n = redis.call('INCR', key)
    if n == 1 or redis.call('PTTL', key) < 0 then redis.call('PEXPIRE', key, window) end
  else
    n = tonumber(redis.call('GET', key) or '0')
  end
  if (count and n > limit) or ((not count) and n >= limit) then
    local ttl = redis.call('PTTL', key)
    if ttl < 0 then ttl = window end
    if ttl > wait then wait = ttl end
  end
end
return wait
"""


@dataclass(frozen=True)
class Limit:
    count: int
    window_s: int


def parse_limit(spec: str) -> Limit | None:
    """``"10/60"`` → 10 per 60 s; ``"off"`` → None."""
    if spec.strip().lower() in ("off", "none", ""):
        return None
    count, _, window = spec.partition("/")
    return Limit(int(count), int(window or 60))


def rule(name: str) -> dict[str, Limit | None]:
    specs = DEFAULT_RULES.get(name, {}) | get_settings().rate_limits.get(name, {})
    return {scope: parse_limit(spec) for scope, spec in specs.items()}


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:24]  # no secrets (keys, sessions) in Redis


def _run(name: str, ip: str, token: str | None, count: bool) -> int:
    """Seconds to wait (0: go ahead); counts this request when ``count``."""
    keys, args = [], []
    for scope, value in (("ip", ip), ("token", token)):
        limit = rule(name).get(scope)
        if limit is None or not value:
            continue
        keys.append(f"sl:rl:{name}:{scope}:{_digest(value)}")
        args += [limit.window_s * 1000, limit.count]
    if not keys:
        return 0

    try:
        wait_ms = int(get_broker().r.eval(_SCRIPT, len(keys), *keys, *args, "1" if count else "0"))
    except RedisError as exc:
        log.warning("rate limit %s not checked, Redis unavailable: %s", name, exc)
        return 0
    return math.ceil(wait_ms / 1000) if wait_ms > 0 else 0


def peek(name: str, ip: str, token: str | None = None) -> int:
    """Seconds until this caller may try again, without counting (for rules that count failures only)."""
    return _run(name, ip, token, count=False)


def hit(name: str, ip: str, token: str | None = None) -> int:
    """Count one request; seconds to wait when this one is over a limit (0: allowed)."""
    return _run(name, ip, token, count=True)


def reset(name: str, token: str) -> None:
    """Forget a token's counter (a successful sign-in clears its failures)."""

    try:
        get_broker().r.delete(f"sl:rl:{name}:token:{_digest(token)}")
    except RedisError as exc:
        log.warning("rate limit %s not reset, Redis unavailable: %s", name, exc)


def too_many(name: str, wait: int) -> AppError:
    return AppError(
        "rate_limited",
        f"请求过于频繁，请 {wait} 秒后再试",
        f"Too many requests; try again in {wait} s",
        status=429,
        retry_after_s=wait,
        rule=name,
    )


def check(name: str, request: Request, token: str | None = None) -> None:
    """Count this request under rule ``name``; 429 when the address or the token is over its limit."""
    wait = hit(name, client_ip(request), token)
    if wait:
        raise too_many(name, wait)


async def credential(request: Request) -> str | None:
    """The caller's key or session: X-API-Key, a bearer token, an ``api_key`` parameter, the session cookie."""
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None
    found = request.headers.get("x-api-key") or request.query_params.get("api_key")
    ctype = request.headers.get("content-type", "")
    if not found and ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        value = (await request.form()).get("api_key")  # FastAPI has parsed the form already: a cached read
        found = value if isinstance(value, str) else None

    return found or request.cookies.get(SESSION_COOKIE)


def rate_limit(name: str, token: str | Callable[[Request], str | None] | None = None):
    """A FastAPI dependency: rule ``name`` per address and per token.

    ``token``: a path parameter's name, a function of the request, or None for the caller's credential.
    """

    async def _limit(request: Request) -> None:
        if isinstance(token, str):
            value = request.path_params.get(token)
        elif token is not None:
            value = token(request)
        else:
            value = await credential(request)
        await run_in_threadpool(check, name, request, value)

    return _limit
