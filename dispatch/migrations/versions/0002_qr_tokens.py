"""QR tokens: rotation and revocation history for points, members' personal codes.

Every token ever issued, with its kind (point | member) and target; a rotated one keeps ``replaced_at`` and
``replaced_by`` so an old poster can say where to go. Existing points' current tokens are copied in.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # binds ``sqlmodel`` too; naming the submodule lets type checkers resolve ``sqlmodel.sql``
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "qr_token",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("token", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("target_id", sa.Integer(), nullable=False),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("replaced_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("replaced_by", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("qr_token", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_qr_token_token"), ["token"], unique=True)
        batch_op.create_index(batch_op.f("ix_qr_token_target_id"), ["target_id"], unique=False)
    op.execute(
        "INSERT INTO qr_token (token, kind, target_id, issued_at, revoked_at) "
        "SELECT qr_token, 'point', id, created_at, revoked_at FROM point"
    )


def downgrade() -> None:
    with op.batch_alter_table("qr_token", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qr_token_target_id"))
        batch_op.drop_index(batch_op.f("ix_qr_token_token"))
    op.drop_table("qr_token")
