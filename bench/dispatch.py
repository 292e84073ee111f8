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
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import bare_rate, feed_all, percentile, scratch_store
from bot.app import build_runtime, prepare
from bot.config import Settings
from bot.emulator import EMULATOR_TOKEN, Emulator

USERS = 50


def make_updates(emulator: Emulator, count: int) -> list[dict[str, object]]:
    for user_id in range(1, USERS + 1):
        emulator.add_user(10_000 + user_id, f"user{user_id}", language_code="en")
    updates = []
    for index in range(count):
        user_id = 10_000 + 1 + index % USERS
        updates.append(emulator.send_message(user_id, user_id, "/help"))
    emulator.pop_updates()
    return updates


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database", default=None)
    parser.add_argument("--redis", default=None)
    args = parser.parse_args(argv)
    count = 200 if args.quick else 2000
    emulator = Emulator()
    await emulator.start()
    backend = "postgresql" if args.database else "sqlite"
    async with scratch_store(backend, args.database, "bench") as database_url:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            telegram_api_url=emulator.base_url,
            database_url=database_url,
            redis_url=args.redis,
            throttle_limit=1_000_000,
            pace_messages=False,  # 50 users answered back to back: pacing would measure sleep
        )
        # one update at a time on both sides
        bare = await bare_rate(emulator, settings, make_updates(emulator, count), concurrency=1)
        runtime = build_runtime(settings, EMULATOR_TOKEN)
        await prepare(runtime)
        updates = make_updates(emulator, count)
        started = time.perf_counter()
        latencies = await feed_all(runtime.dp, runtime.bot, updates, concurrency=1)
        elapsed = time.perf_counter() - started
        await runtime.close()
    await emulator.stop()
    rate = count / elapsed
    print(
        json.dumps(
            {
                "bench": "dispatch",
                "backend": backend,
                "redis": bool(args.redis),
                "updates": count,
                "updates_per_s": round(rate, 1),
                "p50_ms": round(statistics.median(latencies), 2),
                "p95_ms": round(percentile(latencies, 0.95), 2),
                "p99_ms": round(percentile(latencies, 0.99), 2),
                "bare_dispatch_per_s": round(bare, 1),
                "ratio": round(rate / bare, 3),
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
