"""report_indexes: partial indexes for the inspection report (the overdue list, the reopened cases).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# cases.states.OPEN_STATUSES at the time of writing (the model declares the same predicate)
OPEN_SQL = "status IN ('new', 'offered', 'escalated', 'assigned', 'in_progress', 'reopened')"
REOPENED_SQL = "to_status = 'reopened'"


def upgrade() -> None:
    op.create_index(
        "ix_case_open_due",
        "case",
        ["due_at"],
        postgresql_where=sa.text(OPEN_SQL),
        sqlite_where=sa.text(OPEN_SQL),
    )
    op.create_index(
        "ix_case_event_reopened",
        "case_event",
        ["case_id"],
        postgresql_where=sa.text(REOPENED_SQL),
        sqlite_where=sa.text(REOPENED_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_case_event_reopened", table_name="case_event")
    op.drop_index("ix_case_open_due", table_name="case")
