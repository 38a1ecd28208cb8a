"""What follows intake for 研判: hotspot detection as one coalesced RQ job per burst, and its safety net.

Every committed case asks for a detection (``request_detection``). The first ask sets a Redis marker and
schedules the job ``DEBOUNCE_S`` later; asks while the marker is set add nothing, so a burst of 100 cases runs
one or two detections. The job clears the marker before it reads the cases, so a case committed during a run
schedules the next one. Under continuous intake a run that took d seconds holds the next one back for 4 d
(``DUTY``), including a job asked for during that run, so detection over thousands of cases never keeps more
than a fifth of a core busy. The maintenance loop asks for a detection now and then in case a job was lost
(Redis down, worker killed); detection is idempotent, so extra runs flag nothing twice.

In the embedded default the worker is a thread of the API process, so clustering there would hold the GIL that
intake needs for seconds at a time; it runs in a child process at a lower priority instead (``clusterer``),
which keeps its token cache between runs. An RQ analysis worker is its own process already and clusters in it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import threading
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import RedisError
from sqlmodel import Session

from dispatch import clock
from dispatch.analysis import service
from dispatch.broker import get_broker, schedule
from dispatch.cases.states import Move
from dispatch.db import after_commit, after_rollback, get_engine, utcnow

log = logging.getLogger(__name__)

PENDING_KEY = "shangliang:hotspots:pending"
DEBOUNCE_S = 1.0
PENDING_TTL_S = 120  # a marker whose job never ran stops blocking new asks after this
NOT_BEFORE_KEY = "shangliang:hotspots:not_before"  # epoch seconds: no detection starts earlier
DUTY = 0.2  # under continuous intake, detection keeps at most this share of one core busy
_FLAG = "hotspots_requested"


def request_detection(session: Session) -> None:
    """Ask for a detection once this session's transaction commits (registered once per transaction)."""
    if session.info.get(_FLAG):
        return
    session.info[_FLAG] = True

    def _go() -> None:
        session.info.pop(_FLAG, None)
        schedule_detection()

    after_commit(session, _go)
    after_rollback(session, lambda: session.info.pop(_FLAG, None))


def cases_created(session: Session, moves: list[Move]) -> None:
    """Subscribed to new cases: one coalesced detection job after the commit."""
    request_detection(session)


def schedule_detection(delay_s: float = DEBOUNCE_S) -> bool:
    """Schedule the detection job unless one is already due; False when none was scheduled."""
    try:
        r = get_broker().r
        if not r.set(PENDING_KEY, "1", nx=True, ex=PENDING_TTL_S):
            return False  # a job is already due and will see the new cases
        now = utcnow()
        not_before = float(r.get(NOT_BEFORE_KEY) or 0)
        at = max(now + timedelta(seconds=delay_s), datetime.fromtimestamp(not_before, UTC))
        if (at - now).total_seconds() > PENDING_TTL_S / 2:  # the marker must outlive the wait
            r.expire(PENDING_KEY, int((at - now).total_seconds()) + PENDING_TTL_S)
        job_id = f"hotspots-{int(at.timestamp() * 1000)}"
        if schedule(at, "workers.jobs.detect_hotspots", job_id=job_id, analysis=True):
            return True
        r.delete(PENDING_KEY)
    except RedisError as exc:
        log.warning("hotspot detection not scheduled (%s); the maintenance loop will run it", exc)
    return False


CHILD_NICE = 10
_pool: ProcessPoolExecutor | None = None
_pool_lock = threading.Lock()


def _lower_priority() -> None:
    with contextlib.suppress(OSError):
        os.nice(CHILD_NICE)


def _in_child(items: list[Any]) -> list[dict[str, Any]]:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ProcessPoolExecutor(
                max_workers=1, mp_context=multiprocessing.get_context("spawn"), initializer=_lower_priority
            )
        pool = _pool
    try:
        return pool.submit(service.detect_clusters, items).result()
    except BrokenProcessPool:  # the child was killed (OOM, a signal): a new one next time, this run in-process
        log.warning("hotspot clustering child died; clustering in process this time")
        with _pool_lock:
            if _pool is pool:
                _pool = None
        return service.detect_clusters(items)


def clusterer() -> Callable[[list[Any]], list[dict[str, Any]]]:
    """Where clustering runs: a low-priority child process in the embedded default, else right here."""
    return _in_child if get_broker().embedded else service.detect_clusters


def child_pids() -> list[int]:
    """The clustering child's process id, once it has started (for tests and diagnostics)."""
    pool = _pool
    return [p.pid for p in (getattr(pool, "_processes", None) or {}).values() if p.pid] if pool else []


def detect() -> dict:
    """Read the open cases, cluster them outside any transaction, then reconcile the flags under a lock."""
    with Session(get_engine()) as session:
        items = service.open_cases(session, service.DEFAULT_DAYS)
    found = clusterer()(items)
    with Session(get_engine(), expire_on_commit=False) as session:
        service.lock_detection(session)
        result = service.reconcile(session, found)
        session.commit()
    return result


def run_detection() -> dict:
    """The RQ job. A run that took d seconds holds the next one back for d × (1/DUTY - 1) seconds, so that a
    long detection (thousands of open cases) under continuous intake does not take a core from dispatch. A job
    asked for during a run was scheduled before that run knew its length: it comes due early, and reschedules
    itself to the end of the hold-back instead of running."""
    with contextlib.suppress(RedisError):
        r = get_broker().r
        r.delete(PENDING_KEY)
        held = float(r.get(NOT_BEFORE_KEY) or 0) - time.time()
        if held > 0:
            schedule_detection(held)
            return {"held_back_s": round(held, 3)}
    started = clock.monotonic()
    result = detect()
    took = clock.monotonic() - started
    with contextlib.suppress(RedisError):
        rest = took * (1 / DUTY - 1)
        get_broker().r.set(NOT_BEFORE_KEY, f"{time.time() + rest:.3f}", ex=max(1, int(rest) + 1))
    return result


def sweep_hotspots() -> bool:
    """The maintenance loop's safety net: ask for a detection job (on the analysis queue, coalesced and held to
    ``DUTY`` like any other ask) rather than run one here, since every process runs this loop. A job that was
    lost leaves its marker to expire, after which this asks again."""
    return schedule_detection()
