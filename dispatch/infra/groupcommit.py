"""Group commit: callers that arrive while a group is being written wait and go in the next one together.

A writer thread of the process (started by the first caller) takes every item waiting at that moment (up to
``max_batch``) and hands them to ``write`` (one transaction for the lot, in the domain that owns it); then it
wakes each caller. Nobody waits for a timer: with no concurrent callers a group is just the one item. Callers on
an event loop wait without holding a thread, and the callers of one loop are woken by one call. A forked child
(RQ work horse, uvicorn worker) starts with an empty group and no writer. Intake's figures: docs/benchmarks.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import os
import threading
from collections.abc import Callable
from typing import Any, Generic, TypeVar

log = logging.getLogger(__name__)


class Waiting:
    """One caller waiting for its group's commit; the writer sets ``result`` or ``error``. Subclass it with
    what ``write`` needs."""

    __slots__ = ("waiter", "context", "result", "error")

    def __init__(self) -> None:
        self.waiter: threading.Event | asyncio.Future | None = None
        self.context = contextvars.copy_context()  # the caller's request id, for the logs and jobs of its group
        self.result: Any = None
        self.error: BaseException | None = None

    def outcome(self) -> Any:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


W = TypeVar("W", bound=Waiting)


class GroupCommit(Generic[W]):
    def __init__(self, write: Callable[[list[W]], None], *, name: str, max_batch: int) -> None:
        self.write, self.name, self.max_batch = write, name, max_batch
        self._reset()
        os.register_at_fork(after_in_child=self._reset)

    def _reset(self) -> None:
        self.cond = threading.Condition()
        self.waiting: list[W] = []
        self.writer: threading.Thread | None = None

    def run(self, item: W) -> Any:
        """Queue ``item`` and wait (this thread) for its group; its result, or its error raised."""
        item.waiter = threading.Event()
        self._put(item)
        item.waiter.wait()
        return item.outcome()

    async def run_async(self, item: W) -> Any:
        """``run`` for a coroutine: it waits for its group without holding a thread."""
        waiter = item.waiter = asyncio.get_running_loop().create_future()
        self._put(item)
        await waiter
        return item.outcome()

    def _put(self, item: W) -> None:
        with self.cond:
            self.waiting.append(item)
            if self.writer is None:
                self.writer = threading.Thread(target=self._loop, name=self.name, daemon=True)
                self.writer.start()
            self.cond.notify()

    def _loop(self) -> None:
        while True:
            with self.cond:
                while not self.waiting:
                    self.cond.wait()
                batch, self.waiting = self.waiting[: self.max_batch], self.waiting[self.max_batch :]
            try:
                # in the first caller's context, as if it wrote the group: its request id goes into the log
                # lines and the jobs (shared by the group) of this transaction
                batch[0].context.run(self.write, batch)
            except BaseException as exc:  # noqa: BLE001 - a bug: its callers get the error, the writer goes on
                log.exception("%s: group failed", self.name)
                for item in batch:
                    if item.result is None and item.error is None:
                        item.error = exc
            _wake(batch)


def _wake(batch: list[W]) -> None:
    loops: dict[asyncio.AbstractEventLoop, list[asyncio.Future]] = {}
    for item in batch:
        if isinstance(item.waiter, threading.Event):
            item.waiter.set()
        elif item.waiter is not None:
            loops.setdefault(item.waiter.get_loop(), []).append(item.waiter)
    for loop, futures in loops.items():
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody is waiting
            loop.call_soon_threadsafe(_resolve, futures)


def _resolve(futures: list[asyncio.Future]) -> None:
    for future in futures:
        if not future.done():  # a cancelled request (the client went away) is still written
            future.set_result(None)
