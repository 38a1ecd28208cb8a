"""研判 rules (no HTTP): hotspots among open cases, and the live hotspot flags operators see and act on.

``groups`` computes clusters (read only); ``reconcile`` turns them into flagged ``Hotspot`` rows, idempotently:
a group that shares a case with an open hotspot updates it (it only grows), a new group of at least
``min_size`` cases not already claimed by a dismissed or topic hotspot is flagged once. Events go through the
outbox: ``hotspot.flagged``, ``hotspot.updated``, ``hotspot.dismissed``, ``hotspot.topic``, ``hotspot.merged``.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import text
from sqlmodel import Session, col, select

from dispatch.analysis import classify, hotspots
from dispatch.analysis import text as tx
from dispatch.analysis.models import Hotspot, HotspotCase
from dispatch.auth.service import Principal
from dispatch.cases.models import Case
from dispatch.cases.states import OPEN_STATUSES
from dispatch.consultations import service as consultations
from dispatch.consultations.models import TopicIn
from dispatch.db import is_postgres, utcnow
from dispatch.errors import Conflict, not_found
from dispatch.events.service import emit
from dispatch.regions import reference
from dispatch.statemachine import Transitions

# an open hotspot grows until it is merged into another, dismissed, or becomes a topic; then it is final
MOVES = Transitions(
    {"open": {"merged", "dismissed", "topic"}, "merged": set(), "dismissed": set(), "topic": set()}, "热点", "hotspot"
)
MAX_CASES = 5000
DEFAULT_DAYS = 30
_DETECT_LOCK_KEY = 0x407590  # advisory lock: one reconciliation at a time across processes


@dataclass(frozen=True)
class Params:
    days: int = DEFAULT_DAYS
    town_code: str | None = None
    radius_m: float = hotspots.DEFAULT_RADIUS_M
    window_days: float = hotspots.DEFAULT_WINDOW_DAYS
    threshold: float = hotspots.DEFAULT_THRESHOLD
    min_size: int = hotspots.DEFAULT_MIN_SIZE


def place_name(code: str | None) -> str | None:
    if not code:
        return None
    try:
        region = reference.by_code(code)
    except Exception:  # noqa: BLE001 - a name is a nicety
        return None
    return region["name"] if region else None


def _idf() -> dict[str, float] | None:
    try:
        return classify.background_idf()
    except FileNotFoundError:
        return None


_ITEM_COLUMNS: tuple[Any, ...] = (  # sqlmodel's select() is typed for at most 4 columns
    Case.id,
    Case.title,
    Case.content,
    Case.received_at,
    Case.village_code,
    Case.town_code,
    Case.lat,
    Case.lon,
)


def _item(c: Any) -> hotspots.Item:
    """A case, or a row of ``_ITEM_COLUMNS``, as clustering sees it."""
    return hotspots.Item(
        id=c.id,
        text=f"{c.title or ''} {c.content}",
        at=c.received_at,
        village_code=c.village_code,
        town_code=c.town_code,
        lat=c.lat,
        lon=c.lon,
    )


def open_cases(session: Session, days: int, town_code: str | None = None) -> list[hotspots.Item]:
    """Open cases received in the last ``days``: the newest ``MAX_CASES`` of them, oldest first."""
    since = utcnow() - timedelta(days=days)
    query = select(*_ITEM_COLUMNS).where(col(Case.status).in_(OPEN_STATUSES), Case.received_at >= since)
    if town_code:
        query = query.where(Case.town_code == town_code)
    newest = session.exec(query.order_by(col(Case.received_at).desc(), col(Case.id).desc()).limit(MAX_CASES))
    return [_item(c) for c in reversed(newest.all())]


def summary(items: Sequence[hotspots.Item]) -> dict[str, Any]:
    """Place, keywords, time span and suggested topic of some cases (their ``vector`` must be set)."""
    villages = Counter(m.village_code for m in items if m.village_code)
    towns = Counter(m.town_code for m in items if m.town_code)
    keywords = tx.top_terms((m.vector for m in items), 5)
    village_codes, town_codes = sorted(villages), sorted(towns)
    if len(village_codes) == 1:
        place = place_name(village_codes[0])
    elif len(town_codes) == 1:
        place = place_name(town_codes[0])
    else:
        place = None
    located = [m for m in items if m.lat is not None and m.lon is not None]
    return {
        "case_ids": sorted(m.id for m in items),
        "size": len(items),
        "village_codes": village_codes,
        "town_codes": town_codes,
        "village_code": max(village_codes, key=lambda v: (villages[v], v)) if village_codes else None,
        "town_code": max(town_codes, key=lambda t: (towns[t], t)) if town_codes else None,
        "place": place,
        "keywords": keywords,
        "lat": sum(m.lat for m in located if m.lat is not None) / len(located) if located else None,
        "lon": sum(m.lon for m in located if m.lon is not None) / len(located) if located else None,
        "first_at": min(m.at for m in items),
        "last_at": max(m.at for m in items),
        "topic_title": hotspots.topic_title(place, keywords, len(items)),
    }


def cluster(items: list[hotspots.Item], params: Params | None = None) -> list[dict[str, Any]]:
    """Clusters of at least two of ``items`` with their summaries (no database: run it outside a transaction)."""
    params = params or Params()
    found = hotspots.cluster(
        items,
        threshold=params.threshold,
        window_days=params.window_days,
        radius_m=params.radius_m,
        idf=_idf(),
    )
    return [summary([items[i] for i in g]) for g in found if len(g) >= 2]


_index: hotspots.Index | None = None
_index_lock = threading.Lock()


def detect_clusters(items: list[hotspots.Item]) -> list[dict[str, Any]]:
    """``cluster`` at the default parameters for live detection, incrementally: the process that detects (the RQ
    analysis worker, the embedded default's clustering child) keeps a ``hotspots.Index``, so each run compares
    only the cases new since the last. Without the background idf it clusters from nothing each time."""
    global _index
    idf = _idf()
    if idf is None:
        return cluster(items)
    with _index_lock:
        if _index is None or _index.idf is not idf:
            _index = hotspots.Index(idf)
        found = _index.sync(items)
    return [summary([items[i] for i in g]) for g in found if len(g) >= 2]


def analyse(session: Session, params: Params) -> dict[str, Any]:
    """``GET /api/analysis/hotspots``: the clusters of ``min_size`` or more, computed on the spot."""
    items = open_cases(session, params.days, params.town_code)
    session.rollback()  # read only: end the transaction (on SQLite it holds the write lock) before clustering
    found, considered = cluster(items, params), len(items)
    out = []
    for g in found:
        if g["size"] < params.min_size:
            continue
        out.append(
            {
                **{k: g[k] for k in ("case_ids", "size", "village_codes", "town_codes", "place", "keywords")},
                "first_at": g["first_at"].isoformat(),
                "last_at": g["last_at"].isoformat(),
                "topic_title": g["topic_title"],
            }
        )
    return {
        "params": {
            "days": params.days,
            "town_code": params.town_code,
            "radius_m": params.radius_m,
            "window_days": params.window_days,
            "threshold": params.threshold,
            "min_size": params.min_size,
        },
        "cases_considered": considered,
        "hotspots": out,
    }


# ---- live hotspots ------------------------------------------------------------------------------------


def case_ids(session: Session, hotspot_id: int) -> list[int]:
    stmt = select(HotspotCase.case_id).where(HotspotCase.hotspot_id == hotspot_id).order_by(col(HotspotCase.case_id))
    return list(session.exec(stmt).all())


def view(session: Session, h: Hotspot) -> dict[str, Any]:
    """A hotspot as the API and live events show it (JSON-ready)."""
    assert h.id is not None  # flushed or loaded
    iso = lambda v: v.isoformat() if v else None  # noqa: E731
    return {
        "id": h.id,
        "key": h.key,
        "status": h.status,
        "town_code": h.town_code,
        "village_code": h.village_code,
        "place": h.place,
        "lat": h.lat,
        "lon": h.lon,
        "keywords": list(h.keywords or []),
        "title": h.title,
        "size": h.size,
        "case_ids": case_ids(session, h.id),
        "first_at": iso(h.first_at),
        "last_at": iso(h.last_at),
        "first_flagged_at": iso(h.first_flagged_at),
        "last_seen_at": iso(h.last_seen_at),
        "updated_at": iso(h.updated_at),
        "topic_id": h.topic_id,
        "merged_into_id": h.merged_into_id,
        "closed_by": h.closed_by,
        "closed_at": iso(h.closed_at),
        "dismiss_reason": h.dismiss_reason,
    }


def _emit(session: Session, type_: str, h: Hotspot) -> None:
    session.flush()
    emit(session, type_, town_code=h.town_code, extra={"hotspot": view(session, h)})


def _refresh(session: Session, h: Hotspot, idf: dict[str, float] | None) -> None:
    """Recompute place, keywords, span and title from all of the hotspot's cases."""
    assert h.id is not None  # a hotspot from the database
    ids = case_ids(session, h.id)
    rows = list(session.exec(select(Case).where(col(Case.id).in_(ids)).order_by(col(Case.id))))
    items = [_item(c) for c in rows]
    for it, vec in zip(items, tx.vectorize([tx.tokens(it.text) for it in items], idf), strict=True):
        it.vector = vec
    s = summary(items)
    h.size, h.keywords, h.place = s["size"], s["keywords"], s["place"]
    h.town_code, h.village_code, h.lat, h.lon = s["town_code"], s["village_code"], s["lat"], s["lon"]
    h.first_at, h.last_at, h.title = s["first_at"], s["last_at"], s["topic_title"][:200]
    h.updated_at = utcnow()
    session.add(h)


def _link(session: Session, h: Hotspot, ids: Sequence[int], have: set[int]) -> list[int]:
    assert h.id is not None  # a hotspot from the database
    added = [i for i in ids if i not in have]
    for case_id in added:
        session.add(HotspotCase(hotspot_id=h.id, case_id=case_id))
        have.add(case_id)
    return added


def lock_detection(session: Session) -> None:
    """Serialise reconciliations: an advisory lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already does."""
    if is_postgres(session):
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _DETECT_LOCK_KEY})


