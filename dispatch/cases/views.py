from __future__ import annotations

from typing import Annotated
from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Header, Query, Response, UploadFile
from sqlmodel import Session

from dispatch.auth.deps import STAFF, get_session, principal, require
from dispatch.auth.service import Principal, actor_names
from dispatch.cases import extensions, files, handling, service
from dispatch.cases.models import (
    AssignIn,
    Attachment,
    CaseCardOut,
    CaseEventOut,
    CaseOut,
    CategoryIn,
    DecisionIn,
    ExtensionIn,
    ExtensionOut,
    ExtensionRequest,
    ForwardIn,
    MergeIn,
    NoteIn,
    RatingIn,
    ReasonIn,
    RequestKindIn,
    TrackOut,
)
from dispatch.config import get_settings
from dispatch.consultations.service import consultation_for_case
from dispatch.deadlines.policy import sign_by_of
from dispatch.dispatching import service as dispatching
from dispatch.errors import Forbidden, not_found
from dispatch.intake.service import check_photo_count, photo
from dispatch.ratelimit import rate_limit

router = APIRouter(tags=["cases"])
REVEAL_ROLES = service.PHONE_ROLES


def _visible(case, p: Principal) -> None:
    if p.role == "member" and p.member_id not in (case.offered_to, case.assignee_id):
        # a member sees only the cases offered or assigned to them; others do not exist for them
        raise not_found("案件", "Case", code="case_not_found", id=case.id)


def _reveals(case, p: Principal) -> bool:
    return p.role in REVEAL_ROLES or (p.role == "member" and p.member_id == case.assignee_id and not case.confidential)


def _out(session: Session, case, p: Principal) -> dict:
    return _outs(session, [case], p)[0]


def _outs(session: Session, cases: list, p: Principal) -> list[dict]:
    """Cases as the caller may see them, in three reads whatever their number (cases, attachments, deadlines)."""
    ids = [c.id for c in cases]
    attachments = service.attachment_views(session, ids)
    signing = sign_by_of(session, ids)
    return [
        service.view(c, reveal_reporter=_reveals(c, p), attachments=attachments.get(c.id), sign_by=signing)
        for c in cases
    ]


@router.get("/api/cases", response_model=list[CaseOut])
def list_cases(
    status: str | None = None,
    town_code: str | None = None,
    channel: str | None = None,
    limit: int = Query(200, description="at most 1000"),
    offset: int = 0,
    before_id: int | None = Query(None, description="only cases with a smaller id: the next page of a long list"),
    session: Session = Depends(get_session),
    p: Principal = Depends(require(*STAFF, "member")),
) -> list[dict]:
    """Cases newest first. A long list (the board's thousands of open cases) pages with ``before_id`` = the last
    id of the previous page, which neither skips nor repeats a case while others change status."""
    member_id = p.member_id if p.role == "member" else None
    found = service.search(
        session,
        status=status,
        town_code=town_code,
        channel=channel,
        member_id=member_id,
        limit=min(max(limit, 1), 1000),
        offset=max(offset, 0),
        before_id=before_id,
    )
    return _outs(session, list(found), p)


CARDS_MAX = 5000


@router.get("/api/cases/cards", response_model=list[CaseCardOut])
def case_cards(
    status: str | None = None,
    town_code: str | None = None,
    limit: int = Query(1000, description=f"at most {CARDS_MAX}"),
    before_id: int | None = Query(None, description="only cases with a smaller id: the next page"),
    session: Session = Depends(get_session),
    p: Principal = Depends(require(*STAFF)),
) -> list[dict]:
    """Cases newest first as the board's cards show them (no text, no reporter, no attachments): the board's
    first load of thousands of open cases, paged like ``GET /api/cases``."""
    found = service.cards(
        session, status=status, town_code=town_code, limit=min(max(limit, 1), CARDS_MAX), before_id=before_id
    )
    signing = sign_by_of(session, [c.id for c in found])
    return [service.card_view(c, signing) for c in found]


@router.get("/api/cases/{case_id}", response_model=CaseOut)
def get_case(
    case_id: int, session: Session = Depends(get_session), p: Principal = Depends(require(*STAFF, "member"))
) -> dict:
    case = service.get(session, case_id)
    _visible(case, p)
    return _out(session, case, p)


@router.get("/api/cases/{case_id}/events", response_model=list[CaseEventOut])
def case_events(
    case_id: int, session: Session = Depends(get_session), p: Principal = Depends(require(*STAFF, "member"))
) -> list:
    _visible(service.get(session, case_id), p)
    found = service.events(session, case_id)
    names = actor_names(session, (e.actor for e in found))
    return [CaseEventOut(**e.model_dump(), actor_name=names.get(e.actor)) for e in found]


# An attachment is the sender's bytes on our origin: whatever a browser makes of them, nothing may run. A
# sandboxed answer gets an opaque origin (no cookies, no same-origin API) and no scripts; with nosniff the bytes
# are only ever what the (safe) type says.
IMAGE_CSP = "sandbox; default-src 'none'; img-src 'self'; style-src 'unsafe-inline'"
FILE_CSP = "sandbox; default-src 'none'"


