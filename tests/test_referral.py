"""Referral rules at the service level, on SQLite and on PostgreSQL: the depth is capped at
three whatever the config says, bots and concurrent starts are refused, the daily limit holds,
and for random referral graphs and order sequences no cycle forms, commission never exceeds
its configured share of paid revenue, and the ledger reconciles."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from models.ledger import ACCOUNT_MEMBER_COMMISSION_PENDING, LedgerEntry, LedgerTransaction
from models.referral import Referral
from services.ledger import AccountRef, balance, reconcile
from services.member import UserInfo, record_member
from services.order import mark_paid_offline, place_order, refund_order
from services.product import create_product
from services.referral import (
    TX_REFERRAL_COMMISSION,
    ReferralRules,
    attribute,
    member_code,
    order_paid,
)
from tests.conftest import make_settings
from tests.test_perks import retrying

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CHAT = -100123


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


def test_a_depth_of_five_is_capped_at_three() -> None:
    settings = make_settings(referral_depth=5, referral_commission_bps=[500, 400, 300, 200, 100])
    assert settings.referral_depth == 3
    assert settings.referral_commission_bps == [500, 400, 300]
    assert settings.referral_rates == (500, 400, 300)
    assert make_settings().referral_rates == (300, 100)  # the default: two levels


async def join(session: AsyncSession, member_id: int, code: str, rules: ReferralRules) -> str:
    """A newcomer's first update is /start <code>; returns the refusal or 'ok'."""
    view = await record_member(
        session, user=UserInfo(member_id, f"m{member_id}"), default_locale="en", started=True
    )
    outcome = await attribute(
        session,
        member_id=member_id,
        code=code,
        is_bot=False,
        first_seen=view.first_seen,
        now=NOW,
        rules=rules,
    )
    return outcome.refused or "ok"


