"""Cases: creation (the one road every channel takes), reading, and the resident's view."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, overload

from sqlalchemy import String, func
from sqlalchemy.orm import make_transient_to_detached
from sqlmodel import Session, col, select

from dispatch import validation
from dispatch.cases import files, states, taxonomy
from dispatch.cases.models import REQUEST_KINDS, Attachment, Case, CaseCardOut, CaseEvent
from dispatch.config import get_settings
from dispatch.db import insert_rows, utcnow
from dispatch.deadlines import policy
from dispatch.errors import AppError, NotFound, not_found
from dispatch.infra import randompool, sequences
from dispatch.localtime import SHANGHAI
from dispatch.regions import reference
from dispatch.regions.service import validate_location

TRACKING_PREFIX = "YD"


@dataclass
class NewAttachment:
    filename: str
    content_type: str
    data: bytes


@dataclass
class NewCase:
    """What a channel adapter hands to ``prepare``; everything already parsed, nothing validated yet."""

    channel: str
    content: str
    actor: str
    external_id: str | None = None
    title: str | None = None
    category: str | None = None
    urgency: str = "normal"
    confidential: bool = False
    reporter_name: str | None = None
    reporter_phone: str | None = None
    reporter_email: str | None = None
    address: str | None = None
    lat: float | None = None
    lon: float | None = None
    coord_system: str = "wgs84"
    received_at: datetime | None = None
    point_id: int | None = None
    town_code: str | None = None
    village_code: str | None = None
    mailbox_id: int | None = None
    attachments: list[NewAttachment] = field(default_factory=list)
    request_kind: str | None = None  # 诉求类型, a REQUEST_KINDS key


# the one rule for personal phone numbers (residents, members, experts): in full only for the roles that call
# people (operators: callbacks, chasing members, inviting experts) and admins; masked for everyone else
PHONE_ROLES = ("admin", "operator")


def sees_phones(role: str) -> bool:
    return role in PHONE_ROLES


@overload
def mask_phone(phone: str) -> str: ...
@overload
def mask_phone(phone: str | None) -> str | None: ...
def mask_phone(phone: str | None) -> str | None:
    """138****1234: keep the first three and last four digits."""
    if not phone:
        return phone
    digits = phone.strip()
    if len(digits) <= 7:
        return digits[:1] + "*" * (len(digits) - 1)
    return digits[:3] + "*" * (len(digits) - 7) + digits[-4:]


def _token() -> str:
    """A resident's secret: 12 random bytes, URL-safe base64 (from the process's pool of random bytes)."""
    return randompool.token_urlsafe(12)


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def check_secret(case: Case, secret: str | None) -> bool:
    return bool(secret and hmac.compare_digest(case.secret_hash, hash_secret(secret)))


# ---- validation -------------------------------------------------------------------------------------


def validate_category(category: str | None) -> str | None:
    if category is None or not category.strip():
        return None
    path = taxonomy.normalise(category)
    if path is None:
        raise AppError(
            "unknown_category",
            f"未知的分类：{category}",
            f"Unknown category: {category}",
            status=422,
            category=category,
            top_level=list(taxonomy.top_level()),
        )
    return path


def validate_request_kind(kind: str | None) -> str | None:
    """A ``REQUEST_KINDS`` key, or None (unknown) for an empty value; 422 with the allowed values otherwise."""
    if kind is None or not kind.strip():
        return None
    if kind.strip() not in REQUEST_KINDS:
        raise AppError(
            "unknown_request_kind",
            f"未知的诉求类型：{kind}",
            f"Unknown request type: {kind}",
            status=422,
            request_kind=kind,
            allowed=list(REQUEST_KINDS),
        )
    return kind.strip()


# ---- creation ----------------------------------------------------------------------------------------


def _day(when: datetime) -> str:
    return when.astimezone(SHANGHAI).strftime("%Y%m%d")


def tracking_numbers(session: Session, when: datetime, n: int) -> list[str]:
    """``n`` tracking numbers YD{Shanghai day}-{nnnn} in one statement, numbered from 0001 each day."""
    day = _day(when)
    numbers = sequences.take(session, "tracking_no", day, n, counter_table="tracking_counter")
    return [f"{TRACKING_PREFIX}{day}-{k:04d}" for k in numbers]


@dataclass
class Draft:
    """A validated case, not yet written: ``insert`` gives it its number and id."""

    case: Case
    secret: str  # the resident's; only its hash is stored
    planned: dict[str, Any]  # the deadlines (``deadlines.policy.compute``)
    location_source: str | None
    new: NewCase


def prepare(session: Session, new: NewCase) -> Draft:
    """Validate ``new`` and work out its place and deadlines; writes nothing (a refusal leaves no trace)."""
    content = new.content.strip()
    if not content:  # "   " passes a min_length check but says nothing
        raise AppError(
            "missing_field",
            "诉求内容不能为空",
            "The content must not be empty",
            status=422,
            fields=[{"field": "content", "problem": "blank", "type": "missing"}],
        )
    category = validate_category(new.category)
    request_kind = validate_request_kind(new.request_kind)
    lat, lon = validate_location(new.lat, new.lon, new.coord_system)
    town, village = new.town_code, new.village_code
    location_source = "given" if lat is not None else None
    if lat is not None and not village:
        assert lon is not None  # validate_location: both or neither
        town, village = reference.locate(lat, lon)
    if lat is None and new.address:
        town_m, village_m = reference.match_address(new.address)
        if village_m:
            region = reference.by_code(village_m)
            assert region is not None  # match_address names known villages
            lat, lon, town, village, location_source = region["lat"], region["lon"], town_m, village_m, "address"
        elif town_m:
            town = town_m
    now = utcnow()
    received_at = new.received_at or now
    if received_at.tzinfo is None:  # a local time without offset (the hotline platform's habit): Beijing time
        received_at = received_at.replace(tzinfo=SHANGHAI)
    if new.received_at is not None:
        check_received_at(received_at)
    # the deadlines first, so that the case row is written once, with its due_at
    planned = policy.compute(session, category, new.urgency, received_at, request_kind or "")
    secret = _token()
    case = Case(  # type: ignore[call-arg]  # a table model is not validated: tracking_no is set when it is written
        secret_hash=hash_secret(secret),
        channel=new.channel,
        external_id=new.external_id,
        status="new",
        category=category,
        title=new.title,
        content=content,
        urgency=new.urgency,
        request_kind=request_kind,
        confidential=new.confidential,
        reporter_name=new.reporter_name,
        reporter_phone=new.reporter_phone,
        reporter_email=new.reporter_email,
        address=new.address,
        lat=lat,
        lon=lon,
        town_code=town,
        village_code=village,
        point_id=new.point_id,
        mailbox_id=new.mailbox_id,
        received_at=received_at,
        created_at=now,
        updated_at=now,
        due_at=planned["due_at"],
    )
    check_columns(case, new.attachments)
    return Draft(case, secret, planned, location_source, new)


# the case's text columns and their widths (None: unbounded): what PostgreSQL would refuse at INSERT time
def _string_type(column: Any) -> String | None:
    kind = getattr(column.type, "impl_instance", column.type)  # SQLModel's AutoString decorates a String
    return kind if isinstance(kind, String) else None


_TEXT_COLUMNS = {c.name: kind.length for c in Case.__table__.c if (kind := _string_type(c)) is not None}  # type: ignore[attr-defined]  # SQLModel tables have __table__, undeclared


def check_columns(case: Case, attachments: Sequence[NewAttachment] = ()) -> None:
    """Every text of a case as ``validation.Text`` wants it, and within its column: the same answer on both
    backends (SQLite would store a NUL or an over-long name, PostgreSQL refuse the whole INSERT), and a case
    that passes ``prepare`` cannot fail at INSERT time, alone or in a group commit."""
    values = {name: getattr(case, name) for name in _TEXT_COLUMNS}
    for i, a in enumerate(attachments):
        values[f"attachments.{i}.filename"], values[f"attachments.{i}.content_type"] = a.filename, a.content_type
    validation.refuse_bad_text(values)
    for name, width in _TEXT_COLUMNS.items():
        value = values[name]
        if width is not None and value is not None and len(value) > width:
            raise AppError(
                "value_too_long",
                f"{name} 过长（最多 {width} 个字符）",
                f"{name} is too long (at most {width} characters)",
                status=422,
                fields=[{"field": name, "problem": f"at most {width} characters", "type": "string_too_long"}],
            )


def check_received_at(received_at: datetime) -> None:
    """A client's time of receipt: after ``validation.EARLIEST``, not ahead of our clock by more than the skew."""
    if not validation.plausible_time(received_at, get_settings().clock_skew_s):
        raise AppError(
            "invalid_received_at",
            "受理时间不合理：须晚于 2000-01-01，且不晚于当前时间",
            "received_at is implausible: it must be after 2000-01-01 and not in the future",
            status=422,
            received_at=received_at.isoformat(),
        )


