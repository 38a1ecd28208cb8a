"""Server-rendered pages. For now the resident's plain QR form; the board and the rest come later."""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import HTMLResponse
from sqlmodel import Session

from dispatch.auth.deps import get_session
from dispatch.cases import taxonomy
from dispatch.errors import AppError, NotFound
from dispatch.intake.views import receive_qr
from dispatch.points import service as points
from dispatch.regions.models import Region

router = APIRouter(include_in_schema=False)

_HEAD = """<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1"><title>{title}</title>
<style>body{{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:36rem;padding:1rem;color:#1a1a1a}}
label{{display:block;margin:.8rem 0 .2rem;font-weight:600}}input,select,textarea{{width:100%;box-sizing:border-box;
font:inherit;padding:.5rem;border:1px solid #767676;border-radius:4px}}button{{margin-top:1rem;width:100%;
padding:.8rem;font:inherit;font-weight:700;background:#b3261e;color:#fff;border:0;border-radius:4px}}
.muted{{color:#555}}</style></head><body>"""


@router.get("/q/{token}", response_class=HTMLResponse)
def qr_form(token: str, session: Session = Depends(get_session)) -> HTMLResponse:
    try:
        point = points.by_token(session, token)
    except NotFound as exc:
        body = (
            _HEAD.format(title="二维码无效 / Invalid code") + "<h1>二维码无效</h1>"
            f"<p>{escape(exc.message)}</p><p class='muted'>可拨打 12345 市民热线反映诉求。</p></body></html>"
        )
        return HTMLResponse(body, status_code=404, headers={"X-Error-Code": exc.code})
    village = session.get(Region, point.village_code)
    town = session.get(Region, point.town_code)
    options = "".join(f"<option>{escape(c)}</option>" for c in taxonomy.top_level())
    body = (
        _HEAD.format(title="有事好商量 · 反映诉求")
        + f"""
<h1>有事好商量</h1><p class="muted">{escape(town.name if town else "")} {escape(village.name if village else "")}
· {escape(point.name)}</p>
<form method="post" action="/q/{escape(token)}" enctype="multipart/form-data">
<label for="category">诉求分类 Category</label><select id="category" name="category" required>{options}</select>
<label for="content">诉求内容 Description</label><textarea id="content" name="content" rows="5" required></textarea>
<label for="photos">照片（最多 3 张） Photos (up to 3)</label>
<input id="photos" name="photos" type="file" accept="image/*" capture="environment" multiple>
<label for="name">姓名（选填） Name (optional)</label><input id="name" name="name" autocomplete="name">
<label for="phone">电话（选填） Phone (optional)</label><input id="phone" name="phone" type="tel" autocomplete="tel">
<button type="submit">提交 Submit</button></form></body></html>"""
    )
    return HTMLResponse(body)


def _page(title: str, body: str, status: int = 200, code: str | None = None) -> HTMLResponse:
    headers = {"X-Error-Code": code} if code else None
    return HTMLResponse(
        _HEAD.format(title=escape(title)) + body + "</body></html>", status_code=status, headers=headers
    )


@router.post("/q/{token}", response_class=HTMLResponse)
async def qr_submit(
    token: str,
    content: Annotated[str, Form()] = "",
    category: Annotated[str, Form()] = "",
    name: Annotated[str | None, Form()] = None,
    phone: Annotated[str | None, Form()] = None,
    photos: Annotated[list[UploadFile] | None, File()] = None,
    session: Session = Depends(get_session),
) -> HTMLResponse:
    """The no-JavaScript path of the QR form: the same intake as the API, answered as a page."""
    try:
        if not content.strip():
            raise AppError("missing_field", "请填写诉求内容", "Please describe the issue", status=422)
        case, secret = await receive_qr(session, token, content, category, None, None, "wgs84", name, phone, photos)
    except AppError as exc:
        return _page(
            "未能提交 / Not submitted",
            f"<h1>未能提交</h1><p>{escape(exc.message)}</p><p><a href=''>返回修改 / Back</a></p>",
            exc.status,
            exc.code,
        )
    track = f"/api/track/{case.tracking_no}?secret={secret}"
    return _page(
        "已受理 / Received",
        f"""<h1>已受理</h1>
<p>受理编号 Tracking number：<strong id="tracking-no">{escape(case.tracking_no)}</strong></p>
<p>查询码 Secret：<strong id="secret">{escape(secret)}</strong></p>
<p class="muted">请保存编号和查询码，用于查询进度和评价。Keep both to follow and rate your case.</p>
<p><a href="{escape(track)}">查询进度 / Follow it</a></p>""",
        201,
    )
