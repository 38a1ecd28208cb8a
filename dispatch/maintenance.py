"""The background loop of every process: relay the outbox, re-sync members, sweep stuck dispatches, and drop
expired sign-in sessions."""

from __future__ import annotations

import logging
import threading
import time

from redis.exceptions import RedisError
from sqlmodel import Session

from dispatch.analysis.flows import sweep_hotspots
from dispatch.auth.service import purge_sessions
from dispatch.callbacks.flows import sweep_callbacks
from dispatch.config import get_settings
from dispatch.consultations.flows import sweep_follow_ups
from dispatch.db import get_engine
from dispatch.deadlines.flows import sweep_ladder
from dispatch.dispatching.flows import sweep as sweep_cases
from dispatch.errors import brief, database_unavailable
from dispatch.events.relay import relay_pending
from dispatch.members.service import reconcile_loads, retry_unsynced
from dispatch.notifications.flows import sweep_notifications
from dispatch.reports.flows import ensure_scheduled as ensure_weekly_report

log = logging.getLogger(__name__)


class Maintenance:
    def __init__(self) -> None:
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="maintenance", daemon=True)
        self._thread.start()

    def request_stop(self) -> None:
        self._stop.set()

    def join(self) -> None:
        if self._thread:
            self._thread.join(timeout=10)

    def tick(self, *, sweep: bool, reconcile: bool = False) -> None:
        relay_pending(wait=False)
        if sweep:
            with Session(get_engine()) as session:
                retry_unsynced(session)
            sweep_cases()
            sweep_follow_ups()
            sweep_ladder()
            sweep_notifications()  # replies whose send job was lost
            sweep_callbacks()  # unrated callback tasks whose job was lost
        if reconcile:
            with Session(get_engine()) as session:
                reconcile_loads(session)
            ensure_weekly_report()  # idempotent; survives a Redis restart that lost the scheduled job
            with Session(get_engine()) as session:  # expired sign-in sessions (each login drops its user's too)
                purge_sessions(session)
                session.commit()
            sweep_hotspots()  # idempotent; catches a detection job that was lost

    def _run(self) -> None:
        settings = get_settings()
        last_sweep = last_reconcile = time.monotonic()
        while not self._stop.wait(settings.relay_interval_s):
            now = time.monotonic()
            do_sweep = now - last_sweep >= settings.sweep_interval_s
            do_reconcile = now - last_reconcile >= settings.reconcile_interval_s
            if do_reconcile:
                last_reconcile = now
            try:
                self.tick(sweep=do_sweep, reconcile=do_reconcile)
            except RedisError as exc:
                log.warning("maintenance: redis unavailable (%s)", exc)
            except Exception as exc:  # noqa: BLE001 - keep the loop alive; the next tick retries
                if database_unavailable(exc):
                    log.warning("maintenance: database unavailable (%s)", brief(exc))
                else:
                    log.exception("maintenance tick failed")
            if do_sweep:
                last_sweep = now
