"""community approval: pending, approved, declined, suspended

Revision ID: 33f3c43a50b1
Revises: 18d50570a4f3
Create Date: 2026-12-05 03:43:00.903960
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

import models.base

revision: str = '33f3c43a50b1'
down_revision: str | None = '18d50570a4f3'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Groups the bot already serves are approved: they were trading before approval existed,
    # and a running brand must not find every group-buy, check-in and drop refused after an
    # upgrade. Staff can suspend any of them from /groups. New groups are pending unless
    # staff add the bot (the application writes the value; no default is kept in the schema).
    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.add_column(sa.Column('approval', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default='approved'))
        batch_op.add_column(sa.Column('added_by', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('approval_by', sa.BigInteger(), nullable=True))
        batch_op.add_column(sa.Column('approval_at', models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.create_index(batch_op.f('ix_community_approval'), ['approval'], unique=False)
    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.alter_column('approval', server_default=None)


def downgrade() -> None:
    with op.batch_alter_table('community', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_community_approval'))
        batch_op.drop_column('approval_at')
        batch_op.drop_column('approval_by')
        batch_op.drop_column('added_by')
        batch_op.drop_column('approval')
