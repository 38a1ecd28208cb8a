"""Staff read the replies sent to residents (what, to whom, whether it went out)."""

from __future__ import annotations

from fastapi import APIRouter, Depends
from sqlmodel import Session

from dispatch.auth.deps import get_session, require
from dispatch.auth.service import Principal
from dispatch.cases.service import sees_phones
from dispatch.notifications import service
from dispatch.notifications.models import NotificationOut

router = APIRouter(tags=["notifications"])


@router.get("/api/notifications", response_model=list[NotificationOut])
def list_notifications(
    case_id: int | None = None,
    status: str | None = None,
    limit: int = 200,
    session: Session = Depends(get_session),
    p: Principal = Depends(require("operator", "supervisor")),
) -> list[dict]:
    """Newest first. Recipients in full for operators, masked for supervisors."""
    rows = service.search(session, case_id=case_id, status=status, limit=min(max(limit, 1), 1000))
    return [service.view(r, reveal=sees_phones(p.role)) for r in rows]
