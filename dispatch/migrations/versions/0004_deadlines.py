"""deadlines: the deadline policy (seeded with the Beijing and Guangdong defaults), the working-day calendar
(seeded from dispatch/deadlines/data/holidays.csv), case deadlines, ladder steps and extension requests.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-21
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
import sqlmodel.sql.sqltypes  # binds ``sqlmodel`` too; naming the submodule lets type checkers resolve ``sqlmodel.sql``
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

S = sqlmodel.sql.sqltypes.AutoString


def upgrade() -> None:
    policy = op.create_table(
        "deadline_policy",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("profile", S(length=32), nullable=False),
        sa.Column("category_prefix", S(length=128), nullable=False),
        sa.Column("urgency", S(length=8), nullable=False),
        sa.Column("kind", S(length=16), nullable=False),
        sa.Column("sign_amount", sa.Integer(), nullable=False),
        sa.Column("sign_unit", S(length=16), nullable=False),
        sa.Column("finish_amount", sa.Integer(), nullable=False),
        sa.Column("finish_unit", S(length=16), nullable=False),
        sa.Column("note", S(length=256), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", S(length=64), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("profile", "category_prefix", "urgency", "kind", name="uq_deadline_policy_key"),
    )
    with op.batch_alter_table("deadline_policy", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_deadline_policy_profile"), ["profile"], unique=False)

    calendar = op.create_table(
        "calendar_day",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("kind", S(length=8), nullable=False),
        sa.Column("name", S(length=64), nullable=False),
        sa.PrimaryKeyConstraint("day"),
    )
    op.create_table(
        "case_deadline",
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sign_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finish_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("rule", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("case_id"),
    )
    op.create_table(
        "ladder_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("step", S(length=16), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", S(length=8), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("case_id", "step", name="uq_ladder_step_case_step"),
    )
    with op.batch_alter_table("ladder_step", schema=None) as batch_op:
        batch_op.create_index("ix_ladder_step_state_due_at", ["state", "due_at"], unique=False)

    op.create_table(
        "extension_request",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("member_id", sa.Integer(), nullable=False),
        sa.Column("reason", S(), nullable=False),
        sa.Column("old_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("new_due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", S(length=10), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", S(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", S(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("extension_request", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_extension_request_case_id"), ["case_id"], unique=False)

    # seeds: the shipped defaults (the code's copy is what an empty table falls back to)
    from dispatch.deadlines.calendar import read_csv
    from dispatch.deadlines.policy import default_policy_rows

    now = datetime.now(UTC)
    if op.get_bind().dialect.name == "sqlite":
        now = now.replace(tzinfo=None)
    op.bulk_insert(policy, [{**r, "updated_at": now, "updated_by": "migration"} for r in default_policy_rows()])
    op.bulk_insert(calendar, read_csv())


def downgrade() -> None:
    with op.batch_alter_table("extension_request", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_extension_request_case_id"))
    op.drop_table("extension_request")
    with op.batch_alter_table("ladder_step", schema=None) as batch_op:
        batch_op.drop_index("ix_ladder_step_state_due_at")
    op.drop_table("ladder_step")
    op.drop_table("case_deadline")
    op.drop_table("calendar_day")
    with op.batch_alter_table("deadline_policy", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_deadline_policy_profile"))
    op.drop_table("deadline_policy")
