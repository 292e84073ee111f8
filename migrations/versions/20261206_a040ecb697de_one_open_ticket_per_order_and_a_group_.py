"""one open ticket per order and a group-buy's own delivery mode

Revision ID: a040ecb697de
Revises: 5e1a9c3b7d20
Create Date: 2026-12-06 04:41:36.066533
"""

from collections.abc import Sequence

import sqlalchemy as sa
import sqlmodel
from alembic import op

revision: str = 'a040ecb697de'
down_revision: str | None = '5e1a9c3b7d20'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # a group-buy's own delivery mode; '' (every existing one) follows its product's
    with op.batch_alter_table('groupbuy', schema=None) as batch_op:
        batch_op.add_column(sa.Column('fulfilment', sqlmodel.sql.sqltypes.AutoString(length=16), nullable=False, server_default=''))

    # one open ticket per order: a second, racing the first, fails to insert
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.create_index('uq_ticket_open_order', ['order_id'], unique=True, sqlite_where=sa.text("status = 'open'"), postgresql_where=sa.text("status = 'open'"))



def downgrade() -> None:
    with op.batch_alter_table('ticket', schema=None) as batch_op:
        batch_op.drop_index('uq_ticket_open_order')

    with op.batch_alter_table('groupbuy', schema=None) as batch_op:
        batch_op.drop_column('fulfilment')

