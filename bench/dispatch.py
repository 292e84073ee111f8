"""Benchmark: updates per second through the whole bot versus bare aiogram dispatch.

Members send /start and /help in private, one update at a time; half the updates come from
members the bot has never seen (distinct users, each recorded on their first update), half
from 50 repeat members it already knows. Both sides answer every update with one sendMessage
over HTTP to the local Bot API emulator, and the bare side sends exactly the text and keyboard
the bot sent for the same update (the emulator parses the same HTML on both sides), so the
difference is what the bot adds: throttling, the per-update transaction and claim,
member/community bookkeeping, i18n, roles and routing. The two sides take the run in turns, a
stretch of it each (bench.common.in_turns), so that a drift of the machine's speed weighs on
both alike. Prints one JSON line.

`added_ms` is, per command, the median handling time through the bot minus the median through
bare aiogram. `statements_per_update` is the median number of SQL statements the bot executes
per update (see bench.common.StatementCounter for what is counted); `statements` splits it by
command and by new or repeat member.

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
from collections.abc import Mapping
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BareAiogram,
    StatementCounter,
    feed_all,
    in_turns,
    percentile,
    scratch_store,
)
from bot.app import build_runtime, freeze_startup_objects, open_connections, prepare
from bot.config import Settings
from tgemu import EMULATOR_TOKEN, Emulator

REPEAT_USERS = 50
COMMANDS = ("/start", "/help")
Update = dict[str, Any]


def the_plan(count: int) -> list[tuple[int, str, bool]]:
    """(user id, command, new member?) for each update: commands alternate, and every other pair
    comes from a member never seen before."""
    plan = []
    for index in range(count):
        command = COMMANDS[index % len(COMMANDS)]
        if (index // 2) % 2 == 0:
            plan.append((20_000 + index, command, True))
        else:
            plan.append((10_001 + (index // 4) % REPEAT_USERS, command, False))
    return plan


def make_updates(emulator: Emulator, plan: list[tuple[int, str, bool]]) -> list[Update]:
    updates = []
    for user_id, command, _ in plan:
        emulator.add_user(user_id, f"user{user_id}", language_code="en")
        updates.append(emulator.send_message(user_id, user_id, command))
    emulator.pop_updates()
    return updates


def added_ms(bot: list[float], bare: list[float], indexes: list[int]) -> float:
    """Median handling time of these updates through the bot minus through bare aiogram."""
    return statistics.median(bot[i] for i in indexes) - statistics.median(bare[i] for i in indexes)


async def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--database", default=None)
    parser.add_argument("--redis", default=None)
    args = parser.parse_args(argv)
    count = 200 if args.quick else 2000
    plan = the_plan(count)
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
            pace_messages=False,  # members answered back to back: pacing would measure sleep
        )
        runtime = build_runtime(settings, EMULATOR_TOKEN)
        await prepare(runtime)
        freeze_startup_objects()  # as a process that runs the bot does after start-up
        await open_connections(runtime)  # likewise
        # the repeat members are known to the bot before the run (and the bot is warm)
        repeat = [(10_001 + i, "/start", False) for i in range(REPEAT_USERS)]
        for update in make_updates(emulator, repeat):
            await runtime.dp.feed_raw_update(runtime.bot, update)
        # bare aiogram: the same members and commands, answered with what the bot sent
        replies: dict[int, Mapping[str, Any]] = {}
        bare = BareAiogram(settings, replies=replies)
        await bare.feed(make_updates(emulator, repeat), 1)  # warm up
        # the run, one update at a time, the bot and bare aiogram in turns, with what the bot
        # sends recorded
        sent: list[Mapping[str, Any]] = []
        bots_turn = False  # bare aiogram's messages reach the emulator's watchers too

        def watch(name: str, params: Mapping[str, Any]) -> None:
            if name == "sendMessage" and bots_turn:
                sent.append(params)

        updates = make_updates(emulator, plan)
        again = make_updates(emulator, plan)
        counter = StatementCounter(runtime.engine, runtime.reader_engine)
        emulator.call_watchers.append(watch)
        latencies: list[float] = []
        bare_latencies: list[float] = []

        async def bot_round(stretch: range) -> float:
            nonlocal bots_turn
            bots_turn = True
            started = time.perf_counter()
            latencies.extend(
                await feed_all(
                    runtime.dp, runtime.bot, updates, 1, counter=counter, stretch=stretch
                )
            )
            elapsed = time.perf_counter() - started
            bots_turn = False
            return elapsed

        async def bare_round(stretch: range) -> float:
            if len(sent) != stretch.stop:
                raise SystemExit(f"the bot sent {len(sent)} messages for {stretch.stop} updates")
            for index in stretch:
                replies[again[index]["update_id"]] = {
                    "text": sent[index]["text"],
                    "reply_markup": sent[index].get("reply_markup"),
                }
            elapsed, times = await bare.feed(again, 1, stretch=stretch)
            bare_latencies.extend(times)
            return elapsed

        elapsed, bare_elapsed = await in_turns(count, bot_round, bare_round)
        emulator.call_watchers.remove(watch)
        counter.close()
        await bare.close()
        await runtime.close()
    await emulator.stop()
    rate = count / elapsed

    def indexes(command: str | None = None, new: bool | None = None) -> list[int]:
        return [
            i
            for i, (_, c, n) in enumerate(plan)
            if (command is None or c == command) and (new is None or n == new)
        ]

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
                "bare_dispatch_per_s": round(count / bare_elapsed, 1),
                "ratio": round(bare_elapsed / elapsed, 3),
                "added_ms": {
                    c: round(added_ms(latencies, bare_latencies, indexes(c)), 2) for c in COMMANDS
                },
                "statements_per_update": counter.median(),
                "statements": {
                    f"{c} {'new' if n else 'repeat'}": counter.median(indexes(c, n))
                    for c in COMMANDS
                    for n in (True, False)
                },
            }
        )
    )


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1:]))