_ROW = [c.name for c in Case.__table__.c if c.name != "id"]  # type: ignore[attr-defined]  # SQLModel tables have __table__, undeclared


def insert(session: Session, drafts: list[Draft]) -> list[Case]:
    """Write prepared cases together: their numbers, rows, deadlines, ladders, attachments and 'created'
    events, one statement per table. The cases join ``session`` as if loaded; the caller commits."""
    if not drafts:
        return []
    numbers = tracking_numbers(session, utcnow(), len(drafts))
    for draft, number in zip(drafts, numbers, strict=True):
        draft.case.tracking_no = number
    rows = [{name: getattr(d.case, name) for name in _ROW} for d in drafts]
    ids = insert_rows(session, Case, rows, returning=True)
    for draft, case_id in zip(drafts, ids, strict=True):
        draft.case.id = case_id
        make_transient_to_detached(draft.case)  # what was just written is its loaded state
        session.add(draft.case)
    created = [d.case for d in drafts]
    _store(session, [(d.case, d.new.attachments) for d in drafts])
    trail = [
        states.Move(
            d.case,
            "created",
            d.new.actor,
            to_status="new",
            data={"channel": d.new.channel, "location_source": d.location_source},
            context=d.planned,  # the deadlines' subscriber stores them and plans the ladder
        )
        for d in drafts
    ]
    states.record_many(session, trail)
    return created


