"""Consultation pages: the operators' topic list and topic page, the think tank (experts), and the member's
meeting check-in page."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from dispatch.consultations.models import Meeting, Topic
from dispatch.consultations.service import is_participant, meeting_by_token
from dispatch.db import get_engine
from dispatch.errors import AppError
from dispatch.localtime import SHANGHAI
from dispatch.points.models import Point
from web.render import page_user, render

router = APIRouter(include_in_schema=False)


@router.get("/consult", response_class=HTMLResponse)
def consult_list(request: Request) -> HTMLResponse:
    return render(request, "consult_list.html", user=page_user(request, "operator", "supervisor"))


@router.get("/consult/experts", response_class=HTMLResponse)
def consult_experts(request: Request) -> HTMLResponse:
    """The think tank: list, add, edit, deactivate and import experts (supervisors read)."""
    user = page_user(request, "operator", "supervisor")
    return render(request, "consult_experts.html", user=user, can_run=user.role != "supervisor")


@router.get("/consult/{topic_id}", response_class=HTMLResponse)
def consult_topic(request: Request, topic_id: int) -> HTMLResponse:
    user = page_user(request, "operator", "supervisor")
    return render(request, "consult_topic.html", user=user, topic_id=topic_id, can_run=user.role != "supervisor")


@router.get("/c/{token}", response_class=HTMLResponse)
def checkin_page(request: Request, token: str) -> HTMLResponse:
    """The member's check-in page, opened from the meeting's QR code."""
    user = page_user(request, "member")
    with Session(get_engine()) as session:
        try:
            meeting: Meeting = meeting_by_token(session, token)
        except AppError:
            return render(
                request,
                "error.html",
                404,
                user=user,
                code="checkin_token_invalid",
                title_zh="签到码无效",
                title_en="Invalid check-in code",
                message_zh="此签到码不存在或已失效，请向工作人员确认。",
                message_en="This check-in code does not exist or is no longer valid. Please ask the staff.",
            )
        topic = session.get(Topic, meeting.topic_id)
        point = session.get(Point, meeting.point_id) if meeting.point_id else None
        participant = topic is not None and is_participant(session, topic, user.member_id)
        info = {
            "token": token,
            "topic_title": topic.title if topic else "",
            "kind": meeting.kind,
            "starts_at": meeting.starts_at.isoformat(),
            "starts_local": meeting.starts_at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M"),
            "place": point.name if point else None,
            "online_url": meeting.online_url if participant else None,
            "agenda": meeting.agenda if participant else "",
            "held": meeting.held_at is not None,
        }
    return render(request, "checkin.html", user=user, meeting=info)
