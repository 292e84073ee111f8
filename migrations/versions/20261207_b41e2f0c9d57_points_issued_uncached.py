"""points_issued keeps no cached balance: its balance is the sum of its entries

Revision ID: b41e2f0c9d57
Revises: a7c3e9d14b22
Create Date: 2026-12-07 17:30:00.000000
"""

from collections.abc import Sequence

from alembic import op

revision: str = "b41e2f0c9d57"
down_revision: str | None = "a7c3e9d14b22"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# models.ledger.UNCACHED_KINDS as of this revision
UNCACHED = "('points_issued')"


def upgrade() -> None:
    # the cached rows stop moving from here on: drop them, or reconcile would report them stale
    op.execute(
        "DELETE FROM ledger_balance WHERE account_id IN "
        f"(SELECT id FROM ledger_account WHERE kind IN {UNCACHED})"
    )


def downgrade() -> None:
    # the code before this revision keeps them cached again: rebuild them from the entries
    op.execute(
        "INSERT INTO ledger_balance (account_id, asset, balance, updated_at) "
        "SELECT e.account_id, e.asset, SUM(e.amount), CURRENT_TIMESTAMP FROM ledger_entry e "
        f"JOIN ledger_account a ON a.id = e.account_id WHERE a.kind IN {UNCACHED} "
        "GROUP BY e.account_id, e.asset"
    )
