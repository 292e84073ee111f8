"""Real processes: a webhook worker and the scheduler started as an operator would, stopped by
SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal

import pytest

from bot.emulator import Emulator
from bot.leader import LEADER_KEY
from tests.conftest import MIA
from tests.processes import START_LIMIT, STOP_LIMIT, StartBot, free_port, healthy, inbox_drained


async def terminate(process: asyncio.subprocess.Process) -> tuple[int, str]:
    """SIGTERM, then the exit code and what it logged (bounded)."""
    process.send_signal(signal.SIGTERM)
    _out, err = await asyncio.wait_for(process.communicate(), STOP_LIMIT)
    assert process.returncode is not None
    return process.returncode, err.decode()


async def test_a_webhook_worker_serves_then_stops_cleanly_on_sigterm(
    emulator: Emulator, bot_process: StartBot, database_url: str
) -> None:
    port = free_port()
    url = f"http://127.0.0.1:{port}/tg/hook"
    worker = await bot_process(
        "run",
        "--webhook",
        WEBHOOK_URL=url,
        WEBHOOK_SECRET="s3cret",
        WEBHOOK_PORT=str(port),
        RUN_SCHEDULER="false",
    )
    await healthy(f"http://127.0.0.1:{port}")
    # the worker registered its webhook: Telegram (the emulator) delivers a member's message
    await emulator_webhook_set(emulator, url)
    update = emulator.send_message(MIA, MIA, "/start")
    assert await emulator.wait_webhook_delivered(update["update_id"], timeout=60) == 200
    await inbox_drained(database_url)
    assert emulator.last_bot_message(MIA).text.startswith("Hi Mia!")
    # when the orchestrator stops it, it finishes and exits cleanly
    code, log = await terminate(worker)
    assert code == 0, log
    assert "stopping: finishing the updates in flight" in log
    assert "Traceback" not in log


async def emulator_webhook_set(emulator: Emulator, url: str) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_LIMIT
    while (emulator.webhook or {}).get("url") != url:
        assert loop.time() < deadline, "the worker never set its webhook"
        await asyncio.sleep(0.1)


@pytest.mark.skipif(
    not os.environ.get("TEST_REDIS_URL"), reason="needs TEST_REDIS_URL (the leader lock)"
)
async def test_the_scheduler_process_leads_and_releases_its_lock_on_sigterm(
    bot_process: StartBot, redis_url: str | None
) -> None:
    from redis.asyncio import Redis

    assert redis_url
    port = free_port()
    scheduler = await bot_process("scheduler", WEBHOOK_PORT=str(port), LEADER_TTL_SECONDS="60")
    await healthy(f"http://127.0.0.1:{port}")
    client = Redis.from_url(redis_url)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_LIMIT
        while not await client.exists(LEADER_KEY):
            assert loop.time() < deadline, "the scheduler never took the lock"
            await asyncio.sleep(0.1)
        # when it is stopped, it gives the lock back at once (not after the 60 s ttl)
        code, log = await terminate(scheduler)
        assert code == 0, log
        assert await client.exists(LEADER_KEY) == 0
    finally:
        await client.aclose()
