"""What operators watch: /healthz, /readyz, /metrics and the JSON log lines."""

from __future__ import annotations

import io
import json
import logging
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import text
from sqlalchemy.engine import make_url

from bot.app import Runtime, build_runtime, prepare
from bot.care import CARE_JOB
from bot.config import Settings
from bot.logs import JsonFormatter
from bot.migrate import alembic_config, head_revisions
from bot.webhook import create_probe_app
from tests.conftest import MIA, TEA, TEST_DATABASE_URL, TEST_REDIS_URL, Harness
from tests.net import TcpProxy, eventually, sample, served
from tests.processes import StartBot, free_port, healthy
from tests.test_groupbuy_chat import open_drop
from tgemu import EMULATOR_TOKEN, Emulator


async def get_json(url: str) -> tuple[int, dict[str, object]]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        return response.status, await response.json()


@pytest.fixture
async def probes(harness: Harness) -> AsyncIterator[str]:
    async with served(create_probe_app(harness.runtime)) as base:
        yield base


async def test_healthz_and_readyz_answer_when_all_is_well(probes: str) -> None:
    assert await get_json(f"{probes}/healthz") == (200, {"ok": True})
    assert await get_json(f"{probes}/readyz") == (200, {"ready": True})


async def test_readyz_is_unready_while_migrations_are_behind(harness: Harness, probes: str) -> None:
    # given a database one migration behind this code (a deploy that skipped `migrate`)
    (head,) = head_revisions()
    from alembic.script import ScriptDirectory

    previous = ScriptDirectory.from_config(alembic_config()).get_revision(head).down_revision
    assert isinstance(previous, str)
    update = text("UPDATE alembic_version SET version_num = :v")
    async with harness.runtime.engine.begin() as connection:
        await connection.execute(update, {"v": previous})
    try:
        # then the process says it is not ready, and why
        assert await get_json(f"{probes}/readyz") == (
            503,
            {"ready": False, "failed": {"database": f"migrations not at head (at {previous})"}},
        )
    finally:
        async with harness.runtime.engine.begin() as connection:
            await connection.execute(update, {"v": head})
    # and ready again once migrated
    assert await get_json(f"{probes}/readyz") == (200, {"ready": True})


@pytest.mark.skipif(not TEST_REDIS_URL, reason="needs TEST_REDIS_URL (the PostgreSQL + Redis run)")
async def test_readyz_follows_redis_going_away_and_coming_back(
    emulator: Emulator, settings: Settings, redis_proxy: TcpProxy
) -> None:
    assert TEST_REDIS_URL
    url = make_url(TEST_REDIS_URL.replace("redis://", "postgresql://", 1))
    proxied = f"redis://127.0.0.1:{redis_proxy.port}/{url.database or 0}"
    runtime = build_runtime(settings.model_copy(update={"redis_url": proxied}), EMULATOR_TOKEN)
    await prepare(runtime, migrate=False)
    try:
        async with served(create_probe_app(runtime)) as base:
            assert await get_json(f"{base}/readyz") == (200, {"ready": True})
            # when Redis goes away
            await redis_proxy.cut()
            assert await get_json(f"{base}/readyz") == (
                503,
                {"ready": False, "failed": {"redis": "unreachable"}},
            )
            # the process itself is still up
            assert await get_json(f"{base}/healthz") == (200, {"ok": True})
            # and when it is back, ready again
            await redis_proxy.start()
            assert await get_json(f"{base}/readyz") == (200, {"ready": True})
    finally:
        await runtime.close()


@pytest.mark.skipif(
    not TEST_DATABASE_URL, reason="needs TEST_DATABASE_URL (a database behind a network)"
)
async def test_readyz_follows_the_database_going_away_and_coming_back(
    emulator: Emulator, settings: Settings
) -> None:
    real = make_url(settings.database_url)
    proxy = TcpProxy(real.host or "127.0.0.1", real.port or 5432)
    await proxy.start()
    through = real.set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    runtime = build_runtime(settings.model_copy(update={"database_url": through}), EMULATOR_TOKEN)
    try:
        async with served(create_probe_app(runtime)) as base:
            assert await get_json(f"{base}/readyz") == (200, {"ready": True})
            # when the database goes away
            await proxy.cut()
            assert await get_json(f"{base}/readyz") == (
                503,
                {"ready": False, "failed": {"database": "unreachable"}},
            )
            # and when it is back, ready again
            await proxy.start()
            assert await get_json(f"{base}/readyz") == (200, {"ready": True})
    finally:
        await runtime.close()
        await proxy.cut()


def families(exposition: str) -> dict[str, dict[tuple[tuple[str, str], ...], float]]:
    """Each sample of the exposition by name and labels."""
    found: dict[str, dict[tuple[tuple[str, str], ...], float]] = {}
    for family in text_string_to_metric_families(exposition):
        for s in family.samples:
            found.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
    return found


