"""Think-tank API: thin routers over ``experts.service`` and ``experts.importer``.

Operators and admins manage the think tank; supervisors read it (phones masked). The paths stay under
``/api/consultations/experts``, where the topic pages have always found them.
"""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from dispatch.auth.deps import STAFF, get_session, require
from dispatch.auth.service import Principal
from dispatch.errors import error_body
from dispatch.experts import importer, service
from dispatch.experts.models import ExpertIn, ExpertKind, ExpertPatch

router = APIRouter(prefix="/api/consultations/experts", tags=["think tank"])
MANAGE = require("operator")  # and admin
READ = require(*STAFF)
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.get("")
def list_experts(
    field: str | None = None,
    active: bool | None = None,
    kind: ExpertKind | None = None,
    town_code: str | None = None,
    q: str | None = None,
    session: Session = Depends(get_session),
    p: Principal = Depends(READ),
) -> list[dict]:
    rows = service.list_experts(session, field=field, active=active, kind=kind, town_code=town_code, q=q)
    return [service.view(e, p) for e in rows]


@router.post("", status_code=201)
def create_expert(body: ExpertIn, session: Session = Depends(get_session), p: Principal = Depends(MANAGE)) -> dict:
    expert = service.create(session, body)
    session.commit()
    return service.view(expert, p)


@router.get("/fields", dependencies=[Depends(READ)])
def fields(session: Session = Depends(get_session)) -> list[str]:
    """The fields active experts may be drawn for, most experts first."""
    return service.fields_in_use(session)


@router.post("/import", dependencies=[Depends(MANAGE)])
def import_experts(
    file: UploadFile = File(..., description="XLSX, or CSV in UTF-8 / UTF-8 with BOM / GBK"),
    dry_run: bool = Form(False),
    session: Session = Depends(get_session),
) -> JSONResponse:
    """All or nothing: 200 ``{"created","rows","errors":[],"dry_run"}``, or 422 ``import_failed`` with every
    row's errors under ``error.details.errors``. With ``dry_run`` nothing is stored."""
    result = importer.run(session, file.file.read(), file.filename or "", dry_run=dry_run)
    body = {"created": result.created, "rows": result.rows, "errors": result.errors, "dry_run": dry_run}
    if result.errors:
        n = len(result.errors)
        message = f"导入失败：{n} 处错误，未添加任何专家 / Import failed: {n} error(s), no expert was added"
        return JSONResponse(error_body("import_failed", message, body), status_code=422)
    return JSONResponse(body)


@router.get("/import/template.xlsx", dependencies=[Depends(MANAGE)])
def import_template(session: Session = Depends(get_session)) -> Response:
    disposition = f"attachment; filename=\"experts-template.xlsx\"; filename*=UTF-8''{quote('专家导入模板.xlsx')}"
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    return Response(importer.template(session), media_type=XLSX, headers=headers)


@router.get("/{expert_id}")
def get_expert(expert_id: int, session: Session = Depends(get_session), p: Principal = Depends(READ)) -> dict:
    return service.view(service.get(session, expert_id), p)


@router.patch("/{expert_id}")
def patch_expert(
    expert_id: int, body: ExpertPatch, session: Session = Depends(get_session), p: Principal = Depends(MANAGE)
) -> dict:
    """Change an expert; ``{"active": false}`` deactivates (no longer drawn; past draws keep the name)."""
    expert = service.patch(session, service.get(session, expert_id), body)
    session.commit()
    return service.view(expert, p)
