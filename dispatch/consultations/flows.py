"""What follows a consultation change: the follow-up review (回头看) job."""

from __future__ import annotations

from datetime import timedelta
from typing import cast

from sqlmodel import Session, col, select

from dispatch.consultations import service
from dispatch.consultations.models import FollowUp
from dispatch.db import get_engine, utcnow


def run_follow_up_due(follow_up_id: int) -> bool:
    with Session(get_engine(), expire_on_commit=False) as session:
        changed = service.mark_follow_up_due(session, follow_up_id)
        session.commit()
        return changed


def sweep_follow_ups(limit: int = 100) -> int:
    """Mark due any follow-up whose job was lost (Redis down when it was scheduled); safe to run anywhere."""
    with Session(get_engine()) as session:
        late = utcnow() - timedelta(seconds=30)  # the RQ job normally fires first; this catches lost ones
        stmt = select(FollowUp.id).where(FollowUp.state == "scheduled", col(FollowUp.due_at) <= late)
        ids = cast(list[int], list(session.exec(stmt.order_by(col(FollowUp.id)).limit(limit)).all()))  # primary keys
    return sum(int(run_follow_up_due(i)) for i in ids)
