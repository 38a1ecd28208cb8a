"""Members: records, duty and positions. Every change re-syncs the dispatcher's GEO sets on commit."""

from __future__ import annotations

import logging
import threading
from typing import Any, cast

from redis.exceptions import RedisError
from sqlmodel import Session, col, select

from dispatch.cases.service import mask_phone, validate_category
from dispatch.db import after_commit, utcnow
from dispatch.dispatching.availability import all_states, loads, member_state, point_positions
from dispatch.dispatching.locator import get_locator
from dispatch.errors import AppError, not_found
from dispatch.events.service import emit
from dispatch.members.models import Member, MemberIn, MemberPatch
from dispatch.points.models import Point
from dispatch.regions.models import Region
from dispatch.regions.service import validate_location

log = logging.getLogger(__name__)
_unsynced: set[int] = set()
_unsynced_lock = threading.Lock()


def rebuild_locator(session: Session) -> int:
    states = all_states(session)
    get_locator().rebuild(states)
    with _unsynced_lock:
        _unsynced.clear()
    return len(states)


def reconcile_loads(session: Session) -> list[int]:
    """Set Redis load counters that disagree with the database back to the database's count.

    A claim leaks when a process dies between claiming in Redis and committing. A counter is corrected only
    when it disagreed the same way at the previous check too, so claims still in flight are left alone.
    Returns the members corrected.
    """
    locator = get_locator()
    members = cast(list[int], list(session.exec(select(Member.id)).all()))  # primary keys
    truth = loads(session)
    held = locator.loads(members)
    now = {m: (held[m], truth.get(m, 0)) for m in members if held[m] != truth.get(m, 0)}
    fix = [m for m, seen in now.items() if locator.suspects.get(m) == seen]
    locator.suspects = {m: seen for m, seen in now.items() if m not in fix}
    if fix:
        log.warning("correcting leaked dispatcher load of members %s", fix)
        sync_members(session, fix)
    return fix


def sync_members(session: Session, member_ids: list[int]) -> None:
    members = list(session.exec(select(Member).where(col(Member.id).in_(member_ids))).all())
    pos = point_positions(session, {m.point_id for m in members if m.point_id})
    load = loads(session, member_ids)
    locator = get_locator()
    for m in members:
        assert m.id is not None  # a member from the database
        locator.sync(member_state(m, pos, load.get(m.id, 0)), set_load=True)


def _sync_after_commit(session: Session, member_id: int) -> None:
    engine = session.get_bind()

    def _go() -> None:
        try:
            with Session(engine) as s:
                sync_members(s, [member_id])
        except RedisError as exc:
            log.warning("member %s not synced to the dispatcher yet: %s", member_id, exc)
            with _unsynced_lock:
                _unsynced.add(member_id)

    after_commit(session, _go)


def retry_unsynced(session: Session) -> int:
    with _unsynced_lock:
        ids = sorted(_unsynced)
        _unsynced.clear()
    if ids:
        try:
            sync_members(session, ids)
        except RedisError:
            with _unsynced_lock:
                _unsynced.update(ids)
            raise
    return len(ids)


# ---- validation and changes ------------------------------------------------------------------------


def _check_refs(session: Session, data: dict) -> None:
    for key in ("town_code", "village_code"):
        code = data.get(key)
        if code and session.get(Region, code) is None:
            raise AppError(
                "unknown_region", f"未知的区划代码：{code}", f"Unknown region code: {code}", status=422, field=key
            )
    if data.get("village_code") and not data.get("town_code"):
        village = session.get(Region, data["village_code"])
        assert village is not None  # checked above
        data["town_code"] = village.parent_code
    if data.get("point_id") and session.get(Point, data["point_id"]) is None:
        raise not_found("点位", "Point", code="point_not_found", id=data["point_id"])
    if data.get("categories"):
        data["categories"] = [validate_category(c) for c in data["categories"] if c.strip()]


def _position(data: dict, coord_system: str) -> None:
    lat, lon = data.get("lat"), data.get("lon")
    if lat is None and lon is None:
        return
    data["lat"], data["lon"] = validate_location(lat, lon, coord_system)
    data["position_at"] = utcnow()


def create(session: Session, body: MemberIn) -> Member:
    data = body.model_dump(exclude={"coord_system"})
    _check_refs(session, data)
    if data["level"] != "district" and not data.get("town_code"):
        raise AppError(
            "town_required", "镇级、村级委员须指定所属镇街", "Town- and village-level members need a town", status=422
        )
    _position(data, body.coord_system)
    member = Member(**data)
    session.add(member)
    session.flush()
    _changed(session, member, "member.updated")
    return member


def get(session: Session, member_id: int) -> Member:
    member = session.get(Member, member_id)
    if member is None:
        raise not_found("委员", "Member", code="member_not_found", id=member_id)
    return member


def patch(session: Session, member_id: int, body: MemberPatch) -> Member:
    member = get(session, member_id)
    data = body.model_dump(exclude_unset=True, exclude={"coord_system"})
    _check_refs(session, data)
    _position(data, body.coord_system)
    for key, value in data.items():
        setattr(member, key, value)
    if member.level != "district" and not member.town_code:
        raise AppError(
            "town_required", "镇级、村级委员须指定所属镇街", "Town- and village-level members need a town", status=422
        )
    member.updated_at = utcnow()
    session.add(member)
    _changed(session, member, "member.updated")
    return member


def set_position(session: Session, member_id: int, lat: float, lon: float, coord_system: str) -> Member:
    member = get(session, member_id)
    data: dict[str, Any] = {"lat": lat, "lon": lon}
    _position(data, coord_system)
    member.lat, member.lon, member.position_at = data["lat"], data["lon"], data["position_at"]
    session.add(member)
    _changed(session, member, "member.position")
    return member


def _changed(session: Session, member: Member, type_: str) -> None:
    """Tell the boards (live event) and the dispatcher (GEO sets, once committed)."""
    session.flush()
    assert member.id is not None  # flushed above
    emit(
        session,
        type_,
        member=position_view(member, loads(session, [member.id]).get(member.id, 0)),
        town_code=member.town_code,
        members=[member.id],
    )
    _sync_after_commit(session, member.id)


def position_view(member: Member, load: int) -> dict:
    """A member as the board draws it: where, on duty or not, free or busy."""
    return {
        "id": member.id,
        "name": member.name,
        "level": member.level,
        "town_code": member.town_code,
        "lat": member.lat,
        "lon": member.lon,
        "on_duty": member.on_duty,
        "load": load,
        "capacity": member.capacity,
        "position_at": member.position_at.isoformat() if member.position_at else None,
    }


def search(
    session: Session, *, on_duty: bool | None = None, town_code: str | None = None, level: str | None = None
) -> list[Member]:
    stmt = select(Member)
    if on_duty is not None:
        stmt = stmt.where(Member.on_duty == on_duty)
    if town_code:
        stmt = stmt.where(Member.town_code == town_code)
    if level:
        stmt = stmt.where(Member.level == level)
    return list(session.exec(stmt.order_by(col(Member.id))).all())


def view(member: Member, load: int, *, reveal_phone: bool) -> dict:

    out = member.model_dump()
    out["categories"] = list(member.categories)
    out["load"] = load
    if not reveal_phone:
        out["phone"] = mask_phone(member.phone)
    out.pop("created_at", None)
    out.pop("updated_at", None)
    return out