async def test_a_depth_of_five_pays_three_levels_and_no_more(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a chain 1 <- 2 <- 3 <- 4 <- 5 and rates for five levels, capped by the settings
    settings = make_settings(referral_depth=5, referral_commission_bps=[500, 400, 300, 200, 100])
    rules = ReferralRules(rates=settings.referral_rates, burst_count=100)
    async with sessions() as session, session.begin():
        await record_member(session, user=UserInfo(1, "m1"), default_locale="en")
        for member in range(2, 6):
            code = await member_code(session, member - 1)
            assert await join(session, member, code, rules) == "ok"
        product = await create_product(
            session, title="Tea", price=10_000, currency="CNY", created_by=1
        )
        order = await place_order(
            session, member_id=5, chat_id=CHAT, product_id=product.id, quantity=1, max_total=10**9
        )
        await mark_paid_offline(session, order_id=order.id, actor_id=1)
        outcome = await order_paid(session, order_id=order.id, now=NOW, rules=rules)
    # then three levels earn and the fourth does not
    assert outcome.commission == ((4, 500), (3, 400), (2, 300))
    async with sessions() as session:
        pending = [
            await balance(session, AccountRef(ACCOUNT_MEMBER_COMMISSION_PENDING, m), "CNY")
            for m in (4, 3, 2, 1)
        ]
    assert pending == [500, 400, 300, 0]


async def test_bots_and_concurrent_starts_are_attributed_at_most_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    rules = ReferralRules()
    async with sessions() as session, session.begin():
        await record_member(session, user=UserInfo(1, "m1"), default_locale="en")
        await record_member(session, user=UserInfo(2, "m2"), default_locale="en")
        first, second = await member_code(session, 1), await member_code(session, 2)
        bot = await attribute(
            session, member_id=9, code=first, is_bot=True, first_seen=True, now=NOW, rules=rules
        )
    assert bot.refused == "bot"

    # when one newcomer's two /start updates race through two codes
    async def start(code: str) -> str:
        async def work(session: AsyncSession) -> str:
            await record_member(session, user=UserInfo(7, "m7"), default_locale="en")
            outcome = await attribute(
                session, member_id=7, code=code, is_bot=False, first_seen=True, now=NOW, rules=rules
            )
            return outcome.refused or "ok"

        return await retrying(sessions, work)

    outcomes = await asyncio.gather(start(first), start(second))
    # then exactly one referral exists
    assert sorted(outcomes) == ["already_referred", "ok"]
    async with sessions() as session:
        assert (await session.execute(select(func.count()).select_from(Referral))).scalar_one() == 1


async def test_the_daily_limit_of_rewarded_referrals_holds(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a referrer limited to 2 rewarded referrals a day, and 3 friends who pay
    rules = ReferralRules(daily_limit=2, reward_points=100, burst_count=100)
    async with sessions() as session, session.begin():
        await record_member(session, user=UserInfo(1, "m1"), default_locale="en")
        code = await member_code(session, 1)
        product = await create_product(
            session, title="Tea", price=1_000, currency="CNY", created_by=1
        )
        for friend in (2, 3, 4):
            assert await join(session, friend, code, rules) == "ok"
            order = await place_order(
                session, member_id=friend, chat_id=CHAT, product_id=product.id, quantity=1,
                max_total=10**9,
            )  # fmt: skip
            await mark_paid_offline(session, order_id=order.id, actor_id=1)
            await order_paid(session, order_id=order.id, now=NOW, rules=rules)
    async with sessions() as session:
        statuses = sorted((await session.execute(select(Referral.status))).scalars().all())
        points = await balance(session, AccountRef("member_points", 1), "PTS")
    assert statuses == ["qualified", "rewarded", "rewarded"]
    assert points == 200


_EXAMPLES = itertools.count()


@hypothesis_settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    parents=st.lists(st.integers(min_value=0, max_value=30), min_size=2, max_size=8),
    orders=st.lists(
        st.tuples(st.integers(min_value=0, max_value=7), st.integers(1, 50_000), st.booleans()),
        min_size=1,
        max_size=10,
    ),
    rates=st.lists(st.integers(min_value=0, max_value=2_000), min_size=0, max_size=5),
    tries=st.lists(st.tuples(st.integers(0, 7), st.integers(0, 7)), max_size=6),
)
async def test_random_graphs_never_cycle_nor_overpay_and_the_ledger_reconciles(
    sessions: async_sessionmaker[AsyncSession],
    parents: list[int],
    orders: list[tuple[int, int, bool]],
    rates: list[int],
    tries: list[tuple[int, int]],
) -> None:
    # given members 0..n-1 of this example, each new member i trying to join through the code
    # of an earlier one (parents[i] mod i), then random late attempts between any two of them
    base = 100_000 * (next(_EXAMPLES) + 1)
    members = [base + i for i in range(len(parents))]
    rules = ReferralRules(rates=tuple(rates[:3]), burst_count=1_000)
    async with sessions() as session, session.begin():
        await record_member(session, user=UserInfo(members[0], "root"), default_locale="en")
        for i in range(1, len(members)):
            code = await member_code(session, members[parents[i] % i])
            await join(session, members[i], code, rules)
        for who, whose in tries:
            if who < len(members) and whose < len(members):
                code = await member_code(session, members[whose])
                assert await join(session, members[who], code, rules) != "ok"
        product = await create_product(
            session, title="Tea", price=1, currency="CNY", created_by=members[0]
        )
    # when members order, pay, and some get refunded
    paid_revenue = 0
    order_ids = []
    for buyer, amount, refund in orders:
        async with sessions() as session, session.begin():
            member = members[buyer % len(members)]
            order = await place_order(
                session, member_id=member, chat_id=CHAT, product_id=product.id, quantity=amount,
                max_total=10**9,
            )  # fmt: skip
            await mark_paid_offline(session, order_id=order.id, actor_id=member)
            await order_paid(session, order_id=order.id, now=NOW, rules=rules)
            if refund:
                await refund_order(session, order_id=order.id, actor_id=members[0])
            else:
                paid_revenue += amount
            order_ids.append(order.id)
    async with sessions() as session:
        # then following referrers from anyone ends without meeting them again
        links = dict(
            (
                await session.execute(
                    select(Referral.invitee_id, Referral.referrer_id).where(
                        Referral.invitee_id.in_(members)  # type: ignore[attr-defined]
                    )
                )
            ).all()
        )
        for start in members:
            seen, current = {start}, links.get(start)
            while current is not None:
                assert current not in seen, f"cycle through {current}"
                seen.add(current)
                current = links.get(current)
        # and commission net of reversals never exceeds the configured share of paid revenue
        commission = (
            await session.execute(
                select(func.coalesce(func.sum(LedgerEntry.amount), 0))
                .join(LedgerTransaction, LedgerTransaction.id == LedgerEntry.transaction_id)  # type: ignore[arg-type]
                .where(
                    LedgerTransaction.order_id.in_(order_ids),  # type: ignore[union-attr]
                    LedgerEntry.amount > 0,  # type: ignore[arg-type]
                    LedgerTransaction.kind == TX_REFERRAL_COMMISSION,
                )
            )
        ).scalar_one()
        pending = sum(
            [
                await balance(session, AccountRef(ACCOUNT_MEMBER_COMMISSION_PENDING, m), "CNY")
                for m in members
            ]
        )
        assert pending >= 0
        assert pending <= paid_revenue * sum(rules.rates) // 10_000
        assert (
            int(commission) <= sum(amount for _b, amount, _r in orders) * sum(rules.rates) // 10_000
        )
        report = await reconcile(session)
        assert report.ok, "\n".join(report.lines())
