"""RQ jobs that carry the request id: stored in the job's meta when it is created inside a request (or
another job), and set again while a worker runs it, so the job's log lines show where it came from."""

from __future__ import annotations

import logging
import time
from typing import Any

from rq import Queue
from rq.job import Job

from dispatch.observability.context import job_id_var, request_id_var

log = logging.getLogger(__name__)


class ContextJob(Job):
    def perform(self) -> Any:
        rid = request_id_var.set(self.meta.get("request_id"))
        jid = job_id_var.set(self.id)
        started = time.perf_counter()
        log.info("job %s started: %s", self.id, self.func_name, extra={"job_func": self.func_name})
        try:
            result = super().perform()
        except Exception:
            log.warning(
                "job %s failed after %.3f s",
                self.id,
                time.perf_counter() - started,
                extra={"job_func": self.func_name},
                exc_info=True,
            )
            raise
        else:
            log.info(
                "job %s done in %.3f s",
                self.id,
                time.perf_counter() - started,
                extra={"job_func": self.func_name},
            )
            return result
        finally:
            job_id_var.reset(jid)
            request_id_var.reset(rid)


class ContextQueue(Queue):
    """Every job created through this queue (enqueue, enqueue_at, enqueue_in) records the current request id."""

    job_class = ContextJob

    def create_job(self, *args: Any, **kwargs: Any) -> Job:
        rid = request_id_var.get()
        if rid:
            kwargs["meta"] = {**(kwargs.get("meta") or {}), "request_id": rid}
        return super().create_job(*args, **kwargs)
