"""What follows a dispatch change: the offer-timeout job, the sweeper that catches anything missed, and the
subscriptions to case moves made elsewhere (a slot given back, a reopened case offered again)."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from sqlmodel import Session, col, select

from dispatch.broker import run_each
from dispatch.cases.models import Case
from dispatch.cases.states import HOLDS_SLOT, Move
from dispatch.db import get_engine, utcnow
from dispatch.dispatching import service
from dispatch.dispatching.models import Offer

# What an offer's own answers move it to (decline, expiry: back to new; acceptance, assignment: assigned);
# their flows close the offer themselves, with the answer's state.
_OFFER_ANSWERS = ("new", "assigned")


def free_slot(session: Session, moves: list[Move]) -> None:
    """Before the trail of a move that takes a case off its member (resolved, forwarded, cancelled, merged…):
    an open offer is withdrawn (its member is told by the move's live event) and the member's slot is given
    back once the change commits."""
    for m in moves:
        case = m.case
        if m.from_status == "offered" and m.to_status not in _OFFER_ANSWERS:
            offer = service.close_offer(session, case, "withdrawn")
            if offer is not None:
                m.notify = (*m.notify, offer.member_id)
                service.release_after_commit(session, offer.member_id)
        elif m.from_status in HOLDS_SLOT and m.to_status not in HOLDS_SLOT:
            service.release_after_commit(session, case.assignee_id)


def offer_reopened(session: Session, moves: list[Move]) -> None:
    """The one rule for a reopened case (the resident was not satisfied): offered again at once by the
    nearest-member rule, its handler included (``service.offer_many``); nobody eligible: the operators' queue.
    Redis down: it waits, and the sweeper offers it."""
    for m in moves:
        service.try_offer_next(session, m.case)


def run_offer_timeouts(offer_ids: list[int]) -> bool:
    """A shared job: each offer on its own; whether any changed."""
    return any(run_each(run_offer_timeout, offer_ids, "offer timeout"))


def run_offer_timeout(offer_id: int) -> bool:
    with Session(get_engine(), expire_on_commit=False) as session:
        changed = service.expire_offer(session, offer_id)
        session.commit()
        return changed


WAITING = ("new", "reopened")


def sweep(limit: int = 100) -> dict[str, int]:
    """Dispatch cases left waiting (Redis was down) and expire offers whose job was lost.

    Safe to run in several processes at once: each step locks the case and re-checks its state.
    """
    engine = get_engine()
    counts = {"dispatched": 0, "expired": 0}
    now = utcnow()
    with Session(engine) as session:
        stale = select(Offer.id).where(Offer.state == "open", col(Offer.expires_at) < now - timedelta(seconds=5))
        offer_ids = cast(list[int], list(session.exec(stale.order_by(col(Offer.id)).limit(limit)).all()))  # keys
    for offer_id in offer_ids:
        counts["expired"] += int(run_offer_timeout(offer_id))
    with Session(engine) as session:
        # intake, declines and reopening dispatch in the same transaction, so a committed "new" or "reopened"
        # case is one whose dispatch failed (Redis was down)
        waiting = select(Case.id).where(col(Case.status).in_(WAITING))
        case_ids = cast(list[int], list(session.exec(waiting.order_by(col(Case.id)).limit(limit)).all()))  # keys
    for case_id in case_ids:
        with Session(engine, expire_on_commit=False) as session:
            case = session.get(Case, case_id, with_for_update=True)
            if case is not None and case.status in WAITING:
                service.offer_next(session, case)
                session.commit()
                counts["dispatched"] += 1
    return counts
