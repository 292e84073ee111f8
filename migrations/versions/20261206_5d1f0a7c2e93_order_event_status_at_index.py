"""order_event (to_status, at) index: the weekly metrics find payments by when they happened

Revision ID: 5d1f0a7c2e93
Revises: 4a0d61af935c
Create Date: 2026-12-06 05:20:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "5d1f0a7c2e93"
down_revision: str | None = "4a0d61af935c"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_index("ix_order_event_status_at", "order_event", ["to_status", "at"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_order_event_status_at", table_name="order_event")
