"""Assignment: the nearest-member rule, offers, acceptance and manual assignment.

Every status change goes through ``cases.states``; member slots are claimed in Redis (atomically) and given
back only once the database change that frees them has committed (``flows.free_slot`` for the moves made
elsewhere: resolution, forwarding, cancelling, merging).
"""

from __future__ import annotations

import logging
import time
from datetime import datetime, timedelta
from typing import cast

from redis.exceptions import RedisError
from sqlmodel import Session, col, select

from dispatch.broker import schedule_after_commit
from dispatch.cases import service as cases
from dispatch.cases import states, taxonomy
from dispatch.cases.models import Case
from dispatch.cases.states import HOLDS_SLOT
from dispatch.config import get_settings
from dispatch.db import after_commit, after_rollback, insert_rows, utcnow
from dispatch.dispatching.availability import all_states, loads, point_positions
from dispatch.dispatching.locator import READY, Claim, Locator, LocatorBusy, NeedsRebuild, get_locator
from dispatch.dispatching.models import Offer
from dispatch.errors import Conflict, Forbidden, not_found
from dispatch.geo import haversine_m
from dispatch.members.models import Member
from dispatch.observability import metrics

log = logging.getLogger(__name__)

DISPATCHABLE = ("new", "reopened", "escalated")


def schedule_offer_timeouts(session: Session, offer_ids: list[int], at: datetime) -> None:
    """Enqueue, once ``session`` commits, the RQ job that expires the offers at ``at`` (one job for the offers
    made together; the sweeper covers a lost job)."""
    if offer_ids:
        more = f"-{len(offer_ids)}" if len(offer_ids) > 1 else ""
        job_id = f"offer-timeout-{offer_ids[0]}{more}"
        schedule_after_commit(session, at, "workers.jobs.offer_timeout", *offer_ids, job_id=job_id)


def release_after_commit(session: Session, member_id: int | None) -> None:
    if member_id is None:
        return

    def _release() -> None:
        try:
            get_locator().release(member_id)
        except RedisError as exc:  # the next rebuild recounts loads from the database
            log.warning("could not release member %s: %s", member_id, exc)

    after_commit(session, _release)


def _claim(session: Session, case: Case, excluded: list[int]) -> Claim | None:
    settings = get_settings()
    locator = get_locator()
    assert case.lat is not None and case.lon is not None  # only located cases are claimed for
    args = (case.lat, case.lon, case.town_code, case.category, settings.dispatch_radius_km * 1000, excluded)
    try:
        claim = locator.claim(*args)
    except NeedsRebuild:
        try:
            _rebuild_if_missing(session, locator)
        except LocatorBusy:
            _wait_rebuilt(locator)  # another caller is rebuilding: a short wait beats leaving it to the sweeper
        try:
            claim = locator.claim(*args)
        except NeedsRebuild as exc:  # rebuilt and lost again meanwhile: wait for the sweeper, as when Redis is down
            raise LocatorBusy("the dispatcher's member sets are not ready") from exc
    if claim is not None:
        after_rollback(session, lambda: locator.release(claim.member_id))
    return claim


def _claim_many(session: Session, batch: list[Case], excluded: dict[int, list[int]], defer: bool) -> list[Claim | None]:
    """The claims of ``batch`` in one Redis round trip (a case that found the member sets gone is claimed again
    alone, after the rebuild). With ``defer``, a RedisError ends the list early: the cases past its end wait."""
    if not batch:
        return []
    locator = get_locator()
    radius = get_settings().dispatch_radius_km * 1000
    try:
        results = locator.claim_many(
            [(c.lat, c.lon, c.town_code, c.category, radius, excluded.get(cast(int, c.id), [])) for c in batch]
        )
    except RedisError as exc:
        if not defer:
            raise
        log.warning("dispatch of cases %s deferred: %s", [c.id for c in batch], exc)
        return []
    claims: list[Claim | None] = []
    for case, result in zip(batch, results, strict=True):
        if isinstance(result, NeedsRebuild):
            assert case.id is not None  # a case from the database
            try:
                result = _claim(session, case, excluded.get(case.id, []))  # rebuilds first
            except RedisError as exc:
                if not defer:
                    raise  # nothing written: the caller rolls back, which gives back the claims already made
                log.warning("dispatch of cases %s deferred: %s", [c.id for c in batch[len(claims) :]], exc)
                return claims
        elif result is not None:
            after_rollback(session, lambda m=result.member_id: locator.release(m))
        claims.append(result)
    return claims


