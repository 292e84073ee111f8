"""Benchmark: a flash sale. N members in G groups race for S units of one drop, through the
emulator with Telegram's limits enforced. Prints one JSON line.

    python bench/flash_sale.py                 # full: 600 members, 6 groups, 100 units
    python bench/flash_sale.py --quick         # CI: 120 members, 3 groups, 30 units
    python bench/flash_sale.py --members 4000 --units 700   # a bigger rush (minutes: the group
                                               # confirmations drain at Telegram's pace after it)
    python bench/flash_sale.py --backend postgresql \\
        --database postgresql+asyncpg://postgres@127.0.0.1:5432/test --redis redis://127.0.0.1:6379/15

Each member taps "Join ×1..3" once, all at about the same moment (at most `--concurrency`
updates in flight, like a polling loop handling a batch); a fifth of them started the bot and
get a private confirmation, the others one in the group that only they see (both sent in the
background, at Telegram's pace). Afterwards the cards are refreshed and the group-buy settles.
`oversold` must be 0 and, with the paced sender, `http_429` too. `statements_per_update` is the
median number of SQL statements the bot executes per tap of the rush (see
bench.common.StatementCounter for what is counted). `bare_dispatch_per_s` is bare aiogram
answering the same taps with the Bot API calls the bot made for each (recorded by
bench.common.CallRecorder); `ratio` = joins_per_s / bare_dispatch_per_s. The two sides take the
rush in turns, a stretch of it each (bench.common.in_turns), so that a drift of the machine's
speed weighs on both alike: each of the bot's rounds is a rush of its own, the first one selling
the stock, the later ones refusing members who come too late. Bare aiogram calls the emulator
with a token of its own that spends none of the bot's rate limits (the emulator's
`unmetered_tokens`); otherwise its sends would eat into the budget the bot paces itself within,
unseen by its pacing, and the bot would meet 429s. The bot's confirmations go on at Telegram's
pace in the background, during bare aiogram's rounds too; they are not part of either side's
time.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import (
    BASELINE_TOKEN,
    UNPACED_CARDS,
    BareAiogram,
    CallRecorder,
    StatementCounter,
    feed_all,
    in_turns,
    scratch_store,
    store_parser,
)
from bot.app import build_runtime, freeze_startup_objects, open_connections, prepare
from bot.config import Settings
from services.groupbuy import get_groupbuy, participants
from tgemu import EMULATOR_TOKEN, Emulator

STAFF = 9_000_001


async def run(args: argparse.Namespace) -> dict[str, Any]:
    members, groups, units = (120, 3, 30) if args.quick else (600, 6, 100)
    members, units = args.members or members, args.units or units
    emulator = Emulator()
    await emulator.start()
    emulator.enforce_rate_limits = True
    async with scratch_store(args.backend, args.database, "flash") as url:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            telegram_api_url=emulator.base_url,
            database_url=url,
            redis_url=args.redis,
            owner_ids=frozenset({STAFF}),
            throttle_limit=1_000_000,
            **UNPACED_CARDS,
        )
        runtime = build_runtime(settings, EMULATOR_TOKEN)
        await prepare(runtime)
        freeze_startup_objects()  # as a process that runs the bot does after start-up
        await open_connections(runtime)  # likewise
        # the world: staff, groups with the bot in them, members who tap once each
        emulator.add_user(STAFF, "Staff")
        chat_ids = [-1_009_000_000_000 - g for g in range(groups)]
        for g, chat in enumerate(chat_ids):
            emulator.add_group(chat, f"Group {g}", creator=STAFF)
            emulator.add_bot_to_group(chat, STAFF)
        member_ids = [8_000_000 + i for i in range(members)]
        for i, uid in enumerate(member_ids):
            emulator.add_user(uid, f"m{i}", language_code="en")
            emulator.set_member_status(chat_ids[i % groups], uid, "member")
            if i % 5 == 0:  # a fifth started the bot: they get private confirmations
                emulator.send_message(uid, uid, "/start")
        for text in (
            "/start",
            f"/product_add Flash tea | 19.90 CNY | stock {units}",
            f"/drop 1 2h min=5 stock={units} limit=3 tiers={units // 2}:17.90",
        ):
            emulator.send_message(STAFF, STAFF, text)
        for update in emulator.pop_updates():
            await runtime.dp.feed_raw_update(runtime.bot, update)
        await runtime.notifier.drain()
        cards = {chat: emulator.last_bot_message(chat).message_id for chat in chat_ids}
        # the rush
        taps = [
            emulator.press_button(
                uid, chat_ids[i % groups], cards[chat_ids[i % groups]], index=i % 3
            )
            for i, uid in enumerate(member_ids)
        ]
        emulator.pop_updates()
        counter = StatementCounter(runtime.engine, runtime.reader_engine)
        recorder = CallRecorder()
        runtime.bot.session.middleware(recorder)
        # bare aiogram answers the same members' taps with the calls the bot made for them
        noop_taps = [
            emulator.press_button(
                uid,
                chat_ids[i % groups],
                cards[chat_ids[i % groups]],
                callback_data="noop",
                force=True,
            )
            for i, uid in enumerate(member_ids)
        ]
        emulator.pop_updates()
        emulator.unmetered_tokens.add(BASELINE_TOKEN)
        bare = BareAiogram(settings, calls=recorder.calls, token=BASELINE_TOKEN)

        async def bot_round(stretch: range) -> float:
            started = time.perf_counter()
            await feed_all(
                runtime.dp,
                runtime.bot,
                taps,
                args.concurrency,
                counter=counter,
                recorder=recorder,
                stretch=stretch,
            )
            return time.perf_counter() - started

        async def bare_round(stretch: range) -> float:
            bare_seconds, _ = await bare.feed(noop_taps, args.concurrency, stretch=stretch)
            return bare_seconds

        started = time.perf_counter()
        elapsed, bare_elapsed = await in_turns(len(taps), bot_round, bare_round)
        span = time.perf_counter() - started
        counter.close()
        await runtime.notifier.drain()
        await runtime.cards.flush()
        async with runtime.sessions() as session:
            view = await get_groupbuy(session, 1)
            shares = await participants(session, 1)
        assert view is not None
        answered = sum(1 for t in taps if t["callback_query"]["id"] in emulator.callback_answers)
        edits: dict[int, int] = {}
        for name, params in emulator.calls:
            if name.startswith("editMessage") and params.get("chat_id") in cards:
                edits[params["chat_id"]] = edits.get(params["chat_id"], 0) + 1
        minutes = max(span / 60.0, 1.0)  # edits happen within the first minute here
        await bare.close()
        emulator.pop_updates()
        http_429 = runtime.paced.retry_after_seen
        await runtime.close()
    await emulator.stop()
    sold = sum(p.quantity for p in shares)
    return {
        "bench": "flash_sale",
        "backend": args.backend,
        "members": members,
        "groups": groups,
        "joins_attempted": len(taps),
        "units": units,
        "units_sold": view.units_sold,
        "oversold": max(0, view.units_sold - units) + abs(sold - view.units_sold),
        "callbacks_answered": answered,
        "http_429": http_429,
        "max_edits_per_group_per_min": round(max(edits.values(), default=0) / minutes, 1),
        "joins_per_s": round(len(taps) / elapsed, 1),
        "statements_per_update": counter.median(),
        "bare_dispatch_per_s": round(len(taps) / bare_elapsed, 1),
        "ratio": round(bare_elapsed / elapsed, 3),
    }


def main(argv: list[str]) -> None:
    parser = store_parser(__doc__)
    parser.add_argument("--redis", default=None)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--members", type=int, default=None, help="instead of 600 (120 quick)")
    parser.add_argument("--units", type=int, default=None, help="instead of 100 (30 quick)")
    parser.add_argument(
        "--check", action="store_true", help="exit 1 if anything was oversold or answered 429"
    )
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args))
    print(json.dumps(figures))
    if args.check and (figures["oversold"] or figures["http_429"]):
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
