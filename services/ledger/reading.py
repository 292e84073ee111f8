"""Reading the ledger: balances, an account's movements, and reconciling the cached balances
with the entries.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.ledger import (
    UNCACHED_KINDS,
    LedgerAccount,
    LedgerBalance,
    LedgerEntry,
    LedgerTransaction,
)
from services.ledger._common import AccountRef


@dataclass(frozen=True, slots=True)
class Movement:
    """One entry on an account, for statements such as /wallet."""

    transaction_id: int
    kind: str
    memo: str
    asset: str
    amount: int
    created_at: datetime


@dataclass
class ReconcileReport:
    """What `reconcile` found; `ok` when every balance and every transaction checks out."""

    transactions: int = 0
    entries: int = 0
    balances: int = 0
    unbalanced: list[tuple[int, str, int]] = field(default_factory=list)  # tx, asset, sum
    mismatched: list[tuple[AccountRef, str, int, int]] = field(default_factory=list)
    negative: list[tuple[AccountRef, str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not (self.unbalanced or self.mismatched or self.negative)

    def lines(self) -> list[str]:
        """A readable report, one finding per line."""
        out = [
            f"checked {self.transactions} transactions, {self.entries} entries, "
            f"{self.balances} cached balances"
        ]
        for tx_id, asset, total in self.unbalanced:
            out.append(f"UNBALANCED transaction {tx_id}: {asset} entries sum to {total}, not 0")
        for account, asset, cached, computed in self.mismatched:
            out.append(
                f"MISMATCH {account.kind}/{account.owner_id} {asset}: cached {cached}, "
                f"entries say {computed}"
            )
        for account, asset, value in self.negative:
            out.append(f"NEGATIVE {account.kind}/{account.owner_id} {asset}: {value}")
        out.append("reconcile: OK" if self.ok else "reconcile: FAILED")
        return out


def _balance_rows(cached: bool) -> tuple[Any, Any]:
    """A SELECT of (kind, asset, balance) joined to the accounts, and its asset column: the
    cached rows, or the sums of the entries (for `UNCACHED_KINDS`)."""
    if cached:
        return (
            select(
                col(LedgerAccount.kind), col(LedgerBalance.asset), col(LedgerBalance.balance)
            ).join(LedgerAccount, col(LedgerAccount.id) == col(LedgerBalance.account_id)),
            col(LedgerBalance.asset),
        )
    return (
        select(col(LedgerAccount.kind), col(LedgerEntry.asset), func.sum(LedgerEntry.amount))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .group_by(col(LedgerAccount.kind), col(LedgerEntry.asset))
        .having(func.sum(LedgerEntry.amount) != 0),
        col(LedgerEntry.asset),
    )


async def _balances(
    session: AsyncSession, owner_id: int, kinds: Iterable[str], asset: str | None = None
) -> dict[str, dict[str, int]]:
    """The balances of one owner's accounts of these kinds: by kind, every asset each holds
    (or only `asset`); a kind it never used is missing. One SELECT for the cached kinds, one
    more for any of `UNCACHED_KINDS`."""
    wanted = list(kinds)
    found: dict[str, dict[str, int]] = {}
    for cached in (True, False):
        chosen = [kind for kind in wanted if (kind in UNCACHED_KINDS) is not cached]
        if not chosen:
            continue
        statement, asset_column = _balance_rows(cached)
        statement = statement.where(
            col(LedgerAccount.owner_id) == owner_id, col(LedgerAccount.kind).in_(chosen)
        )
        if asset is not None:
            statement = statement.where(asset_column == asset)
        for kind, row_asset, value in (await session.execute(statement)).all():
            found.setdefault(kind, {})[row_asset] = int(value)
    return {kind: dict(sorted(found[kind].items())) for kind in sorted(found)}


async def balance(session: AsyncSession, account: AccountRef, asset: str) -> int:
    """The balance of an account in an asset (0 when it never moved): its cached row, or the
    sum of its entries for an account of `UNCACHED_KINDS`."""
    found = await _balances(session, account.owner_id, [account.kind], asset)
    return found.get(account.kind, {}).get(asset, 0)


async def balances_of_owner(
    session: AsyncSession, owner_id: int, kinds: Iterable[str]
) -> dict[str, dict[str, int]]:
    """The balances of one owner's accounts of these kinds, in one SELECT (two when some are
    of `UNCACHED_KINDS`): by kind, every asset each holds (a kind it never used is missing)."""
    return await _balances(session, owner_id, kinds)


async def balances(session: AsyncSession, account: AccountRef) -> dict[str, int]:
    """Every asset the account holds, with its balance."""
    return (await _balances(session, account.owner_id, [account.kind])).get(account.kind, {})


async def movements(
    session: AsyncSession,
    accounts: Iterable[AccountRef],
    *,
    limit: int = 10,
    skip_kinds: Iterable[str] = (),
) -> list[tuple[AccountRef, Movement]]:
    """The newest entries on the given accounts, newest first (without transactions of the
    kinds in `skip_kinds`)."""
    refs = list(accounts)
    if not refs:
        return []
    matches = [
        and_(col(LedgerAccount.kind) == r.kind, col(LedgerAccount.owner_id) == r.owner_id)
        for r in refs
    ]
    result = await session.execute(
        select(
            col(LedgerAccount.kind),
            col(LedgerAccount.owner_id),
            col(LedgerTransaction.id),
            col(LedgerTransaction.kind),
            col(LedgerTransaction.memo),
            col(LedgerEntry.asset),
            col(LedgerEntry.amount),
            col(LedgerTransaction.created_at),
        )
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .where(or_(*matches), col(LedgerTransaction.kind).not_in(list(skip_kinds)))
        .order_by(col(LedgerEntry.id).desc())
        .limit(limit)
    )
    return [
        (
            AccountRef(kind, owner),
            Movement(
                transaction_id=int(tx_id or 0),
                kind=tx_kind,
                memo=memo,
                asset=asset,
                amount=int(amount),
                created_at=created_at,
            ),
        )
        for kind, owner, tx_id, tx_kind, memo, asset, amount, created_at in result.all()
    ]


async def reconcile(session: AsyncSession) -> ReconcileReport:
    """Recompute every balance from the entries, compare it with the cached one (accounts of
    `UNCACHED_KINDS` have none), and check every transaction sums to zero."""
    report = ReconcileReport()
    report.transactions = int(
        (await session.execute(select(func.count()).select_from(LedgerTransaction))).scalar_one()
    )
    report.entries = int(
        (await session.execute(select(func.count()).select_from(LedgerEntry))).scalar_one()
    )
    sums = await session.execute(
        select(
            col(LedgerEntry.transaction_id), col(LedgerEntry.asset), func.sum(LedgerEntry.amount)
        )
        .group_by(col(LedgerEntry.transaction_id), col(LedgerEntry.asset))
        .having(func.sum(LedgerEntry.amount) != 0)
        .order_by(col(LedgerEntry.transaction_id))
    )
    report.unbalanced = [(int(t), a, int(s)) for t, a, s in sums.all()]
    lonely = await session.execute(
        select(col(LedgerTransaction.id))
        .outerjoin(LedgerEntry, col(LedgerEntry.transaction_id) == col(LedgerTransaction.id))
        .group_by(col(LedgerTransaction.id))
        .having(func.count(col(LedgerEntry.id)) < 2)
    )
    report.unbalanced += [(int(t or 0), "-", 0) for (t,) in lonely.all()]
    accounts = {a.id: a for a in (await session.execute(select(LedgerAccount))).scalars().all()}
    computed: dict[tuple[int, str], int] = {
        (int(account), asset): int(total)
        for account, asset, total in (
            await session.execute(
                select(
                    col(LedgerEntry.account_id),
                    col(LedgerEntry.asset),
                    func.sum(LedgerEntry.amount),
                ).group_by(col(LedgerEntry.account_id), col(LedgerEntry.asset))
            )
        ).all()
    }
    cached = {
        (row.account_id, row.asset): int(row.balance)
        for row in (await session.execute(select(LedgerBalance))).scalars().all()
    }
    report.balances = len(cached)
    for key in sorted(set(computed) | set(cached)):
        account = accounts[key[0]]
        ref = AccountRef(account.kind, account.owner_id)
        have, want = cached.get(key, 0), computed.get(key, 0)
        # an account of UNCACHED_KINDS has no cached row: one there is stale, and reported
        if have != want and (account.kind not in UNCACHED_KINDS or key in cached):
            report.mismatched.append((ref, key[1], have, want))
        if account.non_negative and want < 0:
            report.negative.append((ref, key[1], want))
    return report