# ---- reading -----------------------------------------------------------------------------------------


def _store(session: Session, found: list[tuple[Case, list[NewAttachment]]]) -> list[Attachment]:
    """The cases' attachments, with one statement; each with a safe name and a type its bytes confirm (an
    image type only for a re-encoded image, see ``files``), whatever the caller handed over."""
    rows: list[dict[str, Any]] = [
        {
            "case_id": case.id,
            "filename": files.safe_filename(a.filename),
            "content_type": files.stored_type(a.content_type, a.filename, a.data),
            "size": len(a.data),
            "sha256": hashlib.sha256(a.data).hexdigest(),
            "data": a.data,
            "created_at": utcnow(),
        }
        for case, attachments in found
        for a in attachments
    ]
    ids = insert_rows(session, Attachment, rows, returning=True)
    return [Attachment(id=i, **row) for i, row in zip(ids, rows, strict=True)]


def add_attachments(session: Session, case: Case, attachments: list[NewAttachment], actor: str) -> list[Attachment]:
    """Photos added while handling a case; recorded in the trail without changing the status."""
    rows = _store(session, [(case, attachments)])
    states.record(session, case, actor=actor, action="photos", data={"attachment_ids": [r.id for r in rows]})
    return rows


def set_category(session: Session, case_id: int, category: str, actor: str) -> Case:
    """An operator confirms (or corrects) a case's category; recorded in the trail with the old value."""
    case = get(session, case_id, lock=True)
    path = validate_category(category)
    if path is None:
        raise AppError("missing_field", "请选择分类", "Choose a category", status=422)
    previous, old_due = case.category, case.due_at
    case.category = path
    policy.replan(session, case)  # the policy may depend on the category (e.g. Beijing's 24 h for utilities)
    data = {"from": previous, "to": path, **_due_change(old_due, case.due_at)}
    states.record(session, case, actor=actor, action="categorised", data=data)
    return case


def _due_change(before: datetime | None, after: datetime | None) -> dict[str, str | None]:
    return {
        "due_from": before.isoformat() if before else None,
        "due_to": after.isoformat() if after else None,
    }


def set_request_kind(session: Session, case_id: int, kind: str | None, actor: str) -> Case:
    """An operator sets (or clears) the request type; the deadlines are recomputed by the policy, and the trail
    records the old and new type and due date."""
    case = get(session, case_id, lock=True)
    kind = validate_request_kind(kind)
    previous, old_due = case.request_kind, case.due_at
    case.request_kind = kind
    policy.replan(session, case)
    data = {"from": previous, "to": kind, **_due_change(old_due, case.due_at)}
    zh, en = REQUEST_KINDS[kind] if kind else ("未知", "unknown")
    note = f"诉求类型：{zh} / request type: {en}"
    states.record(session, case, actor=actor, action="request_kind", note=note, data=data)
    return case


