"""``shangliang worker`` with a crash point for the fault tests: ``python -m tests.holdworker worker``.

Once the test arms ``sl:test:hold:offer-timeout:armed``, the first offer-timeout job to take it stops after its
changes and before its commit, publishes its pid and waits for a release that never comes (the test kills the
process), so a crash lands at a known point. The seam lives here, not in production code: the wrapper is put
in place before RQ forks its work horses, which inherit it.
"""

from __future__ import annotations

import os
import time

from dispatch import cli
from dispatch.broker import get_broker
from dispatch.dispatching import service

HOLD = "sl:test:hold:offer-timeout"


def hold() -> None:
    r = get_broker().r
    if not r.delete(f"{HOLD}:armed"):
        return
    r.set(f"{HOLD}:pid", os.getpid())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not r.blpop([f"{HOLD}:release"], timeout=5):
        pass


def _expire_then_hold(expire):
    def expire_offer(session, offer_id):
        changed = expire(session, offer_id)
        hold()
        return changed

    return expire_offer


if __name__ == "__main__":
    service.expire_offer = _expire_then_hold(service.expire_offer)
    cli.main()