def _disposition(kind: str, filename: str) -> str:
    """RFC 6266: an ASCII fallback, then the UTF-8 name, both free of quotes, separators and line breaks."""
    name = files.safe_filename(filename)
    ascii_name = "".join(ch if ch.isascii() and (ch.isalnum() or ch in "._- ") else "_" for ch in name)
    return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(name, safe='')}"


@router.get("/api/cases/{case_id}/attachments/{attachment_id}")
def case_attachment(
    case_id: int,
    attachment_id: int,
    session: Session = Depends(get_session),
    p: Principal = Depends(require(*STAFF, "member")),
) -> Response:
    """A re-encoded photo inline (image/jpeg or image/png, checked again on its bytes); anything else, also
    rows stored before files were checked, as a download with a safe type."""
    _visible(service.get(session, case_id), p)
    att = session.get(Attachment, attachment_id)
    if att is None or att.case_id != case_id:
        raise not_found("附件", "Attachment", code="attachment_not_found")
    if files.is_image(att.content_type, att.data):
        media_type, kind, csp = att.content_type.lower(), "inline", IMAGE_CSP
    else:
        media_type, kind, csp = files.file_type(att.content_type, att.filename, att.data), "attachment", FILE_CSP
    headers = {
        "Content-Disposition": _disposition(kind, att.filename),
        "X-Content-Type-Options": "nosniff",
        "Content-Security-Policy": csp,
        "Cache-Control": "private, no-cache",
    }
    return Response(att.data, media_type=media_type, headers=headers)


def _member(p: Principal) -> int:
    if p.role != "member" or p.member_id is None:
        raise Forbidden("members_only", "仅委员本人可以操作", "Only the member can do this")
    return p.member_id


@router.post("/api/cases/{case_id}/accept", response_model=CaseOut)
def accept(case_id: int, session: Session = Depends(get_session), p: Principal = Depends(principal)) -> dict:
    case = dispatching.accept(session, case_id, _member(p))
    session.commit()
    return _out(session, case, p)


@router.post("/api/cases/{case_id}/decline", response_model=CaseOut)
def decline(
    case_id: int, body: ReasonIn, session: Session = Depends(get_session), p: Principal = Depends(principal)
) -> dict:
    case = dispatching.decline(session, case_id, _member(p), body.reason)
    session.commit()
    return _out(session, case, p)


def _handler(p: Principal) -> int | None:
    """Members act on their own cases; operators may act for them."""
    if p.role == "member":
        return _member(p)
    if p.role in ("admin", "operator"):
        return None
    raise Forbidden("forbidden", "您的角色无权执行此操作", "Your role may not do this", role=p.role)


@router.post("/api/cases/{case_id}/progress", response_model=CaseOut)
def progress(
    case_id: int, body: NoteIn, session: Session = Depends(get_session), p: Principal = Depends(principal)
) -> dict:
    case = handling.progress(session, case_id, body.note, p.actor, _handler(p))
    session.commit()
    return _out(session, case, p)


@router.post("/api/cases/{case_id}/resolve", response_model=CaseOut)
def resolve(
    case_id: int, body: NoteIn, session: Session = Depends(get_session), p: Principal = Depends(principal)
) -> dict:
    case = handling.resolve(session, case_id, body.note, p.actor, _handler(p))
    session.commit()
    return _out(session, case, p)


@router.post("/api/cases/{case_id}/assign", response_model=CaseOut)
def assign(
    case_id: int, body: AssignIn, session: Session = Depends(get_session), p: Principal = Depends(require("operator"))
) -> dict:
    case = dispatching.assign(session, case_id, body.member_id, p.actor)
    session.commit()
    return _out(session, case, p)


@router.post("/api/cases/{case_id}/forward", response_model=CaseOut)
def forward(
    case_id: int, body: ForwardIn, session: Session = Depends(get_session), p: Principal = Depends(require("operator"))
) -> dict:
    case = handling.forward(session, case_id, body.department_id, p.actor, body.note)
    session.commit()
    return _out(session, case, p)


@router.post("/api/cases/{case_id}/merge", response_model=CaseOut)
def merge(
    case_id: int, body: MergeIn, session: Session = Depends(get_session), p: Principal = Depends(require("operator"))
) -> dict:
    case = handling.merge(session, case_id, body.into_id, p.actor)
    session.commit()
    return _out(session, case, p)


@router.get(
    "/api/track/{tracking_no}", response_model=TrackOut, dependencies=[Depends(rate_limit("track", "tracking_no"))]
)
def track(
    tracking_no: str,
    secret: Annotated[str | None, Query(description="the case's secret (or send it as X-Tracking-Secret)")] = None,
    x_tracking_secret: Annotated[str | None, Header(description="the case's secret, instead of ?secret=")] = None,
    session: Session = Depends(get_session),
) -> dict:
    case = service.by_tracking_no(session, tracking_no, x_tracking_secret or secret)
    assert case.id is not None  # a case from the database
    return service.track_view(session, case, consultation_for_case(session, case.id))


