"""waitlists per variant: variant foreign key

Revision ID: 6e37b7b3bdaf
Revises: 389be19bae25
Create Date: 2026-12-06 09:15:47.843629
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "6e37b7b3bdaf"
down_revision: str | None = "389be19bae25"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


# SQLite recreates the table to add the key: its expression index is dropped first and made
# again after, so that the copy never has to reproduce it
ITEM_MEMBER = ["groupbuy_id", sa.text("coalesce(variant_id, 0)"), "member_id"]


def upgrade() -> None:
    op.drop_index("uq_waitlist_entry_item_member", table_name="waitlist_entry")
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.create_foreign_key(
            "fk_waitlist_entry_variant_id", "product_variant", ["variant_id"], ["id"]
        )
    op.create_index("uq_waitlist_entry_item_member", "waitlist_entry", ITEM_MEMBER, unique=True)


def downgrade() -> None:
    op.drop_index("uq_waitlist_entry_item_member", table_name="waitlist_entry")
    with op.batch_alter_table("waitlist_entry", schema=None) as batch_op:
        batch_op.drop_constraint("fk_waitlist_entry_variant_id", type_="foreignkey")
    op.create_index("uq_waitlist_entry_item_member", "waitlist_entry", ITEM_MEMBER, unique=True)
