"""star refunds committed before Telegram is asked

Revision ID: e0b78df6390b
Revises: 77bf928facbc
Create Date: 2026-12-04 23:22:15.743981
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = 'e0b78df6390b'
down_revision: str | None = '77bf928facbc'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('star_refund',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('charge_id', sqlmodel.sql.sqltypes.AutoString(length=128), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('order_id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=True),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('reason', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('not_before', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('lease_until', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.Column('last_error', sqlmodel.sql.sqltypes.AutoString(length=200), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('done_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['order_id'], ['orders.id'], ),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('charge_id')
    )
    with op.batch_alter_table('star_refund', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_star_refund_order_id'), ['order_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_star_refund_status'), ['status'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('star_refund', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_star_refund_status'))
        batch_op.drop_index(batch_op.f('ix_star_refund_order_id'))

    op.drop_table('star_refund')
