"""promotion posts: group-buy cards counted by the promotion policy

Revision ID: 7b2e4c91d0a3
Revises: 3b6eddde39bb
Create Date: 2026-12-06 02:45:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = "7b2e4c91d0a3"
down_revision: str | None = "3b6eddde39bb"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "promotion_post",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column(
            "groupbuy_id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            nullable=False,
        ),
        sa.Column("posted_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_promotion_post_chat", "promotion_post", ["chat_id", "posted_at"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_promotion_post_chat", table_name="promotion_post")
    op.drop_table("promotion_post")
