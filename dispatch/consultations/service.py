"""Consultation rules (no HTTP): topics from case clusters or proposals, screening by the five principles,
participants and random expert draws, meetings with QR check-in, outcomes and their ledger, follow-up reviews,
evaluation, and the coverage of demonstration points."""

from __future__ import annotations

import random
import secrets
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from dispatch.auth.service import Principal
from dispatch.broker import schedule
from dispatch.cases import handling
from dispatch.cases.models import Case, CaseEvent
from dispatch.cases.states import DONE_HERE
from dispatch.config import get_settings
from dispatch.consultations import states
from dispatch.consultations.models import (
    CRITERIA,
    PRINCIPLES,
    Attendance,
    DrawIn,
    Evaluation,
    EvaluationIn,
    Expert,
    ExpertDraw,
    FollowUp,
    FollowUpIn,
    LedgerEntry,
    LedgerIn,
    Meeting,
    MeetingIn,
    Outcome,
    OutcomeIn,
    Participant,
    ParticipantIn,
    RedrawIn,
    ScreeningIn,
    Topic,
    TopicCase,
    TopicEvent,
    TopicIn,
)
from dispatch.db import after_commit, utcnow
from dispatch.departments.models import Department
from dispatch.dispatching.models import Offer
from dispatch.errors import AppError, Conflict, Forbidden, not_found
from dispatch.events.service import emit
from dispatch.localtime import SHANGHAI
from dispatch.members.models import Member
from dispatch.points.models import Point
from dispatch.regions.models import Region

DEMONSTRATION_TARGET = 4  # 示范点: at least four consultations a year


def follow_up_job_id(follow_up_id: int) -> str:
    return f"follow-up-due-{follow_up_id}"


def schedule_follow_up_job(follow_up_id: int, at: datetime) -> None:
    """Enqueue the RQ job that marks the follow-up due at ``at`` (``flows.sweep_follow_ups`` covers a lost job)."""
    schedule(at, "workers.jobs.follow_up_due", follow_up_id, job_id=follow_up_job_id(follow_up_id))


def _invalid(code: str, zh: str, en: str, **details: Any) -> AppError:
    return AppError(code, zh, en, status=422, **details)


# ---- topics ------------------------------------------------------------------------------------------


def get_topic(session: Session, topic_id: int, *, lock: bool = False) -> Topic:
    topic = session.get(Topic, topic_id, with_for_update=lock) if lock else session.get(Topic, topic_id)
    if topic is None:
        raise not_found("议题", "Topic", code="topic_not_found", id=topic_id)
    return topic


def case_ids(session: Session, topic_id: int) -> list[int]:
    stmt = select(TopicCase.case_id).where(TopicCase.topic_id == topic_id).order_by(col(TopicCase.case_id))
    return list(session.exec(stmt).all())


def is_participant(session: Session, topic: Topic, member_id: int | None) -> bool:
    return member_id is not None and member_id in states.participant_members(session, topic)


def check_visible(session: Session, topic: Topic, p: Principal) -> None:
    """A member sees only the topics they propose or take part in; others do not exist for them."""
    if p.role == "member" and not is_participant(session, topic, p.member_id):
        raise not_found("议题", "Topic", code="topic_not_found", id=topic.id)


_DB_INT_MAX = 2**31 - 1


def _members_cases(session: Session, member_id: int | None, cases: list[Case]) -> set[int]:
    """Which of ``cases`` are the member's own: offered to them at some time (an ``Offer`` row, whatever became
    of it: the nearest-member rule judged the case theirs to handle) or assigned to them (now, or earlier by an
    operator: the trail's ``assigned`` events name the member)."""
    if member_id is None or not cases:
        return set()
    mine = {c.id for c in cases if c.id is not None and member_id in (c.offered_to, c.assignee_id)}
    rest = [c.id for c in cases if c.id is not None and c.id not in mine]
    if rest:
        offered = select(Offer.case_id).where(Offer.member_id == member_id, col(Offer.case_id).in_(rest))
        mine.update(session.exec(offered).all())
    rest = [i for i in rest if i not in mine]
    if rest:
        assigned = select(CaseEvent.case_id, CaseEvent.data).where(
            col(CaseEvent.case_id).in_(rest), CaseEvent.action == "assigned"
        )
        mine.update(cid for cid, data in session.exec(assigned).all() if (data or {}).get("member_id") == member_id)
    return mine


def linkable_cases(session: Session, ids: list[int], p: Principal) -> list[Case]:
    """The cases ``p`` may link to a topic, in the order given (duplicates dropped): staff (operators, admins)
    any case, a member only their own (offered to them at some time, or assigned to them).

    The one rule for every path that links cases to a topic (a member's proposal, an operator's topic, a
    hotspot made a topic). An id that is not linkable answers exactly like an unknown one (404
    ``case_not_found`` with that id), before anything is written, so case ids cannot be probed."""
    ids = list(dict.fromkeys(ids))
    valid = [i for i in ids if 0 < i <= _DB_INT_MAX]  # beyond the column's range: unknown, not a 422
    found = {c.id: c for c in session.exec(select(Case).where(col(Case.id).in_(valid))).all()} if valid else {}
    allowed = set(found) if p.role != "member" else _members_cases(session, p.member_id, list(found.values()))
    for case_id in ids:
        if case_id not in allowed:
            raise not_found("案件", "Case", code="case_not_found", id=case_id)
    return [found[i] for i in ids]


