"""Members from a spreadsheet: ``POST /api/members/import`` and the template to fill in."""

from __future__ import annotations

from urllib.parse import quote

from fastapi import APIRouter, Depends, File, Form, UploadFile
from fastapi.responses import JSONResponse, Response
from sqlmodel import Session

from dispatch.auth.deps import get_session, require
from dispatch.errors import error_body
from dispatch.members import importer

router = APIRouter(prefix="/api/members/import", tags=["members"])
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@router.post("", dependencies=[Depends(require("operator"))])
def import_members(
    file: UploadFile = File(..., description="XLSX, or CSV in UTF-8 / UTF-8 with BOM / GBK"),
    dry_run: bool = Form(False),
    session: Session = Depends(get_session),
) -> JSONResponse:
    """All or nothing: 200 ``{"created","errors":[],"dry_run"}``, or 422 with the row errors under
    ``error.details``. With ``dry_run`` nothing is stored; ``created`` is how many rows would be."""
    data = file.file.read()
    result = importer.run(session, data, file.filename or "", dry_run=dry_run)
    body = {"created": result.created, "rows": result.rows, "errors": result.errors, "dry_run": dry_run}
    if result.errors:
        n = len(result.errors)
        message = f"导入失败：{n} 处错误，未创建任何委员 / Import failed: {n} error(s), no member was created"
        return JSONResponse(error_body("import_failed", message, body), status_code=422)
    return JSONResponse(body)


@router.get("/template.xlsx", dependencies=[Depends(require("operator"))])
def import_template(session: Session = Depends(get_session)) -> Response:
    disposition = f"attachment; filename=\"members-template.xlsx\"; filename*=UTF-8''{quote('委员导入模板.xlsx')}"
    headers = {"Content-Disposition": disposition, "Cache-Control": "no-store"}
    return Response(importer.template(session), media_type=XLSX, headers=headers)
