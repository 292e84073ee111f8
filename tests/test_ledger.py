"""The ledger's rules, proven on the real store (SQLite, or PostgreSQL when asked).

Every test must leave a ledger that reconciles: the `database_url` fixture checks it at
teardown, so tests that tamper with the store by hand repair it before they end.
"""

from __future__ import annotations

import asyncio
import shutil
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, cast

import hypothesis
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import event, func, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker
from sqlmodel import col

import services.ledger as ledger_service
from bot.db import create_engine, create_session_factory
from models.base import utcnow
from models.ledger import (
    ACCOUNT_BRAND_REVENUE,
    ACCOUNT_CHARITY_POOL,
    ACCOUNT_CUSTOMER_RECEIVABLE,
    ACCOUNT_MEMBER_POINTS,
    ACCOUNT_POINTS_ISSUED,
    ACCOUNT_POINTS_REDEEMED,
    NON_NEGATIVE_KINDS,
    POINTS,
    LedgerAccount,
    LedgerTransaction,
)
from services.ledger import (
    MAX_AMOUNT,
    MAX_KEY_LENGTH,
    AccountRef,
    InsufficientBalance,
    LedgerError,
    Posting,
    TransactionView,
    balance,
    balances,
    movements,
    post,
    reconcile,
    reverse,
)
from tests.conftest import KAI, LEE, MIA, SAM, Backend, make_settings

CNY = "CNY"
BIGINT_MAX = 2**63 - 1
LEDGER_TABLES = ("ledger_account", "ledger_transaction", "ledger_entry", "ledger_balance")

ISSUED = AccountRef(ACCOUNT_POINTS_ISSUED)
REDEEMED = AccountRef(ACCOUNT_POINTS_REDEEMED)
CHARITY = AccountRef(ACCOUNT_CHARITY_POOL)
REVENUE = AccountRef(ACCOUNT_BRAND_REVENUE)


def points_of(member: int) -> AccountRef:
    return AccountRef(ACCOUNT_MEMBER_POINTS, member)


def receivable_of(member: int) -> AccountRef:
    return AccountRef(ACCOUNT_CUSTOMER_RECEIVABLE, member)


# the business movements, as postings ("a -> b" takes from a and gives to b)


def award(member: int, amount: int) -> list[Posting]:
    """points_issued -> member_points"""
    return [Posting(ISSUED, POINTS, -amount), Posting(points_of(member), POINTS, amount)]


def spend(member: int, amount: int) -> list[Posting]:
    """member_points -> points_redeemed"""
    return [Posting(points_of(member), POINTS, -amount), Posting(REDEEMED, POINTS, amount)]


def donate(member: int, amount: int) -> list[Posting]:
    """member_points -> charity_pool"""
    return [Posting(points_of(member), POINTS, -amount), Posting(CHARITY, POINTS, amount)]


def gift(giver: int, receiver: int, amount: int) -> list[Posting]:
    """member_points -> another member's points"""
    return [
        Posting(points_of(giver), POINTS, -amount),
        Posting(points_of(receiver), POINTS, amount),
    ]


def order_payment(member: int, cny: int, points: int = 0) -> list[Posting]:
    """customer_receivable -> brand_revenue in CNY, plus points awarded for it when any."""
    legs = [Posting(receivable_of(member), CNY, -cny), Posting(REVENUE, CNY, cny)]
    return legs + (award(member, points) if points else [])


# helpers around the service: each call in its own database transaction


async def post_in_tx(
    session: AsyncSession, key: str, kind: str, postings: Sequence[Posting], **extra: Any
) -> TransactionView:
    async with session.begin():
        return await post(session, key=key, kind=kind, postings=postings, **extra)


async def reverse_in_tx(session: AsyncSession, transaction_id: int, key: str) -> TransactionView:
    async with session.begin():
        return await reverse(session, transaction_id=transaction_id, key=key)


async def read_balance(session: AsyncSession, account: AccountRef, asset: str = POINTS) -> int:
    async with session.begin():
        return await balance(session, account, asset)


async def row_counts(session: AsyncSession) -> dict[str, int]:
    async with session.begin():
        return {
            table: int((await session.execute(text(f"SELECT COUNT(*) FROM {table}"))).scalar_one())
            for table in LEDGER_TABLES
        }


async def account_pk(session: AsyncSession, account: AccountRef) -> int:
    """The row id of an existing account (call inside a transaction)."""
    result = await session.execute(
        select(col(LedgerAccount.id)).where(
            col(LedgerAccount.kind) == account.kind,
            col(LedgerAccount.owner_id) == account.owner_id,
        )
    )
    return int(result.scalar_one())


async def raw_entry(
    session: AsyncSession, transaction_id: int, account: AccountRef, asset: str, amount: int
) -> None:
    """Insert an entry behind the service's back (call inside a transaction)."""
    await session.execute(
        text(
            "INSERT INTO ledger_entry (transaction_id, account_id, asset, amount) "
            "VALUES (:tx, :account, :asset, :amount)"
        ),
        {
            "tx": transaction_id,
            "account": await account_pk(session, account),
            "asset": asset,
            "amount": amount,
        },
    )


async def shift_cached_balance(
    session: AsyncSession, account: AccountRef, asset: str, delta: int
) -> None:
    """Change a cached balance behind the service's back (call inside a transaction)."""
    await session.execute(
        text(
            "UPDATE ledger_balance SET balance = balance + :delta "
            "WHERE account_id = :account AND asset = :asset"
        ),
        {"delta": delta, "account": await account_pk(session, account), "asset": asset},
    )


