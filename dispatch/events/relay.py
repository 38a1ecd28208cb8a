"""Outbox relay: committed outbox rows → one Redis stream, each row exactly once.

Runs right after a commit that wrote events (best effort) and from the maintenance loop (the safety net),
so a Redis outage only delays events. Rows are relayed in id order under a lock (a PostgreSQL advisory
lock across processes, a thread lock within one); a Lua script makes a retried row a no-op.

In a server process (``start_background``, called when the hub starts) a commit only wakes one relay
thread, which sends whatever was committed since its last pass in one batch: the request does not wait for
the relay, and many commits share one relay transaction. Elsewhere (CLI, RQ jobs) the committing thread
relays itself.

A Redis that restarted without its data (no persistence, or a failover to an empty replica) lost the
stream, including events relayed just before it went down that no socket had read yet. The relay notices
(its marker key is gone) and relays the rows sent in the last ``RESEND_AFTER_RESET_S`` seconds again, so
sockets connected after the restart miss nothing; a board may see such an event twice.
"""

from __future__ import annotations

import logging
import os
import threading
from datetime import timedelta

from redis.exceptions import RedisError
from sqlalchemy import Text, bindparam, cast, text, update
from sqlmodel import Session, col, select

from dispatch.broker import get_broker
from dispatch.config import get_settings
from dispatch.db import after_commit, get_engine, is_postgres, utcnow
from dispatch.errors import brief, database_unavailable
from dispatch.events.models import Outbox

log = logging.getLogger(__name__)

_RELAY_LOCK_KEY = 0x5EA1  # advisory lock id for the relay
RELAYED_KEEP = 20_000  # rows remembered as relayed (see XADD_ONCE)
RESEND_AFTER_RESET_S = 120
_local_lock = threading.Lock()
_again = threading.Event()  # a relay was asked for while another pass held the lock

# One call per relay pass. A row is added to the stream once: ``KEYS[2]`` remembers the stream id of the last
# RELAYED_KEEP rows (a sorted set scored by row id, trimmed by count, so its memory stays flat), so a pass
# retried after its database commit failed returns the ids already given instead of adding the rows again.
# A remembered id is trusted only while its entry is in the stream with this row's payload: a row id used
# again (a database restored from a backup, tables truncated) must not inherit another event's id and vanish.
XADD_ONCE = """
local keep = tonumber(ARGV[2])
local out = {}
for i = 3, #ARGV, 2 do
  local row = ARGV[i]
  local hit = redis.call('ZRANGEBYSCORE', KEYS[2], row, row)
  local sid
  if #hit > 0 then
    sid = string.sub(hit[1], string.len(row) + 2)
    local entry = redis.call('XRANGE', KEYS[1], sid, sid)
    if #entry == 0 or entry[1][2][2] ~= ARGV[i + 1] then
      redis.call('ZREMRANGEBYSCORE', KEYS[2], row, row)
      sid = nil
    end
  end
  if not sid then
    sid = redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*', 'data', ARGV[i + 1])
    redis.call('ZADD', KEYS[2], row, row .. ':' .. sid)
  end
  out[#out + 1] = sid
end
local n = redis.call('ZCARD', KEYS[2])
if n > keep then redis.call('ZREMRANGEBYRANK', KEYS[2], 0, n - keep - 1) end
return out
"""


def xadd_once(client, stream_key: str, maxlen: int, rows: list[tuple[int, str]]) -> list[str]:
    """Add each (row id, JSON text) to the stream unless it was added before; the stream ids, in order."""
    args: list[object] = [maxlen, RELAYED_KEEP]
    for row_id, body in rows:
        args += [row_id, body]
    return client.register_script(XADD_ONCE)(keys=[stream_key, f"{stream_key}:relayed"], args=args)


class _Background:
    """The relay thread of a server process: woken by commits, one pass for everything committed meanwhile."""

    def __init__(self) -> None:
        self.wake = threading.Event()
        self.stop = threading.Event()
        self.pid: int | None = None
        self.thread: threading.Thread | None = None

    @property
    def running(self) -> bool:
        # a forked child (an RQ work horse, a uvicorn worker) does not inherit the thread
        return self.pid == os.getpid() and self.thread is not None and self.thread.is_alive()

    def run(self) -> None:
        while not self.stop.is_set():
            self.wake.wait()
            self.wake.clear()
            if self.stop.is_set():
                return
            try:
                relay_pending(wait=True)
            except Exception as exc:  # noqa: BLE001 - the maintenance loop retries; this thread goes on
                if database_unavailable(exc):
                    log.warning("outbox relay: database unavailable (%s); events wait in the outbox", brief(exc))
                else:
                    log.exception("outbox relay failed")


