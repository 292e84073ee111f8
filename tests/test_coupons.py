"""Coupons: staff issue and grant them, members use them at checkout once, and a coupon
raced by concurrent checkouts is used by exactly one order (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from models.coupons import COUPON_PERCENT, CouponTemplate, MemberCoupon
from models.order import Order
from services.coupons import CouponError, apply_coupon, create_template, grant
from services.member import UserInfo, record_member
from services.order import cancel_order, place_order
from services.product import create_product
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness, make_settings
from tests.test_points import retrying

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)


async def make_staff(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def test_staff_issue_a_coupon_and_a_member_uses_it_once_at_checkout(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(MIA, MIA, "/start")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 10")
    # bad templates are refused with what to fix
    assert await harness.send(SAM, SAM, "/coupon_new W! 10%") == [
        "A coupon code is 3-32 letters, digits, - or _, like WELCOME10."
    ]
    assert await harness.send(SAM, SAM, "/coupon_new WELCOME 150%") == [
        "The coupon must take off more than zero, and a percentage at most 100%."
    ]
    usage = await harness.send(SAM, SAM, "/coupon_new WELCOME 10% colour=red")
    assert usage[0].startswith("Send /coupon_new CODE 10.00 CNY or /coupon_new CODE 10%")
    assert await harness.send(MIA, MIA, "/coupon_new WELCOME 10%") == [
        "Sorry, only brand staff can do that."
    ]
    created = await harness.send(SAM, SAM, "/coupon_new welcome10 10% min=50 days=30")
    assert created[0].startswith("Coupon WELCOME10 created: 10% off, orders from CN¥50.00, until ")
    assert await harness.send(SAM, SAM, "/coupon_new WELCOME10 5.00") == [
        "There is already a coupon with that code."
    ]
    # staff give it to Mia, who is told; the limit of one per member holds
    harness.new_bot_messages(MIA)
    assert await harness.send(SAM, SAM, "/coupon_grant WELCOME10 @mia") == [
        "Mia received coupon WELCOME10."
    ]
    told = [m.text for m in harness.new_bot_messages(MIA)]
    assert len(told) == 1 and told[0].startswith("You received coupon WELCOME10: 10% off")
    assert await harness.send(SAM, SAM, "/coupon_grant WELCOME10 @mia") == [
        "That member already holds as many of these coupons as allowed."
    ]
    # a member the bot has never met, or a code that does not exist, is named back
    unknown = (
        "I don't know that user yet. Ask them to send /start to me (or to write in one of our "
        "groups), then try again."
    )
    assert await harness.send(SAM, SAM, "/coupon_grant WELCOME10 @nobody") == [unknown]
    assert await harness.send(SAM, SAM, "/coupon_grant NOPE @mia") == [
        "There is no coupon with that code."
    ]
    # an order below the minimum is not offered the coupon
    replies = await harness.send(MIA, TEA, "/buy 1")
    assert harness.emulator.last_bot_message(TEA).button_texts == []
    assert await harness.send(MIA, MIA, "/usecoupon WELCOME10 1") == [
        "That coupon needs an order of at least CN¥50.00."
    ]
    # the order of two is: the reply carries the coupon's button
    replies = await harness.send(MIA, TEA, "/buy 1 2")
    assert [text.splitlines()[0] for text in replies] == [
        "Order #2 reserved: Oolong tea ×2, CN¥79.80. Pay your leader at pickup."
    ]
    offer = harness.emulator.last_bot_message(TEA)
    assert offer.button_texts == ["🎟 Use WELCOME10 (−CN¥7.98)"]
    # someone else tapping it is refused; Mia's tap applies it
    assert await harness.press(KAI, TEA, offer.message_id, index=0) == (
        "That is not one of your orders."
    )
    assert await harness.press(MIA, TEA, offer.message_id, index=0) == (
        "Coupon used on order #2: −CN¥7.98. New total: CN¥71.82."
    )
    assert await harness.press(MIA, TEA, offer.message_id, index=0) == (
        "That order already uses a coupon."
    )
    async with harness.session() as session:
        order = await session.get(Order, 2)
        coupon = (await session.execute(select(MemberCoupon))).scalars().one()
    assert order is not None and (order.discount, order.total) == (798, 7182)
    assert (coupon.status, coupon.order_id) == ("used", 2)
    # the leader collects the discounted total; points follow what was paid
    await harness.send(LEE, TEA, "/paid @mia")
    async with harness.session() as session:
        paid = await session.get(Order, 2)
    assert paid is not None and paid.paid_amount == 7182
    assert "Points: 110" in (await harness.send(MIA, MIA, "/me"))[0]  # 39 + 71
    assert (await harness.send(MIA, MIA, "/coupons"))[0].splitlines()[1] == (
        "You have no coupons right now."
    )


async def test_a_tier_discount_applies_at_checkout(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/tier_set 0 discount=5")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 10")
    replies = await harness.send(KAI, COFFEE, "/buy 1 2")
    assert [text.splitlines()[0] for text in replies] == [
        "Order #1 reserved: Oolong tea ×2, CN¥75.81. Pay your leader at pickup. "
        "Your tier discount: −CN¥3.99."
    ]


async def test_a_reward_can_be_a_coupon(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/coupon_new TEA5 5.00 CNY")
    assert await harness.send(SAM, SAM, "/reward_add Five off | 5 | 10 | coupon NOPE") == [
        "There is no coupon with that code."
    ]
    await harness.send(SAM, SAM, "/reward_add Five off | 5 | 10 | coupon tea5")
    await harness.send(MIA, TEA, "/checkin")
    await harness.send(MIA, MIA, "/rewards")
    menu = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, menu.message_id, index=0)
    question = harness.emulator.last_bot_message(MIA)
    assert await harness.press(MIA, MIA, question.message_id, index=0) == "Redeemed."
    assert harness.emulator.last_bot_message(MIA).text == (
        "You redeemed Five off for 5 points. Your coupon TEA5 is in /coupons: use it with "
        "/usecoupon TEA5, or with its button when you order. You have 0 points left."
    )
    coupons = (await harness.send(MIA, MIA, "/coupons"))[0]
    assert "🎟 TEA5: CN¥5.00 off" in coupons


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


async def test_one_coupon_raced_by_concurrent_checkouts_is_used_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session, session.begin():
        await record_member(session, user=UserInfo(1, "m1"), default_locale="en")
        product = await create_product(
            session, title="Oolong", price=3990, currency="CNY", stock=None, created_by=1
        )
        orders = [
            await place_order(
                session, member_id=1, chat_id=1, product_id=product.id, quantity=1, max_total=10**7
            )
            for _ in range(8)
        ]
        template = await create_template(
            session,
            code="ONCE",
            kind=COUPON_PERCENT,
            value=1000,
            currency="CNY",
            expires_at=NOW + timedelta(days=1),
            per_member_limit=2,
            created_by=1,
            now=NOW,
        )
        coupon = await grant(session, template_id=template.id, member_id=1, source="t", now=NOW)

    async def checkout(order_id: int) -> str:
        async def work(session: AsyncSession) -> str:
            try:
                await apply_coupon(
                    session, coupon_id=coupon.id, order_id=order_id, member_id=1, now=NOW
                )
            except CouponError as exc:
                return exc.reason
            return "ok"

        return await retrying(sessions, work)

    outcomes = await asyncio.gather(*(checkout(o.id) for o in orders))
    assert outcomes.count("ok") == 1 and set(outcomes) == {"ok", "used"}
    async with sessions() as session:
        discounted = (
            (await session.execute(select(Order).where(Order.discount > 0))).scalars().all()
        )
        assert len(discounted) == 1 and discounted[0].coupon_id == coupon.id
    # cancelling that order gives the coupon back, and another order can then use it
    winner = discounted[0].id
    assert winner is not None
    async with sessions() as session, session.begin():
        await cancel_order(session, order_id=winner, actor_id=1)
    other = next(o.id for o in orders if o.id != winner)
    assert await checkout(other) == "ok"
    # a coupon past its expiry is refused, and nothing changes
    async with sessions() as session, session.begin():
        late = await grant(session, template_id=template.id, member_id=1, source="u", now=NOW)
    unused = next(o.id for o in orders if o.id not in (winner, other))
    async with sessions() as session, session.begin():
        with pytest.raises(CouponError) as refused:
            await apply_coupon(
                session,
                coupon_id=late.id,
                order_id=unused,
                member_id=1,
                now=NOW + timedelta(days=2),
            )
    assert refused.value.reason == "expired"


async def test_a_fractional_percentage_is_kept_exactly_not_as_a_binary_float_rounds_it(
    harness: Harness,
) -> None:
    await make_staff(harness)
    # 0.285 * 100 is 28.499999999999996 in binary floating point: a float would store 28
    created = await harness.send(SAM, SAM, "/coupon_new EXACT 0.285%")
    assert created[0].startswith("Coupon EXACT created: ")
    async with harness.session() as session:
        template = (
            await session.execute(select(CouponTemplate).where(CouponTemplate.code == "EXACT"))
        ).scalar_one()
    assert (template.kind, template.value) == (COUPON_PERCENT, 29)
