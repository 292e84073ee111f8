"""delivery: shipping options, addresses and tracking on orders

Orders placed so far are picked up (delivery "pickup", no address, no shipping cost), and
products so far are picked up too.

Revision ID: 3b6eddde39bb
Revises: 82d3051edfb3
Create Date: 2026-12-06 02:07:45.686289
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = "3b6eddde39bb"
down_revision: str | None = "82d3051edfb3"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "shipping_option",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("name", sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
        sa.Column("price", sa.BigInteger(), nullable=False),
        sa.Column("currency", sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
        sa.Column("countries", sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
        sa.Column("active", sa.Boolean(), nullable=False),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("created_at", models.base.UTCDateTime(timezone=True), nullable=False),
        sa.CheckConstraint("price >= 0", name="ck_shipping_option_price"),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "delivery",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default=sa.text("'pickup'"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "ship_name",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "ship_phone",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "ship_address",
                sqlmodel.sql.sqltypes.AutoString(length=300),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "shipping_option_id",
                sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
                nullable=True,
            )
        )
        batch_op.add_column(
            sa.Column("shipping_cost", sa.BigInteger(), nullable=False, server_default=sa.text("0"))
        )
        batch_op.add_column(
            sa.Column(
                "carrier",
                sqlmodel.sql.sqltypes.AutoString(length=32),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch_op.add_column(
            sa.Column(
                "tracking_number",
                sqlmodel.sql.sqltypes.AutoString(length=64),
                nullable=False,
                server_default=sa.text("''"),
            )
        )
        batch_op.add_column(sa.Column("shipped_by", sa.BigInteger(), nullable=True))
        batch_op.add_column(
            sa.Column("shipped_at", models.base.UTCDateTime(timezone=True), nullable=True)
        )
        batch_op.create_foreign_key(
            "fk_orders_shipping_option_id", "shipping_option", ["shipping_option_id"], ["id"]
        )
        batch_op.create_check_constraint("ck_order_shipping_cost", "shipping_cost >= 0")

    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "fulfilment",
                sqlmodel.sql.sqltypes.AutoString(length=16),
                nullable=False,
                server_default=sa.text("'pickup'"),
            )
        )


def downgrade() -> None:
    with op.batch_alter_table("product", schema=None) as batch_op:
        batch_op.drop_column("fulfilment")

    with op.batch_alter_table("orders", schema=None) as batch_op:
        batch_op.drop_constraint("ck_order_shipping_cost", type_="check")
        batch_op.drop_constraint("fk_orders_shipping_option_id", type_="foreignkey")
        batch_op.drop_column("shipped_at")
        batch_op.drop_column("shipped_by")
        batch_op.drop_column("tracking_number")
        batch_op.drop_column("carrier")
        batch_op.drop_column("shipping_cost")
        batch_op.drop_column("shipping_option_id")
        batch_op.drop_column("ship_address")
        batch_op.drop_column("ship_phone")
        batch_op.drop_column("ship_name")
        batch_op.drop_column("delivery")

    op.drop_table("shipping_option")
