"""Writing and querying the staff audit log. Bodies are summarised with secrets redacted, never stored whole."""

from __future__ import annotations

import hashlib
import json
import logging
from datetime import datetime
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from dispatch.audit.models import StaffAudit
from dispatch.audit.redact import redact, redact_query
from dispatch.db import get_engine
from dispatch.errors import brief, database_unavailable

log = logging.getLogger(__name__)

# GET routes (by route name) that hand out personal data: their reads are audited too
AUDITED_READS = frozenset(
    {
        "inspection_file",  # inspection report PDF/XLSX
        "weekly_pdf",
        "cases_behind",  # the cases behind a KPI
        "member_record",
        "case_attachment",  # residents' photos
        "import_template",
        "list_users",
        "audit_log",
    }
)
SUMMARY_CHARS = 1000


def summarise(content_type: str, body: bytes, truncated: bool, query: str) -> tuple[str, str | None]:
    """(summary, sha256) of a request body: redacted JSON, or its type and size; the query string for reads."""
    parts = []
    if query:
        parts.append("?" + redact_query(query))
    digest = None
    ctype = content_type.split(";")[0].strip().lower()
    if body:
        if ctype == "application/json" and not truncated:
            try:
                clean = json.dumps(redact(json.loads(body)), ensure_ascii=False, sort_keys=True)
                digest = hashlib.sha256(clean.encode()).hexdigest()
                parts.append(clean)
            except (UnicodeDecodeError, ValueError):
                parts.append(f"{ctype} ({len(body)} bytes, not JSON)")
        else:
            # forms may carry passwords: only their size and a digest of the bytes
            parts.append(f"{ctype or 'body'} ({len(body)}{'+' if truncated else ''} bytes)")
            if not truncated and ctype not in ("application/x-www-form-urlencoded",):
                digest = hashlib.sha256(body).hexdigest()
    text = " ".join(parts)
    return (text[: SUMMARY_CHARS - 1] + "…" if len(text) > SUMMARY_CHARS else text), digest


def target(path_params: dict[str, Any]) -> tuple[str | None, str | None]:
    """The most specific path parameter: ``{"case_id": 7}`` → ("case", "7")."""
    if not path_params:
        return None, None
    name, value = list(path_params.items())[-1]
    kind = name[:-3] if name.endswith("_id") else name
    return kind[:64], str(value)[:128]


def record(entry: dict[str, Any]) -> None:
    """Write one entry in its own short transaction; a failure is logged, never raised into the request."""
    try:
        with Session(get_engine()) as session:
            session.add(StaffAudit(**entry))
            session.commit()
    except Exception as exc:  # noqa: BLE001 - the audit must not break the answer it describes
        if database_unavailable(exc):  # the answer was a 503 too: one line, not a traceback per request
            log.warning("staff audit entry not written: %s %s (%s)", entry.get("method"), entry.get("path"), brief(exc))
            return
        log.exception("staff audit entry not written: %s %s", entry.get("method"), entry.get("path"))


def search(
    session: Session,
    *,
    actor: str | None = None,
    role: str | None = None,
    method: str | None = None,
    path: str | None = None,
    status: int | None = None,
    start: datetime | None = None,
    end: datetime | None = None,
    page: int = 1,
    page_size: int = 50,
) -> tuple[list[StaffAudit], int]:
    """Newest first. ``actor``: a name, or an id; ``path``: a prefix; ``start``/``end``: [start, end)."""
    stmt = select(StaffAudit)
    if actor:
        stmt = stmt.where((StaffAudit.actor_id == int(actor)) if actor.isdigit() else (StaffAudit.actor_name == actor))
    if role:
        stmt = stmt.where(StaffAudit.actor_role == role)
    if method:
        stmt = stmt.where(StaffAudit.method == method.upper())
    if path:
        stmt = stmt.where(col(StaffAudit.path).startswith(path, autoescape=True))
    if status is not None:
        stmt = stmt.where(StaffAudit.status == status)
    if start is not None:
        stmt = stmt.where(StaffAudit.at >= start)
    if end is not None:
        stmt = stmt.where(StaffAudit.at < end)
    total = session.exec(select(func.count()).select_from(stmt.subquery())).one()
    rows = session.exec(stmt.order_by(col(StaffAudit.id).desc()).offset((page - 1) * page_size).limit(page_size)).all()
    return list(rows), int(total)
