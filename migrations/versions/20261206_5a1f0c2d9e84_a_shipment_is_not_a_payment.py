"""a shipment's order event is 'shipped', not a second 'paid'

Shipping an order wrote an order event from paid to paid, which every reader of payments by
their event (metrics, attribution, alerts, segments) took for a second payment: a repeat
purchase with a gap to itself, twice its amount in lifetime value. Those events become
'shipped' events; the order's status is unchanged.

Revision ID: 5a1f0c2d9e84
Revises: 97b82f72b74d
Create Date: 2026-12-06 09:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = '5a1f0c2d9e84'
down_revision: str | None = '97b82f72b74d'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE order_event SET to_status = 'shipped' "
            "WHERE from_status = 'paid' AND to_status = 'paid' AND note LIKE 'shipped%'"
        )
    )


def downgrade() -> None:
    op.execute(
        sa.text(
            "UPDATE order_event SET to_status = 'paid' "
            "WHERE from_status = 'paid' AND to_status = 'shipped'"
        )
    )
