"""groupbuy_post.pickup: a targeted drop's own pickup text per group

Revision ID: c4a1d2e3f5b6
Revises: 5d1e8a7c2f40
Create Date: 2026-12-06 05:00:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "c4a1d2e3f5b6"
down_revision: str | None = "5d1e8a7c2f40"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("groupbuy_post") as batch:
        batch.add_column(
            sa.Column("pickup", sa.String(length=255), nullable=False, server_default="")
        )


def downgrade() -> None:
    with op.batch_alter_table("groupbuy_post") as batch:
        batch.drop_column("pickup")
