"""cash hand-overs and commission payout requests

Revision ID: 81add8c37fa5
Revises: e0b78df6390b
Create Date: 2026-12-05 03:44:27.194582
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = '81add8c37fa5'
down_revision: str | None = 'e0b78df6390b'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('cash_handover',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('holder_id', sa.BigInteger(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('requested_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.BigInteger(), nullable=True),
    sa.Column('decided_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount > 0', name='ck_cash_handover_amount'),
    sa.ForeignKeyConstraint(['holder_id'], ['member.id'], name='fk_cash_handover_member'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('cash_handover', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_cash_handover_status'), ['status'], unique=False)
        # one open hand-over per holder
        batch_op.create_index(
            'uq_cash_handover_open', ['holder_id'], unique=True,
            sqlite_where=sa.text("status = 'requested'"),
            postgresql_where=sa.text("status = 'requested'"),
        )

    op.create_table('payout_request',
    sa.Column('id', sa.BigInteger().with_variant(sa.Integer(), 'sqlite'), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('currency', sqlmodel.sql.sqltypes.AutoString(length=8), nullable=False),
    sa.Column('amount', sa.BigInteger(), nullable=False),
    sa.Column('netted', sa.BigInteger(), nullable=False),
    sa.Column('status', sqlmodel.sql.sqltypes.AutoString(length=12), nullable=False),
    sa.Column('requested_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('decided_by', sa.BigInteger(), nullable=True),
    sa.Column('decided_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.CheckConstraint('amount > 0', name='ck_payout_request_amount'),
    sa.CheckConstraint('netted >= 0 AND netted <= amount', name='ck_payout_request_netted'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name='fk_payout_request_member'),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('payout_request', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_payout_request_status'), ['status'], unique=False)
        # one open payout request per member
        batch_op.create_index(
            'uq_payout_request_open', ['member_id'], unique=True,
            sqlite_where=sa.text("status = 'requested'"),
            postgresql_where=sa.text("status = 'requested'"),
        )



def downgrade() -> None:
    with op.batch_alter_table('payout_request', schema=None) as batch_op:
        batch_op.drop_index('uq_payout_request_open')
        batch_op.drop_index(batch_op.f('ix_payout_request_status'))

    op.drop_table('payout_request')
    with op.batch_alter_table('cash_handover', schema=None) as batch_op:
        batch_op.drop_index('uq_cash_handover_open')
        batch_op.drop_index(batch_op.f('ix_cash_handover_status'))

    op.drop_table('cash_handover')
