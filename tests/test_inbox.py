"""The webhook inbox with real worker processes: an update a worker acknowledged and then died
on is handled by the next worker's sweep, exactly once."""

from __future__ import annotations

import asyncio
import signal

import aiohttp
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tests.conftest import MIA
from tests.net import eventually
from tests.processes import START_LIMIT, StartBot, free_port, healthy, inbox_drained
from tgemu import Emulator
from tgemu.core import TIMEOUT

SECRET = "s3cret"


async def start_worker(
    bot_process: StartBot, emulator: Emulator
) -> tuple[asyncio.subprocess.Process, str]:
    """A webhook worker whose inbox leases are short; returns it once Telegram posts to it."""
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    worker = await bot_process(
        "run",
        "--webhook",
        WEBHOOK_URL=url,
        WEBHOOK_SECRET=SECRET,
        WEBHOOK_PORT=str(port),
        RUN_SCHEDULER="false",
        WEBHOOK_LEASE_SECONDS="2",
        WEBHOOK_SWEEP_SECONDS="0.5",
    )
    base = f"http://127.0.0.1:{port}"
    await healthy(base)
    await eventually(
        lambda: (emulator.webhook or {}).get("url") == url,
        limit=START_LIMIT,
        what="the worker set its webhook",
    )
    return worker, base


async def rows(database_url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            return [tuple(row) for row in await connection.execute(text(query))]
    finally:
        await engine.dispose()


async def metric(base: str, name: str, **labels: str) -> float:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
        body = await response.text()
    for family in text_string_to_metric_families(body):
        for sample in family.samples:
            if sample.name == name and all(sample.labels.get(k) == v for k, v in labels.items()):
                return float(sample.value)
    return 0.0


async def test_an_update_acknowledged_by_a_worker_killed_before_handling_it_is_handled_once(
    emulator: Emulator, bot_process: StartBot, database_url: str
) -> None:
    # given a worker, and Telegram slow to take the greeting (the send hangs unanswered)
    first, _base = await start_worker(bot_process, emulator)
    emulator.inject_fault("sendMessage", status=TIMEOUT)
    # when Mia's /start is delivered, the worker acknowledges it and starts handling it
    update = emulator.send_message(MIA, MIA, "/start")
    assert await emulator.wait_webhook_delivered(update["update_id"], timeout=60) == 200
    await eventually(
        lambda: ("sendMessage", TIMEOUT) in emulator.faults_served,
        limit=60,
        what="the worker tried to greet",
    )
    # and is killed outright before it could finish
    first.send_signal(signal.SIGKILL)
    await first.wait()
    # then the update's work committed before the greeting was sent (no network call
    # inside a transaction), and the acknowledged update still waits in the inbox
    assert emulator.bot_messages(MIA) == []
    assert await rows(database_url, "SELECT update_id FROM webhook_inbox") == [
        (update["update_id"],)
    ]
    assert await rows(database_url, "SELECT update_id FROM processed_update") == [
        (update["update_id"],)
    ]
    assert await rows(database_url, f"SELECT id FROM member WHERE id = {MIA}") == [(MIA,)]
    # when another worker starts, its sweep takes the update over once the lease ran out
    _second, base = await start_worker(bot_process, emulator)
    await inbox_drained(database_url)
    # then it finds the update claimed and does nothing twice: the reply that was cut short
    # is lost (replies are sent once, after commit), the committed work stands
    assert [m for m in emulator.bot_messages(MIA) if m.text.startswith("Hi Mia")] == []
    assert await rows(database_url, "SELECT update_id FROM processed_update") == [
        (update["update_id"],)
    ]
    assert await metric(base, "bot_updates_total", type="message", outcome="duplicate") == 1
    assert await metric(base, "bot_webhook_inbox_depth") == 0