REBUILD_WAIT_S = 3.0


def _rebuild_if_missing(session: Session, locator: Locator) -> None:
    """Rebuild the member sets from the database unless another caller did while this one was on its way."""
    locator.rebuild(lambda: all_states(session), if_missing=True)


def _wait_rebuilt(locator: Locator, timeout: float = REBUILD_WAIT_S) -> None:
    """Wait (bounded) for a rebuild running elsewhere; LocatorBusy (a RedisError: dispatch deferred) after it."""
    deadline = time.monotonic() + timeout
    while not locator.r.exists(READY):
        if time.monotonic() > deadline:
            raise LocatorBusy("the dispatcher's member sets are being rebuilt")
        time.sleep(0.02)


def offer_many(
    session: Session, batch: list[Case], *, actor: str = "system", defer: bool = False, fresh: bool = False
) -> list[int | None]:
    """Offer each case (locked by the caller, or created in this transaction) to the nearest eligible member,
    or escalate it; the offers and the trail are written with one statement per table.

    A member who declined a case or let its offer lapse is not asked again; the one who handled it is (a
    reopened case goes back to its handler when they are still the nearest eligible). ``fresh``: the cases
    were created in this transaction, so nobody has been offered them yet (no read of past offers).

    The claims go to Redis together. Raises RedisError when Redis is down, having written nothing (a rollback
    gives back the claims already made); the cases stay as they are and the sweeper retries. With ``defer``,
    the cases from the first failed claim on are left waiting instead, and the others go ahead.
    """
    offers: list[int | None] = [None] * len(batch)  # the offers' ids
    moves: list[states.Move] = []
    claims: list[tuple[int, Claim]] = []
    candidates: list[tuple[int, Case]] = []
    for i, case in enumerate(batch):
        if case.status not in DISPATCHABLE:
            continue
        if case.lat is None or case.lon is None:
            moves += _escalation(case, actor, "no_location", "无位置信息 / no location")
        else:
            candidates.append((i, case))
    seen = [] if fresh else [case.id for _, case in candidates]
    excluded: dict[int, list[int]] = {}
    if seen:
        asked = select(Offer.case_id, Offer.member_id).where(col(Offer.case_id).in_(seen), Offer.state != "accepted")
        for case_id, member_id in session.exec(asked).all():
            excluded.setdefault(case_id, []).append(member_id)
    found = _claim_many(session, [case for _, case in candidates], excluded, defer)
    for (i, case), claim in zip(candidates, found, strict=False):  # past the end of ``found``: deferred
        if claim is None:
            moves += _escalation(case, actor, "no_member", "附近无可派委员 / no eligible member nearby")
        else:
            claims.append((i, claim))
    now = utcnow()
    expires = now + timedelta(seconds=get_settings().offer_timeout_s)
    rows = [
        {
            "case_id": batch[i].id,
            "member_id": claim.member_id,
            "state": "open",
            "distance_m": round(claim.distance_m, 1),
            "offered_at": now,
            "expires_at": expires,
        }
        for i, claim in claims
    ]
    ids = insert_rows(session, Offer, rows, returning=True)
    waits = []
    for (i, claim), offer_id, row in zip(claims, ids, rows, strict=True):
        case = batch[i]
        offers[i] = offer_id
        waits.append((now - (case.updated_at or now)).total_seconds())  # since it became dispatchable
        case.offered_to = claim.member_id
        case.offer_expires_at = expires
        data = {"member_id": claim.member_id, "distance_m": row["distance_m"], "offer_id": offer_id}
        moves.append(states.Move(case, "offered", actor, to_status="offered", data=data))
    schedule_offer_timeouts(session, ids, expires)
    states.record_many(session, moves)
    if waits:

        def _observe() -> None:
            for w in waits:
                metrics.dispatched(w + (utcnow() - now).total_seconds())

        after_commit(session, _observe)
    return offers