def get(session: Session, case_id: int, *, lock: bool = False) -> Case:
    stmt = select(Case).where(Case.id == case_id)
    if lock:
        stmt = stmt.with_for_update()
    case = session.exec(stmt).first()
    if case is None:
        raise not_found("案件", "Case", code="case_not_found", id=case_id)
    return case


def by_external_id(session: Session, channel: str, external_id: str) -> Case | None:
    return session.exec(select(Case).where(Case.channel == channel, Case.external_id == external_id)).first()


def by_tracking_no(session: Session, tracking_no: str, secret: str | None) -> Case:
    case = session.exec(select(Case).where(Case.tracking_no == tracking_no)).first()
    if case is None or not check_secret(case, secret):
        # one answer for "no such case" and "wrong secret": a tracking number is not a secret
        raise NotFound("case_not_found", "未找到该案件或查询码有误", "No such case, or the secret is wrong")
    return case


def search(
    session: Session,
    *,
    status: str | None = None,
    town_code: str | None = None,
    channel: str | None = None,
    member_id: int | None = None,
    limit: int = 200,
    offset: int = 0,
    before_id: int | None = None,
) -> list[Case]:
    """Cases newest first; ``before_id`` pages by key (stable while cases come and go, unlike ``offset``)."""
    stmt = _filtered(select(Case), status, town_code, channel, member_id, before_id)
    return list(session.exec(stmt.order_by(col(Case.id).desc()).offset(offset).limit(limit)).all())


def _filtered(stmt: Any, status, town_code, channel, member_id, before_id) -> Any:
    if before_id is not None:
        stmt = stmt.where(col(Case.id) < before_id)
    if status:
        stmt = stmt.where(col(Case.status).in_(status.split(",")))
    if town_code:
        stmt = stmt.where(Case.town_code == town_code)
    if channel:
        stmt = stmt.where(Case.channel == channel)
    if member_id is not None:
        stmt = stmt.where((Case.assignee_id == member_id) | (Case.offered_to == member_id))
    return stmt


def cards(
    session: Session, *, status: str | None, town_code: str | None, limit: int, before_id: int | None
) -> list[Any]:
    """``search``'s cases as rows of the columns a card shows (and its deadlines read): no case objects built."""
    columns = [getattr(Case, name) for name in (*CARD_FIELDS, "offer_expires_at", "due_at")]
    stmt = _filtered(select(*columns), status, town_code, None, None, before_id)
    return list(session.exec(stmt.order_by(col(Case.id).desc()).limit(limit)).all())


def events(session: Session, case_id: int) -> list[CaseEvent]:
    return list(session.exec(select(CaseEvent).where(CaseEvent.case_id == case_id).order_by(col(CaseEvent.id))).all())


# enough leading bytes for every magic number ``files.kind`` checks
ATTACHMENT_HEAD = 16


def attachment_views(session: Session, case_ids: Sequence[int]) -> dict[int, list[dict[str, Any]]]:
    """The attachment lists of many cases in one read, without their bytes: only the head that tells a photo
    from a file."""
    if not case_ids:
        return {}
    stmt = (
        select(  # type: ignore[call-overload]  # sqlmodel types select() for at most 4 columns
            Attachment.id,
            Attachment.case_id,
            Attachment.filename,
            Attachment.content_type,
            Attachment.size,
            func.substr(Attachment.data, 1, ATTACHMENT_HEAD),
        )
        .where(col(Attachment.case_id).in_(list(case_ids)))
        .order_by(col(Attachment.id))
    )
    out: dict[int, list[dict[str, Any]]] = {}
    for id_, case_id, filename, content_type, size, head in session.exec(stmt).all():
        view = _attachment_out(id_, case_id, filename, content_type, size, bytes(head or b""))
        out.setdefault(case_id, []).append(view)
    return out


def deadlines(case: Case, sign_by: Mapping[int, datetime | None] | None = None) -> dict[str, datetime | None]:
    """The case's running deadlines; ``sign_by``: the 签收 deadlines read for a whole list at once
    (``deadlines.policy.sign_by_of``), else the case's own is read here."""
    signing = policy.sign_by(case) if sign_by is None else sign_by.get(case.id) if case.id is not None else None
    return {
        "offer_expires_at": case.offer_expires_at if case.status == "offered" else None,
        "sign_by": signing,
        "due_at": case.due_at,
    }


