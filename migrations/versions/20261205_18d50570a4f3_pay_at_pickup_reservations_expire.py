"""pay-at-pickup reservations expire

Reservations already open keep expires_at NULL here: the reservation sweep gives each one the
configured hold from the moment it first runs (bot/reservations.py), so none expires unwarned.

Revision ID: 18d50570a4f3
Revises: 81add8c37fa5
Create Date: 2026-12-05 03:43:53.976144
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import models.base

revision: str = '18d50570a4f3'
down_revision: str | None = '81add8c37fa5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.add_column(sa.Column('expires_at', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('reminded_at', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_orders_expires_at'), ['expires_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('orders', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_orders_expires_at'))
        batch_op.drop_column('reminded_at')
        batch_op.drop_column('expires_at')
