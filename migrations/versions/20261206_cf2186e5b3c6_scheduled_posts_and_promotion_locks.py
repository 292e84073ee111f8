"""scheduled posts and promotion locks: group-buy cards held back by the promotion policy are
posted later; one lock row per group serializes the policy"s decisions

Revision ID: cf2186e5b3c6
Revises: a040ecb697de
Create Date: 2026-12-06 04:42:34.905731
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = "cf2186e5b3c6"
down_revision: str | None = "a040ecb697de"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "post_kind", sa.String(length=12), server_default="promotion", nullable=False
            )
        )
    op.create_table(
        "promotion_lock",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("decided_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chat_id"),
    )
    op.create_table(
        "scheduled_post",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column(
            "groupbuy_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("due_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("reason", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=True),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("claimed_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("posted_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["groupbuy_id"],
            ["groupbuy.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("groupbuy_id", "chat_id", name="uq_scheduled_post"),
    )
    op.create_index("ix_scheduled_post_chat", "scheduled_post", ["chat_id", "due_at"])
    op.create_index("ix_scheduled_post_due", "scheduled_post", ["status", "due_at"])


def downgrade() -> None:
    op.drop_index("ix_scheduled_post_due", table_name="scheduled_post")
    op.drop_index("ix_scheduled_post_chat", table_name="scheduled_post")
    op.drop_table("scheduled_post")
    op.drop_table("promotion_lock")
    with op.batch_alter_table("broadcast", schema=None) as batch_op:
        batch_op.drop_column("post_kind")
