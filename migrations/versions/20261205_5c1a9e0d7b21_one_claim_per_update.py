"""one claim per update: the delivery key joins processed_update, processed_delivery goes

The update id and the delivery key are both unique in one table, so a single
INSERT ... ON CONFLICT DO NOTHING claims both. Claims are only kept for a week and a
redelivery within the switch-over is at worst handled by its update id, so the old
delivery claims are not carried over.

Revision ID: 5c1a9e0d7b21
Revises: 09ced8edf530
Create Date: 2026-12-05 23:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = '5c1a9e0d7b21'
down_revision: str | None = '09ced8edf530'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table('processed_update', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('delivery_key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=True)
        )
        batch_op.create_unique_constraint('uq_processed_update_delivery_key', ['delivery_key'])
    op.drop_table('processed_delivery')


def downgrade() -> None:
    op.create_table('processed_delivery',
    sa.Column('key', sqlmodel.sql.sqltypes.AutoString(length=40), nullable=False),
    sa.Column('handled_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('key')
    )
    with op.batch_alter_table('processed_update', schema=None) as batch_op:
        batch_op.drop_constraint('uq_processed_update_delivery_key', type_='unique')
        batch_op.drop_column('delivery_key')