def reconcile(session: Session, found: Sequence[dict[str, Any]], min_size: int = hotspots.DEFAULT_MIN_SIZE) -> dict:
    """Flag new clusters and grow open hotspots; the caller holds ``lock_detection`` and commits.

    Running it again on the same clusters changes nothing (apart from ``last_seen_at``) and emits nothing.
    """
    now = utcnow()
    idf = _idf()
    result: dict[str, list[int]] = {"flagged": [], "updated": [], "merged": []}
    for g in found:
        ids = g["case_ids"]
        rows = session.exec(
            select(HotspotCase.case_id, Hotspot.id, Hotspot.status)
            .join(Hotspot, col(Hotspot.id) == col(HotspotCase.hotspot_id))
            .where(col(HotspotCase.case_id).in_(ids))
        ).all()
        closed = {cid for cid, _, status in rows if status in ("dismissed", "topic")}
        open_ids = sorted({hid for _, hid, status in rows if status == "open" and hid is not None})
        fresh = [i for i in ids if i not in closed]
        if open_ids:
            target = session.get(Hotspot, open_ids[0], with_for_update=True)
            assert target is not None and target.id is not None  # just read through its cases, under the lock
            session.refresh(target)
            if target.status != "open":  # dismissed meanwhile; the next run sees it
                continue
            have = set(case_ids(session, target.id))
            added = _link(session, target, fresh, have)
            for other_id in open_ids[1:]:  # this group bridges two open hotspots: the older one absorbs the other
                other = session.get(Hotspot, other_id, with_for_update=True)
                assert other is not None and other.id is not None  # just read through its cases, under the lock
                session.refresh(other)
                if other.status != "open":
                    continue
                added += _link(session, target, case_ids(session, other.id), have)
                MOVES.move(other, "merged")
                other.merged_into_id = target.id
                other.closed_at, other.closed_by = now, "system"
                session.add(other)
                _emit(session, "hotspot.merged", other)
                result["merged"].append(other.id)
            target.last_seen_at = now
            session.add(target)
            if added:
                session.flush()
                _refresh(session, target, idf)
                _emit(session, "hotspot.updated", target)
                result["updated"].append(target.id)
        elif len(fresh) >= min_size:
            place = g["village_code"] or g["town_code"] or "geo"
            h = Hotspot(
                key=f"{place}:{min(fresh)}",
                title=g["topic_title"][:200],
                first_at=g["first_at"],
                last_at=g["last_at"],
                first_flagged_at=now,
                last_seen_at=now,
            )
            session.add(h)
            session.flush()
            assert h.id is not None  # flushed above
            _link(session, h, fresh, set())
            session.flush()
            _refresh(session, h, idf)
            _emit(session, "hotspot.flagged", h)
            result["flagged"].append(h.id)
    return result