def create_topic(session: Session, body: TopicIn, p: Principal) -> Topic:
    source, proposer_id = body.source, body.proposer_id
    if p.role == "member":
        source, proposer_id = "proposal", p.member_id  # a member proposes in their own name
    if source == "cases" and not body.case_ids:
        raise _invalid(
            "cases_required", "由案件形成的议题至少需要一件案件", "A topic from cases needs at least one case"
        )
    if proposer_id is not None and session.get(Member, proposer_id) is None:
        raise not_found("委员", "Member", code="member_not_found", id=proposer_id)
    cases = linkable_cases(session, body.case_ids, p)
    town, village, point_id = body.town_code, body.village_code, body.point_id
    if point_id is not None:
        point = session.get(Point, point_id)
        if point is None:
            raise not_found("点位", "Point", code="point_not_found", id=point_id)
        village, town = village or point.village_code, town or point.town_code
    if cases:  # the cluster's place when none is given: the most common village among the cases
        villages = [c.village_code for c in cases if c.village_code]
        if village is None and villages:
            village = max(sorted(set(villages)), key=villages.count)
        towns = [c.town_code for c in cases if c.town_code]
        if town is None and towns:
            town = max(sorted(set(towns)), key=towns.count)
    if village is not None:
        region = session.get(Region, village)
        if region is None or region.level != "village":
            raise _invalid("unknown_region", f"未知的村/社区代码：{village}", f"Unknown village code: {village}")
        town = town or region.parent_code
    if town is not None and session.get(Region, town) is None:
        raise _invalid("unknown_region", f"未知的镇/街道代码：{town}", f"Unknown town code: {town}")
    topic = Topic(
        title=body.title,
        description=body.description,
        source=source,
        town_code=town,
        village_code=village,
        point_id=point_id,
        proposer_id=proposer_id,
        created_by=p.actor,
    )
    session.add(topic)
    session.flush()
    for case in cases:
        assert topic.id is not None and case.id is not None  # flushed / loaded rows
        session.add(TopicCase(topic_id=topic.id, case_id=case.id))
    session.flush()
    states.record(
        session,
        topic,
        actor=p.actor,
        action="proposed",
        to_status="proposed",
        data={"source": source, "case_ids": [c.id for c in cases]},
    )
    return topic


def list_topics(
    session: Session, p: Principal, *, status: str | None = None, town_code: str | None = None
) -> list[Topic]:
    stmt = select(Topic)
    if status:
        stmt = stmt.where(Topic.status == status)
    if town_code:
        stmt = stmt.where(Topic.town_code == town_code)
    if p.role == "member":
        mine = select(Participant.topic_id).where(
            Participant.member_id == p.member_id, col(Participant.removed_at).is_(None)
        )
        stmt = stmt.where((col(Topic.proposer_id) == p.member_id) | col(Topic.id).in_(mine))
    return list(session.exec(stmt.order_by(col(Topic.id).desc())).all())


def screen(session: Session, topic: Topic, body: ScreeningIn, actor: str) -> Topic:
    """Record the five-principle checklist; accepting needs every principle met."""
    missing = [k for k in PRINCIPLES if k not in body.principles]
    if missing:
        raise _invalid(
            "principles_missing",
            "五项原则须逐项填写：" + "、".join(missing),
            "Every one of the five principles must be checked: " + ", ".join(missing),
            missing=missing,
        )
    checklist = {k: body.principles[k].model_dump() for k in PRINCIPLES}
    failed = [k for k in PRINCIPLES if not checklist[k]["ok"]]
    to_status = "screened" if body.decision == "accept" else "rejected"
    states.check(topic, to_status)
    if body.decision == "accept" and failed:
        raise _invalid(
            "principles_not_met",
            "未满足全部五项原则，不能立为议题：" + "、".join(failed),
            "A topic is accepted only when all five principles are met; failed: " + ", ".join(failed),
            failed=failed,
        )
    screening = {"principles": checklist, "decision": body.decision, "note": body.note, "by": actor}
    if body.decision == "accept":  # the staff-approved text residents may read (consultation_for_case)
        screening["public_title"] = (body.public_title or "").strip() or topic.title
    topic.screening = screening
    states.transition(
        session, topic, to_status, actor=actor, note=body.note, data={"principles": checklist, "failed": failed}
    )
    return topic


