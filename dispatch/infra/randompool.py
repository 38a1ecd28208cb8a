"""Random bytes drawn from ``os.urandom`` 4 KiB at a time.

A case's secret is 12 of them; one ``getrandom`` call per case gives up the GIL each time, and a busy group
writer (``groupcommit``) then waits to get it back (docs/benchmarks.md, intake profile). Each byte is used once;
a forked child starts its own pool, so no two processes share bytes.
"""

from __future__ import annotations

import base64
import os
import threading


class RandomPool:
    def __init__(self, chunk: int = 4096) -> None:
        self.lock = threading.Lock()
        self.chunk = chunk
        self.buffer = b""

    def take(self, n: int) -> bytes:
        with self.lock:
            if len(self.buffer) < n:
                self.buffer = os.urandom(max(self.chunk, n))
            out, self.buffer = self.buffer[:n], self.buffer[n:]
            return out


_pool = RandomPool()


def _reset() -> None:
    global _pool
    _pool = RandomPool()


os.register_at_fork(after_in_child=_reset)


def token_urlsafe(nbytes: int) -> str:
    """As ``secrets.token_urlsafe(nbytes)``, from the pool."""
    return base64.urlsafe_b64encode(_pool.take(nbytes)).rstrip(b"=").decode()
