"""/api/analysis: hotspots (研判) among open cases and category suggestions for free text."""

from __future__ import annotations

from datetime import timedelta

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, Field
from sqlmodel import Session, select

from dispatch.analysis import classify, hotspots
from dispatch.analysis import text as tx
from dispatch.auth.deps import STAFF, get_session, require
from dispatch.cases.models import Case
from dispatch.cases.states import OPEN_STATUSES
from dispatch.db import utcnow
from dispatch.errors import AppError
from dispatch.regions import reference

router = APIRouter(prefix="/api/analysis", tags=["analysis"])
MAX_CASES = 5000


class SuggestIn(BaseModel):
    text: str = Field(min_length=1, max_length=20000)


def _place_name(code: str | None) -> str | None:
    if not code:
        return None
    try:
        region = reference.by_code(code)
    except Exception:  # noqa: BLE001 - a name is a nicety
        return None
    return region["name"] if region else None


@router.get("/hotspots", dependencies=[Depends(require("operator", "supervisor"))])
def list_hotspots(
    days: int = Query(30, ge=1, le=366, description="open cases received in the last N days"),
    town_code: str | None = Query(None, max_length=12),
    radius_m: float = Query(hotspots.DEFAULT_RADIUS_M, gt=0, le=20000),
    window_days: float = Query(hotspots.DEFAULT_WINDOW_DAYS, gt=0, le=366),
    threshold: float = Query(hotspots.DEFAULT_THRESHOLD, gt=0, le=1),
    min_size: int = Query(hotspots.DEFAULT_MIN_SIZE, ge=2, le=100),
    session: Session = Depends(get_session),
) -> dict:
    since = utcnow() - timedelta(days=days)
    query = select(Case).where(Case.status.in_(OPEN_STATUSES), Case.received_at >= since)
    if town_code:
        query = query.where(Case.town_code == town_code)
    cases = list(session.exec(query.order_by(Case.received_at, Case.id).limit(MAX_CASES)))
    items = [
        hotspots.Item(
            id=c.id,
            text=f"{c.title or ''} {c.content}",
            at=c.received_at,
            village_code=c.village_code,
            town_code=c.town_code,
            lat=c.lat,
            lon=c.lon,
        )
        for c in cases
    ]
    try:
        idf = classify.background_idf()
    except FileNotFoundError:
        idf = None
    groups = hotspots.cluster(items, threshold=threshold, window_days=window_days, radius_m=radius_m, idf=idf)
    out = []
    for group in groups:
        if len(group) < min_size:
            continue
        members = [items[i] for i in group]
        villages = sorted({m.village_code for m in members if m.village_code})
        towns = sorted({m.town_code for m in members if m.town_code})
        keywords = tx.top_terms((m.vector for m in members), 5)
        place = _place_name(villages[0]) if len(villages) == 1 else _place_name(towns[0]) if len(towns) == 1 else None
        out.append(
            {
                "case_ids": sorted(m.id for m in members),
                "size": len(members),
                "village_codes": villages,
                "town_codes": towns,
                "place": place,
                "keywords": keywords,
                "first_at": min(m.at for m in members).isoformat(),
                "last_at": max(m.at for m in members).isoformat(),
                "topic_title": hotspots.topic_title(place, keywords, len(members)),
            }
        )
    return {
        "params": {
            "days": days,
            "town_code": town_code,
            "radius_m": radius_m,
            "window_days": window_days,
            "threshold": threshold,
            "min_size": min_size,
        },
        "cases_considered": len(items),
        "hotspots": out,
    }


@router.post("/suggest-category", dependencies=[Depends(require(*STAFF))])
def suggest_category(body: SuggestIn) -> dict:
    """The three likeliest top-level categories; the operator confirms (nothing is set here)."""
    try:
        suggestions = classify.suggest(body.text, 3)
    except FileNotFoundError as exc:
        raise AppError("model_unavailable", "分类模型不可用", "The category model is unavailable", status=503) from exc
    return {"suggestions": suggestions, "model": "multinomial_nb"}