async def test_metrics_expose_the_named_series(harness: Harness, probes: str) -> None:
    runtime: Runtime = harness.runtime
    # given the scheduler ran here for a while (its perks job runs once at start)
    await runtime.start_scheduler()
    assert sample(runtime, "bot_scheduler_leader") == 1
    await eventually(
        lambda: sample(runtime, "bot_scheduler_lag_seconds_count", job=CARE_JOB) >= 1,
        limit=20,
        what="the perks job ran",
    )
    await runtime.stop_scheduler()
    # and a group-buy joined by a member, then failed at its deadline by the scheduler
    tea_card, _coffee_card = await open_drop(harness)
    await harness.send(MIA, MIA, "/start")
    assert await harness.press(MIA, TEA, tea_card, index=0) == "You are #1, quantity 1."
    harness.clock.advance(days=2)
    assert await runtime.closer.close_due() == 1
    # and Telegram refusing a few calls: a 429 (retried), a 403, a 502
    harness.emulator.inject_fault("sendMessage", status=429, retry_after=1)
    assert await harness.send(MIA, MIA, "/cancel") == ["There is nothing to cancel."]
    for status in (403, 502):
        harness.emulator.inject_fault("sendMessage", status=status)
        await harness.send(MIA, MIA, "/cancel")
    # when Prometheus scrapes the process
    async with aiohttp.ClientSession() as http, http.get(f"{probes}/metrics") as response:
        assert response.status == 200
        assert response.content_type == "text/plain"
        found = families(await response.text())
    # then every named series is there with what happened
    updates = found["bot_updates_total"]
    assert updates[(("outcome", "handled"), ("type", "callback_query"))] == 1
    assert updates[(("outcome", "handled"), ("type", "message"))] >= 5
    assert found["bot_update_seconds_count"][(("type", "message"),)] >= 5
    assert found["bot_api_calls_total"][(("method", "sendMessage"),)] >= 4
    errors = found["bot_api_errors_total"]
    for code in ("429", "403", "5xx"):
        assert errors[(("code", code), ("method", "sendMessage"))] == 1, code
    assert found["bot_outbox_depth"][()] == 0
    assert found["bot_scheduler_lag_seconds_count"][(("job", CARE_JOB),)] >= 1
    assert found["bot_scheduler_leader"][()] == 0  # no longer
    assert found["bot_groupbuy_joins_total"][()] == 1
    assert found["bot_groupbuy_settlements_total"][(("outcome", "failed"),)] == 1


async def test_a_json_log_line_carries_the_ids_and_no_text(harness: Harness) -> None:
    # given a handler that fails on a member's message quoting personal text
    boom = Router(name="boom")

    @boom.message(Command("boom"))
    async def explode(message: Message) -> None:
        raise ValueError(f"cannot parse {message.text!r}")

    harness.runtime.dp.include_router(boom)
    routers = harness.runtime.dp.sub_routers
    routers.insert(0, routers.pop())  # before the last router, whose hint takes unknown text
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        harness.emulator.send_message(MIA, MIA, "/boom my address is 12 Pudding Lane")
        update = harness.emulator.pop_updates()[0]
        await harness.runtime.dp.feed_raw_update(harness.runtime.bot, update)
    finally:
        root.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    # then the failure's line names the update, chat and user by id ...
    (failure,) = [line for line in lines if line["logger"] == "handlers.errors"]
    assert failure["level"] == "ERROR"
    assert failure["update_id"] == update["update_id"]
    assert failure["chat_id"] == MIA and failure["user_id"] == MIA
    assert failure["exception"] == "ValueError" and "explode" in failure["stack"]
    # ... and no line holds the message text or the member's name
    assert "Pudding" not in stream.getvalue() and "Mia" not in stream.getvalue()


def outward_address() -> str | None:
    """This machine's address on its network (not loopback), when it has one."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("192.0.2.1", 9))  # no packet is sent: only a route is chosen
        except OSError:
            return None
        address = str(probe.getsockname()[0])
    return None if address.startswith("127.") else address


async def answers(url: str) -> bool:
    try:
        async with aiohttp.ClientSession() as http, http.get(url) as response:
            return response.status == 200
    except aiohttp.ClientConnectionError:
        return False


async def test_in_polling_mode_metrics_are_served_to_this_machine_only(
    bot_process: StartBot,
) -> None:
    outward = outward_address()
    if outward is None:
        pytest.skip("no network address besides loopback to try")
    # given the bot polling with its dashboard, WEBHOOK_HOST saying every interface
    port = free_port()
    await bot_process(
        "run",
        DASHBOARD_URL="https://bot.example.org/dashboard",
        WEBHOOK_HOST="0.0.0.0",
        WEBHOOK_PORT=str(port),
    )
    # then /metrics answers on loopback ...
    await healthy(f"http://127.0.0.1:{port}")
    assert await answers(f"http://127.0.0.1:{port}/metrics")
    # ... and not on the machine's network address (METRICS_HOST defaults to 127.0.0.1)
    assert not await answers(f"http://{outward}:{port}/metrics")