def forward(session: Session, topic: Topic, department_id: int, note: str | None, actor: str) -> Topic:
    """An individual claim: forward the linked cases to the department (tracked there) instead of consulting."""
    if session.get(Department, department_id) is None:
        raise not_found("部门", "Department", code="department_not_found", id=department_id)
    states.check(topic, "forwarded")
    forwarded, skipped = [], []
    assert topic.id is not None  # a topic from the database
    for case_id in case_ids(session, topic.id):
        case = session.get(Case, case_id)
        if case is not None and case.status in DONE_HERE:
            skipped.append(case_id)
            continue
        handling.forward(session, case_id, department_id, actor, note or f"议题 {topic.id} 转交 / topic {topic.id}")
        forwarded.append(case_id)
    topic.department_id = department_id
    # staff decided on the topic as it stands: that title is what the forwarded cases' residents may read
    topic.screening = {**topic.screening, "public_title": topic.screening.get("public_title") or topic.title}
    states.transition(
        session,
        topic,
        "forwarded",
        actor=actor,
        note=note,
        data={"department_id": department_id, "forwarded_cases": forwarded, "skipped_cases": skipped},
    )
    return topic


def events(session: Session, topic_id: int) -> list[TopicEvent]:
    stmt = select(TopicEvent).where(TopicEvent.topic_id == topic_id).order_by(col(TopicEvent.id))
    return list(session.exec(stmt).all())


# ---- participants and draws -------------------------------------------------------------------------------

PARTICIPANT_STATUSES = ("proposed", "screened", "participants_set")


def participants(session: Session, topic_id: int, *, include_removed: bool = False) -> list[Participant]:
    stmt = select(Participant).where(Participant.topic_id == topic_id)
    if not include_removed:
        stmt = stmt.where(col(Participant.removed_at).is_(None))
    return list(session.exec(stmt.order_by(col(Participant.id))).all())


def add_participant(session: Session, topic: Topic, body: ParticipantIn, actor: str) -> Participant:
    states.require_status(topic, *PARTICIPANT_STATUSES, doing=("增加参与方", "adding participants"))
    assert topic.id is not None  # a topic from the database
    current = participants(session, topic.id)
    if body.kind == "member":
        if body.member_id is None or session.get(Member, body.member_id) is None:
            raise not_found("委员", "Member", code="member_not_found", id=body.member_id)
        if any(x.member_id == body.member_id for x in current):
            raise Conflict("already_participant", "该委员已是参与方", "That member already takes part")
        part = Participant(topic_id=topic.id, kind="member", member_id=body.member_id)
    elif body.kind == "department":
        if body.department_id is None or session.get(Department, body.department_id) is None:
            raise not_found("部门", "Department", code="department_not_found", id=body.department_id)
        if any(x.department_id == body.department_id for x in current):
            raise Conflict("already_participant", "该部门已是参与方", "That department already takes part")
        part = Participant(topic_id=topic.id, kind="department", department_id=body.department_id)
    else:
        if not body.name:
            raise _invalid("name_required", "群众代表须填写姓名", "A resident representative needs a name")
        part = Participant(topic_id=topic.id, kind="resident", name=body.name, phone=body.phone)
    session.add(part)
    session.flush()
    data = {"id": part.id, "kind": part.kind, "member_id": part.member_id, "department_id": part.department_id}
    states.record(session, topic, actor=actor, action="participant_added", data=data)
    return part


def remove_participant(session: Session, topic: Topic, participant_id: int, reason: str | None, actor: str) -> None:
    states.require_status(topic, *PARTICIPANT_STATUSES, doing=("移除参与方", "removing participants"))
    part = session.get(Participant, participant_id)
    if part is None or part.topic_id != topic.id or part.removed_at is not None:
        raise not_found("参与方", "Participant", code="participant_not_found", id=participant_id)
    part.removed_at, part.removed_reason = utcnow(), reason
    session.add(part)
    states.record(session, topic, actor=actor, action="participant_removed", note=reason, data={"id": part.id})


def eligible_pool(session: Session, topic: Topic, field: str, *, exclude: tuple[int, ...] = ()) -> list[int]:
    """Ids of the experts who may be drawn, ascending: field matches, active, no declared conflict with the
    topic or its town, not already taking part (and not in ``exclude``)."""
    assert topic.id is not None  # a topic from the database
    taking_part = {x.expert_id for x in participants(session, topic.id) if x.expert_id}
    pool = []
    for e in session.exec(select(Expert).where(Expert.active == True)).all():  # noqa: E712
        if field not in e.fields or e.id in taking_part or e.id in exclude:
            continue
        if topic.town_code and topic.town_code in e.conflict_towns:
            continue
        if topic.village_code and topic.village_code in e.conflict_towns:
            continue
        if topic.id in e.conflict_topics:
            continue
        assert e.id is not None  # an expert from the database
        pool.append(e.id)
    return sorted(pool)


def pick(seed: int, pool: list[int], count: int) -> list[int]:
    """The reproducible draw: same seed and same ordered pool → same picks."""
    return random.Random(seed).sample(sorted(pool), count)


def _draw(session: Session, topic: Topic, field: str, count: int, seed: int, pool: list[int]) -> list[int]:
    if len(pool) < count:
        raise Conflict(
            "not_enough_experts",
            f"“{field}”领域符合条件的专家不足 {count} 人（现有 {len(pool)} 人）",
            f"Only {len(pool)} eligible expert(s) in field {field!r}, {count} needed",
            field=field,
            pool=pool,
        )
    return pick(seed, pool, count)


