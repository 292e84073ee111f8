"""Benchmark: a realistic mix of updates from many members in many groups, through the real
Dispatcher and Bot over HTTP against the emulator. Prints one JSON line.

    python bench/load.py                 # full: 400 members in 10 groups, about 1,400 updates
    python bench/load.py --quick         # CI: 60 members in 3 groups, about 200 updates
    python bench/load.py --backend postgresql \\
        --database postgresql+asyncpg://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/15

A cross-group drop and a co-creation poll are posted in every group; then, shuffled, each member
joins the drop (×1..3), checks in in their group and votes in the poll, and the fifth of them who
started the bot also open /wallet and /invite in private. At most `--concurrency` updates are in
flight, like a polling loop handling a batch as tasks. Replies are not paced (pacing would measure
sleep, not the bot). `bare_dispatch_per_s` is bare aiogram answering the same updates over HTTP
in the same run with the Bot API calls the bot made for each of them (the same replies, toasts
and photos, recorded by bench.common.CallRecorder), so the ratio measures what the bot does
besides sending; `ratio` = updates_per_s / bare_dispatch_per_s. The two sides take the run in
turns, a stretch of it each (bench.common.in_turns), so that a drift of the machine's speed
weighs on both alike; the bot's time includes sending what its stretch left queued.
`statements_per_update` is the
median number of SQL statements the bot executes per update of the run (see
bench.common.StatementCounter for what is counted).

`errors` counts updates that raised or were logged as failed; `lost` counts joins, check-ins and
votes missing from the store afterwards; `reconciled` is `python -m bot reconcile`. `--check`
exits 1 unless errors and lost are 0 and the ledger reconciles.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    UNPACED_CARDS,
    BareAiogram,
    CallRecorder,
    StatementCounter,
    feed_all,
    in_turns,
    percentile,
    scratch_store,
    store_parser,
)
from bot.app import Runtime, build_runtime, freeze_startup_objects, open_connections, prepare
from bot.config import Settings
from models.loyalty import CheckIn
from models.poll import PollBallot, PollPost
from services.groupbuy import participants
from services.ledger import reconcile
from tgemu import EMULATOR_TOKEN, Emulator

STAFF = 9_000_001
Update = dict[str, Any]


class ErrorCount(logging.Handler):
    """Counts the records logged at ERROR or above (a failed update is logged so)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1
        if self.count <= 5:  # the first few, on stderr, say what went wrong
            print(f"error: {record.getMessage()}", file=sys.stderr)


async def feed(runtime: Runtime, emulator: Emulator) -> None:
    """Hand the queued updates to the Dispatcher one by one (the setup, not measured)."""
    for update in emulator.pop_updates():
        await runtime.dp.feed_raw_update(runtime.bot, update)
    await runtime.notifier.drain()


async def staff_says(runtime: Runtime, emulator: Emulator, *texts: str) -> None:
    for text in texts:
        emulator.send_message(STAFF, STAFF, text)
        await feed(runtime, emulator)


async def staff_taps(runtime: Runtime, emulator: Emulator, label: str) -> None:
    last = emulator.last_bot_message(STAFF)
    emulator.press_button(STAFF, STAFF, last.message_id, index=last.button_texts.index(label))
    await feed(runtime, emulator)


async def open_world(runtime: Runtime, emulator: Emulator, chats: list[int], units: int) -> None:
    """Staff list a product, drop it in every group and post a poll in every group."""
    await staff_says(
        runtime,
        emulator,
        "/start",
        f"/product_add Oolong tea | 35.90 CNY | stock {units}",
        f"/drop 1 24h min=5 stock={units} limit=3",
        "/poll_new",
        "Which flavour next?",
        "Jasmine | Osmanthus | Lychee",
    )
    await staff_taps(runtime, emulator, "One option")
    await staff_taps(runtime, emulator, "Not anonymous")
    await staff_says(runtime, emulator, "3d", "10")
    await staff_taps(runtime, emulator, "One member, one vote")
    await staff_taps(runtime, emulator, "All groups")
    await staff_taps(runtime, emulator, "✅ Post the poll")


async def poll_ids(runtime: Runtime) -> dict[int, str]:
    async with runtime.sessions() as session:
        posts = (await session.execute(select(PollPost))).scalars()
        return {p.chat_id: p.telegram_poll_id for p in posts}


def the_mix(
    emulator: Emulator,
    members: list[int],
    chats: list[int],
    cards: dict[int, int],
    polls: dict[int, str],
    seed: int,
) -> tuple[list[Update], int]:
    """Every member's updates, shuffled; returns them and the units the joins ask for."""
    updates: list[Update] = []
    units = 0
    for i, uid in enumerate(members):
        chat = chats[i % len(chats)]
        updates.append(emulator.press_button(uid, chat, cards[chat], index=i % 3))
        units += i % 3 + 1
        updates.append(emulator.send_message(uid, chat, "/checkin"))
        updates.append(emulator.answer_poll(uid, polls[chat], [i % 3]))
        if i % 5 == 0:
            updates.append(emulator.send_message(uid, uid, "/wallet"))
            updates.append(emulator.send_message(uid, uid, "/invite"))
    emulator.pop_updates()
    random.Random(seed).shuffle(updates)
    return updates, units


