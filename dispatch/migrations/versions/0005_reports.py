"""reports: stored weekly inspection reports (督查周报), one per week.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "weekly_report",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("week_start", sa.Date(), nullable=False),
        sa.Column("week_end", sa.Date(), nullable=False),
        sa.Column("generated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("totals", sa.JSON(), nullable=False),
        sa.Column("pdf", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("weekly_report", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_weekly_report_week_start"), ["week_start"], unique=True)


def downgrade() -> None:
    with op.batch_alter_table("weekly_report", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_weekly_report_week_start"))
    op.drop_table("weekly_report")
