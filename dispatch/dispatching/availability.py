"""Member availability as dispatch sees it: each member's load (open offers and cases held), position and the
state the locator's Redis sets hold, read from the database. The one owner of that projection's rebuild."""

from __future__ import annotations

from typing import cast

from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.cases.models import Case
from dispatch.cases.states import HOLDS_SLOT
from dispatch.dispatching.locator import MemberState
from dispatch.dispatching.models import Offer
from dispatch.members.models import Member
from dispatch.points.models import Point


def loads(session: Session, member_ids: list[int] | None = None) -> dict[int, int]:
    """Open offers + assigned + in-progress cases per member, counted in the database."""
    offers = select(Offer.member_id, func.count()).where(Offer.state == "open").group_by(col(Offer.member_id))
    held = (
        select(Case.assignee_id, func.count())
        .where(col(Case.status).in_(HOLDS_SLOT), col(Case.assignee_id).is_not(None))
        .group_by(col(Case.assignee_id))
    )
    if member_ids is not None:
        offers = offers.where(col(Offer.member_id).in_(member_ids))
        held = held.where(col(Case.assignee_id).in_(member_ids))
    out: dict[int, int] = {}
    for stmt in (offers, held):
        for member_id, n in session.exec(stmt).all():
            assert member_id is not None  # assignee_id IS NOT NULL in ``held``
            out[member_id] = out.get(member_id, 0) + n
    return out


def member_state(m: Member, point_pos: dict[int, tuple[float, float]], load: int) -> MemberState:
    lat, lon = m.lat, m.lon
    if (lat is None or lon is None) and m.point_id in point_pos:
        lat, lon = point_pos[m.point_id]
    assert m.id is not None  # a member from the database
    return MemberState(m.id, lat, lon, m.capacity, load, list(m.categories), m.on_duty, m.level, m.town_code)


def point_positions(session: Session, point_ids: set[int]) -> dict[int, tuple[float, float]]:
    if not point_ids:
        return {}
    rows = session.exec(select(Point.id, Point.lat, Point.lon).where(col(Point.id).in_(point_ids))).all()
    return {pid: (lat, lon) for pid, lat, lon in cast(list[tuple[int, float, float]], rows)}  # primary keys


def all_states(session: Session) -> list[MemberState]:
    """Every member as the locator holds it (position, capacity, load, fields, duty), read from the database."""
    members = list(session.exec(select(Member)).all())
    load = loads(session)
    pos = point_positions(session, {m.point_id for m in members if m.point_id})
    return [member_state(m, pos, load.get(cast(int, m.id), 0)) for m in members]  # loaded: ids set
