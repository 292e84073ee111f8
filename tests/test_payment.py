"""Paying an order is one verb: the order settled, its points, the buyer's tier and the referral
reward, in one transaction, with an outcome that says what happened (services.payment)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from models.order import Order
from services.ledger import AccountRef, balance
from services.member import UserInfo, record_member
from services.order import OrderError, place_order
from services.payment import PaymentRules, Reader, pay_order
from services.points import points_balance
from services.product import create_product
from services.referral import ReferralRules, attribute, member_code
from services.tiers import standing
from tests.conftest import make_settings

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
CHAT = -100123
INVITER, BUYER, LEADER = 1, 2, 3
RULES = PaymentRules(
    points_per_unit=1, tier_currency="CNY", referral=ReferralRules(reward_points=200)
)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


async def invited_buyer_with_an_order(session: AsyncSession, price: int) -> int:
    """The buyer joined through the inviter's link and ordered one product; returns the order."""
    await record_member(
        session, user=UserInfo(INVITER, "Ivy"), default_locale="zh_Hans", started=True
    )
    await record_member(session, user=UserInfo(LEADER, "Lee"), default_locale="en")
    buyer = await record_member(
        session, user=UserInfo(BUYER, "Bo"), default_locale="en", started=True
    )
    code = await member_code(session, INVITER)
    joined = await attribute(
        session,
        member_id=BUYER,
        code=code,
        is_bot=False,
        first_seen=buyer.first_seen,
        now=NOW,
        rules=RULES.referral,
    )
    assert joined.refused is None
    product = await create_product(
        session, title="Tea", price=price, currency="CNY", created_by=LEADER
    )
    order = await place_order(
        session, member_id=BUYER, chat_id=CHAT, product_id=product.id, quantity=1, max_total=10**9
    )
    return order.id


async def test_paying_an_order_grants_points_raises_the_tier_and_rewards_the_inviter(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given an invited buyer's order of 600.00 CNY, above Silver's 500.00
    async with sessions() as session, session.begin():
        order_id = await invited_buyer_with_an_order(session, price=60_000)
    # when the leader marks it paid
    async with sessions() as session, session.begin():
        paid = await pay_order(session, order_id=order_id, actor_id=LEADER, rules=RULES, now=NOW)
    # then the outcome says all it did, with whom to tell in which language
    assert paid.order.status == "paid"
    assert paid.points == 600
    assert paid.new_tier is not None and paid.new_tier.code == "silver"
    assert paid.buyer == Reader(BUYER, "en")
    assert paid.referral is not None
    assert (paid.referral.member_id, paid.referral.points, paid.referral.newcomer) == (
        INVITER,
        200,
        False,
    )
    assert paid.referral.reader == Reader(INVITER, "zh_Hans")
    # and the store holds it: the order paid and booked, the points, the tier, the reward
    async with sessions() as session:
        order = await session.get(Order, order_id)
        assert order is not None and (order.status, order.paid_amount) == ("paid", 60_000)
        assert await balance(session, AccountRef("brand_revenue"), "CNY") == 60_000
        assert await points_balance(session, BUYER) == 600
        assert (await standing(session, BUYER)).tier.code == "silver"
        assert await points_balance(session, INVITER) == 200


async def test_an_order_paid_twice_is_refused_and_earns_nothing_more(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given an order of 30.00 CNY paid once (no tier reached)
    async with sessions() as session, session.begin():
        order_id = await invited_buyer_with_an_order(session, price=3_000)
    async with sessions() as session, session.begin():
        paid = await pay_order(session, order_id=order_id, actor_id=LEADER, rules=RULES, now=NOW)
    assert (paid.points, paid.new_tier) == (30, None)
    # when it is marked paid again
    with pytest.raises(OrderError) as refused:
        async with sessions() as session, session.begin():
            await pay_order(session, order_id=order_id, actor_id=LEADER, rules=RULES, now=NOW)
    # then it is refused, and nothing was granted or booked twice
    assert refused.value.reason == "already_paid"
    async with sessions() as session:
        assert await balance(session, AccountRef("brand_revenue"), "CNY") == 3_000
        assert await points_balance(session, BUYER) == 30
        assert await points_balance(session, INVITER) == 200
