"""Two webhook worker processes on one database and one Redis: every update handled once
however often it is delivered, and when the scheduler's leader dies the other takes over."""

from __future__ import annotations

import asyncio
import os
import signal

import aiohttp
import pytest
from redis.asyncio import Redis

from bot.leader import LEADER_KEY
from bot.webhook import SECRET_HEADER
from tests.processes import START_LIMIT, StartBot, free_port, healthy, inbox_drained
from tgemu import Emulator

pytestmark = pytest.mark.skipif(
    not (os.environ.get("TEST_DATABASE_URL") and os.environ.get("TEST_REDIS_URL")),
    reason="needs TEST_DATABASE_URL and TEST_REDIS_URL (the production stores)",
)
SECRET = "s3cret"
PEOPLE = [(2001 + n, f"Member{n}") for n in range(12)]
TTL = 2.0


async def test_two_workers_handle_each_update_once_and_a_dead_leader_is_replaced(
    emulator: Emulator, bot_process: StartBot, redis_url: str | None, database_url: str
) -> None:
    assert redis_url
    for user_id, name in PEOPLE:
        emulator.add_user(user_id, name, language_code="en")
    # given two workers, each campaigning for the scheduler
    ports = [free_port(), free_port()]
    workers = [
        await bot_process(
            "run",
            "--webhook",
            WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_PORT=str(port),
            LEADER_TTL_SECONDS=str(TTL),
        )
        for port in ports
    ]
    for port in ports:
        await healthy(f"http://127.0.0.1:{port}")
    # when Telegram delivers every member's /start to one worker and a copy reaches the other
    updates = [emulator.send_message(user_id, user_id, "/start") for user_id, _name in PEOPLE]
    statuses: dict[int, list[int]] = {}
    async with aiohttp.ClientSession() as http:

        async def copy(update: dict[str, object], port: int) -> None:
            async with http.post(
                f"http://127.0.0.1:{port}/hook", json=update, headers={SECRET_HEADER: SECRET}
            ) as response:
                statuses.setdefault(int(str(update["update_id"])), []).append(response.status)

        await asyncio.gather(*(copy(u, port) for u in updates for port in ports))
    for update in updates:
        delivered = await emulator.wait_webhook_delivered(update["update_id"], timeout=60)
        statuses[update["update_id"]].append(delivered)
    await inbox_drained(database_url)
    # then each was handled once: every member greeted exactly once
    for user_id, name in PEOPLE:
        greetings = [m for m in emulator.bot_messages(user_id) if m.text.startswith(f"Hi {name}")]
        assert len(greetings) == 1, name
    # and every delivery was acknowledged, or refused for a retry while another worker had it
    assert all(set(codes) <= {200, 503} and 200 in codes for codes in statuses.values())

    # when the worker that runs the scheduler is killed outright
    client = Redis.from_url(redis_url)
    try:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + START_LIMIT
        while (token := await client.get(LEADER_KEY)) is None:
            assert loop.time() < deadline, "no worker took the scheduler lock"
            await asyncio.sleep(0.1)
        pids = {worker.pid: worker for worker in workers}
        leader = pids[int(token.decode().split("-")[0])]
        (survivor,) = [worker for worker in workers if worker is not leader]
        leader.send_signal(signal.SIGKILL)
        await leader.wait()
        # then the other takes the lock once it expired (about 4/3 of the ttl; bounded wait)
        deadline = loop.time() + 30 * TTL
        while True:
            token = await client.get(LEADER_KEY)
            if token is not None and int(token.decode().split("-")[0]) == survivor.pid:
                break
            assert loop.time() < deadline, "the surviving worker never took over"
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
