from __future__ import annotations

from sqlmodel import Session, select

from dispatch.regions import reference
from dispatch.regions.models import Region


def load_reference(session: Session) -> int:
    """Insert the district, its towns and villages (reference data; idempotent)."""
    existing = set(session.exec(select(Region.code)).all())
    rows = [Region(**r) for r in reference.load_reference() if r["code"] not in existing]
    session.add_all(rows)
    return len(rows)


def search(session: Session, level: str | None = None, parent_code: str | None = None) -> list[Region]:
    stmt = select(Region)
    if level:
        stmt = stmt.where(Region.level == level)
    if parent_code:
        stmt = stmt.where(Region.parent_code == parent_code)
    return list(session.exec(stmt.order_by(Region.code)).all())