async def assert_ledger_invariants(session: AsyncSession) -> None:
    """Checked by hand with SQL, independently of `reconcile`, then by `reconcile` too."""
    unbalanced = (
        await session.execute(
            text(
                "SELECT transaction_id, asset, SUM(amount) FROM ledger_entry "
                "GROUP BY transaction_id, asset HAVING SUM(amount) <> 0"
            )
        )
    ).all()
    assert unbalanced == [], f"transactions that do not sum to zero: {unbalanced}"
    computed = {
        (int(account), asset): int(total)
        for account, asset, total in await session.execute(
            text(
                "SELECT account_id, asset, SUM(amount) FROM ledger_entry GROUP BY account_id, asset"
            )
        )
    }
    cached = {
        (int(account), asset): int(value)
        for account, asset, value in await session.execute(
            text("SELECT account_id, asset, balance FROM ledger_balance")
        )
    }
    uncached = set(
        (
            await session.execute(
                text("SELECT id FROM ledger_account WHERE kind = 'points_issued'")
            )
        ).scalars()
    )
    for key in computed.keys() | cached.keys():
        if key[0] in uncached:  # no cached row, ever
            assert key not in cached, f"a cached balance of points_issued at {key}"
            continue
        assert cached.get(key, 0) == computed.get(key, 0), f"cached balance drifted at {key}"
    negative = (
        await session.execute(
            text(
                "SELECT a.kind, a.owner_id, b.asset, b.balance FROM ledger_balance b "
                "JOIN ledger_account a ON a.id = b.account_id "
                "WHERE a.kind IN ('member_points', 'charity_pool') AND b.balance < 0"
            )
        )
    ).all()
    assert negative == [], f"non-negative accounts below zero: {negative}"
    report = await reconcile(session)
    assert report.ok, "\n".join(report.lines())


# fixtures


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(make_settings(database_url=database_url))
    yield engine
    await engine.dispose()