def draw(session: Session, topic: Topic, body: DrawIn, actor: str) -> ExpertDraw:
    states.require_status(topic, *PARTICIPANT_STATUSES, doing=("抽取专家", "drawing experts"))
    seed = body.seed if body.seed is not None else secrets.randbits(48)
    pool = eligible_pool(session, topic, body.field)
    picks = _draw(session, topic, body.field, body.count, seed, pool)
    assert topic.id is not None  # a topic from the database
    row = ExpertDraw(topic_id=topic.id, field=body.field, seed=seed, pool=pool, picks=picks, actor=actor)
    session.add(row)
    session.flush()
    for expert_id in picks:
        session.add(Participant(topic_id=topic.id, kind="expert", expert_id=expert_id, draw_id=row.id))
    session.flush()
    states.record(session, topic, actor=actor, action="experts_drawn", data=draw_view(row))
    return row


def redraw(session: Session, topic: Topic, draw_id: int, body: RedrawIn, actor: str) -> ExpertDraw:
    """Replace one drawn expert, with a recorded reason and a seed of its own."""
    states.require_status(topic, *PARTICIPANT_STATUSES, doing=("重新抽取专家", "redrawing experts"))
    original = session.get(ExpertDraw, draw_id)
    if original is None or original.topic_id != topic.id:
        raise not_found("抽取记录", "Draw", code="draw_not_found", id=draw_id)
    assert topic.id is not None  # a topic from the database
    part = next((x for x in participants(session, topic.id) if x.expert_id == body.expert_id), None)
    if part is None:
        raise not_found("参与专家", "Participating expert", code="participant_not_found", expert_id=body.expert_id)
    seed = body.seed if body.seed is not None else secrets.randbits(48)
    pool = eligible_pool(session, topic, original.field, exclude=(body.expert_id,))
    picks = _draw(session, topic, original.field, 1, seed, pool)
    row = ExpertDraw(
        topic_id=topic.id,
        field=original.field,
        seed=seed,
        pool=pool,
        picks=picks,
        replaces_expert_id=body.expert_id,
        reason=body.reason,
        actor=actor,
    )
    session.add(row)
    session.flush()
    part.removed_at, part.removed_reason = utcnow(), body.reason
    session.add(part)
    session.add(Participant(topic_id=topic.id, kind="expert", expert_id=picks[0], draw_id=row.id))
    session.flush()
    states.record(session, topic, actor=actor, action="expert_redrawn", note=body.reason, data=draw_view(row))
    return row


def draws(session: Session, topic_id: int) -> list[ExpertDraw]:
    stmt = select(ExpertDraw).where(ExpertDraw.topic_id == topic_id).order_by(col(ExpertDraw.id))
    return list(session.exec(stmt).all())


def confirm_participants(session: Session, topic: Topic, note: str | None, actor: str) -> Topic:
    states.check(topic, "participants_set")
    assert topic.id is not None  # a topic from the database
    kinds = {x.kind for x in participants(session, topic.id)}
    if "member" not in kinds:
        raise _invalid("participants_incomplete", "至少需要一名委员参与", "At least one member must take part")
    states.transition(session, topic, "participants_set", actor=actor, note=note, data={"kinds": sorted(kinds)})
    return topic


# ---- meetings ---------------------------------------------------------------------------------------------


def checkin_url(meeting: Meeting) -> str:
    return f"{get_settings().public_base_url.rstrip('/')}/c/{meeting.checkin_token}"


def get_meeting(session: Session, meeting_id: int, *, lock: bool = False) -> Meeting:
    meeting = session.get(Meeting, meeting_id, with_for_update=lock) if lock else session.get(Meeting, meeting_id)
    if meeting is None:
        raise not_found("协商活动", "Meeting", code="meeting_not_found", id=meeting_id)
    return meeting


def schedule_meeting(session: Session, topic: Topic, body: MeetingIn, actor: str) -> Meeting:
    states.check(topic, "scheduled")
    if body.kind == "online":
        if not body.online_url:
            raise _invalid("online_url_required", "网上议事须提供链接", "An online meeting needs its URL")
    elif body.point_id is None:
        raise _invalid("point_required", "线下协商须选择点位", "A meeting in person needs a point")
    point = None
    if body.point_id is not None:
        point = session.get(Point, body.point_id)
        if point is None:
            raise not_found("点位", "Point", code="point_not_found", id=body.point_id)
    assert topic.id is not None  # a topic from the database
    meeting = Meeting(
        topic_id=topic.id,
        kind=body.kind,
        starts_at=body.starts_at,
        point_id=body.point_id,
        online_url=body.online_url,
        agenda=body.agenda,
        checkin_token=secrets.token_urlsafe(24),
    )
    session.add(meeting)
    session.flush()
    if topic.point_id is None and point is not None:
        topic.point_id = point.id
    states.transition(session, topic, "scheduled", actor=actor, data={"meeting_id": meeting.id})
    notice = {
        "meeting": {
            "id": meeting.id,
            "topic_id": topic.id,
            "topic_title": topic.title,
            "kind": meeting.kind,
            "starts_at": meeting.starts_at.isoformat(),
            "point": {"id": point.id, "name": point.name} if point else None,
            "online_url": meeting.online_url,
            "agenda": meeting.agenda,
        }
    }
    emit(
        session,
        "meeting.notice",
        town_code=topic.town_code,
        members=states.participant_members(session, topic),
        extra=notice,
    )
    return meeting


