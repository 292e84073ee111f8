"""waitlists and orders for someone else: waitlist_entry, orders.for_whom

Revision ID: 5d1e8a7c2f40
Revises: 7b2e4c91d0a3
Create Date: 2026-12-06 04:42:38.138492
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = "5d1e8a7c2f40"
down_revision: str | None = "7b2e4c91d0a3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

KEY = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "waitlist_entry",
        sa.Column("id", KEY, nullable=False),
        sa.Column("groupbuy_id", KEY, nullable=False),
        sa.Column("variant_id", KEY, nullable=True),
        sa.Column("member_id", sa.BigInteger(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("quantity", sa.Integer(), nullable=False),
        sa.Column("status", sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
        sa.Column("since", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("offer_units", sa.Integer(), nullable=False),
        sa.Column("offer_until", models.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("offer_no", sa.Integer(), nullable=False),
        sa.Column("updated_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("offer_units >= 0", name="ck_waitlist_entry_offer_units"),
        sa.CheckConstraint("quantity > 0", name="ck_waitlist_entry_quantity"),
        sa.ForeignKeyConstraint(["groupbuy_id"], ["groupbuy.id"]),
        sa.ForeignKeyConstraint(["member_id"], ["member.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.create_index("ix_waitlist_entry_groupbuy_id", ["groupbuy_id"], unique=False)
        batch_op.create_index("ix_waitlist_entry_member_id", ["member_id"], unique=False)
        batch_op.create_index("ix_waitlist_entry_offer_until", ["offer_until"], unique=False)
        batch_op.create_index("ix_waitlist_entry_status", ["status"], unique=False)
    # one row per member per item; a NULL variant (no variants) collides with itself too
    op.create_index(
        "uq_waitlist_entry_item_member",
        "waitlist_entry",
        ["groupbuy_id", sa.text("coalesce(variant_id, 0)"), "member_id"],
        unique=True,
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "for_whom",
                sqlmodel.sql.sqltypes.AutoString(length=60),
                nullable=False,
                server_default="",
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_column("for_whom")
    op.drop_index("uq_waitlist_entry_item_member", table_name="waitlist_entry")
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.drop_index("ix_waitlist_entry_status")
        batch_op.drop_index("ix_waitlist_entry_offer_until")
        batch_op.drop_index("ix_waitlist_entry_member_id")
        batch_op.drop_index("ix_waitlist_entry_groupbuy_id")
    op.drop_table("waitlist_entry")
