"""Outbox relay: committed outbox rows → one Redis stream, each row exactly once.

Runs right after a commit that wrote events (best effort) and from the maintenance loop (the safety net),
so a Redis outage only delays events. Rows are relayed in id order under a lock (a PostgreSQL advisory
lock across processes, a thread lock within one); a Lua script makes a retried row a no-op.
"""

from __future__ import annotations

import json
import logging
import threading

from redis.exceptions import RedisError
from sqlalchemy import text, update
from sqlmodel import Session, select

from dispatch.broker import get_broker
from dispatch.config import get_settings
from dispatch.db import after_commit, get_engine, is_postgres, utcnow
from dispatch.events.models import Outbox

log = logging.getLogger(__name__)

_RELAY_LOCK_KEY = 0x5EA1  # advisory lock id for the relay
_DEDUP_TTL_S = 900
_local_lock = threading.Lock()

XADD_ONCE = """
local done = redis.call('GET', KEYS[2])
if done then return done end
local sid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'data', ARGV[1])
redis.call('SET', KEYS[2], sid, 'EX', ARGV[3])
return sid
"""


def request_relay(session: Session) -> None:
    """Relay this session's events once it commits (registered once per transaction)."""
    if not session.info.get("relay_requested"):
        session.info["relay_requested"] = True

        def _go() -> None:
            session.info.pop("relay_requested", None)
            relay_pending(wait=False)

        after_commit(session, _go)


def relay_pending(*, wait: bool = True, limit: int = 500) -> int:
    """Relay unsent rows; returns how many were sent. ``wait=False`` skips when another relay is busy."""
    if not _local_lock.acquire(blocking=wait):
        return 0
    total = 0
    try:
        while True:
            sent = _relay_batch(limit, wait)
            total += sent
            if sent < limit:
                return total
    except RedisError as exc:
        log.warning("outbox relay: redis unavailable (%s); events wait in the outbox", exc)
        return total
    finally:
        _local_lock.release()


def _relay_batch(limit: int, wait: bool) -> int:
    settings = get_settings()
    broker = get_broker()
    with Session(get_engine()) as session:
        if is_postgres(session):
            fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
            got = session.execute(text(f"SELECT {fn}(:k)"), {"k": _RELAY_LOCK_KEY}).scalar()
            if got is False:
                return 0
        rows = session.exec(
            select(Outbox.id, Outbox.payload).where(Outbox.sent_at.is_(None)).order_by(Outbox.id).limit(limit)
        ).all()
        if not rows:
            return 0
        script = broker.r.register_script(XADD_ONCE)
        pipe = broker.r.pipeline(transaction=False)
        for row_id, payload in rows:
            script(
                keys=[settings.stream_key, f"{settings.stream_key}:relayed:{row_id}"],
                args=[json.dumps(payload, ensure_ascii=False), settings.stream_maxlen, _DEDUP_TTL_S],
                client=pipe,
            )
        stream_ids = pipe.execute()
        now = utcnow()
        for (row_id, _), sid in zip(rows, stream_ids, strict=True):
            session.execute(update(Outbox).where(Outbox.id == row_id).values(sent_at=now, stream_id=sid))
        session.commit()
        return len(rows)
