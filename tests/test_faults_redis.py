"""Faults: Redis (FSM storage, throttling) goes away in the middle of a group-buy and comes
back. Joins keep working on the in-memory fallback, nothing is lost, and Redis is used again
once it returns. Needs a real Redis: deselected (and reported) without TEST_REDIS_URL."""

from __future__ import annotations

import logging

import pytest

from bot.app import build_runtime, prepare
from bot.config import Settings
from tests.conftest import COFFEE, TEA, FakeClock, Harness
from tests.faults import groupbuy_status, orders_by_member
from tests.net import TcpProxy
from tests.test_groupbuy_chat import open_drop
from tgemu import EMULATOR_TOKEN, Emulator

MEMBERS = [5000 + i for i in range(9)]  # the drop's stock is 10


@pytest.mark.needs_redis
async def test_joins_keep_working_while_redis_is_away_and_it_is_used_again_when_back(
    emulator: Emulator,
    settings: Settings,
    redis_proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert settings.redis_url
    proxied = settings.model_copy(update={"redis_url": redis_proxy.url(settings.redis_url)})
    clock = FakeClock()
    runtime = build_runtime(proxied, EMULATOR_TOKEN, clock=clock)
    await prepare(runtime, migrate=False)
    harness = Harness(emulator=emulator, runtime=runtime, clock=clock)
    try:
        tea_card, coffee_card = await open_drop(harness)
        for i, uid in enumerate(MEMBERS):
            emulator.add_user(uid, f"Member{uid}", language_code="en")
            emulator.set_member_status(TEA if i % 2 == 0 else COFFEE, uid, "member")
            assert (await harness.send(uid, uid, "/start"))[0].startswith(f"Hi Member{uid}")

        async def join(uid: int, i: int) -> str | None:
            chat, card = (TEA, tea_card) if i % 2 == 0 else (COFFEE, coffee_card)
            return await harness.press(uid, chat, card, index=0)

        # given the first members join with Redis keeping the throttle counters
        for i, uid in enumerate(MEMBERS[:3]):
            assert (await join(uid, i) or "").startswith(f"You are #{i + 1}, quantity 1.")
        assert runtime.redis is not None and await runtime.redis.dbsize() >= 1
        # when Redis goes away mid-run
        await redis_proxy.cut()
        with caplog.at_level(logging.WARNING):
            # then the next members still join, and the bot says it runs degraded
            for i, uid in enumerate(MEMBERS[3:6], start=3):
                assert (await join(uid, i) or "").startswith(f"You are #{i + 1}, quantity 1.")
            assert await harness.send(MEMBERS[0], MEMBERS[0], "/cancel") == [
                "There is nothing to cancel."
            ]
        assert any("Redis unavailable" in r.getMessage() for r in caplog.records)
        # and when Redis is back, the last members join and Redis is used again
        await redis_proxy.start()
        await runtime.redis.flushdb()
        with caplog.at_level(logging.WARNING):
            for i, uid in enumerate(MEMBERS[6:], start=6):
                assert (await join(uid, i) or "").startswith(f"You are #{i + 1}, quantity 1.")
        assert any("Redis is back" in r.getMessage() for r in caplog.records)
        assert await runtime.redis.dbsize() >= 1
        # and at the deadline every join is an order, once
        clock.advance(hours=24, seconds=1)
        assert await runtime.closer.close_due() == 1
        assert await groupbuy_status(harness, 1) == "formed"
        assert await orders_by_member(harness, 1) == {uid: [1] for uid in MEMBERS}
    finally:
        await runtime.close()
