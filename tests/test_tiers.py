"""Membership tiers: the ladder must climb in spend, members read it in their language, staff
change it with /tier_set, a VIP window admits a tier and above, and tiers reached by points."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from services.tiers import DEFAULT_TIERS, TierError, save_tier
from tests.conftest import LEE, MIA, SAM, TEA, Harness, make_settings
from tests.test_loyalty import make_staff


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


async def test_tiers_must_climb_in_spend(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session, session.begin():
        with pytest.raises(TierError) as refused:
            await save_tier(session, replace(DEFAULT_TIERS[2], min_spend=10))
        assert refused.value.reason == "not_ascending"
        with pytest.raises(TierError) as refused:
            await save_tier(session, replace(DEFAULT_TIERS[0], min_spend=5))
        assert refused.value.reason == "bad_spend"
        saved = await save_tier(session, replace(DEFAULT_TIERS[1], min_spend=60_000))
        assert [t.min_spend for t in saved] == [0, 60_000, 200_000, 1_000_000]


async def test_tiers_are_shown_translated_and_bad_tier_changes_are_refused(
    harness: Harness,
) -> None:
    await make_staff(harness)
    tiers = (await harness.send(LEE, LEE, "/tiers"))[0]
    # Lee reads Simplified Chinese: the default tiers' names are translated
    assert tiers.splitlines()[:3] == ["会员等级", "", "0. 普通会员：12 个月内消费满 ¥0.00"]
    assert "2. 黄金会员：12 个月内消费满 ¥2,000.00" in tiers
    assert await harness.send(SAM, SAM, "/tier_set 2 spend=10") == [
        "Each tier must need more spend than the tier below it."
    ]
    assert await harness.send(SAM, SAM, "/tier_set 9 name=Jade") == [
        "Tiers are numbered from 0 up, without gaps, at most 7."
    ]
    assert await harness.send(SAM, SAM, "/tier_set 1 multiplier=20") == [
        "The points multiplier must be from 1 to 10, like 1.5."
    ]
    assert await harness.send(SAM, SAM, "/tier_set 1 colour=red") == [
        "Send /tier_set RANK name=Gold spend=2000 discount=5 multiplier=1.5 birthday=200 vip=yes "
        "double=yes (any of them)."
    ]
    saved = await harness.send(SAM, SAM, "/tier_set 4 name=Black_Card spend=50000 vip=yes")
    assert "4. Black Card: from CN¥50,000.00 spent in 12 months" in saved[1]
    assert await harness.send(MIA, MIA, "/tier_set 1 spend=1") == [
        "Sorry, only brand staff can do that."
    ]


async def test_a_vip_window_admits_only_the_named_tier_and_above_until_it_ends(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/tier_set 1 spend=50")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 60.00 CNY | stock 20")
    await harness.send(MIA, MIA, "/start")
    await harness.send(LEE, LEE, "/start")
    # Mia becomes Silver with a first order
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    harness.clock.now = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    assert await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=5 vip=2h:nobody") == [
        "Write the VIP window as vip=2h for the VIP tiers, vip=2h:gold for Gold and above "
        "(see /tiers), or vip=2h:vip / vip=2h:core for the members of the VIP or core groups."
    ]
    assert await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=5 vip=30h:silver") == [
        "The VIP window must end before the deadline."
    ]
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=5 vip=2h:silver")
    card = harness.emulator.last_bot_message(TEA)
    assert "👑 VIP early access until 11-21 06:00" in card.text
    # Lee (a Member) must wait; Mia (Silver) joins at once
    refusal = await harness.press(LEE, TEA, card.message_id, index=0)
    assert refusal == "06:00 前仅限 VIP 会员优先参团，之后所有人都可参加。用 /me 查看你的等级。"
    assert await harness.press(MIA, TEA, card.message_id, index=0) == "You are #1, quantity 1."
    # when the window ends, everyone may join
    harness.clock.advance(hours=2)
    assert await harness.press(LEE, TEA, card.message_id, index=0) == "你是第 2 位，数量 1。"


async def test_tiers_can_be_reached_by_points_earned_instead(harness: Harness) -> None:
    harness.runtime.settings.tier_basis = "points"
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(MIA, MIA, "/start")
    saved = await harness.send(SAM, SAM, "/tier_set 1 spend=12")
    assert "1. Silver: from 12 points earned in 12 months" in saved[1]
    await harness.send(MIA, TEA, "/checkin")
    me = (await harness.send(MIA, MIA, "/me"))[0]
    assert "Earn 12 points more to reach Silver." in me  # nothing recomputed yet
    await harness.send(MIA, MIA, "/donate 5")  # giving points away does not undo earning them
    harness.clock.advance(days=1)
    await harness.send(MIA, TEA, "/checkin")
    harness.clock.advance(days=1)
    await harness.send(MIA, TEA, "/checkin")  # 15 earned in all
    await harness.runtime.care.run()
    me = (await harness.send(MIA, MIA, "/me"))[0]
    assert "Tier: Silver" in me and "Points earned in the last 12 months: 15 points" in me