def attachment_view(a: Attachment) -> dict[str, Any]:
    """An attachment as pages list it: ``kind`` "image" (a re-encoded photo: a thumbnail) or "file" (a
    download only)."""
    return _attachment_out(a.id, a.case_id, a.filename, a.content_type, a.size, a.data[:ATTACHMENT_HEAD])


def _attachment_out(
    id_: int | None, case_id: int, filename: str, content_type: str, size: int, head: bytes
) -> dict[str, Any]:
    return {
        "id": id_,
        "filename": files.safe_filename(filename),  # rows from before names were cleaned
        "content_type": content_type,
        "size": size,
        "kind": files.kind(content_type, head),
        "url": f"/api/cases/{case_id}/attachments/{id_}",
    }


def view(
    case: Case,
    *,
    reveal_reporter: bool,
    attachments: list[dict[str, Any]] | None = None,
    sign_by: Mapping[int, datetime | None] | None = None,
) -> dict[str, Any]:
    """The case as staff see it; the reporter's phone is masked unless ``reveal_reporter``. ``attachments``
    as ``attachment_views`` gives them, ``sign_by`` as ``deadlines`` takes it."""
    out = {
        name: getattr(case, name)
        for name in (
            "id",
            "tracking_no",
            "channel",
            "external_id",
            "status",
            "category",
            "title",
            "content",
            "urgency",
            "request_kind",
            "confidential",
            "reporter_name",
            "reporter_phone",
            "address",
            "lat",
            "lon",
            "town_code",
            "village_code",
            "point_id",
            "mailbox_id",
            "offered_to",
            "assignee_id",
            "department_id",
            "merged_into_id",
            "created_at",
            "received_at",
            "updated_at",
            "accepted_at",
            "resolved_at",
            "closed_at",
            "resolution",
            "rating",
        )
    }
    out["deadlines"] = deadlines(case, sign_by)
    if not reveal_reporter:
        out["reporter_phone"] = mask_phone(case.reporter_phone)
        if case.confidential:
            out["reporter_name"] = "***" if case.reporter_name else None
    out["attachments"] = attachments or []
    return out


CARD_FIELDS = tuple(name for name in CaseCardOut.model_fields if name != "deadlines")


def card_view(case: Any, sign_by: Mapping[int, datetime | None]) -> dict[str, Any]:
    """The case (or a row of ``cards``) as a board card: a fifth of ``view``'s bytes, nothing about the reporter
    or the text."""
    out = {name: getattr(case, name) for name in CARD_FIELDS}
    out["deadlines"] = deadlines(case, sign_by)
    return out


def event_view(case: Case, sign_by: Mapping[int, datetime | None] | None = None) -> dict[str, Any]:
    """The case inside a live event: JSON-ready, reporter masked, no content beyond a preview."""
    out = view(case, reveal_reporter=False, sign_by=sign_by)
    out.pop("attachments")
    out["content"] = case.content[:200]
    for key, value in list(out.items()):
        if isinstance(value, datetime):
            out[key] = value.isoformat()
    out["deadlines"] = {k: v.isoformat() if v else None for k, v in out["deadlines"].items()}
    return out


# trail actions a resident (and an Open311 client) may see; the rest are internal notes
PUBLIC_ACTIONS = (
    "created",
    "offered",
    "accepted",
    "assigned",
    "progress",
    "resolved",
    "rated",
    "closed",
    "reopened",
    "forwarded",
    "escalated",
    "merged",
    "cancelled",
)


def track_view(session: Session, case: Case, consultation: dict[str, Any] | None = None) -> dict[str, Any]:
    """What the resident sees: status, a plain timeline, no member names or internal notes; ``consultation``:
    the topic the case went into (``consultations.service.consultation_for_case``), if any."""
    public_actions = set(PUBLIC_ACTIONS)
    assert case.id is not None  # a case from the database
    timeline = [
        {"at": e.at, "action": e.action, "status": e.to_status}
        for e in events(session, case.id)
        if e.action in public_actions
    ]
    return {
        "tracking_no": case.tracking_no,
        "status": case.status,
        "category": case.category,
        "content": case.content,
        "created_at": case.created_at,
        "due_at": case.due_at,
        "resolution": case.resolution,
        "rating": case.rating,
        "timeline": timeline,
        "consultation": consultation,
    }
