"""outbox_unsent: a partial index of the rows the relay has not sent yet.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNSENT_SQL = "sent_at IS NULL"


def upgrade() -> None:
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        postgresql_where=sa.text(UNSENT_SQL),
        sqlite_where=sa.text(UNSENT_SQL),
    )


def downgrade() -> None:
    op.drop_index("ix_outbox_unsent", table_name="outbox")
