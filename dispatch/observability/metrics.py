"""Prometheus metrics of one API process, plus the global facts read from Redis and the database at scrape time.

In-process metrics (intake, dispatch latency, websocket clients, HTTP) count what this process did: with
several API processes, Prometheus scrapes each one and sums. Queue depth, failed jobs and the outbox are read
from Redis and the database when scraped, so every process reports the same, correct, global value.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Iterator
from datetime import UTC
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    ProcessCollector,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import col

from dispatch.broker import get_broker
from dispatch.db import get_engine, utcnow
from dispatch.events.models import Outbox

log = logging.getLogger(__name__)

REGISTRY = CollectorRegistry()  # no auto-describe: the collectors below must not query at import
ProcessCollector(registry=REGISTRY)

INTAKE = Counter(
    "shangliang_intake",
    "Cases committed by intake, by channel (idempotent re-sends are not counted here)",
    ["channel"],
    registry=REGISTRY,
)
INTAKE_DUPLICATES = Counter(
    "shangliang_intake_duplicates",
    "Intake re-sends answered with the already-committed case (same external id / Message-ID)",
    ["channel"],
    registry=REGISTRY,
)
DISPATCH_LATENCY = Histogram(
    "shangliang_dispatch_latency_seconds",
    "From the case becoming dispatchable (created, declined, expired) to the offer's commit",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900),
    registry=REGISTRY,
)
OFFERS = Counter("shangliang_offers", "Offers made to members", registry=REGISTRY)
WEBSOCKET_CLIENTS = Gauge(
    "shangliang_websocket_clients", "Websocket clients connected to this process", ["socket"], registry=REGISTRY
)
for _socket in ("board", "member"):
    WEBSOCKET_CLIENTS.labels(_socket)
HTTP_REQUESTS = Counter(
    "shangliang_http_requests",
    "HTTP requests by method, route template and status",
    ["method", "route", "status"],
    registry=REGISTRY,
)
HTTP_LATENCY = Histogram(
    "shangliang_http_request_duration_seconds",
    "HTTP request duration by method and route template (to the end of the response)",
    ["method", "route"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)


def show_channels(channels: Iterable[str]) -> None:
    """Every door shows up at 0 before its first case (intake names them: the channels are a case's)."""
    for channel in channels:
        INTAKE.labels(channel)
        INTAKE_DUPLICATES.labels(channel)


def intake(channel: str, created: bool) -> None:
    (INTAKE if created else INTAKE_DUPLICATES).labels(channel).inc()


def dispatched(latency_s: float) -> None:
    OFFERS.inc()
    DISPATCH_LATENCY.observe(max(latency_s, 0.0))


def socket_kind(path: str) -> str:
    return "member" if path.rstrip("/").endswith("/member") else "board"


class QueueCollector(Collector):
    """RQ queue depth, scheduled, running and failed jobs, read from Redis at scrape time."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from rq import Queue
        from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

        up = GaugeMetricFamily("shangliang_redis_up", "1 when Redis answered this scrape")
        depth = GaugeMetricFamily("shangliang_queue_depth", "Jobs waiting in an RQ queue", labels=["queue"])
        scheduled = GaugeMetricFamily(
            "shangliang_queue_scheduled", "Jobs scheduled for later (offer timeouts, ladder steps)", labels=["queue"]
        )
        started = GaugeMetricFamily("shangliang_jobs_running", "Jobs being run by a worker", labels=["queue"])
        failed = GaugeMetricFamily(
            "shangliang_jobs_failed", "Failed jobs kept in the failed-job registry (24 h)", labels=["queue"]
        )
        try:
            broker = get_broker()
            conn = broker.raw
            queues = Queue.all(connection=conn)
            for queue in broker.queues:  # registered in Redis only once used
                if queue.name not in {q.name for q in queues}:
                    queues.append(queue)
            for queue in queues:
                name = queue.name
                depth.add_metric([name], queue.count)
                reg: dict[str, Any] = {"queue": queue, "connection": conn}
                scheduled.add_metric([name], ScheduledJobRegistry(**reg).get_job_count(cleanup=False))
                started.add_metric([name], StartedJobRegistry(**reg).get_job_count(cleanup=False))
                failed.add_metric([name], FailedJobRegistry(**reg).get_job_count(cleanup=False))
            up.add_metric([], 1)
        except Exception as exc:  # noqa: BLE001 - a scrape must answer even with Redis down
            log.warning("metrics: redis unavailable (%s)", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        yield from (up, depth, scheduled, started, failed)


class OutboxCollector(Collector):
    """Outbox rows not yet relayed to the stream, and the age of the oldest (indexed on ``sent_at``)."""

    def collect(self) -> Iterator[GaugeMetricFamily]:
        from sqlalchemy import func, select

        up = GaugeMetricFamily("shangliang_database_up", "1 when the database answered this scrape")
        pending = GaugeMetricFamily("shangliang_outbox_pending", "Outbox rows waiting to be relayed")
        lag = GaugeMetricFamily(
            "shangliang_outbox_lag_seconds", "Age of the oldest outbox row not yet relayed (0 when none)"
        )
        try:
            query = select(func.count(), func.min(Outbox.created_at)).where(col(Outbox.sent_at).is_(None))
            with get_engine().connect() as conn:
                count, oldest = conn.execute(query).one()
        except Exception as exc:  # noqa: BLE001
            log.warning("metrics: database unavailable (%s)", exc.__class__.__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        pending.add_metric([], count)
        if oldest is not None and oldest.tzinfo is None:
            oldest = oldest.replace(tzinfo=UTC)
        lag.add_metric([], (utcnow() - oldest).total_seconds() if oldest is not None else 0.0)
        yield from (up, pending, lag)


REGISTRY.register(QueueCollector())
REGISTRY.register(OutboxCollector())


def render() -> tuple[bytes, str]:
    """The exposition text of this process and its content type."""
    started = time.perf_counter()
    body = generate_latest(REGISTRY)
    log.debug("metrics rendered in %.1f ms", (time.perf_counter() - started) * 1000)
    return body, CONTENT_TYPE_LATEST
