"""Real processes: a webhook worker and the scheduler started as an operator would, stopped by
SIGTERM."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import Any

import aiohttp
import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col

from bot.leader import LEADER_KEY
from bot.webhook import SECRET_HEADER
from models.idempotency import ProcessedUpdate
from tests.conftest import MIA
from tests.processes import START_LIMIT, STOP_LIMIT, StartBot, free_port, healthy, inbox_drained
from tgemu import EMULATOR_TOKEN, Emulator


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


SECRET = "s3cret"


async def emulator_webhook_set(emulator: Emulator, url: str | None) -> None:
    """Wait until a worker registered `url` as its webhook (None: any url)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_LIMIT
    while emulator.webhook is None or url not in (None, emulator.webhook.get("url")):
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


async def test_sigterm_during_a_stream_of_updates_loses_none_and_handles_none_twice(
    emulator: Emulator, bot_process: StartBot, database_url: str
) -> None:
    # given two webhook workers, and Telegram a little slow to take each greeting, so that
    # updates are still being handled when the first worker is told to stop
    ports = [free_port(), free_port()]
    first, _second = [
        await bot_process(
            "run",
            "--webhook",
            WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_PORT=str(port),
            RUN_SCHEDULER="false",
            THROTTLE_LIMIT="100000",
            WEBHOOK_SWEEP_SECONDS="0.5",
        )
        for port in ports
    ]
    for port in ports:
        await healthy(f"http://127.0.0.1:{port}")
    await emulator_webhook_set(emulator, None)
    people = [(4001 + n, f"Guest{n}") for n in range(150)]
    for user_id, name in people:
        emulator.add_user(user_id, name, language_code="en")
    emulator.inject_fault("sendMessage", status=200, delay=0.1, count=len(people))
    hooks = [f"http://127.0.0.1:{port}/hook" for port in ports]
    acknowledged: list[int] = []
    refused: list[dict[str, Any]] = []
    async with aiohttp.ClientSession() as http:
        # Telegram delivers through the test, not to the last webhook set
        async with http.post(f"{emulator.base_url}/bot{EMULATOR_TOKEN}/deleteWebhook") as r:
            assert r.status == 200
        # when Telegram streams members' /start to the first worker, and it is sent SIGTERM
        # after ten of them; Telegram goes on sending until it has been refused a few times
        for user_id, _name in people:
            update = emulator.send_message(user_id, user_id, "/start")
            status = await post(http, hooks[0], update)
            if status == 200:
                acknowledged.append(update["update_id"])
            else:
                refused.append(update)
            if len(acknowledged) == 10 and not refused:
                first.send_signal(signal.SIGTERM)
            if len(refused) == 3:
                break
        assert len(refused) == 3, "the worker never stopped taking updates"
        # then it finishes what it took and exits cleanly
        code, log = await asyncio.wait_for(ended(first), STOP_LIMIT)
        assert code == 0, log
        assert "Traceback" not in log
        # and what it refused, Telegram delivers to the other worker
        for update in refused:
            assert await post(http, hooks[1], update) == 200
    await inbox_drained(database_url)
    # then every member who wrote was greeted exactly once, and each update claimed once
    sent = acknowledged + [update["update_id"] for update in refused]
    for user_id, name in people[: len(sent)]:
        greetings = [m for m in emulator.bot_messages(user_id) if m.text.startswith(f"Hi {name}!")]
        assert len(greetings) == 1, name
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            claimed = (await connection.execute(select(col(ProcessedUpdate.update_id)))).scalars()
            assert sorted(claimed) == sorted(sent)
    finally:
        await engine.dispose()


async def post(http: aiohttp.ClientSession, hook: str, update: dict[str, Any]) -> int:
    """Telegram's delivery of one update: the HTTP status, 0 when the worker is not there."""
    try:
        async with http.post(hook, json=update, headers={SECRET_HEADER: SECRET}) as response:
            return response.status
    except aiohttp.ClientError:
        return 0


async def ended(process: asyncio.subprocess.Process) -> tuple[int, str]:
    _out, err = await process.communicate()
    assert process.returncode is not None
    return process.returncode, err.decode()
