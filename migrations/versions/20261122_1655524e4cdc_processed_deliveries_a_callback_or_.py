"""processed deliveries: a callback or message claimed whatever its update id

Revision ID: 1655524e4cdc
Revises: 4a2923cfb280
Create Date: 2026-11-22 02:19:15.927577
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = '1655524e4cdc'
down_revision: str | None = '4a2923cfb280'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('processed_delivery',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('handled_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )


def downgrade() -> None:
    op.drop_table('processed_delivery')
