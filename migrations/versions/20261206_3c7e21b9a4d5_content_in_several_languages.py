"""content in several languages: translations of products, group-buys and broadcasts

Revision ID: 3c7e21b9a4d5
Revises: 29c727d95872
Create Date: 2026-12-06 01:40:00.000000
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "3c7e21b9a4d5"
down_revision: str | None = "29c727d95872"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TABLES = ("product", "groupbuy", "broadcast")


def upgrade() -> None:
    # every row written so far has its one text only: NULL, no translation
    for table in TABLES:
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("translations", sa.JSON(), nullable=True))


def downgrade() -> None:
    for table in reversed(TABLES):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_column("translations")
