"""groupbuy_variant.product_id: a sign-up list's item put from the catalogue (#22)

Revision ID: a7c3e9d14b22
Revises: 0ce30023c2b1
Create Date: 2026-12-06 12:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "a7c3e9d14b22"
down_revision: str | None = "0ce30023c2b1"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # every item so far is the list's own or a variant of the group-buy's product: NULL
    with op.batch_alter_table("groupbuy_variant", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "product_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True
            )
        )
        batch_op.create_foreign_key(
            "fk_groupbuy_variant_product_id", "product", ["product_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("groupbuy_variant", schema=None) as batch_op:
        batch_op.drop_constraint("fk_groupbuy_variant_product_id", type_="foreignkey")
        batch_op.drop_column("product_id")