@pytest.fixture
def sessions(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return create_session_factory(engine)


@pytest.fixture
async def session(sessions: async_sessionmaker[AsyncSession]) -> AsyncIterator[AsyncSession]:
    async with sessions() as session:
        yield session


# 1. the rules


async def test_a_balanced_posting_moves_cached_balances_and_balance_reads_them(
    session: AsyncSession,
) -> None:
    # given an empty ledger
    assert await read_balance(session, points_of(MIA)) == 0
    # when Mia is awarded 100 points
    tx = await post_in_tx(
        session, "award-1", "points_award", award(MIA, 100), memo="welcome", actor_id=LEE
    )
    # then the transaction is new, and both accounts moved by exactly the posted amounts
    assert tx.created and tx.kind == "points_award" and tx.memo == "welcome"
    assert tx.reverses_id is None and tx.idempotency_key == "award-1"
    assert tx.postings == tuple(award(MIA, 100))
    assert await read_balance(session, points_of(MIA)) == 100
    assert await read_balance(session, ISSUED) == -100
    assert await read_balance(session, points_of(MIA), CNY) == 0
    assert await row_counts(session) == {
        "ledger_account": 2,
        "ledger_transaction": 1,
        "ledger_entry": 2,
        "ledger_balance": 1,  # Mia's: points_issued keeps none (UNCACHED_KINDS)
    }


async def test_account_ids_are_remembered_once_committed_and_never_from_an_undone_savepoint(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    """An account created in a transaction that commits costs no statement when next used; one
    created in a savepoint that rolled back (or a transaction that did) is not remembered, so a
    later posting creates it again instead of pointing at a row that does not exist."""
    # a savepoint creates Kai's points account, then rolls back; the transaction commits
    async with sessions() as session, session.begin():
        with pytest.raises(ValueError):
            async with session.begin_nested():
                await ledger_service.account_id(session, points_of(KAI))
                raise ValueError("undone")
        await ledger_service.account_id(session, points_of(MIA))
    known = ledger_service._ACCOUNT_IDS[engine.sync_engine]
    assert points_of(KAI) not in known
    assert points_of(MIA) in known
    # a whole transaction that creates an account and rolls back is forgotten too
    async with sessions() as session, session.begin():
        await ledger_service.account_id(session, points_of(SAM))
        await session.rollback()
    assert points_of(SAM) not in known
    # and postings to all three land on real accounts
    async with sessions() as session:
        for member in (KAI, MIA, SAM):
            await post_in_tx(session, f"award-{member}", "points_award", award(member, 5))
        assert [await read_balance(session, points_of(m)) for m in (KAI, MIA, SAM)] == [5, 5, 5]
        ids = (await session.execute(select(col(LedgerAccount.id)))).scalars().all()
    assert set(known.values()) <= set(ids)


async def test_a_posting_to_known_accounts_is_one_statement_on_postgresql(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    """On PostgreSQL a posting's row, entries and balances are one statement (two when an
    account that may not go negative is debited: its conditional UPDATE); SQLite takes one
    each for the row, the entries and each run of balances."""
    async with sessions() as session:
        await post_in_tx(session, "award-1", "points_award", award(MIA, 50))
        await post_in_tx(session, "spend-0", "points_redeem", spend(MIA, 5))  # every account
    seen: list[str] = []

    def spot(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen.append(statement.split(None, 1)[0].upper())

    event.listen(engine.sync_engine, "before_cursor_execute", spot)
    try:
        async with sessions() as session:
            await post_in_tx(session, "award-2", "points_award", award(MIA, 30))
            awarded = list(seen)
            seen.clear()
            await post_in_tx(session, "spend-1", "points_redeem", spend(MIA, 20))
            spent = [s for s in seen if s not in ("BEGIN", "COMMIT")]
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", spot)
    awarded = [s for s in awarded if s not in ("BEGIN", "COMMIT")]
    if engine.dialect.name == "postgresql":
        assert awarded == ["WITH"]
        assert spent == ["WITH", "UPDATE", "INSERT"]
    else:
        assert awarded == ["INSERT", "INSERT", "INSERT"]
        assert spent == ["INSERT", "INSERT", "UPDATE", "INSERT"]
    # and the balances are what the postings say, the ledger sound
    assert await read_balance(session, points_of(MIA)) == 55
    assert await read_balance(session, ISSUED) == -80
    assert await read_balance(session, REDEEMED) == 25
    async with session.begin():
        assert (await reconcile(session)).ok


async def test_awards_to_two_members_at_once_do_not_wait_for_each_other(
    sessions: async_sessionmaker[AsyncSession], engine: AsyncEngine
) -> None:
    """Every award moves points_issued; with a cached row there, each award held its lock
    until its COMMIT and concurrent check-ins queued on it (UNCACHED_KINDS)."""
    if engine.dialect.name != "postgresql":
        pytest.skip("SQLite has one writer at a time: awards queue on the database lock")
    async with sessions() as session:  # every account exists, as in a store in use
        for member in (MIA, LEE):
            await post_in_tx(session, f"welcome-{member}", "points_award", award(member, 1))
    async with sessions() as first, sessions() as second, first.begin():
        # given Mia's award is posted in a transaction not yet committed
        await post(first, key="award-mia", kind="points_award", postings=award(MIA, 10))

        # when Lee's award is posted meanwhile, in its own transaction
        async def lee() -> None:
            async with second.begin():
                await post(second, key="award-lee", kind="points_award", postings=award(LEE, 7))

        # then it commits without waiting for Mia's
        await asyncio.wait_for(lee(), timeout=5)
    async with sessions() as session:
        assert await read_balance(session, points_of(MIA)) == 11
        assert await read_balance(session, points_of(LEE)) == 8
        assert await read_balance(session, ISSUED) == -19


async def test_balances_list_every_asset_an_account_holds(session: AsyncSession) -> None:
    # given Mia paid an order in CNY and earned points for it
    await post_in_tx(session, "order-1", "order_paid", order_payment(MIA, 12_800, 128))
    # when her accounts and the brand's are read
    async with session.begin():
        mia_points = await balances(session, points_of(MIA))
        mia_owes = await balances(session, receivable_of(MIA))
        brand = await balances(session, REVENUE)
        stranger = await balances(session, points_of(KAI))
    # then each lists its assets with their cached balances
    assert mia_points == {POINTS: 128}
    assert mia_owes == {CNY: -12_800}
    assert brand == {CNY: 12_800}
    assert stranger == {}


async def test_movements_list_the_newest_entries_first(session: AsyncSession) -> None:
    # given Mia earned 100 points and then spent 30
    earned = await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    spent = await post_in_tx(session, "spend-1", "points_spent", spend(MIA, 30), memo="tea")
    # when her statement is read
    async with session.begin():
        statement = await movements(session, [points_of(MIA)])
        newest = await movements(session, [points_of(MIA)], limit=1)
        nothing = await movements(session, [])
    # then the spend comes first, then the award, each with its signed amount
    assert [(ref, m.transaction_id, m.kind, m.amount) for ref, m in statement] == [
        (points_of(MIA), spent.id, "points_spent", -30),
        (points_of(MIA), earned.id, "points_award", 100),
    ]
    assert statement[0][1].memo == "tea" and statement[0][1].asset == POINTS
    assert [m.transaction_id for _, m in newest] == [spent.id]
    assert nothing == []


INVALID_POSTINGS: list[tuple[str, list[Posting], str]] = [
    (
        "unbalanced",
        [Posting(ISSUED, POINTS, -10), Posting(points_of(MIA), POINTS, 9)],
        "unbalanced",
    ),
    ("single_leg", [Posting(points_of(MIA), POINTS, 10)], "too_few_postings"),
    ("no_leg", [], "too_few_postings"),
    ("zero", [Posting(ISSUED, POINTS, 0), Posting(points_of(MIA), POINTS, 0)], "zero_amount"),
    (
        "float",
        [
            Posting(ISSUED, POINTS, cast(int, -10.0)),
            Posting(points_of(MIA), POINTS, cast(int, 10.0)),
        ],
        "not_an_integer",
    ),
    (
        "bool",
        [Posting(ISSUED, POINTS, -1), Posting(points_of(MIA), POINTS, True)],
        "not_an_integer",
    ),
    (
        "str",
        [
            Posting(ISSUED, POINTS, cast(int, "-10")),
            Posting(points_of(MIA), POINTS, cast(int, "10")),
        ],
        "not_an_integer",
    ),
    (
        "unknown_asset",
        [Posting(ISSUED, "ABC", -10), Posting(points_of(MIA), "ABC", 10)],
        "unknown_asset",
    ),
    (
        "lower_case_points",
        [Posting(ISSUED, "pts", -10), Posting(points_of(MIA), "pts", 10)],
        "unknown_asset",
    ),
    (
        "lower_case_currency",
        [Posting(receivable_of(MIA), "cny", -10), Posting(REVENUE, "cny", 10)],
        "unknown_asset",
    ),
    (
        "unknown_account_kind",
        [Posting(ISSUED, POINTS, -10), Posting(AccountRef("wallet", MIA), POINTS, 10)],
        "unknown_account",
    ),
    (
        "balanced_overall_but_not_per_asset",
        [
            Posting(receivable_of(MIA), CNY, -100),
            Posting(REVENUE, CNY, 90),
            Posting(ISSUED, POINTS, -10),
            Posting(points_of(MIA), POINTS, 20),
        ],
        "unbalanced",
    ),
]


@pytest.mark.parametrize(
    ("postings", "reason"),
    [pytest.param(postings, reason, id=name) for name, postings, reason in INVALID_POSTINGS],
)
async def test_invalid_postings_are_refused_with_a_reason_and_leave_nothing(
    session: AsyncSession, postings: list[Posting], reason: str
) -> None:
    # given an empty ledger
    # when an invalid transaction is posted
    with pytest.raises(LedgerError) as refused:
        await post_in_tx(session, "bad-1", "points_award", postings)
    # then it is refused with a stable reason, and nothing at all was written
    assert refused.value.reason == reason
    assert not isinstance(refused.value, InsufficientBalance)
    assert await row_counts(session) == dict.fromkeys(LEDGER_TABLES, 0)


@pytest.mark.parametrize("key", ["", "k" * (MAX_KEY_LENGTH + 1)], ids=["empty", "129_chars"])
async def test_idempotency_keys_must_be_1_to_128_characters(
    session: AsyncSession, key: str
) -> None:
    # when a transaction is posted under a key that is empty or too long
    with pytest.raises(LedgerError) as refused:
        await post_in_tx(session, key, "points_award", award(MIA, 10))
    # then it is refused and nothing was written
    assert refused.value.reason == "bad_key"
    assert await row_counts(session) == dict.fromkeys(LEDGER_TABLES, 0)
    # while a key of exactly 128 characters is fine
    longest = await post_in_tx(session, "k" * MAX_KEY_LENGTH, "points_award", award(MIA, 10))
    assert longest.created and longest.idempotency_key == "k" * MAX_KEY_LENGTH


async def test_the_same_key_twice_returns_the_first_transaction_and_moves_balances_once(
    session: AsyncSession,
) -> None:
    # given Mia was awarded 100 points under key "award-1"
    first = await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    # when the same key is posted again, even with other postings and another kind
    again = await post_in_tx(session, "award-1", "points_spent", award(LEE, 999), memo="x")
    # then the first transaction comes back unchanged, marked as not created
    assert first.created and not again.created
    assert again.id == first.id and again.kind == "points_award" and again.memo == ""
    assert again.postings == first.postings
    # and balances moved once, for the first postings only
    assert await read_balance(session, points_of(MIA)) == 100
    assert await read_balance(session, points_of(LEE)) == 0
    assert await read_balance(session, ISSUED) == -100
    assert (await row_counts(session))["ledger_transaction"] == 1


async def test_the_same_key_twice_inside_one_transaction_posts_once(
    session: AsyncSession,
) -> None:
    # when a use case posts one key twice before committing
    async with session.begin():
        first = await post(session, key="award-1", kind="points_award", postings=award(MIA, 5))
        again = await post(session, key="award-1", kind="points_award", postings=award(MIA, 5))
    # then the second call sees the first
    assert first.created and not again.created and again.id == first.id
    assert await read_balance(session, points_of(MIA)) == 5


async def test_a_reversal_mirrors_every_posting_points_at_the_original_and_restores_balances(
    session: AsyncSession,
) -> None:
    # given Mia paid order 7 in CNY, earning 50 points, and was later awarded 30 more
    paid = await post_in_tx(
        session, "order-7", "order_paid", order_payment(MIA, 5_000, 50), order_id=7
    )
    await post_in_tx(session, "award-1", "points_award", award(MIA, 30))
    # when the payment is refunded by reversing it
    refund = await reverse_in_tx(session, paid.id, "refund-7")
    # then the reversal mirrors every posting, points at the original and keeps its order
    assert refund.created and refund.kind == "reversal"
    assert refund.reverses_id == paid.id and refund.order_id == 7
    assert refund.memo == f"reverses order_paid #{paid.id}"
    assert refund.postings == tuple(Posting(p.account, p.asset, -p.amount) for p in paid.postings)
    # and every balance the payment moved is back, while the later award stays
    assert await read_balance(session, receivable_of(MIA), CNY) == 0
    assert await read_balance(session, REVENUE, CNY) == 0
    assert await read_balance(session, points_of(MIA)) == 30
    assert await read_balance(session, ISSUED) == -30


async def test_reversing_again_with_the_same_key_returns_the_first_reversal(
    session: AsyncSession,
) -> None:
    # given an award that was reversed under key "refund-1"
    awarded = await post_in_tx(session, "award-1", "points_award", award(MIA, 40))
    first = await reverse_in_tx(session, awarded.id, "refund-1")
    # when the reversal is retried with the same key
    again = await reverse_in_tx(session, awarded.id, "refund-1")
    # then the first reversal comes back and nothing moved twice
    assert again.id == first.id and not again.created
    assert await read_balance(session, points_of(MIA)) == 0
    assert await read_balance(session, ISSUED) == 0


async def test_a_transaction_is_reversed_at_most_once(session: AsyncSession) -> None:
    # given an award that was reversed
    awarded = await post_in_tx(session, "award-1", "points_award", award(MIA, 40))
    await reverse_in_tx(session, awarded.id, "refund-1")
    before = await row_counts(session)
    # when it is reversed again under another key
    with pytest.raises(LedgerError) as refused:
        await reverse_in_tx(session, awarded.id, "refund-2")
    # then it is refused and nothing changed
    assert refused.value.reason == "already_reversed"
    assert await row_counts(session) == before
    assert await read_balance(session, points_of(MIA)) == 0


async def test_a_reversal_cannot_itself_be_reversed(session: AsyncSession) -> None:
    # given an award and its reversal
    awarded = await post_in_tx(session, "award-1", "points_award", award(MIA, 40))
    refund = await reverse_in_tx(session, awarded.id, "refund-1")
    before = await row_counts(session)
    # when the reversal is reversed
    with pytest.raises(LedgerError) as refused:
        await reverse_in_tx(session, refund.id, "refund-of-refund")
    # then it is refused and nothing changed
    assert refused.value.reason == "reversal_of_reversal"
    assert await row_counts(session) == before


async def test_reversing_an_unknown_transaction_is_refused(session: AsyncSession) -> None:
    # when a transaction id that does not exist is reversed
    with pytest.raises(LedgerError) as refused:
        await reverse_in_tx(session, 424242, "refund-1")
    # then it is refused and nothing was written
    assert refused.value.reason == "unknown_transaction"
    assert await row_counts(session) == dict.fromkeys(LEDGER_TABLES, 0)


async def test_member_points_never_go_below_zero(session: AsyncSession) -> None:
    # given Mia holds 100 points
    await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    before = await row_counts(session)
    # when she tries to spend 101
    with pytest.raises(InsufficientBalance) as refused:
        await post_in_tx(session, "spend-1", "points_spent", spend(MIA, 101))
    # then it is refused, and the rolled-back transaction left no row behind
    assert refused.value.reason == "insufficient_balance"
    assert await row_counts(session) == before
    assert await read_balance(session, points_of(MIA)) == 100
    assert await read_balance(session, REDEEMED) == 0
    # and the key is still free: spending exactly what she has works
    spent = await post_in_tx(session, "spend-1", "points_spent", spend(MIA, 100))
    assert spent.created and await read_balance(session, points_of(MIA)) == 0


async def test_a_member_who_never_had_points_cannot_spend_or_gift_any(
    session: AsyncSession,
) -> None:
    # given an empty ledger
    for key, postings in (("spend-1", spend(KAI, 1)), ("gift-1", gift(KAI, MIA, 1))):
        # when Kai, who never earned points, spends or gives one
        with pytest.raises(InsufficientBalance):
            await post_in_tx(session, key, "points_spent", postings)
        # then not even his account row or a balance row was left behind
        assert await row_counts(session) == dict.fromkeys(LEDGER_TABLES, 0)


async def test_the_charity_pool_never_goes_below_zero(session: AsyncSession) -> None:
    # given Mia donated 30 points to the charity pool
    await post_in_tx(session, "award-1", "points_award", award(MIA, 30))
    await post_in_tx(session, "donate-1", "points_donated", donate(MIA, 30))
    before = await row_counts(session)
    # when the pool pays out 31
    payout = [Posting(CHARITY, POINTS, -31), Posting(REDEEMED, POINTS, 31)]
    with pytest.raises(InsufficientBalance):
        await post_in_tx(session, "payout-1", "charity_payout", payout)
    # then it is refused and nothing changed
    assert await row_counts(session) == before
    assert await read_balance(session, CHARITY) == 30


async def test_a_reversal_that_would_overdraw_member_points_is_refused(
    session: AsyncSession,
) -> None:
    # given Mia was awarded 100 points and spent all of them
    awarded = await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    await post_in_tx(session, "spend-1", "points_spent", spend(MIA, 100))
    before = await row_counts(session)
    # when the award is reversed
    with pytest.raises(InsufficientBalance):
        await reverse_in_tx(session, awarded.id, "refund-1")
    # then the reversal is refused as a whole, and nothing changed
    assert await row_counts(session) == before
    assert await read_balance(session, points_of(MIA)) == 0


async def test_points_issued_may_go_negative(session: AsyncSession) -> None:
    # when points are awarded from nothing, twice
    await post_in_tx(session, "award-1", "points_award", award(MIA, 70))
    await post_in_tx(session, "award-2", "points_award", award(LEE, 30))
    # then the issuing account is simply negative by what was issued
    assert await read_balance(session, ISSUED) == -100
    assert await read_balance(session, points_of(MIA)) == 70
    assert await read_balance(session, points_of(LEE)) == 30


async def test_a_multi_asset_transaction_balances_per_asset(session: AsyncSession) -> None:
    # when an order payment in CNY and the points it earns are posted as one transaction
    paid = await post_in_tx(
        session, "order-1", "order_paid", order_payment(MIA, 9_900, 99), order_id=1
    )
    # then both assets moved, each summing to zero, in one transaction
    assert {p.asset for p in paid.postings} == {CNY, POINTS}
    for asset in (CNY, POINTS):
        assert sum(p.amount for p in paid.postings if p.asset == asset) == 0
    assert await read_balance(session, REVENUE, CNY) == 9_900
    assert await read_balance(session, receivable_of(MIA), CNY) == -9_900
    assert await read_balance(session, points_of(MIA)) == 99
    assert await read_balance(session, ISSUED) == -99
    assert (await row_counts(session))["ledger_transaction"] == 1


async def test_telegram_stars_and_iso_currencies_are_known_assets(session: AsyncSession) -> None:
    # when Stars and a few ISO 4217 currencies move
    for asset in ("XTR", "USD", "HKD", "EUR"):
        legs = [Posting(receivable_of(MIA), asset, -5), Posting(REVENUE, asset, 5)]
        await post_in_tx(session, f"pay-{asset}", "order_paid", legs)
    # then each is its own balance
    async with session.begin():
        assert await balances(session, REVENUE) == {"EUR": 5, "HKD": 5, "USD": 5, "XTR": 5}


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_entry SET amount = amount + 1",
        "DELETE FROM ledger_entry",
        "UPDATE ledger_transaction SET memo = 'edited'",
        "DELETE FROM ledger_transaction",
    ],
)
async def test_the_database_refuses_to_change_or_delete_ledger_rows(
    session: AsyncSession, statement: str
) -> None:
    # given a posted transaction
    await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    before = await row_counts(session)
    # when someone edits the journal with raw SQL
    with pytest.raises(DBAPIError, match="append-only"):
        async with session.begin():  # the failure rolls this transaction back
            await session.execute(text(statement))
    # then the database refused, and the journal is intact
    assert await row_counts(session) == before
    assert await read_balance(session, points_of(MIA)) == 100


async def test_reconcile_reports_ok_on_a_normal_store(session: AsyncSession) -> None:
    # given a few ordinary postings and a reversal
    await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    await post_in_tx(session, "gift-1", "points_gift", gift(MIA, LEE, 40))
    paid = await post_in_tx(session, "order-1", "order_paid", order_payment(KAI, 500, 5))
    await reverse_in_tx(session, paid.id, "refund-1")
    # when the ledger is reconciled
    async with session.begin():
        report = await reconcile(session)
    # then everything checks out
    assert report.ok
    assert (report.transactions, report.entries) == (4, 12)
    assert report.unbalanced == report.mismatched == report.negative == []
    assert report.lines()[-1] == "reconcile: OK"
    assert report.lines()[0].startswith("checked 4 transactions, 12 entries")


async def test_reconcile_reports_a_tampered_cached_balance(session: AsyncSession) -> None:
    # given Mia holds 100 points, and someone adds one to her cached balance by hand
    await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    async with session.begin():
        await shift_cached_balance(session, points_of(MIA), POINTS, +1)
    # when the ledger is reconciled
    async with session.begin():
        report = await reconcile(session)
    # then the mismatch is reported, naming the account, the cached and the true balance
    assert not report.ok
    assert report.mismatched == [(points_of(MIA), POINTS, 101, 100)]
    assert report.unbalanced == [] and report.negative == []
    lines = report.lines()
    assert f"MISMATCH member_points/{MIA} PTS: cached 101, entries say 100" in lines
    assert lines[-1] == "reconcile: FAILED"
    # and once the cached balance is repaired, the ledger reconciles again
    async with session.begin():
        await shift_cached_balance(session, points_of(MIA), POINTS, -1)
        assert (await reconcile(session)).ok


async def test_reconcile_reports_an_unbalanced_transaction(session: AsyncSession) -> None:
    # given an award, and an extra entry slipped into it with raw SQL
    awarded = await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    async with session.begin():
        await raw_entry(session, awarded.id, points_of(MIA), POINTS, +1)
    # when the ledger is reconciled
    async with session.begin():
        report = await reconcile(session)
    # then the transaction is reported unbalanced, and Mia's cached balance disagrees too
    assert not report.ok
    assert report.unbalanced == [(awarded.id, POINTS, 1)]
    assert report.mismatched == [(points_of(MIA), POINTS, 100, 101)]
    assert f"UNBALANCED transaction {awarded.id}: PTS entries sum to 1, not 0" in report.lines()
    # and a compensating entry (rows cannot be deleted) makes the ledger reconcile again
    async with session.begin():
        await raw_entry(session, awarded.id, points_of(MIA), POINTS, -1)
        assert (await reconcile(session)).ok


async def test_reconcile_reports_a_transaction_without_entries(session: AsyncSession) -> None:
    # given a transaction row written by hand with no entries
    await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    async with session.begin():
        lonely = LedgerTransaction(idempotency_key="by-hand", kind="manual", created_at=utcnow())
        session.add(lonely)
        await session.flush()
        lonely_id = cast(int, lonely.id)
    # when the ledger is reconciled
    async with session.begin():
        report = await reconcile(session)
    # then it is reported
    assert not report.ok and report.unbalanced == [(lonely_id, "-", 0)]
    # and two entries that cancel out on one account repair it
    async with session.begin():
        await raw_entry(session, lonely_id, ISSUED, POINTS, +1)
        await raw_entry(session, lonely_id, ISSUED, POINTS, -1)
        assert (await reconcile(session)).ok


async def test_reconcile_reports_a_non_negative_account_below_zero(
    session: AsyncSession,
) -> None:
    # given Mia holds 100 points, and a hand-written transaction takes 150 with its balances
    awarded = await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    async with session.begin():
        await raw_entry(session, awarded.id, points_of(MIA), POINTS, -150)
        await raw_entry(session, awarded.id, ISSUED, POINTS, +150)
        await shift_cached_balance(session, points_of(MIA), POINTS, -150)
    # when the ledger is reconciled
    async with session.begin():
        report = await reconcile(session)
    # then the negative member balance is reported, and nothing else
    assert report.negative == [(points_of(MIA), POINTS, -50)]
    assert report.unbalanced == [] and report.mismatched == [] and not report.ok
    assert f"NEGATIVE member_points/{MIA} PTS: -50" in report.lines()
    # and compensating entries with their balances repair it
    async with session.begin():
        await raw_entry(session, awarded.id, points_of(MIA), POINTS, +150)
        await raw_entry(session, awarded.id, ISSUED, POINTS, -150)
        await shift_cached_balance(session, points_of(MIA), POINTS, +150)
        assert (await reconcile(session)).ok


@pytest.mark.parametrize("amount", [MAX_AMOUNT + 1, BIGINT_MAX + 1, -(BIGINT_MAX + 1)])
async def test_amounts_beyond_the_bound_are_refused_as_ledger_errors(
    session: AsyncSession, amount: int
) -> None:
    # when an amount beyond 10^15 minor units (or beyond what BIGINT holds) is posted
    with pytest.raises(LedgerError) as refused:
        await post_in_tx(
            session,
            "huge-1",
            "points_award",
            [
                Posting(ISSUED, POINTS, -amount),
                Posting(points_of(MIA), POINTS, amount),
            ],
        )
    # then it is refused like any other invalid amount, and nothing was written
    assert refused.value.reason == "amount_too_large"
    assert await row_counts(session) == dict.fromkeys(LEDGER_TABLES, 0)


async def test_a_balance_beyond_its_bound_is_refused_and_the_store_stays_sound(
    session: AsyncSession, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given balances may hold at most 1,000 (the real bound, 4 * 10^18, keeps BIGINT safe)
    monkeypatch.setattr(ledger_service, "MAX_BALANCE", 1_000)
    await post_in_tx(session, "big-1", "points_award", award(MIA, 900))
    # when another 200 are awarded, which her balance may not hold
    with pytest.raises(LedgerError) as refused:
        await post_in_tx(session, "big-2", "points_award", award(MIA, 200))
    # then it is refused, nothing of it was written, and the ledger still reconciles
    assert refused.value.reason == "balance_out_of_range"
    assert await read_balance(session, points_of(MIA)) == 900
    async with session.begin():
        assert (await reconcile(session)).ok
        assert await session.scalar(select(func.count()).select_from(LedgerTransaction)) == 1


# 2. random sequences of operations against an independent model

MEMBERS = (MIA, LEE, KAI)
# sampled uniformly, so repeats weigh the mix: awards feed the spending that follows
OPERATIONS = (
    *("award", "award", "award", "spend", "spend", "donate", "gift", "gift"),
    *("order", "order", "refund", "refund", "refund", "repeat"),
)


@dataclass(frozen=True)
class Op:
    name: str
    member: int
    other: int
    amount: int
    points: int
    pick: int


OPS = st.builds(
    Op,
    name=st.sampled_from(OPERATIONS),
    member=st.sampled_from(MEMBERS),
    other=st.sampled_from(MEMBERS),
    amount=st.one_of(st.integers(1, 60), st.integers(61, 600)),  # often more than held
    points=st.integers(0, 300),
    pick=st.integers(0, 10_000),
)


@dataclass
class Posted:
    """A committed transaction as the model remembers it."""

    id: int
    key: str
    postings: tuple[Posting, ...]
    is_reversal: bool = False
    reversed: bool = False


@dataclass
class LedgerModel:
    """What the balances must be, computed without the database."""

    balances: defaultdict[tuple[AccountRef, str], int] = field(
        default_factory=lambda: defaultdict(int)
    )
    history: list[Posted] = field(default_factory=list)

    def overdraws(self, postings: Sequence[Posting]) -> bool:
        moved: defaultdict[tuple[AccountRef, str], int] = defaultdict(int)
        for p in postings:
            moved[(p.account, p.asset)] += p.amount
        return any(
            account.kind in NON_NEGATIVE_KINDS and self.balances[(account, asset)] + delta < 0
            for (account, asset), delta in moved.items()
        )

    def apply(self, postings: Sequence[Posting]) -> None:
        for p in postings:
            self.balances[(p.account, p.asset)] += p.amount


UNIVERSE = [
    *(points_of(m) for m in MEMBERS),
    *(receivable_of(m) for m in MEMBERS),
    ISSUED,
    REDEEMED,
    CHARITY,
    REVENUE,
]


def postings_for(op: Op) -> tuple[str, list[Posting]]:
    if op.name == "award":
        return "points_award", award(op.member, op.amount)
    if op.name == "spend":
        return "points_spent", spend(op.member, op.amount)
    if op.name == "donate":
        return "points_donated", donate(op.member, op.amount)
    if op.name == "gift":
        return "points_gift", gift(op.member, op.other, op.amount)
    assert op.name == "order"
    return "order_paid", order_payment(op.member, op.amount * 100, op.points)


async def run_step(
    sessions: async_sessionmaker[AsyncSession], model: LedgerModel, step: int, op: Op
) -> None:
    """Perform one operation in its own transaction; check the outcome the model predicts."""
    key = f"op-{step}"
    async with sessions() as session:
        if op.name in ("refund", "repeat") and not model.history:
            return
        if op.name == "repeat":
            target = model.history[op.pick % len(model.history)]
            again = await post_in_tx(session, target.key, "points_award", award(op.member, 1))
            assert (again.id, again.created, again.postings) == (target.id, False, target.postings)
            hypothesis.event("repeat: first transaction returned")
            return
        if op.name == "refund":
            target = model.history[op.pick % len(model.history)]
            mirror = tuple(Posting(p.account, p.asset, -p.amount) for p in target.postings)
            if target.is_reversal or target.reversed:
                with pytest.raises(LedgerError) as refused:
                    await reverse_in_tx(session, target.id, key)
                expected = "reversal_of_reversal" if target.is_reversal else "already_reversed"
                assert refused.value.reason == expected
                hypothesis.event(f"refund: refused ({expected})")
            elif model.overdraws(mirror):
                with pytest.raises(InsufficientBalance):
                    await reverse_in_tx(session, target.id, key)
                hypothesis.event("refund: refused (insufficient_balance)")
            else:
                refund = await reverse_in_tx(session, target.id, key)
                assert refund.created and refund.reverses_id == target.id
                assert refund.postings == mirror
                model.apply(mirror)
                target.reversed = True
                model.history.append(Posted(refund.id, key, mirror, is_reversal=True))
                hypothesis.event("refund: posted")
            return
        kind, postings = postings_for(op)
        if model.overdraws(postings):
            with pytest.raises(InsufficientBalance):
                await post_in_tx(session, key, kind, postings)
            hypothesis.event(f"{op.name}: refused (insufficient_balance)")
            return
        order_id = step if op.name == "order" else None
        tx = await post_in_tx(session, key, kind, postings, order_id=order_id)
        assert tx.created and tx.postings == tuple(postings)
        model.apply(postings)
        model.history.append(Posted(tx.id, key, tx.postings))
        hypothesis.event(f"{op.name}: posted")


async def check_against_model(
    sessions: async_sessionmaker[AsyncSession], model: LedgerModel
) -> None:
    async with sessions() as session, session.begin():
        await assert_ledger_invariants(session)
        for account in UNIVERSE:
            held = await balances(session, account)
            assets = held.keys() | {a for (ref, a) in model.balances if ref == account}
            for asset in assets:
                assert held.get(asset, 0) == model.balances[(account, asset)], (account, asset)
        known = {(a.kind, a.owner_id) for a in UNIVERSE}
        stored = await session.execute(select(col(LedgerAccount.kind), col(LedgerAccount.owner_id)))
        assert {(kind, owner) for kind, owner in stored} <= known


async def run_sequence(url: str, ops: Sequence[Op], *, truncate: bool) -> None:
    engine = create_engine(make_settings(database_url=url))
    try:
        if truncate:
            async with engine.begin() as connection:
                await connection.execute(
                    text(f"TRUNCATE {', '.join(LEDGER_TABLES)} RESTART IDENTITY CASCADE")
                )
        sessions = create_session_factory(engine)
        model = LedgerModel()
        for step, op in enumerate(ops):
            await run_step(sessions, model, step, op)
            await check_against_model(sessions, model)
    finally:
        await engine.dispose()


@pytest.fixture
def example_store(
    backend: Backend, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[[], tuple[str, bool]]]:
    """Call it once per hypothesis example: a clean store URL, and whether to truncate it."""
    folder = tmp_path_factory.mktemp("ledger-examples")

    def fresh() -> tuple[str, bool]:
        if backend.template is None:  # PostgreSQL: the test database, emptied per example
            return database_url, True
        target = folder / f"{uuid.uuid4().hex}.sqlite3"
        shutil.copy(backend.template, target)
        return f"sqlite+aiosqlite:///{target}", False

    yield fresh
    shutil.rmtree(folder, ignore_errors=True)


@settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(ops=st.lists(OPS, min_size=5, max_size=25))
def test_random_operations_keep_the_ledger_balanced_and_equal_to_a_model(
    example_store: Callable[[], tuple[str, bool]], ops: list[Op]
) -> None:
    # given a clean store for this example
    url, truncate = example_store()
    # when random awards, spends, donations, gifts, orders, refunds and retries run one by one,
    # then after each step every invariant holds and the balances match the model
    with asyncio.Runner(loop_factory=asyncio.new_event_loop) as runner:
        runner.run(run_sequence(url, ops, truncate=truncate))


# 3. concurrency


async def attempt(
    sessions: async_sessionmaker[AsyncSession], key: str, kind: str, postings: list[Posting]
) -> TransactionView | None:
    """Post in a session of its own; None when refused for lack of balance."""
    async with sessions() as session:
        try:
            return await post_in_tx(session, key, kind, postings)
        except InsufficientBalance:
            return None


async def test_concurrent_awards_and_spends_keep_member_points_exact_and_never_negative(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given Mia holds 50 points
    async with sessions() as session:
        await post_in_tx(session, "seed", "points_award", award(MIA, 50))
    # when 20 awards of 10 and 20 spends of 25 race from 40 sessions (500 > 50 + 200)
    plan: list[tuple[str, str, list[Posting], int]] = []
    for i in range(20):
        plan.append((f"award-{i}", "points_award", award(MIA, 10), +10))
        plan.append((f"spend-{i}", "points_spent", spend(MIA, 25), -25))
    results = await asyncio.gather(
        *(attempt(sessions, key, kind, postings) for key, kind, postings, _ in plan)
    )
    # then every award committed, some spends were refused, and the balance is exact
    committed = [delta for (_, _, _, delta), r in zip(plan, results, strict=True) if r]
    refused_spends = [key for (key, *_), r in zip(plan, results, strict=True) if r is None]
    assert all(r is not None for (key, *_), r in zip(plan, results, strict=True) if "award" in key)
    assert len(refused_spends) >= 10
    async with sessions() as session, session.begin():
        final = await balance(session, points_of(MIA), POINTS)
        assert final == 50 + sum(committed) >= 0
        assert await balance(session, REDEEMED, POINTS) == 25 * (20 - len(refused_spends))
        count = await session.execute(text("SELECT COUNT(*) FROM ledger_transaction"))
        assert count.scalar_one() == 1 + len(committed)
        await assert_ledger_invariants(session)


async def test_concurrent_posts_of_one_key_produce_exactly_one_transaction(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # when ten sessions post the same key at once
    results = await asyncio.gather(
        *(attempt(sessions, "award-once", "points_award", award(MIA, 10)) for _ in range(10))
    )
    # then all got the same transaction, exactly one created it, and Mia got 10 points once
    views = [r for r in results if r is not None]
    assert len(views) == 10
    assert len({v.id for v in views}) == 1
    assert sum(v.created for v in views) == 1
    async with sessions() as session, session.begin():
        assert await balance(session, points_of(MIA), POINTS) == 10
        count = await session.execute(text("SELECT COUNT(*) FROM ledger_transaction"))
        assert count.scalar_one() == 1
        await assert_ledger_invariants(session)


async def test_concurrent_reversals_never_reverse_a_transaction_twice(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given Mia was awarded 100 points
    async with sessions() as session:
        awarded = await post_in_tx(session, "award-1", "points_award", award(MIA, 100))

    async def refund(i: int) -> TransactionView:
        async with sessions() as session:
            return await reverse_in_tx(session, awarded.id, f"refund-{i}")

    # when eight sessions reverse it at once, each under its own key
    results = await asyncio.gather(*(refund(i) for i in range(8)), return_exceptions=True)
    # then exactly one reversal committed and the others were refused as already reversed
    done = [r for r in results if isinstance(r, TransactionView)]
    assert len(done) == 1
    for r in results:
        if not isinstance(r, TransactionView):
            assert isinstance(r, LedgerError), repr(r)
            assert r.reason == "already_reversed"
    async with sessions() as session, session.begin():
        assert await balance(session, points_of(MIA), POINTS) == 0
        assert await balance(session, ISSUED, POINTS) == 0
        await assert_ledger_invariants(session)


async def test_the_loser_of_a_reversal_race_is_refused_with_already_reversed(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given Mia was awarded 100 points
    async with sessions() as session:
        awarded = await post_in_tx(session, "award-1", "points_award", award(MIA, 100))
    loser_inserts = asyncio.Event()

    async def late_refund() -> TransactionView:
        async with sessions() as session, session.begin():
            connection = await session.connection()

            def spot(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
                # alone (SQLite) or in a WITH that inserts the entries too (PostgreSQL)
                if "INSERT INTO LEDGER_TRANSACTION" in statement.upper():
                    loser_inserts.set()

            event.listen(connection.sync_connection, "before_cursor_execute", spot)
            return await reverse(session, transaction_id=awarded.id, key="refund-b")

    # when staff A reverses it and, before A commits, staff B reverses it too: B either gets
    # past its checks and inserts (PostgreSQL), or waits for A's write lock (SQLite's
    # BEGIN IMMEDIATE); A commits once B has inserted, or after a second of B waiting
    async with sessions() as first:
        await first.begin()
        await reverse(first, transaction_id=awarded.id, key="refund-a")
        loser = asyncio.create_task(late_refund())
        inserting = asyncio.create_task(loser_inserts.wait())
        await asyncio.wait({loser, inserting}, timeout=1, return_when=asyncio.FIRST_COMPLETED)
        inserting.cancel()
        if first.get_bind().dialect.name == "postgresql":
            assert loser_inserts.is_set(), "B should have raced past its checks before A commits"
        await first.commit()
        # then B is refused the way a second reversal always is
        with pytest.raises(LedgerError) as refused:
            await loser
    assert refused.value.reason == "already_reversed"
    async with sessions() as session, session.begin():
        assert await balance(session, points_of(MIA), POINTS) == 0
        reversals = await session.execute(
            text("SELECT COUNT(*) FROM ledger_transaction WHERE reverses_id IS NOT NULL")
        )
        assert reversals.scalar_one() == 1
