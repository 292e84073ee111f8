"""member interaction counts: messages and button taps per member, group and day (#26)

Revision ID: 4d973e720e6a
Revises: 6e37b7b3bdaf
Create Date: 2026-12-06 09:15:58.176764
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "4d973e720e6a"
down_revision: str | None = "6e37b7b3bdaf"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "member_interaction",
        sa.Column("community_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("member_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("messages", sa.Integer(), nullable=False),
        sa.Column("taps", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("community_id", "member_id", "day"),
    )
    with op.batch_alter_table("member_interaction", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_member_interaction_day"), ["day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("member_interaction", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_member_interaction_day"))

    op.drop_table("member_interaction")
