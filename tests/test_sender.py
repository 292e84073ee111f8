"""The paced sender: Telegram's limits become waits, so the emulator never answers 429."""

from __future__ import annotations

import asyncio
import time

from bot.app import build_runtime, prepare
from bot.config import Settings
from bot.sender import Pace, PaceLimits
from tests.conftest import MIA, TEA, Harness
from tgemu import EMULATOR_TOKEN, Emulator


def test_the_pace_books_each_window() -> None:
    now = [100.0]
    limits = PaceLimits(per_second=3, private_gap=1.0, group_per_minute=2, slack=0.05)
    pace = Pace(limits, clock=lambda: now[0])
    # a private chat: one message a second (and the slack that absorbs Telegram's jitter)
    assert pace._wait(MIA, now[0]) == 0
    asyncio.run(pace.acquire(MIA))
    assert abs(pace._wait(MIA, now[0]) - 1.05) < 1e-9
    now[0] += 0.4
    assert abs(pace._wait(MIA, now[0]) - 0.65) < 1e-9
    # a group: two a minute
    asyncio.run(pace.acquire(TEA))
    asyncio.run(pace.acquire(TEA))
    assert abs(pace._wait(TEA, now[0]) - 60.05) < 1e-9
    # overall: three a second, whatever the chat
    assert abs(pace._wait(12345, now[0]) - 0.65) < 1e-9
    now[0] += 1.0
    assert pace._wait(12345, now[0]) == 0


async def test_a_burst_to_one_chat_waits_instead_of_getting_429(
    emulator: Emulator, settings: Settings
) -> None:
    # given Telegram's limits are enforced and the bot paces its messages
    emulator.enforce_rate_limits = True
    runtime = build_runtime(settings.model_copy(update={"pace_messages": True}), EMULATOR_TOKEN)
    await prepare(runtime, migrate=False)
    harness = Harness(emulator=emulator, runtime=runtime)
    try:
        await harness.send(MIA, MIA, "/start")
        started = time.monotonic()
        # when three messages go to one private chat at once
        await asyncio.gather(*(runtime.bot.send_message(MIA, f"note {i}") for i in range(3)))
        elapsed = time.monotonic() - started
    finally:
        await runtime.close()
    # then all arrive, about a second apart, and Telegram never had to say 429
    texts = [m.text for m in emulator.bot_messages(MIA)][-3:]
    assert sorted(texts) == ["note 0", "note 1", "note 2"]
    assert runtime.paced.retry_after_seen == 0
    assert elapsed >= 1.9


async def test_a_429_is_waited_out_and_retried(harness: Harness) -> None:
    harness.emulator.inject_fault("sendMessage", status=429, retry_after=1)
    replies = await harness.send(MIA, MIA, "/cancel")
    assert replies == ["There is nothing to cancel."]
    assert harness.runtime.paced.retry_after_seen == 1