async def effects(runtime: Runtime) -> dict[str, Any]:
    """What the store holds after the run."""
    async with runtime.sessions() as session:
        sold = sum(p.quantity for p in await participants(session, 1))
        checkins = (await session.execute(select(func.count()).select_from(CheckIn))).scalar_one()
        ballots = (await session.execute(select(func.count()).select_from(PollBallot))).scalar_one()
        report = await reconcile(session)
    return {"units": sold, "checkins": int(checkins), "ballots": int(ballots), "ok": report.ok}


async def run(args: argparse.Namespace) -> dict[str, Any]:
    count, groups = (60, 3) if args.quick else (400, 10)
    emulator = Emulator()
    await emulator.start()
    errors = ErrorCount()
    async with scratch_store(args.backend, args.database, "load") as url:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            telegram_api_url=emulator.base_url,
            database_url=url,
            redis_url=args.redis,
            owner_ids=frozenset({STAFF}),
            throttle_limit=1_000_000,
            **UNPACED_CARDS,
            pace_messages=False,
        )
        runtime = build_runtime(settings, EMULATOR_TOKEN)
        await prepare(runtime)
        freeze_startup_objects()  # as a process that runs the bot does after start-up
        await open_connections(runtime)  # likewise
        # the world: groups with the bot in them, members in them, a fifth started the bot
        emulator.add_user(STAFF, "Staff", language_code="en")
        chats = [-1_009_200_000_000 - g for g in range(groups)]
        for g, chat in enumerate(chats):
            emulator.add_group(chat, f"Group {g}", creator=STAFF)
            emulator.add_bot_to_group(chat, STAFF)
        members = [8_200_000 + i for i in range(count)]
        for i, uid in enumerate(members):
            emulator.add_user(uid, f"m{i}", language_code="en")
            emulator.set_member_status(chats[i % groups], uid, "member")
            if i % 5 == 0:
                emulator.send_message(uid, uid, "/start")
        await feed(runtime, emulator)
        await open_world(runtime, emulator, chats, units=count * 3)
        cards = {
            chat: next(
                m for m in emulator.bot_messages(chat) if "Join ×1" in m.button_texts
            ).message_id
            for chat in chats
        }
        updates, units = the_mix(
            emulator, members, chats, cards, await poll_ids(runtime), args.seed
        )
        # the same mix again (new taps, votes changed) for bare aiogram, which makes the Bot
        # API calls the bot made for the same update (the same replies, toasts and photos)
        again, _ = the_mix(emulator, members, chats, cards, await poll_ids(runtime), args.seed)
        # the run, with every error counted, the bot and bare aiogram in turns
        logging.getLogger().addHandler(errors)
        counter = StatementCounter(runtime.engine, runtime.reader_engine)
        recorder = CallRecorder()
        runtime.bot.session.middleware(recorder)
        bare = BareAiogram(settings, calls=recorder.calls)
        latencies: list[float] = []

        async def bot_round(stretch: range) -> float:
            started = time.perf_counter()
            latencies.extend(
                await feed_all(
                    runtime.dp,
                    runtime.bot,
                    updates,
                    args.concurrency,
                    counter=counter,
                    recorder=recorder,
                    stretch=stretch,
                )
            )
            await runtime.notifier.drain()  # its sends are the bot's, not bare aiogram's time
            return time.perf_counter() - started

        async def bare_round(stretch: range) -> float:
            elapsed, _ = await bare.feed(again, args.concurrency, stretch=stretch)
            return elapsed

        elapsed, bare_elapsed = await in_turns(len(updates), bot_round, bare_round)
        counter.close()
        await bare.close()
        logging.getLogger().removeHandler(errors)
        held = await effects(runtime)
        emulator.pop_updates()
        await runtime.close()
    await emulator.stop()
    rate = len(updates) / elapsed
    lost = max(0, units - held["units"]) + (count - held["checkins"]) + (count - held["ballots"])
    return {
        "bench": "load",
        "backend": args.backend,
        "redis": bool(args.redis),
        "members": count,
        "groups": groups,
        "updates": len(updates),
        "concurrency": args.concurrency,
        "updates_per_s": round(rate, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p95_ms": round(percentile(latencies, 0.95), 2),
        "p99_ms": round(percentile(latencies, 0.99), 2),
        "errors": errors.count,
        "lost": lost,
        "reconciled": held["ok"],
        "statements_per_update": counter.median(),
        "bare_dispatch_per_s": round(len(updates) / bare_elapsed, 1),
        "ratio": round(bare_elapsed / elapsed, 3),
    }


def main(argv: list[str]) -> None:
    parser = store_parser(__doc__)
    parser.add_argument("--redis", default=None)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--seed", type=int, default=10)
    parser.add_argument(
        "--check", action="store_true", help="exit 1 on an error, a lost effect or a broken ledger"
    )
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args))
    print(json.dumps(figures))
    if args.check and (figures["errors"] or figures["lost"] or not figures["reconciled"]):
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
