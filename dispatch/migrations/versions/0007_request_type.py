"""request_type: request type (诉求类型) on cases for per-type deadline policies, and live hotspots (研判热点).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-22
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # binds ``sqlmodel`` too; naming the submodule lets type checkers resolve ``sqlmodel.sql``
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.add_column(sa.Column("request_kind", S(length=16), nullable=True))

    op.create_table(
        "hotspot",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key", S(length=64), nullable=False),
        sa.Column("status", S(length=12), nullable=False),
        sa.Column("town_code", S(length=12), nullable=True),
        sa.Column("village_code", S(length=12), nullable=True),
        sa.Column("place", S(length=128), nullable=True),
        sa.Column("lat", sa.Float(), nullable=True),
        sa.Column("lon", sa.Float(), nullable=True),
        sa.Column("keywords", sa.JSON(), nullable=False),
        sa.Column("title", S(length=200), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("first_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("first_flagged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("topic_id", sa.Integer(), nullable=True),
        sa.Column("merged_into_id", sa.Integer(), nullable=True),
        sa.Column("closed_by", S(length=64), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("dismiss_reason", S(), nullable=True),
        sa.ForeignKeyConstraint(["merged_into_id"], ["hotspot.id"]),
        sa.ForeignKeyConstraint(["topic_id"], ["topic.id"]),
        sa.ForeignKeyConstraint(["town_code"], ["region.code"]),
        sa.ForeignKeyConstraint(["village_code"], ["region.code"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("hotspot", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hotspot_key"), ["key"], unique=True)
        batch_op.create_index(batch_op.f("ix_hotspot_status"), ["status"], unique=False)
        batch_op.create_index(batch_op.f("ix_hotspot_town_code"), ["town_code"], unique=False)

    op.create_table(
        "hotspot_case",
        sa.Column("hotspot_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["hotspot_id"], ["hotspot.id"]),
        sa.PrimaryKeyConstraint("hotspot_id", "case_id"),
    )
    with op.batch_alter_table("hotspot_case", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_hotspot_case_case_id"), ["case_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("hotspot_case", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hotspot_case_case_id"))
    op.drop_table("hotspot_case")
    with op.batch_alter_table("hotspot", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_hotspot_town_code"))
        batch_op.drop_index(batch_op.f("ix_hotspot_status"))
        batch_op.drop_index(batch_op.f("ix_hotspot_key"))
    op.drop_table("hotspot")
    with op.batch_alter_table("case", schema=None) as batch_op:
        batch_op.drop_column("request_kind")
