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
    """One thread worker per queue (the short jobs' and the analysis queue), each with its queue's scheduler:
    a long analysis job never holds up an offer timeout."""

    def __init__(self, queues: list) -> None:
        self.workers = [
            ThreadWorker([q], connection=q.connection, job_class=ContextJob)  # ContextJob: request ids in logs
            for q in queues
        ]
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        for worker in self.workers:
            name = f"rq-worker-{worker.queues[0].name}"
            thread = threading.Thread(target=self._run, args=(worker,), name=name, daemon=True)
            thread.start()
            self._threads.append(thread)

    @staticmethod
    def _run(worker: ThreadWorker) -> None:
        while not worker._stop_requested:
            try:
                worker.work(with_scheduler=True, logging_level="WARNING")
            except Exception:  # noqa: BLE001 - e.g. redis briefly unreachable; start again
                log.exception("embedded worker stopped; restarting")
            if not worker._stop_requested:
                threading.Event().wait(1)

    def request_stop(self) -> None:
        for worker in self.workers:
            worker._stop_requested = True
            scheduler = getattr(worker, "scheduler", None)
            if scheduler is not None:
                scheduler._stop_requested = True

    def join(self) -> None:
        for thread in self._threads:
            thread.join(timeout=10)