_background = _Background()


def start_background() -> None:
    """Relay from a thread of this process from now on (server processes)."""
    if _background.running:
        return
    _background.stop.clear()
    _background.pid = os.getpid()
    _background.thread = threading.Thread(target=_background.run, name="outbox-relay", daemon=True)
    _background.thread.start()


def stop_background() -> None:
    _background.stop.set()
    _background.wake.set()
    if _background.thread is not None and _background.pid == os.getpid():
        _background.thread.join(timeout=5)
    _background.thread = None


def request_relay(session: Session) -> None:
    """Relay this session's events once it commits (registered once per transaction)."""
    if not session.info.get("relay_requested"):
        session.info["relay_requested"] = True

        def _go() -> None:
            session.info.pop("relay_requested", None)
            if _background.running:
                _background.wake.set()
            else:
                relay_pending(wait=False)

        after_commit(session, _go)


def relay_pending(*, wait: bool = True, limit: int = 500) -> int:
    """Relay unsent rows; returns how many were sent.

    ``wait=False`` does not wait for a relay running in another thread: that one makes another pass for it.
    """
    _again.set()
    total = 0
    while _again.is_set():
        if not _local_lock.acquire(blocking=wait):
            return total  # the holder sees _again after its pass and runs once more
        try:
            _again.clear()
            while True:
                sent = _relay_batch(limit, wait)
                total += sent
                if sent < limit:
                    break
        except RedisError as exc:
            log.warning("outbox relay: redis unavailable (%s); events wait in the outbox", exc)
            return total
        finally:
            _local_lock.release()
    return total


def _check_reset(session: Session, broker, settings) -> None:
    """After Redis lost its data, mark the recently sent rows unsent again (see the module's docstring)."""
    marker = f"{settings.stream_key}:epoch"
    if broker.r.set(marker, utcnow().isoformat(), nx=True):
        since = utcnow() - timedelta(seconds=RESEND_AFTER_RESET_S)
        again = session.exec(  # exec: typed as an UPDATE's CursorResult (the same call as execute)
            update(Outbox).where(col(Outbox.sent_at).is_not(None), col(Outbox.sent_at) >= since).values(sent_at=None)
        ).rowcount
        if again:
            log.warning(
                "redis lost the event stream: relaying the %d events of the last %d s again",
                again,
                RESEND_AFTER_RESET_S,
            )


def _relay_batch(limit: int, wait: bool) -> int:
    settings = get_settings()
    broker = get_broker()
    with Session(get_engine()) as session:
        if is_postgres(session):
            fn = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
            got = session.execute(text(f"SELECT {fn}(:k)"), {"k": _RELAY_LOCK_KEY}).scalar()
            if got is False:
                return 0
            # walk ix_outbox_unsent in order: an index scan marks the entries of rows sent since (dead
            # versions until a vacuum) so the next passes skip them; a bitmap scan would revisit them all
            session.execute(text("SET LOCAL enable_bitmapscan = off"))
        _check_reset(session, broker, settings)
        body = cast(Outbox.__table__.c.payload, Text)  # type: ignore[attr-defined]  # SQLModel tables have __table__, undeclared; the JSON text as stored: no parse and dump again
        rows = session.execute(
            select(Outbox.id, body).where(col(Outbox.sent_at).is_(None)).order_by(col(Outbox.id)).limit(limit)
        ).all()
        if not rows:
            return 0
        stream_ids = xadd_once(broker.r, settings.stream_key, settings.stream_maxlen, [tuple(r) for r in rows])
        _mark_sent(session, [row_id for row_id, _ in rows], stream_ids)
        session.commit()
        return len(rows)


def _mark_sent(session: Session, row_ids: list[int], stream_ids: list[str]) -> None:
    """Record when and as which stream entry each row went: one statement on PostgreSQL, an executemany
    elsewhere."""
    now = utcnow()
    if is_postgres(session):
        session.execute(
            text(
                "UPDATE outbox SET sent_at = :now, stream_id = v.sid "
                "FROM unnest(CAST(:ids AS bigint[]), CAST(:sids AS text[])) AS v(id, sid) WHERE outbox.id = v.id"
            ),
            {"now": now, "ids": row_ids, "sids": stream_ids},
        )
        return
    table = Outbox.__table__  # type: ignore[attr-defined]  # SQLModel table classes have it, undeclared
    session.execute(
        update(table).where(table.c.id == bindparam("row_id")).values(sent_at=now, stream_id=bindparam("sid")),
        [{"row_id": row_id, "sid": sid} for row_id, sid in zip(row_ids, stream_ids, strict=True)],
    )
