"""dashboard login links

Revision ID: bb36e2fd590b
Revises: 97942f88dee9
Create Date: 2026-11-22 04:49:41.261309
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = "bb36e2fd590b"
down_revision: str | None = "97942f88dee9"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "dashboard_link",
        sa.Column("token_hash", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("expires_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("used_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"], name="fk_dashboard_link_member"),
        sa.PrimaryKeyConstraint("token_hash", name="pk_dashboard_link"),
    )
    with op.batch_alter_table("dashboard_link", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_dashboard_link_member_id"), ["member_id"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("dashboard_link", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_dashboard_link_member_id"))

    op.drop_table("dashboard_link")
