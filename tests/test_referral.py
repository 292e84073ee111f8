"""Referral rules at the service level, on SQLite and on PostgreSQL: the depth is capped at
three whatever the config says, bots and concurrent starts are refused, the daily limit holds,
and for random referral graphs and order sequences no cycle forms, commission never exceeds
its configured share of paid revenue, and the ledger reconciles."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

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
    TX_WELCOME_POINTS,
    ReferralRules,
    StatsRow,
    attribute,
    create_campaign,
    member_code,
    order_paid,
    program_stats,
)
from tests.conftest import make_settings
from tests.test_points import retrying

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CHAT = -100123
LEADER = 999_999  # takes the cash (a member never marks their own order paid)


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
        await mark_paid_offline(session, order_id=order.id, actor_id=LEADER)
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
            await mark_paid_offline(session, order_id=order.id, actor_id=LEADER)
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
            await mark_paid_offline(session, order_id=order.id, actor_id=LEADER)
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


async def test_a_burst_of_concurrent_sign_ups_through_one_code_is_held_whole(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a code whose third sign-up within ten minutes makes a burst, and a welcome gift
    rules = ReferralRules(burst_count=3, burst_minutes=10, welcome_points=10)
    async with sessions() as session, session.begin():
        await record_member(session, user=UserInfo(1, "m1"), default_locale="en")
        code = await member_code(session, 1)

    # when eight newcomers start with it at the same moment
    async def start(member_id: int) -> str:
        async def work(session: AsyncSession) -> str:
            return await join(session, member_id, code, rules)

        return await retrying(sessions, work)

    outcomes = await asyncio.gather(*(start(m) for m in range(10, 18)))
    assert outcomes == ["ok"] * 8
    # then all eight wait for staff, and only the two before the burst got the welcome gift:
    # each sign-up counted the ones committed before it (the code's row queues them)
    async with sessions() as session:
        statuses = (await session.execute(select(Referral.status))).scalars().all()
        gifts = (
            await session.execute(
                select(func.count()).where(LedgerTransaction.kind == TX_WELCOME_POINTS)
            )
        ).scalar_one()
    assert sorted(statuses) == ["held"] * 8
    assert gifts == 2


async def test_the_daily_limit_holds_when_friends_pay_at_the_same_moment(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a referrer limited to 2 rewarded referrals a day, and 5 friends with paid orders
    rules = ReferralRules(daily_limit=2, reward_points=100, burst_count=100)
    async with sessions() as session, session.begin():
        await record_member(session, user=UserInfo(1, "m1"), default_locale="en")
        code = await member_code(session, 1)
        product = await create_product(
            session, title="Tea", price=1_000, currency="CNY", created_by=1
        )
        orders = []
        for friend in range(2, 7):
            assert await join(session, friend, code, rules) == "ok"
            order = await place_order(
                session, member_id=friend, chat_id=CHAT, product_id=product.id, quantity=1,
                max_total=10**9,
            )  # fmt: skip
            await mark_paid_offline(session, order_id=order.id, actor_id=LEADER)
            orders.append(order.id)

    # when the five first orders are booked concurrently
    async def paid(order_id: int) -> str:
        async def work(session: AsyncSession) -> str:
            outcome = await order_paid(session, order_id=order_id, now=NOW, rules=rules)
            return str(outcome.reward_points)

        return await retrying(sessions, work)

    rewards = await asyncio.gather(*(paid(o) for o in orders))
    # then exactly two are rewarded, the others qualified without a reward
    assert sorted(rewards) == ["0", "0", "0", "100", "100"]
    async with sessions() as session:
        statuses = sorted((await session.execute(select(Referral.status))).scalars().all())
        points = await balance(session, AccountRef("member_points", 1), "PTS")
    assert statuses == ["qualified", "qualified", "qualified", "rewarded", "rewarded"]
    assert points == 200


async def test_program_figures_on_a_seeded_store_match_the_hand_count(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given, over the week from D: two members and a campaign bringing eight newcomers, some
    # before or after the week, each first order paid in group A or B, one of them refunded
    start = datetime(2026, 11, 10, tzinfo=UTC)
    day = timedelta(days=1)
    rules = ReferralRules(reward_points=100, welcome_points=5, rates=(1_000,), burst_count=100)
    a, b = -1001, -1002
    async with sessions() as session, session.begin():
        for member in (1, 2):
            await record_member(session, user=UserInfo(member, f"m{member}"), default_locale="en")
        r1, r2 = await member_code(session, 1), await member_code(session, 2)
        spring = await create_campaign(
            session, name="Spring", created_by=1, welcome_points=20, reward_points=50
        )
        product = await create_product(
            session, title="Tea", price=100, currency="CNY", created_by=1
        )
    # (newcomer, code, joined, first order: (paid, group, quantity, refunded) or None)
    story = [
        (16, r1, -3, (1, a, 2, False)),  # joined before the week, qualified in it
        (11, r1, 1, (2, a, 1, False)),
        (12, r1, 1, None),
        (13, r2, 3, (3, b, 3, False)),
        (14, spring.code, 2, (4, a, 1, False)),  # the campaign rewards the newcomer: 50
        (15, spring.code, 2, None),
        (17, r2, 8, (8, b, 1, False)),  # after the week: not counted
        (18, r1, 5, (5, a, 1, True)),  # refunded: qualified, but no reward cost, no commission
    ]
    for newcomer, code, joined, order in story:
        async with sessions() as session, session.begin():
            view = await record_member(
                session, user=UserInfo(newcomer, "n"), default_locale="en", started=True
            )
            outcome = await attribute(
                session, member_id=newcomer, code=code, is_bot=False,
                first_seen=view.first_seen, now=start + joined * day, rules=rules,
            )  # fmt: skip
            assert outcome.refused is None
            if order is None:
                continue
            paid, chat, quantity, refunded = order
            placed = await place_order(
                session, member_id=newcomer, chat_id=chat, product_id=product.id,
                quantity=quantity, max_total=10**9,
            )  # fmt: skip
            await mark_paid_offline(session, order_id=placed.id, actor_id=LEADER)
            await order_paid(session, order_id=placed.id, now=start + paid * day, rules=rules)
            if refunded:
                await refund_order(session, order_id=placed.id, actor_id=1)
    # when staff read the week
    async with sessions() as session:
        total, campaigns, groups = await program_stats(session, start=start, end=start + 7 * day)

    # then, counted by hand: invited 11 12 13 14 15 18; qualified 16 11 13 14 18, of which
    # 16 11 13 18 a member brought; referring members 1 and 2; rewards 100 (16) + 100 (11) +
    # 100 (13) + 50 (14) and welcome gifts 5+5+5+20+20+5; commission 10% of 200, 100 and 300
    def figures(row: StatsRow) -> tuple[object, ...]:
        return (
            row.invited, row.qualified, row.member_qualified, row.referrers, row.reward_points,
            row.commission, row.conversion, row.viral_coefficient,
        )  # fmt: skip

    assert figures(total) == (6, 5, 4, 2, 410, {"CNY": 60}, 5 / 6, 2.0)
    assert [(c.label, *figures(c)) for c in campaigns] == [
        ("Spring", 2, 1, 0, 0, 90, {}, 0.5, None)
    ]
    # groups count the first orders placed there: A has 16 11 14 18 (member-brought 16 11 18,
    # all by member 1), B has 13
    assert [(g.key, *figures(g)) for g in groups] == [
        (a, 0, 4, 3, 1, 250, {"CNY": 30}, None, 3.0),
        (b, 0, 1, 1, 1, 100, {"CNY": 30}, None, 1.0),
    ]
