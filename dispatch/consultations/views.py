"""Consultation API: thin routers over ``consultations.service``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response
from sqlmodel import Session

from dispatch.auth.deps import STAFF, get_session, require
from dispatch.auth.service import Principal
from dispatch.consultations import service
from dispatch.consultations.models import (
    DemonstrationIn,
    DrawIn,
    EvaluationIn,
    FollowUpIn,
    FollowUpResultIn,
    ForwardTopicIn,
    HeldIn,
    LedgerIn,
    MeetingIn,
    MinutesIn,
    NoteIn,
    OutcomeIn,
    ParticipantIn,
    RedrawIn,
    ScreeningIn,
    TopicIn,
)
from dispatch.localtime import SHANGHAI
from dispatch.points.service import view as point_view
from qr import codes

router = APIRouter(tags=["consultations"])
T = "/api/consultations/topics"
RUN = require("operator")
READ = require(*STAFF)
READ_OR_MEMBER = require(*STAFF, "member")
PROPOSE = require("operator", "member")


def _topic(session: Session, topic_id: int, p: Principal, *, lock: bool = False):
    topic = service.get_topic(session, topic_id, lock=lock)
    service.check_visible(session, topic, p)
    return topic


def _done(session: Session, topic, p: Principal | None = None) -> dict:
    session.commit()
    return service.topic_view(session, topic, p)


# ---- topics ------------------------------------------------------------------------------------------


@router.post(T, status_code=201)
def create_topic(body: TopicIn, session: Session = Depends(get_session), p: Principal = Depends(PROPOSE)):
    topic = service.create_topic(session, body, p)
    return _done(session, topic, p)


@router.get(T)
def list_topics(
    status: str | None = None,
    town_code: str | None = None,
    session: Session = Depends(get_session),
    p: Principal = Depends(READ_OR_MEMBER),
) -> list[dict]:
    return [service.topic_summary(t) for t in service.list_topics(session, p, status=status, town_code=town_code)]


@router.get(T + "/{topic_id}")
def get_topic(topic_id: int, session: Session = Depends(get_session), p: Principal = Depends(READ_OR_MEMBER)):
    return service.topic_view(session, _topic(session, topic_id, p), p)


@router.get(T + "/{topic_id}/events")
def topic_events(topic_id: int, session: Session = Depends(get_session), p: Principal = Depends(READ_OR_MEMBER)):
    _topic(session, topic_id, p)
    return [e.model_dump() for e in service.events(session, topic_id)]


@router.post(T + "/{topic_id}/screening")
def screen(topic_id: int, body: ScreeningIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)):
    topic = service.screen(session, service.get_topic(session, topic_id, lock=True), body, p.actor)
    return _done(session, topic)


@router.post(T + "/{topic_id}/forward")
def forward(topic_id: int, body: ForwardTopicIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)):
    topic = service.get_topic(session, topic_id, lock=True)
    topic = service.forward(session, topic, body.department_id, body.note, p.actor)
    return _done(session, topic)


# ---- participants and draws ---------------------------------------------------------------------------------


@router.post(T + "/{topic_id}/participants", status_code=201)
def add_participant(
    topic_id: int, body: ParticipantIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    part = service.add_participant(session, service.get_topic(session, topic_id, lock=True), body, p.actor)
    session.commit()
    return service.participant_view(session, part)


@router.delete(T + "/{topic_id}/participants/{participant_id}", status_code=204)
def remove_participant(
    topic_id: int,
    participant_id: int,
    reason: str | None = None,
    session: Session = Depends(get_session),
    p: Principal = Depends(RUN),
) -> Response:
    service.remove_participant(
        session, service.get_topic(session, topic_id, lock=True), participant_id, reason, p.actor
    )
    session.commit()
    return Response(status_code=204)


@router.post(T + "/{topic_id}/participants/confirm")
def confirm_participants(
    topic_id: int, body: NoteIn | None = None, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    topic = service.get_topic(session, topic_id, lock=True)
    topic = service.confirm_participants(session, topic, body.note if body else None, p.actor)
    return _done(session, topic)


@router.post(T + "/{topic_id}/draws", status_code=201)
def draw(topic_id: int, body: DrawIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)) -> dict:
    row = service.draw(session, service.get_topic(session, topic_id, lock=True), body, p.actor)
    session.commit()
    return service.draw_view(row)


@router.get(T + "/{topic_id}/draws", dependencies=[Depends(READ)])
def list_draws(topic_id: int, session: Session = Depends(get_session)) -> list[dict]:
    service.get_topic(session, topic_id)
    return [service.draw_view(d) for d in service.draws(session, topic_id)]


@router.post(T + "/{topic_id}/draws/{draw_id}/redraw", status_code=201)
def redraw(
    topic_id: int, draw_id: int, body: RedrawIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    row = service.redraw(session, service.get_topic(session, topic_id, lock=True), draw_id, body, p.actor)
    session.commit()
    return service.draw_view(row)


# ---- meetings -----------------------------------------------------------------------------------------------


@router.post(T + "/{topic_id}/meetings", status_code=201)
def schedule_meeting(
    topic_id: int, body: MeetingIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    meeting = service.schedule_meeting(session, service.get_topic(session, topic_id, lock=True), body, p.actor)
    session.commit()
    return service.meeting_view(session, meeting)


@router.post("/api/meetings/checkin/{token}", status_code=201)
def check_in(token: str, session: Session = Depends(get_session), p: Principal = Depends(require("member"))) -> dict:
    row = service.check_in(session, token, p)
    session.commit()
    meeting = service.get_meeting(session, row.meeting_id)
    return {"meeting_id": row.meeting_id, "topic_id": meeting.topic_id, "member_id": row.member_id, "at": row.at}


@router.get("/api/meetings/{meeting_id}")
def get_meeting(meeting_id: int, session: Session = Depends(get_session), p: Principal = Depends(READ_OR_MEMBER)):
    meeting = service.get_meeting(session, meeting_id)
    _topic(session, meeting.topic_id, p)
    return service.meeting_view(session, meeting, with_token=p.role != "member")


@router.get("/api/meetings/{meeting_id}/attendance", dependencies=[Depends(READ)])
def attendance(meeting_id: int, session: Session = Depends(get_session)) -> list[dict]:
    service.get_meeting(session, meeting_id)
    return service.attendance(session, meeting_id)


@router.put("/api/meetings/{meeting_id}/minutes")
def put_minutes(
    meeting_id: int, body: MinutesIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    meeting = service.set_minutes(session, service.get_meeting(session, meeting_id), body.minutes, p.actor)
    session.commit()
    return service.meeting_view(session, meeting)


@router.post("/api/meetings/{meeting_id}/held")
def hold_meeting(
    meeting_id: int, body: HeldIn | None = None, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    """Held from its start time on; earlier only with ``{"reason"}`` (409 ``meeting_not_started`` without)."""
    meeting = service.get_meeting(session, meeting_id)
    meeting = service.hold_meeting(session, meeting, p.actor, body.reason if body else None)
    session.commit()
    return service.meeting_view(session, meeting)


@router.get("/api/meetings/{meeting_id}/qr.png", dependencies=[Depends(READ)])
def meeting_qr_png(meeting_id: int, session: Session = Depends(get_session)) -> Response:
    url = service.checkin_url(service.get_meeting(session, meeting_id))
    return Response(codes.png(url), media_type="image/png")


@router.get("/api/meetings/{meeting_id}/qr.svg", dependencies=[Depends(READ)])
def meeting_qr_svg(meeting_id: int, session: Session = Depends(get_session)) -> Response:
    url = service.checkin_url(service.get_meeting(session, meeting_id))
    return Response(codes.svg(url), media_type="image/svg+xml")


# ---- outcomes, ledger, follow-ups, evaluation ---------------------------------------------------------------


@router.post(T + "/{topic_id}/outcomes", status_code=201)
def add_outcome(
    topic_id: int, body: OutcomeIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    outcome = service.add_outcome(session, service.get_topic(session, topic_id, lock=True), body, p.actor)
    session.commit()
    return service.outcome_view(session, outcome)


@router.post(T + "/{topic_id}/report")
def report(
    topic_id: int, body: NoteIn | None = None, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    topic = service.report(
        session, service.get_topic(session, topic_id, lock=True), body.note if body else None, p.actor
    )
    return _done(session, topic)


@router.post("/api/consultations/outcomes/{outcome_id}/ledger", status_code=201)
def add_ledger_entry(
    outcome_id: int, body: LedgerIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    entry = service.add_ledger_entry(session, service.get_outcome(session, outcome_id), body, p.actor)
    session.commit()
    return service.ledger_view(entry)


@router.get("/api/consultations/outcomes/{outcome_id}", dependencies=[Depends(READ)])
def get_outcome(outcome_id: int, session: Session = Depends(get_session)) -> dict:
    return service.outcome_view(session, service.get_outcome(session, outcome_id))


@router.post(T + "/{topic_id}/follow-ups", status_code=201)
def schedule_follow_up(
    topic_id: int, body: FollowUpIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    row = service.schedule_follow_up(session, service.get_topic(session, topic_id, lock=True), body, p.actor)
    session.commit()
    return service.follow_up_view(row)


@router.get("/api/consultations/follow-ups/{follow_up_id}", dependencies=[Depends(READ)])
def get_follow_up(follow_up_id: int, session: Session = Depends(get_session)) -> dict:
    return service.follow_up_view(service.get_follow_up(session, follow_up_id))


@router.post("/api/consultations/follow-ups/{follow_up_id}/result")
def record_follow_up(
    follow_up_id: int, body: FollowUpResultIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    row = service.record_follow_up(
        session, service.get_follow_up(session, follow_up_id, lock=True), body.result, p.actor
    )
    session.commit()
    return service.follow_up_view(row)


@router.post(T + "/{topic_id}/evaluations", status_code=201)
def evaluate(
    topic_id: int, body: EvaluationIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    row = service.evaluate(session, service.get_topic(session, topic_id, lock=True), body, p.actor)
    session.commit()
    return {
        **service.evaluation_view(row),
        "summary": service.evaluation_summary(service.evaluations(session, topic_id)),
    }


@router.get(T + "/{topic_id}/evaluations", dependencies=[Depends(READ)])
def list_evaluations(topic_id: int, session: Session = Depends(get_session)) -> dict:
    service.get_topic(session, topic_id)
    rows = service.evaluations(session, topic_id)
    return {"evaluations": [service.evaluation_view(r) for r in rows], **service.evaluation_summary(rows)}


@router.post(T + "/{topic_id}/close")
def close(
    topic_id: int, body: NoteIn | None = None, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    topic = service.close(
        session, service.get_topic(session, topic_id, lock=True), body.note if body else None, p.actor
    )
    return _done(session, topic)


# ---- coverage -----------------------------------------------------------------------------------------------------


@router.get("/api/consultations/coverage", dependencies=[Depends(READ)])
def coverage(
    year: Annotated[int | None, Query(ge=2000, le=2100)] = None, session: Session = Depends(get_session)
) -> dict:
    return service.coverage(session, year or datetime.now(SHANGHAI).year)


@router.put("/api/consultations/points/{point_id}/demonstration")
def set_demonstration(
    point_id: int, body: DemonstrationIn, session: Session = Depends(get_session), p: Principal = Depends(RUN)
) -> dict:
    point = service.set_demonstration(session, point_id, body.demonstration)
    session.commit()
    return point_view(point)
