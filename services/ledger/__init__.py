"""The ledger: post balanced transactions once, reverse them, read balances, reconcile.

Every movement of money or points in the project goes through `post`. It never commits:
the use case that calls it owns the database transaction, so an order's status change and
its ledger transaction land together or not at all.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from weakref import WeakKeyDictionary

from babel.numbers import list_currencies
from sqlalchemy import (
    BigInteger,
    Engine,
    and_,
    bindparam,
    event,
    func,
    insert,
    or_,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Session
from sqlmodel import col

from models.base import utcnow
from models.ledger import (
    ACCOUNT_KINDS,
    NON_NEGATIVE_KINDS,
    POINTS,
    LedgerAccount,
    LedgerBalance,
    LedgerEntry,
    LedgerTransaction,
)
from services.db import insert_in, prepared, table_of
from services.errors import Refused

STARS = "XTR"  # Telegram Stars, whole units
MAX_KEY_LENGTH = 128
# bounds that keep every sum inside a signed 64-bit column: an entry is at most 10^15 minor
# units (ten trillion yuan), a cached balance at most 4 * 10^18
MAX_AMOUNT = 10**15
MAX_BALANCE = 4 * 10**18


class LedgerError(Refused):
    """A posting the ledger refuses; `reason` is a stable code handlers can translate."""


class InsufficientBalance(LedgerError):
    """The posting would take a non-negative account (e.g. member points) below zero."""


@dataclass(frozen=True, slots=True, order=True)
class AccountRef:
    """An account by its kind and owner (a member or group id; 0 for the brand's own)."""

    kind: str
    owner_id: int = 0


@dataclass(frozen=True, slots=True)
class Posting:
    """One leg of a transaction: a signed amount of an asset on an account."""

    account: AccountRef
    asset: str
    amount: int


@dataclass(frozen=True, slots=True)
class TransactionView:
    """A posted transaction as plain values."""

    id: int
    idempotency_key: str
    kind: str
    memo: str
    created_at: datetime
    reverses_id: int | None
    order_id: int | None
    postings: tuple[Posting, ...]
    created: bool  # False when the key had been posted before and nothing changed


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


_CURRENCIES: frozenset[str] | None = None


def known_asset(asset: str) -> bool:
    """True for points, Telegram Stars and ISO 4217 currency codes."""
    global _CURRENCIES
    if _CURRENCIES is None:
        _CURRENCIES = frozenset(list_currencies())
    return asset in (POINTS, STARS) or asset in _CURRENCIES


def validate_postings(postings: Sequence[Posting]) -> None:
    """Raise LedgerError unless the postings form a valid, balanced transaction."""
    if len(postings) < 2:
        raise LedgerError("too_few_postings", "a transaction needs at least two entries")
    totals: dict[str, int] = defaultdict(int)
    for posting in postings:
        if type(posting.amount) is not int:
            raise LedgerError("not_an_integer", f"{posting.amount!r} is not an integer amount")
        if posting.amount == 0:
            raise LedgerError("zero_amount", "an entry cannot be zero")
        if abs(posting.amount) > MAX_AMOUNT:
            raise LedgerError("amount_too_large", f"{posting.amount} exceeds {MAX_AMOUNT}")
        if not known_asset(posting.asset):
            raise LedgerError("unknown_asset", posting.asset)
        if posting.account.kind not in ACCOUNT_KINDS:
            raise LedgerError("unknown_account", posting.account.kind)
        totals[posting.asset] += posting.amount
    unbalanced = {asset: total for asset, total in totals.items() if total != 0}
    if unbalanced:
        raise LedgerError("unbalanced", ", ".join(f"{a} {t:+d}" for a, t in unbalanced.items()))


# The ids of accounts known to be committed, per database (engine). An account is never
# deleted or renumbered, so once committed its id is good for the life of the process. An id
# read back from a row this session did not create is remembered at once: such a row was
# committed by someone (a SELECT sees no other transaction's uncommitted rows). An account
# this session created is remembered only when the session's transaction commits: until then
# it may still vanish with a rollback of the transaction or of a savepoint (then it is
# forgotten, and looked up again when next used).
_ACCOUNT_IDS: WeakKeyDictionary[Engine, dict[AccountRef, int]] = WeakKeyDictionary()
_CREATED_HERE = "ledger.accounts_created"  # session.info: accounts this transaction inserted
_EVER_CREATED = "ledger.accounts_ever_created"  # session.info: ... even if a savepoint undid it


def _known_ids(engine: Engine) -> dict[AccountRef, int]:
    known = _ACCOUNT_IDS.get(engine)
    if known is None:
        known = _ACCOUNT_IDS[engine] = {}
    return known


def _committed_ids(session: AsyncSession) -> dict[AccountRef, int]:
    return _known_ids(session.get_bind().engine)


@event.listens_for(Session, "after_commit")
def _remember_created(session: Session) -> None:
    """The accounts a committed transaction created are committed: remember their ids."""
    if session.in_nested_transaction():  # a savepoint released: the transaction goes on
        return
    created: dict[AccountRef, int] | None = session.info.pop(_CREATED_HERE, None)
    session.info.pop(_EVER_CREATED, None)
    if created:
        _known_ids(session.get_bind().engine).update(created)


@event.listens_for(Session, "after_soft_rollback")
def _forget_created(session: Session, previous: Any) -> None:
    """A rollback (of the transaction or of a savepoint) may have taken created accounts back."""
    session.info.pop(_CREATED_HERE, None)
    if not previous.nested:
        session.info.pop(_EVER_CREATED, None)


async def account_id(session: AsyncSession, account: AccountRef) -> int:
    """The id of the account, creating it on first use; no statement once it is known."""
    known = _committed_ids(session)
    ident = known.get(account)
    if ident is not None:
        return ident
    created: dict[AccountRef, int] = session.info.setdefault(_CREATED_HERE, {})
    ident = created.get(account)
    if ident is not None:
        return ident
    # insert first: an account not yet known is most often a new one (a new member's points)
    inserted = await session.execute(
        _CREATE_ACCOUNT(session),
        {
            "kind": account.kind,
            "owner_id": account.owner_id,
            "non_negative": account.kind in NON_NEGATIVE_KINDS,
            "created_at": utcnow(),
        },
    )
    ident = inserted.scalar_one_or_none()
    if ident is not None:
        created[account] = ident
        session.info.setdefault(_EVER_CREATED, set()).add(account)
        return ident
    ident = (
        await session.execute(
            _ACCOUNT_ID(session), {"kind": account.kind, "owner_id": account.owner_id}
        )
    ).scalar_one()
    assert ident is not None
    if account not in session.info.get(_EVER_CREATED, ()):  # else it may be this one's own row
        known[account] = ident
    return ident


_CREATE_ACCOUNT = prepared(
    lambda dialect: (
        insert_in(dialect, table_of(LedgerAccount))
        .on_conflict_do_nothing(index_elements=["kind", "owner_id"])
        .returning(col(LedgerAccount.id))
    )
)
_ACCOUNT_ID = prepared(
    lambda _dialect: select(col(LedgerAccount.id)).where(
        col(LedgerAccount.kind) == bindparam("kind"),
        col(LedgerAccount.owner_id) == bindparam("owner_id"),
    )
)


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
        new_balance = col(LedgerBalance.balance) + move.amount
        debited = await session.execute(
            update(LedgerBalance)
            .where(
                col(LedgerBalance.account_id) == move.ident,
                col(LedgerBalance.asset) == move.asset,
                new_balance >= 0,
            )
            .values(balance=new_balance, updated_at=utcnow())
            .returning(col(LedgerBalance.account_id))
        )
        if debited.scalar_one_or_none() is None:
            raise InsufficientBalance("insufficient_balance", move.where())
    await _upsert_balances(session, run)


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
    moved = await session.execute(
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


_OPEN_TRANSACTION = prepared(
    lambda dialect: (
        insert_in(dialect, table_of(LedgerTransaction))
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(col(LedgerTransaction.id), col(LedgerTransaction.created_at))
    )
)
_ADD_ENTRIES = prepared(lambda _dialect: insert(table_of(LedgerEntry)))


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
    inserted = await session.execute(
        _OPEN_TRANSACTION(session),
        {
            "idempotency_key": key,
            "kind": kind,
            "memo": memo,
            "reverses_id": reverses_id,
            "actor_id": actor_id,
            "order_id": order_id,
            "created_at": at or utcnow(),
        },
    )
    row = inserted.one_or_none()
    if row is None:  # posted before, or by a concurrent poster that committed first
        existing = await _existing(session, key)
        assert existing is not None
        return existing
    tx_id, created_at = row
    # resolve accounts and lock balances in one fixed order, so concurrent postings never deadlock
    ordered = sorted(postings, key=lambda p: (p.account, p.asset))
    idents = {p.account: await account_id(session, p.account) for p in ordered}
    # one executemany of a cached statement (a multi-row VALUES is compiled anew every time)
    await session.execute(
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
    merged: dict[tuple[AccountRef, str], int] = defaultdict(int)
    for p in ordered:
        merged[(p.account, p.asset)] += p.amount
    await _apply_balances(
        session,
        [
            _Move(account, idents[account], asset, amount)
            for (account, asset), amount in merged.items()
            if amount
        ],
    )
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


async def balance(session: AsyncSession, account: AccountRef, asset: str) -> int:
    """The cached balance of an account in an asset (0 when it never moved): one row."""
    result = await session.execute(
        select(col(LedgerBalance.balance))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerBalance.account_id))
        .where(
            col(LedgerAccount.kind) == account.kind,
            col(LedgerAccount.owner_id) == account.owner_id,
            col(LedgerBalance.asset) == asset,
        )
    )
    value = result.scalar_one_or_none()
    return int(value) if value is not None else 0


async def balances_of_owner(
    session: AsyncSession, owner_id: int, kinds: Iterable[str]
) -> dict[str, dict[str, int]]:
    """The cached balances of one owner's accounts of these kinds, in one SELECT: by kind, every
    asset each holds (a kind it never used is missing)."""
    result = await session.execute(
        select(col(LedgerAccount.kind), col(LedgerBalance.asset), col(LedgerBalance.balance))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerBalance.account_id))
        .where(col(LedgerAccount.owner_id) == owner_id, col(LedgerAccount.kind).in_(list(kinds)))
        .order_by(col(LedgerAccount.kind), col(LedgerBalance.asset))
    )
    found: dict[str, dict[str, int]] = {}
    for kind, asset, value in result.all():
        found.setdefault(kind, {})[asset] = int(value)
    return found


async def balances(session: AsyncSession, account: AccountRef) -> dict[str, int]:
    """Every asset the account holds, with its cached balance."""
    result = await session.execute(
        select(col(LedgerBalance.asset), col(LedgerBalance.balance))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerBalance.account_id))
        .where(
            col(LedgerAccount.kind) == account.kind,
            col(LedgerAccount.owner_id) == account.owner_id,
        )
        .order_by(col(LedgerBalance.asset))
    )
    return {asset: int(value) for asset, value in result.all()}


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
    """Recompute every balance from the entries and check every transaction sums to zero."""
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
        if have != want:
            report.mismatched.append((ref, key[1], have, want))
        if account.non_negative and want < 0:
            report.negative.append((ref, key[1], want))
    return report
