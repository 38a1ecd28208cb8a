"""What follows a dispatch change: the offer-timeout job and the sweeper that catches anything missed."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from dispatch.broker import get_broker, run_each, schedule_after_commit
from dispatch.cases.models import Case
from dispatch.db import get_engine, utcnow
from dispatch.dispatching import service
from dispatch.dispatching.models import Offer


def schedule_offer_timeouts(session: Session, offer_ids: list[int], at: datetime) -> None:
    """Enqueue, once ``session`` commits, the RQ job that expires the offers at ``at`` (one job for the offers
    made together; the sweeper covers a lost job)."""
    if offer_ids:
        more = f"-{len(offer_ids)}" if len(offer_ids) > 1 else ""
        job_id = f"offer-timeout-{offer_ids[0]}{more}"
        schedule_after_commit(session, at, "workers.jobs.offer_timeout", *offer_ids, job_id=job_id)


def run_offer_timeouts(offer_ids: list[int]) -> bool:
    """A shared job: each offer on its own; whether any changed."""
    return any(run_each(run_offer_timeout, offer_ids, "offer timeout"))


def run_offer_timeout(offer_id: int) -> bool:
    with Session(get_engine(), expire_on_commit=False) as session:
        changed = service.expire_offer(session, offer_id)
        fault_hold("offer-timeout")
        session.commit()
        return changed


def fault_hold(point: str) -> None:
    """Fault tests only (``SHANGLIANG_TEST_HOLD_JOBS=1``): once armed, stop here, before the commit.

    The test arms ``sl:test:hold:{point}:armed``; the first run to take it publishes its pid and waits for a
    release that never comes (the test kills the process), so a crash lands at a known point.
    """
    if os.environ.get("SHANGLIANG_TEST_HOLD_JOBS") != "1":
        return
    r = get_broker().r
    if not r.delete(f"sl:test:hold:{point}:armed"):
        return
    r.set(f"sl:test:hold:{point}:pid", os.getpid())
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not r.blpop([f"sl:test:hold:{point}:release"], timeout=5):
        pass


def sweep(limit: int = 100) -> dict[str, int]:
    """Dispatch cases left waiting (Redis was down) and expire offers whose job was lost.

    Safe to run in several processes at once: each step locks the case and re-checks its state.
    """
    engine = get_engine()
    counts = {"dispatched": 0, "expired": 0}
    now = utcnow()
    with Session(engine) as session:
        stale = select(Offer.id).where(Offer.state == "open", col(Offer.expires_at) < now - timedelta(seconds=5))
        offer_ids = list(session.exec(stale.order_by(Offer.id).limit(limit)).all())
    for offer_id in offer_ids:
        counts["expired"] += int(run_offer_timeout(offer_id))
    with Session(engine) as session:
        # intake and declines dispatch in the same transaction, so a committed "new" case is one whose
        # dispatch failed (Redis was down)
        waiting = select(Case.id).where(Case.status == "new")
        case_ids = list(session.exec(waiting.order_by(Case.id).limit(limit)).all())
    for case_id in case_ids:
        with Session(engine, expire_on_commit=False) as session:
            case = session.get(Case, case_id, with_for_update=True)
            if case is not None and case.status == "new":
                service.offer_next(session, case)
                session.commit()
                counts["dispatched"] += 1
    return counts
