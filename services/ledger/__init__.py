"""The ledger: post balanced transactions once, reverse them, read balances, reconcile.

Every movement of money or points in the project goes through `post`. It never commits:
the use case that calls it owns the database transaction, so an order's status change and
its ledger transaction land together or not at all.

Posting and reversing live here; the shared values are in `_common`, accounts in `accounts`,
and balances, movements and reconciling in `reading`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ARRAY,
    BigInteger,
    String,
    and_,
    bindparam,
    func,
    insert,
    select,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.ledger import (
    NON_NEGATIVE_KINDS,
    UNCACHED_KINDS,
    LedgerAccount,
    LedgerBalance,
    LedgerEntry,
    LedgerTransaction,
)
from services.db import dialect_name, execute_rows, insert_in, prepared, table_of
from services.ledger._common import MAX_AMOUNT as MAX_AMOUNT
from services.ledger._common import MAX_KEY_LENGTH as MAX_KEY_LENGTH
from services.ledger._common import STARS as STARS
from services.ledger._common import AccountRef as AccountRef
from services.ledger._common import InsufficientBalance as InsufficientBalance
from services.ledger._common import LedgerError as LedgerError
from services.ledger._common import Posting as Posting
from services.ledger._common import TransactionView as TransactionView
from services.ledger._common import known_asset as known_asset
from services.ledger._common import validate_postings as validate_postings
from services.ledger.accounts import _ACCOUNT_IDS as _ACCOUNT_IDS
from services.ledger.accounts import account_id as account_id
from services.ledger.reading import Movement as Movement
from services.ledger.reading import ReconcileReport as ReconcileReport
from services.ledger.reading import balance as balance
from services.ledger.reading import balances as balances
from services.ledger.reading import balances_of_owner as balances_of_owner
from services.ledger.reading import movements as movements
from services.ledger.reading import reconcile as reconcile

# a cached balance's bound (see MAX_AMOUNT); the balance upsert below reads it at call time
MAX_BALANCE = 4 * 10**18


@dataclass(frozen=True, slots=True)
class _Move:
    """A net change of one cached balance within a posting."""

    account: AccountRef
    ident: int
    asset: str
    amount: int

    @property
    def guarded_debit(self) -> bool:
        """A debit of an account that may not go negative."""
        return self.amount < 0 and self.account.kind in NON_NEGATIVE_KINDS

    def where(self) -> str:
        return f"{self.account.kind}/{self.account.owner_id} {self.asset} {self.amount:+d}"


async def _apply_balances(session: AsyncSession, moves: list[_Move]) -> None:
    """Apply the moves to the cached balances, in their (fixed) order, each guarded by its
    statement's condition, which takes the row lock.

    A debit of an account that may not go negative is a conditional UPDATE of its row (a
    missing row holds 0, which no debit fits). Consecutive other moves share one upsert whose
    update is conditional: their accounts either may go negative or only gain, so each stays
    within the bounds of a signed 64-bit sum."""
    run: list[_Move] = []
    for move in moves:
        if not move.guarded_debit:
            run.append(move)
            continue
        await _upsert_balances(session, run)
        run = []
        debited = await execute_rows(
            session,
            _DEBIT(session),
            {
                "debited": move.ident,
                "debited_asset": move.asset,
                "amount": move.amount,
                "at": utcnow(),
            },
        )
        if debited.scalar_one_or_none() is None:
            raise InsufficientBalance("insufficient_balance", move.where())
    await _upsert_balances(session, run)


def _debit() -> Any:
    """Add a (negative) `amount` to a cached balance unless it would go below zero."""
    balances = table_of(LedgerBalance)
    new_balance = balances.c.balance + bindparam("amount", type_=BigInteger)
    return (
        update(balances)
        .where(
            balances.c.account_id == bindparam("debited"),
            balances.c.asset == bindparam("debited_asset"),
            new_balance >= 0,
        )
        .values(balance=new_balance, updated_at=bindparam("at"))
        .returning(balances.c.account_id)
    )


_DEBIT = prepared(lambda _dialect: _debit())


def _add_to_balances(dialect: str) -> Any:
    statement = insert_in(dialect, table_of(LedgerBalance))
    new_balance = col(LedgerBalance.balance) + statement.excluded.balance
    return statement.on_conflict_do_update(
        index_elements=["account_id", "asset"],
        set_={"balance": new_balance, "updated_at": statement.excluded.updated_at},
        where=and_(
            new_balance >= bindparam("low", type_=BigInteger),
            new_balance <= bindparam("high", type_=BigInteger),
        ),
    ).returning(col(LedgerBalance.account_id), col(LedgerBalance.asset))


_ADD_TO_BALANCES = prepared(_add_to_balances)


async def _upsert_balances(session: AsyncSession, moves: list[_Move]) -> None:
    if not moves:
        return
    now = utcnow()
    # one statement for all the moves: an executemany that the dialect sends as one INSERT of
    # several rows (SQLAlchemy's "insert many values"; a multi-row VALUES is never cached)
    moved = await execute_rows(
        session,
        _ADD_TO_BALANCES(session),
        [
            {
                "account_id": m.ident,
                "asset": m.asset,
                "balance": m.amount,
                "updated_at": now,
                "low": -MAX_BALANCE,
                "high": MAX_BALANCE,
            }
            for m in moves
        ],
    )
    done = {(ident, asset) for ident, asset in moved.all()}
    for move in moves:
        if (move.ident, move.asset) not in done:
            raise LedgerError("balance_out_of_range", move.where())


async def _existing(session: AsyncSession, key: str) -> TransactionView | None:
    tx = (
        await session.execute(
            select(LedgerTransaction).where(col(LedgerTransaction.idempotency_key) == key)
        )
    ).scalar_one_or_none()
    if tx is None:
        return None
    return await _view(session, tx, created=False)


async def find_transaction(session: AsyncSession, key: str) -> TransactionView | None:
    """The transaction posted under an idempotency key, if any."""
    return await _existing(session, key)


async def _view(session: AsyncSession, tx: LedgerTransaction, *, created: bool) -> TransactionView:
    rows = await session.execute(
        select(
            col(LedgerAccount.kind),
            col(LedgerAccount.owner_id),
            col(LedgerEntry.asset),
            col(LedgerEntry.amount),
        )
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .where(col(LedgerEntry.transaction_id) == tx.id)
        .order_by(col(LedgerEntry.id))
    )
    assert tx.id is not None
    return TransactionView(
        id=tx.id,
        idempotency_key=tx.idempotency_key,
        kind=tx.kind,
        memo=tx.memo,
        created_at=tx.created_at,
        reverses_id=tx.reverses_id,
        order_id=tx.order_id,
        postings=tuple(
            Posting(AccountRef(kind, owner), asset, amount) for kind, owner, asset, amount in rows
        ),
        created=created,
    )


_TRANSACTION_VALUES = (
    "idempotency_key",
    "kind",
    "memo",
    "reverses_id",
    "actor_id",
    "order_id",
    "created_at",
)


def _open_transaction(dialect: str) -> Any:
    values: dict[str, Any] = {name: bindparam(name) for name in _TRANSACTION_VALUES}
    return (
        insert_in(dialect, table_of(LedgerTransaction))
        .values(values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(col(LedgerTransaction.id), col(LedgerTransaction.created_at))
    )


_OPEN_TRANSACTION = prepared(_open_transaction)
_ADD_ENTRIES = prepared(lambda _dialect: insert(table_of(LedgerEntry)))


def _unnested(name: str, *columns: tuple[str, Any]) -> Any:
    """PostgreSQL: rows sent as one array per column (`{name}_{column}`), with their order `n`."""
    return (
        func.unnest(*(bindparam(f"{name}_{column}", type_=ARRAY(kind)) for column, kind in columns))
        .table_valued(*(column for column, _ in columns), with_ordinality="n")
        .render_derived()
    )


def _open_with_entries(*, with_balances: bool) -> Any:
    """PostgreSQL: the transaction's row and its entries in one statement (a WITH that inserts
    the row, whose id the entries' INSERT takes), one round trip instead of two. The entries
    come as three arrays (`entry_accounts`, `entry_assets`, `entry_amounts`), so one statement
    serves any number of them, inserted in their order. Yields the row's id and time, nothing
    when the key was posted before (then no entry is inserted either).

    `with_balances`: the same statement also adds the moves (`move_accounts`, `move_assets`,
    `move_amounts`, none a guarded debit) to the cached balances, in their order, as
    `_upsert_balances` does, and yields how many it moved (fewer when one would leave its
    bounds). Only when the row was inserted: the moves join it."""
    opened = _open_transaction("postgresql").cte("opened")
    rows = _unnested("entry", ("accounts", BigInteger), ("assets", String), ("amounts", BigInteger))
    entries = (
        insert(table_of(LedgerEntry))
        .from_select(
            ["transaction_id", "account_id", "asset", "amount"],
            select(opened.c.id, rows.c.accounts, rows.c.assets, rows.c.amounts)
            .select_from(opened)
            .join(rows, true())
            .order_by(rows.c.n),
        )
        .cte("entries")
    )
    opening = select(opened.c.id, opened.c.created_at).add_cte(entries)
    if not with_balances:
        return opening
    moves = _unnested("move", ("accounts", BigInteger), ("assets", String), ("amounts", BigInteger))
    added = pg_insert(table_of(LedgerBalance)).from_select(
        ["account_id", "asset", "balance", "updated_at"],
        select(moves.c.accounts, moves.c.assets, moves.c.amounts, bindparam("moved_at"))
        .select_from(opened)
        .join(moves, true())
        .order_by(moves.c.n),
    )
    new_balance = col(LedgerBalance.balance) + added.excluded.balance
    balanced = (
        added.on_conflict_do_update(
            index_elements=["account_id", "asset"],
            set_={"balance": new_balance, "updated_at": added.excluded.updated_at},
            where=and_(
                new_balance >= bindparam("low", type_=BigInteger),
                new_balance <= bindparam("high", type_=BigInteger),
            ),
        )
        .returning(col(LedgerBalance.account_id))
        .cte("balanced")
    )
    moved = select(func.count()).select_from(balanced).scalar_subquery()
    return opening.add_columns(moved.label("moved")).add_cte(balanced)


_OPEN_WITH_ENTRIES = prepared(lambda _dialect: _open_with_entries(with_balances=False))
_OPEN_WITH_BALANCES = prepared(lambda _dialect: _open_with_entries(with_balances=True))


def _merged(ordered: Sequence[Posting], idents: dict[AccountRef, int]) -> list[_Move]:
    """The postings' net change of each cached balance, in the postings' fixed order (an
    account of `UNCACHED_KINDS` has none)."""
    merged: dict[tuple[AccountRef, str], int] = defaultdict(int)
    for p in ordered:
        if p.account.kind not in UNCACHED_KINDS:
            merged[(p.account, p.asset)] += p.amount
    return [
        _Move(account, idents[account], asset, amount)
        for (account, asset), amount in merged.items()
        if amount
    ]


async def _open(
    session: AsyncSession,
    values: dict[str, Any],
    postings: Sequence[Posting],
    ordered: Sequence[Posting],
) -> tuple[int, datetime, list[_Move]] | None:
    """Insert the transaction (`values`) and its entries, and apply its moves to the cached
    balances: its id and time, and the moves still to apply (none when they were applied in
    the same statement); None when the key was posted before (nothing inserted).

    Accounts are resolved (created on first use) in one fixed order (`ordered`: the postings
    sorted by account and asset), so that concurrent postings never deadlock."""
    if dialect_name(session) == "postgresql":
        idents = {p.account: await account_id(session, p.account) for p in ordered}
        moves = _merged(ordered, idents)
        arrays = {
            "entry_accounts": [idents[p.account] for p in postings],
            "entry_assets": [p.asset for p in postings],
            "entry_amounts": [p.amount for p in postings],
        }
        if any(move.guarded_debit for move in moves):  # each its own conditional UPDATE
            row = (
                await execute_rows(session, _OPEN_WITH_ENTRIES(session), values | arrays)
            ).one_or_none()
            return None if row is None else (row[0], row[1], moves)
        arrays |= {
            "move_accounts": [m.ident for m in moves],
            "move_assets": [m.asset for m in moves],
            "move_amounts": [m.amount for m in moves],
            "moved_at": utcnow(),
            "low": -MAX_BALANCE,
            "high": MAX_BALANCE,
        }
        row = (
            await execute_rows(session, _OPEN_WITH_BALANCES(session), values | arrays)
        ).one_or_none()
        if row is None:
            return None
        if row[2] != len(moves):
            raise LedgerError("balance_out_of_range", ", ".join(m.where() for m in moves))
        return row[0], row[1], []
    row = (await execute_rows(session, _OPEN_TRANSACTION(session), values)).one_or_none()
    if row is None:
        return None
    tx_id, created_at = row
    idents = {p.account: await account_id(session, p.account) for p in ordered}
    # one executemany of a cached statement (a multi-row VALUES is compiled anew every time)
    await execute_rows(
        session,
        _ADD_ENTRIES(session),
        [
            {
                "transaction_id": tx_id,
                "account_id": idents[p.account],
                "asset": p.asset,
                "amount": p.amount,
            }
            for p in postings
        ],
    )
    return tx_id, created_at, _merged(ordered, idents)


async def post(
    session: AsyncSession,
    *,
    key: str,
    kind: str,
    postings: Sequence[Posting],
    memo: str = "",
    actor_id: int | None = None,
    order_id: int | None = None,
    reverses_id: int | None = None,
    at: datetime | None = None,
) -> TransactionView:
    """Post a balanced transaction once: the same key again returns the first, changing nothing.

    `at` is when it happened (default: now); the domain clock passes it, so a test's clock and
    the ledger agree.

    Raises LedgerError for an invalid posting and InsufficientBalance when an account that may
    not go negative would; the caller's transaction must then be rolled back.
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise LedgerError("bad_key", "the idempotency key must be 1-128 characters")
    validate_postings(postings)
    kind, memo = kind[:32], memo[:255]
    values = {
        "idempotency_key": key,
        "kind": kind,
        "memo": memo,
        "reverses_id": reverses_id,
        "actor_id": actor_id,
        "order_id": order_id,
        "created_at": at or utcnow(),
    }
    ordered = sorted(postings, key=lambda p: (p.account, p.asset))
    opened = await _open(session, values, postings, ordered)
    if opened is None:  # posted before, or by a concurrent poster that committed first
        existing = await _existing(session, key)
        assert existing is not None
        return existing
    tx_id, created_at, moves = opened
    await _apply_balances(session, moves)
    return TransactionView(
        id=tx_id,
        idempotency_key=key,
        kind=kind,
        memo=memo,
        created_at=created_at,
        reverses_id=reverses_id,
        order_id=order_id,
        postings=tuple(postings),  # as the entries were inserted, in this order
        created=True,
    )