def meeting_by_token(session: Session, token: str) -> Meeting:
    meeting = session.exec(select(Meeting).where(Meeting.checkin_token == token)).first()
    if meeting is None:
        raise not_found("签到码", "Check-in code", code="checkin_token_invalid")
    return meeting


def check_in(session: Session, token: str, p: Principal) -> Attendance:
    meeting = meeting_by_token(session, token)
    topic = get_topic(session, meeting.topic_id)
    assert topic.id is not None and meeting.id is not None  # rows from the database
    if p.member_id is None or not any(
        x.member_id == p.member_id for x in participants(session, topic.id) if x.kind == "member"
    ):
        raise Forbidden("not_a_participant", "您不是本次协商的参与委员", "You are not a participant of this meeting")
    existing = session.exec(
        select(Attendance).where(Attendance.meeting_id == meeting.id, Attendance.member_id == p.member_id)
    ).first()
    if existing is not None:
        raise Conflict("already_checked_in", "您已签到", "You have already checked in", at=existing.at.isoformat())
    row = Attendance(meeting_id=meeting.id, member_id=p.member_id)
    session.add(row)
    try:
        session.flush()
    except IntegrityError:  # a concurrent second check-in
        session.rollback()
        raise Conflict("already_checked_in", "您已签到", "You have already checked in") from None
    states.record(
        session, topic, actor=p.actor, action="checked_in", data={"meeting_id": meeting.id, "member_id": p.member_id}
    )
    return row


def attendance(session: Session, meeting_id: int) -> list[dict[str, Any]]:
    stmt = (
        select(Attendance, Member)
        .join(Member, Member.id == Attendance.member_id)  # type: ignore[arg-type]
        .where(Attendance.meeting_id == meeting_id)
        .order_by(col(Attendance.id))
    )
    return [{"member_id": m.id, "name": m.name, "at": a.at} for a, m in session.exec(stmt).all()]


def set_minutes(session: Session, meeting: Meeting, minutes: str, actor: str) -> Meeting:
    meeting.minutes = minutes
    session.add(meeting)
    topic = get_topic(session, meeting.topic_id)
    states.record(session, topic, actor=actor, action="minutes", data={"meeting_id": meeting.id})
    return meeting


def hold_meeting(session: Session, meeting: Meeting, actor: str, reason: str | None = None) -> Meeting:
    """Mark the meeting held: from its start on, or earlier with the ``reason`` (recorded on the trail)."""
    topic = get_topic(session, meeting.topic_id, lock=True)
    if meeting.held_at is not None:
        raise Conflict("meeting_already_held", "该协商活动已召开", "This meeting has already been held")
    states.transition(
        session,
        topic,
        "held",
        actor=actor,
        data={"meeting_id": meeting.id},
        not_before=meeting.starts_at,
        reason=reason,
    )
    meeting.held_at = utcnow()
    session.add(meeting)
    return meeting


def meetings(session: Session, topic_id: int) -> list[Meeting]:
    return list(session.exec(select(Meeting).where(Meeting.topic_id == topic_id).order_by(col(Meeting.id))).all())


# ---- outcomes, ledger, follow-up, evaluation ------------------------------------------------------------------


def add_outcome(session: Session, topic: Topic, body: OutcomeIn, actor: str) -> Outcome:
    states.require_status(topic, "held", "reported", "implementing", doing=("登记成果", "recording outcomes"))
    if session.get(Department, body.department_id) is None:
        raise not_found("部门", "Department", code="department_not_found", id=body.department_id)
    assert topic.id is not None  # a topic from the database
    outcome = Outcome(topic_id=topic.id, text=body.text, department_id=body.department_id, due_date=body.due_date)
    session.add(outcome)
    session.flush()
    states.record(session, topic, actor=actor, action="outcome_added", data={"outcome_id": outcome.id})
    return outcome


def outcomes(session: Session, topic_id: int) -> list[Outcome]:
    return list(session.exec(select(Outcome).where(Outcome.topic_id == topic_id).order_by(col(Outcome.id))).all())


def get_outcome(session: Session, outcome_id: int) -> Outcome:
    outcome = session.get(Outcome, outcome_id)
    if outcome is None:
        raise not_found("成果", "Outcome", code="outcome_not_found", id=outcome_id)
    return outcome


def report(session: Session, topic: Topic, note: str | None, actor: str) -> Topic:
    """成果报送: the outcomes go to the party committee and government."""
    states.check(topic, "reported")
    assert topic.id is not None  # a topic from the database
    found = outcomes(session, topic.id)
    if not found:
        raise _invalid("outcomes_required", "报送前须至少登记一项成果", "Record at least one outcome before reporting")
    states.transition(session, topic, "reported", actor=actor, note=note, data={"outcome_ids": [o.id for o in found]})
    return topic


