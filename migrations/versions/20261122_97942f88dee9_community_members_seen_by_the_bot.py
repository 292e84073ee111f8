"""community members seen by the bot

Revision ID: 97942f88dee9
Revises: 1655524e4cdc
Create Date: 2026-11-22 02:18:44.963543
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = '97942f88dee9'
down_revision: str | None = '1655524e4cdc'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('community_member',
    sa.Column('community_id', sa.BigInteger(), nullable=False),
    sa.Column('member_id', sa.BigInteger(), nullable=False),
    sa.Column('first_seen_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', models.base.UTCDateTime(timezone=True), nullable=False),
    sa.Column('left_at', models.base.UTCDateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['community_id'], ['community.id'], name='fk_community_member_community'),
    sa.ForeignKeyConstraint(['member_id'], ['member.id'], name='fk_community_member_member'),
    sa.PrimaryKeyConstraint('community_id', 'member_id', name='pk_community_member')
    )
    with op.batch_alter_table('community_member', schema=None) as batch_op:
        batch_op.create_index('ix_community_member_member_id', ['member_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('community_member', schema=None) as batch_op:
        batch_op.drop_index('ix_community_member_member_id')

    op.drop_table('community_member')
