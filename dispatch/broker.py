"""The Redis connection: real Redis, or an in-process fakeredis for the embedded default.

This is the only module that knows which one is in use. Everything else asks for ``get_broker()``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import redis

from dispatch.config import Settings, get_settings
from dispatch.db import after_commit, after_rollback
from dispatch.observability.jobs import ContextQueue

if TYPE_CHECKING:
    from dispatch.dispatching.locator import Locator

QUEUE_NAME = "shangliang"
# long analysis jobs (hotspot detection over thousands of cases) wait in their own queue, worked by their own
# worker, so they never hold up the short ones that keep cases moving (offer timeouts, ladder steps, replies)
ANALYSIS_QUEUE_NAME = "shangliang-analysis"
log = logging.getLogger(__name__)


class Broker:
    """Two clients on one Redis: ``r`` decodes strings (our keys), ``raw`` keeps bytes (RQ needs that)."""

    _locator: Locator  # set on first use by dispatching.locator.get_locator

    def __init__(self, settings: Settings, server=None) -> None:
        self.settings = settings
        self.server = None
        if settings.redis_url:
            opts = {"socket_timeout": 10, "socket_connect_timeout": 3, "health_check_interval": 30}
            self.raw = redis.Redis.from_url(settings.redis_url, **opts)
            self.r = redis.Redis.from_url(settings.redis_url, decode_responses=True, **opts)
        else:
            import fakeredis

            self.server = server or fakeredis.FakeServer()
            self.raw = fakeredis.FakeRedis(server=self.server)
            self.r = fakeredis.FakeRedis(server=self.server, decode_responses=True)
        # jobs created inside a request carry its request id (job meta) into the worker's log lines
        self.queue = ContextQueue(QUEUE_NAME, connection=self.raw)
        self.analysis_queue = ContextQueue(ANALYSIS_QUEUE_NAME, connection=self.raw)

    @property
    def queues(self) -> list:
        """Every queue, the short jobs' first."""
        return [self.queue, self.analysis_queue]

    @property
    def embedded(self) -> bool:
        return self.server is not None

    def new_client(self, decode: bool = True) -> redis.Redis:
        """A client with its own connection pool (for a thread that blocks on XREAD)."""
        if self.server is not None:
            import fakeredis

            return fakeredis.FakeRedis(server=self.server, decode_responses=decode)
        assert self.settings.redis_url is not None  # no fake server: a Redis URL is configured
        return redis.Redis.from_url(
            self.settings.redis_url, decode_responses=decode, socket_timeout=10, socket_connect_timeout=3
        )

    def ping(self) -> None:
        self.r.ping()

    def close(self) -> None:
        for client in (self.r, self.raw):
            client.close()


def schedule(at: datetime, job: str, *args, job_id: str, analysis: bool = False) -> bool:
    """Enqueue RQ job ``job`` (a dotted path) to run at ``at``; one job per ``job_id``; ``analysis``: a long
    job for the analysis queue.

    Returns False when Redis is down: every caller has a sweeper that finds the work the job would have done.
    """
    return schedule_many([(at, job, args, job_id, analysis)])


Planned = tuple[datetime, str, tuple, str, bool]  # (at, job, args, job_id, analysis)


def schedule_many(jobs: list[Planned]) -> bool:
    """``schedule`` for several jobs in one Redis round trip (one pipeline)."""
    if not jobs:
        return True
    broker = get_broker()
    try:
        pipe = broker.raw.pipeline()
        for at, job, args, job_id, analysis in jobs:
            queue = broker.analysis_queue if analysis else broker.queue
            queue.enqueue_at(
                at, job, *args, job_id=job_id, retry=None, result_ttl=600, failure_ttl=86400, pipeline=pipe
            )
        pipe.execute()
        return True
    except redis.RedisError as exc:
        log.warning("jobs %s not scheduled (%s); their sweepers will catch up", [j[3] for j in jobs], exc)
        return False


def schedule_after_commit(session, at: datetime, job: str, *args, job_id: str, analysis: bool = False) -> None:
    """``schedule`` once ``session`` commits; a transaction's jobs go to Redis together, in one pipeline."""
    pending = session.info.get("jobs")
    if pending is None:
        pending = session.info["jobs"] = []
        after_commit(session, lambda: schedule_many(session.info.pop("jobs", [])))
        after_rollback(session, lambda: session.info.pop("jobs", None))
    pending.append((at, job, args, job_id, analysis))


def run_each(fn: Callable[[Any], Any], items: list, what: str) -> list:
    """A job shared by several items (an intake group's offers or ladder steps): ``fn(item)`` for each on its
    own, one failure not holding up the others; the first error is raised once all ran (RQ records the job as
    failed, and the sweeper retries what was left)."""
    results, failed = [], None
    for item in items:
        try:
            results.append(fn(item))
        except Exception as exc:  # noqa: BLE001 - raised below, after the others
            log.exception("%s %s failed", what, item)
            failed = failed or exc
    if failed is not None:
        raise failed
    return results


_broker: Broker | None = None
_lock = threading.Lock()


def get_broker() -> Broker:
    global _broker
    with _lock:
        if _broker is None:
            _broker = Broker(get_settings())
        return _broker


def set_broker(broker: Broker | None) -> None:
    global _broker
    with _lock:
        _broker = broker