def _escalation(case: Case, actor: str, reason: str, note: str) -> list[states.Move]:
    """Into the operator queue (once: an escalated case that still finds nobody stays where it is)."""
    if case.status == "escalated":
        return []
    return [states.Move(case, "escalated", actor, to_status="escalated", note=note, data={"reason": reason})]


def offer_next(session: Session, case: Case, *, actor: str = "system") -> int | None:
    """``offer_many`` for one case."""
    return offer_many(session, [case], actor=actor)[0]


def try_offer_next(session: Session, case: Case, *, actor: str = "system") -> int | None:
    """``offer_next`` that leaves the case waiting (for the sweeper) when Redis is down.

    No SAVEPOINT is needed: nothing is written before the Redis claims, the one place a RedisError comes
    from, so a failed claim leaves the transaction as it was."""
    return offer_many(session, [case], actor=actor, defer=True)[0]


def _open_offer(session: Session, case: Case) -> Offer | None:
    return session.exec(
        select(Offer).where(Offer.case_id == case.id, Offer.state == "open").order_by(col(Offer.id).desc())
    ).first()


def close_offer(session: Session, case: Case, state: str, reason: str | None = None) -> Offer | None:
    offer = _open_offer(session, case)
    if offer is not None:
        offer.state = state
        offer.responded_at = utcnow()
        offer.reason = reason
        session.add(offer)
    case.offered_to = None
    case.offer_expires_at = None
    return offer


def _require_offer_holder(case: Case, member_id: int) -> None:
    if case.status != "offered" or case.offered_to != member_id:
        if case.offered_to != member_id and case.assignee_id != member_id:
            raise Forbidden("not_your_case", "该案件未派给您", "This case is not offered to you")
        states.check(case, "assigned")


def accept(session: Session, case_id: int, member_id: int) -> Case:
    """The member signs for (签收) the case offered to them, or for one an operator assigned them (the status
    stays ``assigned``: only the trail and ``accepted_at`` record the signature)."""
    case = cases.get(session, case_id, lock=True)
    if case.status == "assigned" and case.assignee_id == member_id and case.accepted_at is None:
        case.accepted_at = utcnow()
        states.record(session, case, actor=f"member:{member_id}", action="accepted")
        return case
    _require_offer_holder(case, member_id)
    close_offer(session, case, "accepted")
    case.assignee_id = member_id
    case.accepted_at = utcnow()
    states.transition(session, case, "assigned", actor=f"member:{member_id}", action="accepted")
    return case


def decline(session: Session, case_id: int, member_id: int, reason: str | None) -> Case:
    case = cases.get(session, case_id, lock=True)
    _require_offer_holder(case, member_id)
    close_offer(session, case, "declined", reason)
    release_after_commit(session, member_id)
    states.transition(
        session, case, "new", actor=f"member:{member_id}", action="declined", note=reason, notify=(member_id,)
    )
    try_offer_next(session, case)
    return case


def expire_offer(session: Session, offer_id: int) -> bool:
    """The offer timeout: if the offer is still open, pass the case to the next member. Idempotent."""
    offer = session.get(Offer, offer_id)
    if offer is None or offer.state != "open":
        return False
    case = cases.get(session, offer.case_id, lock=True)
    session.refresh(offer)
    if offer.state != "open" or case.offered_to != offer.member_id:
        return False
    close_offer(session, case, "expired")
    release_after_commit(session, offer.member_id)
    states.transition(
        session,
        case,
        "new",
        actor="system",
        action="offer_expired",
        note="超时未签收 / not accepted in time",
        notify=(offer.member_id,),
    )
    try_offer_next(session, case)
    return True


