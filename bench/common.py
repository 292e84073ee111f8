"""What the benchmarks share: their store options, a scratch store, feeding updates as a
polling loop does, the bare aiogram baseline, and percentiles."""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from aiogram import Dispatcher
from aiogram.types import CallbackQuery, Message

from bot.app import create_bot
from bot.config import Settings
from bot.db import create_database, drop_database
from bot.emulator import EMULATOR_TOKEN, Emulator


def store_parser(doc: str | None) -> argparse.ArgumentParser:
    """The options every store benchmark takes: --quick, --backend, --database, --redis."""
    parser = argparse.ArgumentParser(description=(doc or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--backend", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--database", default="postgresql+asyncpg://postgres@127.0.0.1:5432/test")
    return parser


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@asynccontextmanager
async def scratch_store(backend: str, server: str | None, name: str) -> AsyncIterator[str]:
    """A database URL that starts empty and is gone afterwards: a throw-away database on the
    PostgreSQL server, or a SQLite file in a temporary directory."""
    if backend == "postgresql":
        assert server is not None
        server = server.replace("postgresql://", "postgresql+asyncpg://", 1)
        scratch = f"ccbot_{name}_{uuid.uuid4().hex[:8]}"
        url = await create_database(server, scratch)
        try:
            yield url
        finally:
            await drop_database(server, scratch)
        return
    with tempfile.TemporaryDirectory() as tmp:
        yield f"sqlite+aiosqlite:///{tmp}/{name}.sqlite3"


async def feed_all(
    dp: Dispatcher, bot: Any, updates: list[dict[str, Any]], concurrency: int
) -> list[float]:
    """Feed the updates with at most `concurrency` in flight, like a polling loop handling a
    batch as tasks; returns each update's handling time in milliseconds, in order."""
    gate = asyncio.Semaphore(concurrency)
    latencies = [0.0] * len(updates)

    async def one(index: int, update: dict[str, Any]) -> None:
        async with gate:
            started = time.perf_counter()
            await dp.feed_raw_update(bot, update)
            latencies[index] = (time.perf_counter() - started) * 1000

    await asyncio.gather(*(one(i, u) for i, u in enumerate(updates)))
    return latencies


async def bare_rate(
    emulator: Emulator, settings: Settings, updates: list[dict[str, Any]], concurrency: int
) -> float:
    """Updates per second through bare aiogram: each message answered with one sendMessage and
    each callback with one answerCallbackQuery over HTTP, nothing else."""
    dp = Dispatcher()

    @dp.message()
    async def reply(message: Message) -> None:
        await message.answer("Here is what you can do:")

    @dp.callback_query()
    async def answer(query: CallbackQuery) -> None:
        await query.answer()

    bot = create_bot(settings, EMULATOR_TOKEN)
    started = time.perf_counter()
    await feed_all(dp, bot, updates, concurrency)
    elapsed = time.perf_counter() - started
    await bot.session.close()
    return len(updates) / elapsed
