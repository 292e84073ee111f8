"""dashboard sessions and used mini app sign-ins

Sessions are rows now (a signed cookie names one), so they can be revoked; the initData
used to sign in is remembered until it is too old to be accepted (without Redis).

Revision ID: 33c08c832bcb
Revises: 3c7e21b9a4d5
Create Date: 2026-12-06 01:25:20.817913
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = '33c08c832bcb'
down_revision: str | None = '3c7e21b9a4d5'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('dashboard_init_data',
    sa.Column('digest', sqlmodel.sql.sqltypes.AutoString(length=64), nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('digest')
    )
    with op.batch_alter_table('dashboard_init_data', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dashboard_init_data_expires_at'), ['expires_at'], unique=False)

    op.create_table('dashboard_session',
    sa.Column('id', sqlmodel.sql.sqltypes.AutoString(length=43), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('created_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('expires_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('revoked_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], ),
    sa.PrimaryKeyConstraint('id')
    )
    with op.batch_alter_table('dashboard_session', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_dashboard_session_member_id'), ['member_id'], unique=False)



def downgrade() -> None:
    with op.batch_alter_table('dashboard_session', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dashboard_session_member_id'))

    op.drop_table('dashboard_session')
    with op.batch_alter_table('dashboard_init_data', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_dashboard_init_data_expires_at'))

    op.drop_table('dashboard_init_data')