def get(session: Session, hotspot_id: int, *, lock: bool = False) -> Hotspot:
    h = session.get(Hotspot, hotspot_id, with_for_update=lock) if lock else session.get(Hotspot, hotspot_id)
    if h is None:
        raise not_found("热点", "Hotspot", code="hotspot_not_found", id=hotspot_id)
    if lock:
        session.refresh(h)
    return h


def _check_open(h: Hotspot) -> None:
    if h.status != "open":
        raise Conflict(
            "hotspot_closed",
            "该热点已处理",
            "This hotspot was already handled",
            status_from=h.status,
            topic_id=h.topic_id,
        )


def listing(session: Session, status: str | None = "open", town_code: str | None = None) -> list[dict[str, Any]]:
    stmt = select(Hotspot)
    if status:
        stmt = stmt.where(col(Hotspot.status).in_(status.split(",")))
    if town_code:
        stmt = stmt.where(Hotspot.town_code == town_code)
    rows = session.exec(stmt.order_by(col(Hotspot.last_at).desc(), col(Hotspot.id).desc()).limit(500))
    return [view(session, h) for h in rows]


def dismiss(session: Session, hotspot_id: int, reason: str, actor: str) -> Hotspot:
    h = get(session, hotspot_id, lock=True)
    _check_open(h)
    MOVES.move(h, "dismissed")
    h.dismiss_reason, h.closed_by, h.closed_at = reason, actor, utcnow()
    h.updated_at = h.closed_at
    session.add(h)
    _emit(session, "hotspot.dismissed", h)
    return h


def make_topic(
    session: Session, hotspot_id: int, p: Principal, title: str | None = None, description: str | None = None
) -> tuple[Hotspot, Any]:
    """A consultation topic from the hotspot's cases, through the one topic-from-cases path."""

    h = get(session, hotspot_id, lock=True)
    _check_open(h)
    assert h.id is not None  # a hotspot from the database
    ids = case_ids(session, h.id)
    if description is None:
        description = f"研判热点：{h.place or ''} {h.size} 件相似诉求（{'、'.join(h.keywords or [])}）"
    body = TopicIn(
        title=title or h.title,
        description=description,
        source="cases",
        case_ids=ids[:200],
    )
    topic = consultations.create_topic(session, body, p)
    MOVES.move(h, "topic")
    h.topic_id, h.closed_by, h.closed_at = topic.id, p.actor, utcnow()
    h.updated_at = h.closed_at
    session.add(h)
    _emit(session, "hotspot.topic", h)
    return h, topic
