"""研判 API: hotspots computed on the spot, the live hotspot flags, and category suggestions for free text."""

from __future__ import annotations

from fastapi import APIRouter, Body, Depends, Query
from pydantic import BaseModel, Field
from sqlmodel import Session

from dispatch.analysis import classify, hotspots, service
from dispatch.analysis.models import DismissIn, HotspotTopicIn
from dispatch.auth.deps import STAFF, get_session, require
from dispatch.auth.service import Principal
from dispatch.errors import AppError
from dispatch.validation import Text

router = APIRouter(tags=["analysis"])


class SuggestIn(BaseModel):
    text: Text = Field(min_length=1, max_length=20000)


@router.get("/api/analysis/hotspots", dependencies=[Depends(require("operator", "supervisor"))])
def list_hotspots(
    days: int = Query(30, ge=1, le=366, description="open cases received in the last N days"),
    town_code: str | None = Query(None, max_length=12),
    radius_m: float = Query(hotspots.DEFAULT_RADIUS_M, gt=0, le=20000),
    window_days: float = Query(hotspots.DEFAULT_WINDOW_DAYS, gt=0, le=366),
    threshold: float = Query(hotspots.DEFAULT_THRESHOLD, gt=0, le=1),
    min_size: int = Query(hotspots.DEFAULT_MIN_SIZE, ge=2, le=100),
    session: Session = Depends(get_session),
) -> dict:
    params = service.Params(days, town_code, radius_m, window_days, threshold, min_size)
    return service.analyse(session, params)


@router.post("/api/analysis/suggest-category", dependencies=[Depends(require(*STAFF))])
def suggest_category(body: SuggestIn) -> dict:
    """The three likeliest top-level categories; the operator confirms (nothing is set here)."""
    try:
        suggestions = classify.suggest(body.text, 3)
    except FileNotFoundError as exc:
        raise AppError("model_unavailable", "分类模型不可用", "The category model is unavailable", status=503) from exc
    return {"suggestions": suggestions, "model": "multinomial_nb"}


# ---- live hotspot flags -------------------------------------------------------------------------------


@router.get("/api/hotspots", dependencies=[Depends(require("operator", "supervisor"))])
def flagged_hotspots(
    status: str = Query("open", max_length=64, description="open (default), dismissed, topic, merged; comma-separated"),
    town_code: str | None = Query(None, max_length=12),
    session: Session = Depends(get_session),
) -> list[dict]:
    return service.listing(session, status, town_code)


@router.get("/api/hotspots/{hotspot_id}", dependencies=[Depends(require("operator", "supervisor"))])
def get_hotspot(hotspot_id: int, session: Session = Depends(get_session)) -> dict:
    return service.view(session, service.get(session, hotspot_id))


@router.post("/api/hotspots/{hotspot_id}/dismiss")
def dismiss_hotspot(
    hotspot_id: int,
    body: DismissIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require("operator")),
) -> dict:
    h = service.dismiss(session, hotspot_id, body.reason.strip() or body.reason, p.actor)
    session.commit()
    return service.view(session, h)


@router.post("/api/hotspots/{hotspot_id}/topic", status_code=201)
def hotspot_topic(
    hotspot_id: int,
    body: HotspotTopicIn | None = Body(None),
    session: Session = Depends(get_session),
    p: Principal = Depends(require("operator")),
) -> dict:
    """立为议题: a consultation topic from the hotspot's cases; the hotspot closes with the topic's id."""
    body = body or HotspotTopicIn()
    h, topic = service.make_topic(session, hotspot_id, p, body.title, body.description)
    session.commit()
    return {
        "hotspot": service.view(session, h),
        "topic": {"id": topic.id, "title": topic.title, "url": f"/consult/{topic.id}"},
    }