async def reverse(
    session: AsyncSession,
    *,
    transaction_id: int,
    key: str,
    memo: str = "",
    actor_id: int | None = None,
) -> TransactionView:
    """Post the mirror image of a transaction, pointing at it; each is reversed at most once."""
    original = await session.get(LedgerTransaction, transaction_id)
    if original is None:
        raise LedgerError("unknown_transaction", str(transaction_id))
    if original.reverses_id is not None:
        raise LedgerError("reversal_of_reversal", str(transaction_id))
    existing = await _existing(session, key)
    if existing is not None:
        return existing
    already = (
        await session.execute(
            select(col(LedgerTransaction.idempotency_key)).where(
                col(LedgerTransaction.reverses_id) == transaction_id
            )
        )
    ).scalar_one_or_none()
    if already is not None:
        raise LedgerError("already_reversed", f"{transaction_id} by {already}")
    view = await _view(session, original, created=False)
    try:
        return await post(
            session,
            key=key,
            kind="reversal",
            postings=[Posting(p.account, p.asset, -p.amount) for p in view.postings],
            memo=memo or f"reverses {original.kind} #{transaction_id}",
            actor_id=actor_id,
            order_id=original.order_id,
            reverses_id=transaction_id,
        )
    except IntegrityError:
        # a concurrent reversal of the same transaction committed first (UNIQUE reverses_id);
        # the caller's transaction is spoiled either way and must be rolled back
        raise LedgerError("already_reversed", str(transaction_id)) from None