def add_ledger_entry(session: Session, outcome: Outcome, body: LedgerIn, actor: str) -> LedgerEntry:
    topic = get_topic(session, outcome.topic_id, lock=True)
    states.require_status(topic, "reported", "implementing", doing=("登记落实台账", "recording implementation"))
    assert outcome.id is not None  # an outcome from the database
    entry = LedgerEntry(
        outcome_id=outcome.id, note=body.note, percent=body.percent, milestone=body.milestone, actor=actor
    )
    session.add(entry)
    session.flush()
    data = {"outcome_id": outcome.id, "percent": body.percent, "milestone": body.milestone}
    if topic.status == "reported":  # the first ledger line starts the implementation (转化落实)
        states.transition(session, topic, "implementing", actor=actor, note=body.note, data=data)
    else:
        states.record(session, topic, actor=actor, action="ledger", note=body.note, data=data)
    return entry


def ledger(session: Session, outcome_id: int) -> list[LedgerEntry]:
    stmt = select(LedgerEntry).where(LedgerEntry.outcome_id == outcome_id).order_by(col(LedgerEntry.id))
    return list(session.exec(stmt).all())


def schedule_follow_up(session: Session, topic: Topic, body: FollowUpIn, actor: str) -> FollowUp:

    states.require_status(topic, "implementing", doing=("安排回头看", "scheduling a follow-up review"))
    assert topic.id is not None  # a topic from the database
    row = FollowUp(topic_id=topic.id, due_at=body.due_at, note=body.note)
    session.add(row)
    session.flush()
    states.record(
        session,
        topic,
        actor=actor,
        action="follow_up_scheduled",
        note=body.note,
        data={"follow_up_id": row.id, "due_at": row.due_at.isoformat()},
    )
    assert row.id is not None  # flushed above
    follow_up_id, due_at = row.id, row.due_at
    after_commit(session, lambda: schedule_follow_up_job(follow_up_id, due_at))
    return row


def get_follow_up(session: Session, follow_up_id: int, *, lock: bool = False) -> FollowUp:
    row = session.get(FollowUp, follow_up_id, with_for_update=lock) if lock else session.get(FollowUp, follow_up_id)
    if row is None:
        raise not_found("回头看", "Follow-up", code="follow_up_not_found", id=follow_up_id)
    return row


def mark_follow_up_due(session: Session, follow_up_id: int) -> bool:
    """The RQ job's work, idempotent: only a still-scheduled follow-up becomes due and is announced, once."""
    row = session.get(FollowUp, follow_up_id, with_for_update=True)
    if row is None or row.state != "scheduled":
        return False
    row.state, row.notified_at = "due", utcnow()
    session.add(row)
    topic = get_topic(session, row.topic_id)
    states.record(
        session,
        topic,
        actor="system",
        action="follow_up_due",
        data={"follow_up_id": row.id},
        event_type="topic.followup_due",
    )
    return True


def record_follow_up(session: Session, row: FollowUp, result: str, actor: str) -> FollowUp:
    topic = get_topic(session, row.topic_id, lock=True)
    if row.state == "recorded":
        raise Conflict("follow_up_recorded", "该回头看已记录结果", "This follow-up already has its result")
    # due from its due time on, or once the job announced it due (RQ runs it on the second, not the microsecond)
    due_from = row.notified_at if row.state == "due" and row.notified_at else row.due_at
    states.transition(
        session, topic, "reviewed", actor=actor, note=result, data={"follow_up_id": row.id}, not_before=due_from
    )
    row.state, row.result, row.recorded_at = "recorded", result, utcnow()
    session.add(row)
    return row


def follow_ups(session: Session, topic_id: int) -> list[FollowUp]:
    stmt = select(FollowUp).where(FollowUp.topic_id == topic_id).order_by(col(FollowUp.id))
    return list(session.exec(stmt).all())


def evaluate(session: Session, topic: Topic, body: EvaluationIn, actor: str) -> Evaluation:
    states.require_status(topic, "reviewed", "evaluated", doing=("评估质效", "evaluating"))
    missing = [c for c in CRITERIA if c not in body.scores]
    if missing:
        raise _invalid(
            "scores_missing",
            "须对每项指标打分：" + "、".join(missing),
            "Score every criterion: " + ", ".join(missing),
            missing=missing,
        )
    assert topic.id is not None  # a topic from the database
    row = Evaluation(
        topic_id=topic.id,
        scorer_kind=body.scorer_kind,
        scorer_name=body.scorer_name,
        scores={c: body.scores[c] for c in CRITERIA},
        comment=body.comment,
        actor=actor,
    )
    session.add(row)
    session.flush()
    data = {"evaluation_id": row.id, "scorer_kind": row.scorer_kind}
    if topic.status == "reviewed":
        states.transition(session, topic, "evaluated", actor=actor, data=data)
    else:
        states.record(session, topic, actor=actor, action="evaluation", data=data)
    return row


