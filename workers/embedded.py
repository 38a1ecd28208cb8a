"""The in-process RQ worker of the embedded default: a SimpleWorker in a thread, without signals,
with the RQ scheduler in a second thread (RQ would fork it, which an in-process Redis cannot survive)."""

from __future__ import annotations

import logging
import threading

from rq import SimpleWorker
from rq.exceptions import StopRequested
from rq.scheduler import RQScheduler
from rq.timeouts import TimerDeathPenalty
from rq.worker import WorkerStatus

from dispatch.observability.jobs import ContextJob

log = logging.getLogger(__name__)


class ThreadScheduler(RQScheduler):
    def _install_signal_handlers(self) -> None:  # signals belong to the main thread
        pass

    def start(self):  # run in a thread instead of a forked process
        self._status = self.Status.STARTED
        self._thread = threading.Thread(target=self._safe_work, name="rq-scheduler", daemon=True)
        self._thread.start()
        return self._thread

    def _safe_work(self) -> None:
        try:
            self.work()
        except Exception:  # noqa: BLE001
            log.exception("embedded scheduler stopped")


class ThreadWorker(SimpleWorker):
    death_penalty_class = TimerDeathPenalty

    def _install_signal_handlers(self) -> None:
        pass

    def _start_scheduler(self, burst=False, logging_level="INFO", date_format=None, log_format=None):
        self.scheduler = ThreadScheduler(self.queues, connection=self.connection, interval=1)
        self.scheduler.acquire_locks()
        if self.scheduler.acquired_locks:
            self.scheduler.start()

    @property
    def dequeue_timeout(self) -> int:
        return 1  # wake up every second so stop() is prompt

    def heartbeat(self, *args, **kwargs):
        # RQ stops an idle worker by a signal interrupting BLPOP; a thread checks its flag between polls.
        if self._stop_requested and self.get_state() == WorkerStatus.IDLE:
            raise StopRequested()
        return super().heartbeat(*args, **kwargs)


class EmbeddedWorker:
    def __init__(self, queue) -> None:
        self.worker = ThreadWorker([queue], connection=queue.connection, job_class=ContextJob)  # request ids
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="rq-worker", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self.worker._stop_requested:
            try:
                self.worker.work(with_scheduler=True, logging_level="WARNING")
            except Exception:  # noqa: BLE001 - e.g. redis briefly unreachable; start again
                log.exception("embedded worker stopped; restarting")
            if not self.worker._stop_requested:
                threading.Event().wait(1)

    def request_stop(self) -> None:
        self.worker._stop_requested = True
        scheduler = getattr(self.worker, "scheduler", None)
        if scheduler is not None:
            scheduler._stop_requested = True

    def join(self) -> None:
        if self._thread:
            self._thread.join(timeout=10)
