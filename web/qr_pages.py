"""Public QR pages of this concept: a member's personal mailbox page (/mb/{token}) and the page that a replaced
code shows (used by /q/{token} in web/pages.py through ``replaced_page``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from dispatch import ratelimit
from dispatch.auth.deps import get_session
from dispatch.cases.service import NewCase
from dispatch.errors import AppError, NotFound
from dispatch.intake.service import submit
from dispatch.qrcodes import service as qrcodes
from dispatch.qrcodes.service import QrReplaced
from dispatch.regions.models import Region
from web.render import received_page, render, token_error_page

router = APIRouter(include_in_schema=False)


def replaced_page(request: Request, exc: QrReplaced) -> HTMLResponse:
    """410 Gone: "此二维码已更换", naming the point (or member) and where to go."""
    page = render(request, "qr_replaced.html", exc.status, code=exc.code, **exc.details)
    page.headers["X-Error-Code"] = exc.code
    return page


def _form(request: Request, session: Session, token: str, status: int = 200, **ctx) -> HTMLResponse:
    member = qrcodes.member_by_token(session, token)
    town = session.get(Region, member.town_code) if member.town_code else None
    return render(
        request,
        "member_mailbox.html",
        status,
        token=token,
        member=member,
        town=town.name if town else "",
        values=ctx.pop("values", {}),
        **ctx,
    )


@router.get("/mb/{token}", response_class=HTMLResponse)
def mailbox_form(request: Request, token: str, session: Session = Depends(get_session)) -> HTMLResponse:
    try:
        return _form(request, session, token)
    except QrReplaced as exc:
        return replaced_page(request, exc)
    except NotFound as exc:
        return token_error_page(request, exc)


@router.post("/mb/{token}", response_class=HTMLResponse)
def mailbox_submit(
    request: Request,
    token: str,
    content: Annotated[str, Form(max_length=5000)] = "",
    name: Annotated[str, Form(max_length=64)] = "",
    phone: Annotated[str, Form(max_length=32)] = "",
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """A letter to the member's mailbox (委员信箱): a mail-channel case, answered with its tracking number."""
    values = {"content": content, "name": name, "phone": phone}
    try:
        member = qrcodes.member_by_token(session, token)
        ratelimit.check("qr", request, token)  # the same limits as a point's QR form
    except QrReplaced as exc:
        return replaced_page(request, exc)
    except NotFound as exc:
        return token_error_page(request, exc)
    except AppError as exc:
        page = _form(request, session, token, exc.status, error_zh=exc.zh, error_en=exc.en, values=values)
        page.headers["X-Error-Code"] = exc.code
        page.headers["Retry-After"] = str(exc.details.get("retry_after_s", 60))
        return page
    if not content.strip():
        page = _form(
            request, session, token, 422, error_zh="请填写内容", error_en="Please write your message", values=values
        )
        page.headers["X-Error-Code"] = "missing_field"
        return page
    box = qrcodes.member_mailbox(session, member)
    new = NewCase(
        channel="mail",
        content=content,
        title=f"委员信箱：{member.name}"[:256],
        actor="resident",
        reporter_name=name.strip() or None,
        reporter_phone=phone.strip() or None,
        mailbox_id=box.id,
        town_code=member.town_code,
    )
    session.close()  # SQLite: no read transaction held while submit writes
    try:
        case, secret, _ = submit(new)
    except AppError as exc:
        page = _form(request, session, token, exc.status, error_zh=exc.zh, error_en=exc.en, values=values)
        page.headers["X-Error-Code"] = exc.code
        return page
    assert secret is not None  # a QR case has no external id: always created, with its secret
    return received_page(request, case, secret)