def assign(session: Session, case_id: int, member_id: int, actor: str) -> Case:
    """Manual assignment by an operator: overrides the rule, counts against the member's load. It is not the
    member's acceptance (签收): ``accepted_at`` waits for the member to sign or report progress. A case already
    assigned or in progress is reassigned: the previous member's slot is given back."""
    case = cases.get(session, case_id, lock=True)
    member = session.get(Member, member_id)
    if member is None:
        raise not_found("委员", "Member", code="member_not_found", id=member_id)
    if case.status in HOLDS_SLOT:
        return _reassign(session, case, member_id, actor)
    states.check(case, "assigned")
    previous = case.offered_to
    if close_offer(session, case, "withdrawn") is not None:
        release_after_commit(session, previous)
    locator = get_locator()
    locator.take(member_id)
    after_rollback(session, lambda: locator.release(member_id))
    case.assignee_id = member_id
    states.transition(
        session, case, "assigned", actor=actor, action="assigned", data={"member_id": member_id}, notify=(previous,)
    )
    return case


def _reassign(session: Session, case: Case, member_id: int, actor: str) -> Case:
    """Another member for a case that is assigned or in progress (its status stays); the trail names both."""
    previous = case.assignee_id
    if previous == member_id:
        raise Conflict(
            "already_assigned",
            "该案件已由这位委员承办",
            "The case is already assigned to this member",
            member_id=member_id,
        )
    locator = get_locator()
    locator.take(member_id)
    after_rollback(session, lambda: locator.release(member_id))
    release_after_commit(session, previous)
    case.assignee_id = member_id
    data = {"member_id": member_id, "from_member_id": previous}
    states.record(session, case, actor=actor, action="assigned", data=data, notify=(previous,))
    return case


def candidates(session: Session, case: Case, limit: int = 5) -> list[dict]:
    """The members the rule would consider for ``case``, nearest first, for an operator's manual choice.

    Same filters as the dispatcher (duty, capacity, category, area, radius), computed from the database;
    members already offered this case are included and flagged, since an operator may still choose them.
    """
    if case.lat is None or case.lon is None:
        return []
    radius = get_settings().dispatch_radius_km * 1000
    members = list(session.exec(select(Member).where(Member.on_duty == True)).all())  # noqa: E712
    load = loads(session)
    pos = point_positions(session, {m.point_id for m in members if m.point_id})
    tried = set(session.exec(select(Offer.member_id).where(Offer.case_id == case.id)).all())
    ranked = []
    for m in members:
        assert m.id is not None  # a member from the database
        at_point = pos.get(m.point_id) if m.point_id is not None else None
        lat, lon = (m.lat, m.lon) if m.lat is not None else at_point or (None, None)
        if lat is None or load.get(m.id, 0) >= m.capacity:
            continue
        assert lon is not None  # a position has both coordinates (validate_location)
        if m.categories and case.category and not any(taxonomy.covers(c, case.category) for c in m.categories):
            continue
        if m.level != "district" and m.town_code != case.town_code:
            continue
        d = haversine_m(case.lat, case.lon, lat, lon)
        if d <= radius:
            ranked.append((m.level == "district", d, m.id, m, lat, lon))
    ranked.sort(key=lambda r: r[:3])
    return [
        {
            "member_id": m.id,
            "name": m.name,
            "level": m.level,
            "sector": m.sector,
            "distance_m": round(d, 1),
            "load": load.get(cast(int, m.id), 0),  # asserted above
            "capacity": m.capacity,
            "lat": lat,
            "lon": lon,
            "previously_offered": m.id in tried,
        }
        for _, d, _, m, lat, lon in ranked[:limit]
    ]
