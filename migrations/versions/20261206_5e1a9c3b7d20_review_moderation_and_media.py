"""reviews: moderation status, photos and a video (晒单), consent to share

Revision ID: 5e1a9c3b7d20
Revises: c4a1d2e3f5b6
Create Date: 2026-12-06 04:55:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = "5e1a9c3b7d20"
down_revision: str | None = "c4a1d2e3f5b6"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("review") as batch:
        # reviews written before moderation wait for it like new ones
        batch.add_column(
            sa.Column(
                "status",
                sqlmodel.sql.sqltypes.AutoString(length=12),
                nullable=False,
                server_default="pending",
            )
        )
        batch.add_column(sa.Column("photos", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("videos", sa.Integer(), nullable=False, server_default="0"))
        batch.add_column(sa.Column("moderated_by", sa.BigInteger(), nullable=True))
        batch.add_column(
            sa.Column("moderated_at", models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch.add_column(
            sa.Column("shared_at", models.base.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("review") as batch:
        batch.alter_column("status", server_default=None)
        batch.alter_column("photos", server_default=None)
        batch.alter_column("videos", server_default=None)
        batch.create_index("ix_review_status", ["status"], unique=False)
    op.create_table(
        "review_media",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "order_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("file_id", sqlmodel.sql.sqltypes.AutoString(length=255), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.ForeignKeyConstraint(["order_id"], ["review.order_id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("order_id", "position", name="uq_review_media_position"),
    )
    op.create_index("ix_review_media_order_id", "review_media", ["order_id"], unique=False)
    op.create_index("ix_review_media_member_id", "review_media", ["member_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_review_media_member_id", table_name="review_media")
    op.drop_index("ix_review_media_order_id", table_name="review_media")
    op.drop_table("review_media")
    with op.batch_alter_table("review") as batch:
        batch.drop_index("ix_review_status")
        for name in ("shared_at", "moderated_at", "moderated_by", "videos", "photos", "status"):
            batch.drop_column(name)
