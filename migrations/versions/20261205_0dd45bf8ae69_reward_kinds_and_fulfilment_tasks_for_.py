"""reward kinds and fulfilment tasks for physical rewards

Revision ID: 0dd45bf8ae69
Revises: a297654bbf7c
Create Date: 2026-12-05 04:40:51.061989
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = "0dd45bf8ae69"
down_revision: str | None = "a297654bbf7c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "fulfilment",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column(
            "redemption_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False
        ),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("handed_over_by", sa.BigInteger(), nullable=True),
        sa.Column("handed_over_at", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["member_id"],
            ["member.id"],
        ),
        sa.ForeignKeyConstraint(
            ["redemption_id"],
            ["redemption.id"],
        ),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("redemption_id"),
    )
    with op.batch_alter_table("fulfilment", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_fulfilment_member_id"), ["member_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_fulfilment_status"), ["status"], unique=False)

    # Existing rewards: one that gives a coupon is a coupon reward (it lands in /coupons);
    # every other one was announced as "staff will hand it to you", so it is a physical
    # reward with a task to hand over from now on. Its redemptions not marked delivered get
    # an open task, so nothing owed before the upgrade drops out of sight (staff mark those
    # already handed over from /fulfil).
    with op.batch_alter_table("reward", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "kind",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default="physical",
            )
        )
    op.execute("UPDATE reward SET kind = 'coupon' WHERE coupon_template_id IS NOT NULL")
    # no default is kept in the schema; on SQLite dropping it would rebuild the reward table,
    # which redemptions refer to (refused with foreign keys on), so the harmless default stays
    if op.get_bind().dialect.name != "sqlite":
        op.alter_column("reward", "kind", server_default=None)
    op.execute(
        "INSERT INTO fulfilment (redemption_id, member_id, title, status, created_at) "
        "SELECT redemption.id, redemption.member_id, reward.title, 'open', redemption.created_at "
        "FROM redemption JOIN reward ON reward.id = redemption.reward_id "
        "WHERE reward.kind = 'physical' AND NOT redemption.delivered"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # a plain DROP COLUMN (SQLite 3.35+): a batch rebuild of reward, which redemptions
        # refer to, is refused with foreign keys on
        op.execute("ALTER TABLE reward DROP COLUMN kind")
    else:
        op.drop_column("reward", "kind")

    with op.batch_alter_table("fulfilment", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_fulfilment_status"))
        batch_op.drop_index(batch_op.f("ix_fulfilment_member_id"))

    op.drop_table("fulfilment")