def evaluations(session: Session, topic_id: int) -> list[Evaluation]:
    stmt = select(Evaluation).where(Evaluation.topic_id == topic_id).order_by(col(Evaluation.id))
    return list(session.exec(stmt).all())


def evaluation_summary(rows: list[Evaluation]) -> dict[str, Any]:
    if not rows:
        return {"count": 0, "average": None, "by_criterion": {c: None for c in CRITERIA}}
    by = {c: round(sum(r.scores[c] for r in rows) / len(rows), 2) for c in CRITERIA}
    total = sum(sum(r.scores[c] for c in CRITERIA) for r in rows)
    return {"count": len(rows), "average": round(total / (len(rows) * len(CRITERIA)), 2), "by_criterion": by}


def close(session: Session, topic: Topic, note: str | None, actor: str) -> Topic:
    states.check(topic, "closed")
    assert topic.id is not None  # a topic from the database
    rows = evaluations(session, topic.id)
    states.transition(session, topic, "closed", actor=actor, note=note, data=evaluation_summary(rows))
    return topic


# ---- coverage -----------------------------------------------------------------------------------------------


def set_demonstration(session: Session, point_id: int, demonstration: bool) -> Point:
    point = session.get(Point, point_id)
    if point is None:
        raise not_found("点位", "Point", code="point_not_found", id=point_id)
    point.demonstration = demonstration
    session.add(point)
    return point


def coverage(session: Session, year: int) -> dict[str, Any]:
    """Meetings held this year (Asia/Shanghai) per point and per town against the target of demonstration
    points (four a year; other points have none)."""
    start = datetime(year, 1, 1, tzinfo=SHANGHAI)
    end = datetime(year + 1, 1, 1, tzinfo=SHANGHAI)
    held = session.exec(
        select(Meeting.point_id).where(
            col(Meeting.held_at).is_not(None), col(Meeting.held_at) >= start, col(Meeting.held_at) < end
        )
    ).all()
    counts: dict[int, int] = {}
    for point_id in held:
        if point_id is not None:
            counts[point_id] = counts.get(point_id, 0) + 1
    points = list(session.exec(select(Point).order_by(col(Point.id))).all())
    names = {r.code: r.name for r in session.exec(select(Region)).all()}
    point_rows: list[dict[str, Any]] = []
    towns: dict[str, dict[str, Any]] = {}
    for point in points:
        assert point.id is not None  # a point from the database
        n = counts.get(point.id, 0)
        target = DEMONSTRATION_TARGET if point.demonstration else None
        point_rows.append(
            {
                "point_id": point.id,
                "name": point.name,
                "town_code": point.town_code,
                "village_code": point.village_code,
                "demonstration": point.demonstration,
                "held": n,
                "target": target,
                "met": None if target is None else n >= target,
            }
        )
        town = towns.setdefault(
            point.town_code,
            {
                "town_code": point.town_code,
                "name": names.get(point.town_code),
                "points": 0,
                "demonstration_points": 0,
                "held": 0,
                "target": 0,
                "demonstration_points_met": 0,
            },
        )
        town["points"] += 1
        town["held"] += n
        if target is not None:
            town["demonstration_points"] += 1
            town["target"] += target
            town["demonstration_points_met"] += int(n >= target)
    town_rows = []
    for town in sorted(towns.values(), key=lambda t: t["town_code"]):
        town["met"] = town["demonstration_points_met"] == town["demonstration_points"] if town["target"] else None
        town_rows.append(town)
    return {
        "year": year,
        "target_per_demonstration_point": DEMONSTRATION_TARGET,
        "points": point_rows,
        "towns": town_rows,
    }


# ---- views --------------------------------------------------------------------------------------------------


def participant_view(session: Session, part: Participant) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": part.id,
        "kind": part.kind,
        "member_id": part.member_id,
        "department_id": part.department_id,
        "expert_id": part.expert_id,
        "draw_id": part.draw_id,
        "name": part.name,
        "added_at": part.added_at,
        "removed_at": part.removed_at,
        "removed_reason": part.removed_reason,
    }
    if part.member_id and (m := session.get(Member, part.member_id)):
        out["name"] = m.name
    elif part.department_id and (d := session.get(Department, part.department_id)):
        out["name"] = d.name
    elif part.expert_id and (e := session.get(Expert, part.expert_id)):
        out["name"] = e.name
        out["organisation"] = e.organisation
    return out


def draw_view(row: ExpertDraw) -> dict[str, Any]:
    return {
        "id": row.id,
        "topic_id": row.topic_id,
        "field": row.field,
        "seed": row.seed,
        "pool": row.pool,
        "picks": row.picks,
        "replaces_expert_id": row.replaces_expert_id,
        "reason": row.reason,
        "actor": row.actor,
        "at": row.at.isoformat() if row.at else None,
    }