@router.post(
    "/api/track/{tracking_no}/rating",
    response_model=TrackOut,
    dependencies=[Depends(rate_limit("rating", "tracking_no"))],
)
def rate(tracking_no: str, body: RatingIn, session: Session = Depends(get_session)) -> dict:
    case = handling.rate_tracked(session, tracking_no, body.secret, body.score, body.comment)
    session.commit()
    assert case.id is not None  # a case from the database
    return service.track_view(session, case, consultation_for_case(session, case.id))


@router.get("/api/cases/{case_id}/candidates")
def case_candidates(
    case_id: int, limit: int = 5, session: Session = Depends(get_session), p: Principal = Depends(require("operator"))
) -> list[dict]:
    """The nearest eligible members with their distances, for manual assignment."""
    return dispatching.candidates(session, service.get(session, case_id), min(max(limit, 1), 20))


@router.post("/api/cases/{case_id}/attachments", status_code=201)
async def add_photos(
    case_id: int,
    photos: Annotated[list[UploadFile], File()],
    session: Session = Depends(get_session),
    p: Principal = Depends(principal),
) -> list[dict]:
    """Photos of the handling (progress, result), by the assigned member or an operator."""
    from starlette.concurrency import run_in_threadpool

    case = service.get(session, case_id)
    member_id = _handler(p)
    if member_id is not None and case.assignee_id != member_id:
        raise Forbidden("not_your_case", "该案件未派给您", "This case is not assigned to you")
    check_photo_count(len(photos))
    limit = get_settings().max_photo_bytes
    files = [await run_in_threadpool(photo, u.filename or "photo", await u.read(limit + 1)) for u in photos]
    added = service.add_attachments(session, case, files, actor=p.actor)
    session.commit()
    return [service.attachment_view(a) for a in added]


@router.post("/api/cases/{case_id}/category", response_model=CaseOut)
def confirm_category(
    case_id: int, body: CategoryIn, session: Session = Depends(get_session), p: Principal = Depends(require("operator"))
) -> dict:
    """The operator confirms a suggested category (or picks another)."""
    case = service.set_category(session, case_id, body.category, p.actor)
    session.commit()
    return _out(session, case, p)


@router.post("/api/cases/{case_id}/kind", response_model=CaseOut)
def set_request_kind(
    case_id: int,
    body: RequestKindIn,
    session: Session = Depends(get_session),
    p: Principal = Depends(require("operator")),
) -> dict:
    """The operator sets the request type (诉求类型); the deadlines follow the policy for that type."""
    case = service.set_request_kind(session, case_id, body.request_kind, p.actor)
    session.commit()
    return _out(session, case, p)


# ---- extension requests (延期) ---------------------------------------------------------------------------


@router.get("/api/cases/{case_id}/extensions", response_model=list[ExtensionOut])
def list_extensions(
    case_id: int, session: Session = Depends(get_session), p: Principal = Depends(require(*STAFF, "member"))
) -> list:
    _visible(service.get(session, case_id), p)
    return extensions.extensions(session, case_id)


@router.post("/api/cases/{case_id}/extensions", response_model=ExtensionOut, status_code=201)
def request_extension(
    case_id: int, body: ExtensionIn, session: Session = Depends(get_session), p: Principal = Depends(principal)
) -> ExtensionRequest:
    if p.kind != "user" or p.role != "member" or p.member_id is None:
        raise Forbidden(
            "members_only", "仅承办委员本人可以申请延期", "Only the assigned member can ask for an extension"
        )
    ext = extensions.request_extension(session, case_id, p.member_id, body.reason, body.new_due_at)
    session.commit()
    return ext


@router.get("/api/extensions", response_model=list[ExtensionOut])
def pending_extensions(
    state: str = "pending", session: Session = Depends(get_session), _p: Principal = Depends(require(*STAFF))
) -> list:
    return extensions.by_state(session, state)


def _decide(ext_id: int, approve: bool, body: DecisionIn, session: Session, p: Principal) -> ExtensionRequest:
    ext = extensions.decide_extension(session, ext_id, approve, p.actor, body.note)
    session.commit()
    return ext


@router.post("/api/extensions/{ext_id}/approve", response_model=ExtensionOut)
def approve_extension(
    ext_id: int, body: DecisionIn, session: Session = Depends(get_session), p: Principal = Depends(require("operator"))
) -> ExtensionRequest:
    return _decide(ext_id, True, body, session, p)


@router.post("/api/extensions/{ext_id}/reject", response_model=ExtensionOut)
def reject_extension(
    ext_id: int, body: DecisionIn, session: Session = Depends(get_session), p: Principal = Depends(require("operator"))
) -> ExtensionRequest:
    return _decide(ext_id, False, body, session, p)
