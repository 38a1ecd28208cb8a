from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from sqlmodel import Session

from dispatch.audit import service
from dispatch.audit.models import AuditOut, AuditPage
from dispatch.auth.deps import get_session, require
from dispatch.auth.service import Principal

router = APIRouter(prefix="/api/admin", tags=["audit"])


@router.get("/audit", response_model=AuditPage, name="audit_log")
def audit_log(
    actor: Annotated[str | None, Query(max_length=128, description="a name or an account id")] = None,
    role: Annotated[str | None, Query(max_length=16)] = None,
    method: Annotated[str | None, Query(max_length=8)] = None,
    path: Annotated[str | None, Query(max_length=512, description="a path prefix, e.g. /api/cases")] = None,
    status: Annotated[int | None, Query(ge=100, le=599)] = None,
    from_: Annotated[datetime | None, Query(alias="from", description="at or after (ISO 8601)")] = None,
    to: Annotated[datetime | None, Query(description="before (ISO 8601)")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=500)] = 50,
    session: Session = Depends(get_session),
    _p: Principal = Depends(require()),  # admins only
) -> dict:
    """The staff audit log, newest first: every write by staff, members and API keys, and personal-data reads."""
    rows, total = service.search(
        session,
        actor=actor,
        role=role,
        method=method,
        path=path,
        status=status,
        start=from_,
        end=to,
        page=page,
        page_size=page_size,
    )
    items = [AuditOut.model_validate(r, from_attributes=True) for r in rows]
    return {"items": items, "total": total, "page": page, "page_size": page_size}
