"""Benchmark: updates per second through the whole bot versus bare aiogram dispatch.

Both sides answer every update with one sendMessage over HTTP to the local Bot API emulator,
so the difference is what the bot adds: throttling, the per-update transaction and claim,
member/community upserts, i18n and routing. Prints one JSON line.

    python bench/dispatch.py            # full run (2000 updates)
    python bench/dispatch.py --quick    # CI run (200 updates)
    python bench/dispatch.py --database postgresql+asyncpg://postgres@127.0.0.1/test \
        --redis redis://127.0.0.1:6379/15
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

from aiogram import Dispatcher
from aiogram.filters import Command
from aiogram.types import Message

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bot.app import build_runtime, create_bot, prepare
from bot.config import Settings
from bot.db import create_database, drop_database
from bot.emulator import EMULATOR_TOKEN, Emulator

USERS = 50


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def timed_feed(dp: Dispatcher, bot: object, updates: list[dict[str, object]]) -> list[float]:
    latencies = []
    for update in updates:
        started = time.perf_counter()
        await dp.feed_raw_update(bot, update)  # type: ignore[arg-type]
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


def make_updates(emulator: Emulator, count: int) -> list[dict[str, object]]:
    for user_id in range(1, USERS + 1):
        emulator.add_user(10_000 + user_id, f"user{user_id}", language_code="en")
    updates = []
    for index in range(count):
        user_id = 10_000 + 1 + index % USERS
        updates.append(emulator.send_message(user_id, user_id, "/help"))
    emulator.pop_updates()
    return updates


async def bare(emulator: Emulator, settings: Settings, count: int) -> float:
    dp = Dispatcher()

    @dp.message(Command("help"))
    async def answer(message: Message) -> None:
        await message.answer("Here is what you can do:")

    bot = create_bot(settings, EMULATOR_TOKEN)
    updates = make_updates(emulator, count)
    started = time.perf_counter()
    await timed_feed(dp, bot, updates)
    elapsed = time.perf_counter() - started
    await bot.session.close()
    return count / elapsed


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database", default=None)
    parser.add_argument("--redis", default=None)
    args = parser.parse_args(argv)
    count = 200 if args.quick else 2000
    emulator = Emulator()
    await emulator.start()
    # PostgreSQL: a throw-away database on that server, so that every run starts empty
    scratch = f"ccbot_bench_{uuid.uuid4().hex[:8]}"
    server = (
        args.database.replace("postgresql://", "postgresql+asyncpg://", 1)
        if args.database
        else None
    )
    with tempfile.TemporaryDirectory() as tmp:
        database_url = (
            await create_database(server, scratch)
            if server
            else f"sqlite+aiosqlite:///{tmp}/bench.sqlite3"
        )
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            telegram_api_url=emulator.base_url,
            database_url=database_url,
            redis_url=args.redis,
            throttle_limit=1_000_000,
            pace_messages=False,  # 50 users answered back to back: pacing would measure sleep
        )
        bare_rate = await bare(emulator, settings, count)
        runtime = build_runtime(settings, EMULATOR_TOKEN)
        await prepare(runtime)
        updates = make_updates(emulator, count)
        started = time.perf_counter()
        latencies = await timed_feed(runtime.dp, runtime.bot, updates)
        elapsed = time.perf_counter() - started
        await runtime.close()
        if server:
            await drop_database(server, scratch)
    await emulator.stop()
    rate = count / elapsed
    print(
        json.dumps(
            {
                "bench": "dispatch",
                "backend": "postgresql" if args.database else "sqlite",
                "redis": bool(args.redis),
                "updates": count,
                "updates_per_s": round(rate, 1),
                "p50_ms": round(statistics.median(latencies), 2),
                "p95_ms": round(percentile(latencies, 0.95), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2),
                "bare_dispatch_per_s": round(bare_rate, 1),
                "ratio": round(rate / bare_rate, 3),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
