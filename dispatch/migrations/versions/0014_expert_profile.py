"""expert: the think tank's groups (kind), title and town, for managing and importing experts.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # binds ``sqlmodel`` too; naming the submodule lets type checkers resolve ``sqlmodel.sql``
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.add_column(sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=True))
        batch_op.add_column(
            sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default="policy")
        )
        batch_op.add_column(sa.Column("town_code", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True))
        batch_op.create_foreign_key("fk_expert_town_code_region", "region", ["town_code"], ["code"])
        batch_op.create_index(batch_op.f("ix_expert_kind"), ["kind"], unique=False)
        batch_op.create_index(batch_op.f("ix_expert_town_code"), ["town_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("expert", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_expert_town_code"))
        batch_op.drop_index(batch_op.f("ix_expert_kind"))
        batch_op.drop_constraint("fk_expert_town_code_region", type_="foreignkey")
        batch_op.drop_column("town_code")
        batch_op.drop_column("kind")
        batch_op.drop_column("title")