def meeting_view(session: Session, meeting: Meeting, *, with_token: bool = True) -> dict[str, Any]:
    assert meeting.id is not None  # a meeting from the database
    point = session.get(Point, meeting.point_id) if meeting.point_id else None
    out = {
        "id": meeting.id,
        "topic_id": meeting.topic_id,
        "kind": meeting.kind,
        "starts_at": meeting.starts_at,
        "point_id": meeting.point_id,
        "point_name": point.name if point else None,
        "online_url": meeting.online_url,
        "agenda": meeting.agenda,
        "minutes": meeting.minutes,
        "held_at": meeting.held_at,
        "created_at": meeting.created_at,
        "attendance_count": len(attendance(session, meeting.id)),
    }
    if with_token:
        out["checkin_token"] = meeting.checkin_token
        out["checkin_url"] = checkin_url(meeting)
    return out


def ledger_view(entry: LedgerEntry) -> dict[str, Any]:
    return {
        "id": entry.id,
        "outcome_id": entry.outcome_id,
        "note": entry.note,
        "percent": entry.percent,
        "milestone": entry.milestone,
        "actor": entry.actor,
        "at": entry.at,
    }


def outcome_view(session: Session, outcome: Outcome) -> dict[str, Any]:
    dept = session.get(Department, outcome.department_id)
    assert outcome.id is not None  # an outcome from the database
    entries = ledger(session, outcome.id)
    return {
        "id": outcome.id,
        "topic_id": outcome.topic_id,
        "text": outcome.text,
        "department_id": outcome.department_id,
        "department": dept.name if dept else None,
        "due_date": outcome.due_date,
        "created_at": outcome.created_at,
        "progress": entries[-1].percent if entries else 0,
        "ledger": [ledger_view(e) for e in entries],
    }


def follow_up_view(row: FollowUp) -> dict[str, Any]:
    return row.model_dump()


def evaluation_view(row: Evaluation) -> dict[str, Any]:
    return row.model_dump()


def topic_view(session: Session, topic: Topic, p: Principal | None = None) -> dict[str, Any]:
    staff = p is None or p.role != "member"
    assert topic.id is not None  # a topic from the database
    evals = evaluations(session, topic.id)
    return {
        "id": topic.id,
        "title": topic.title,
        "description": topic.description,
        "source": topic.source,
        "status": topic.status,
        "allowed": states.allowed(topic.status),
        "town_code": topic.town_code,
        "village_code": topic.village_code,
        "point_id": topic.point_id,
        "proposer_id": topic.proposer_id,
        "department_id": topic.department_id,
        "screening": topic.screening,
        "case_ids": case_ids(session, topic.id),
        "created_by": topic.created_by,
        "created_at": topic.created_at,
        "updated_at": topic.updated_at,
        "participants": [participant_view(session, x) for x in participants(session, topic.id)],
        "draws": [draw_view(d) for d in draws(session, topic.id)] if staff else [],
        "meetings": [meeting_view(session, m, with_token=staff) for m in meetings(session, topic.id)],
        "outcomes": [outcome_view(session, o) for o in outcomes(session, topic.id)],
        "follow_ups": [follow_up_view(f) for f in follow_ups(session, topic.id)],
        "evaluations": [evaluation_view(e) for e in evals] if staff else [],
        "evaluation": evaluation_summary(evals),
    }


def topic_summary(topic: Topic) -> dict[str, Any]:
    return {**states.snapshot(topic), "created_at": topic.created_at, "updated_at": topic.updated_at}


# topics staff have decided on: accepted on screening (and on from there), or forwarded to a department. A topic
# still ``proposed`` (a member's or an operator's words, unreviewed) or ``rejected`` never reaches residents.
RESIDENT_STATUSES = (*states.STAGES[states.STAGES.index("screened") :], "forwarded")


def public_title(topic: Topic) -> str:
    """The title staff approved for residents (recorded on acceptance or forwarding)."""
    return (topic.screening or {}).get("public_title") or topic.title


def consultation_for_case(session: Session, case_id: int) -> dict[str, Any] | None:
    """What the residents of a linked case see on their tracking page: the latest topic staff decided on
    (``RESIDENT_STATUSES``), its staff-approved title and its outcomes (recorded by operators)."""
    stmt = (
        select(Topic)
        .join(TopicCase, TopicCase.topic_id == Topic.id)  # type: ignore[arg-type]
        .where(TopicCase.case_id == case_id, col(Topic.status).in_(RESIDENT_STATUSES))
        .order_by(col(Topic.id).desc())
    )
    topic = session.exec(stmt).first()
    if topic is None:
        return None
    found = []
    assert topic.id is not None  # a topic from the database
    for o in outcomes(session, topic.id):
        dept = session.get(Department, o.department_id)
        assert o.id is not None  # an outcome from the database
        entries = ledger(session, o.id)
        last = entries[-1] if entries else None
        found.append(
            {
                "text": o.text,
                "department": dept.name if dept else None,
                "due_date": o.due_date,
                "progress": None
                if last is None
                else {"note": last.note, "percent": last.percent, "milestone": last.milestone, "at": last.at},
            }
        )
    return {"title": public_title(topic), "status": topic.status, "outcomes": found}
