"""Benchmark: one broadcast to N recipients (groups and opted-in members) through the emulator
with Telegram's limits enforced. Prints one JSON line.

    python bench/broadcast.py                  # full: 40 groups + 560 members = 600 recipients
    python bench/broadcast.py --quick          # CI: 10 groups + 110 members = 120 recipients
    python bench/broadcast.py --backend postgresql \\
        --database postgresql+asyncpg://postgres@127.0.0.1:5432/test
    python bench/broadcast.py --workers 2 --redis redis://127.0.0.1:6379/15   # two senders

The sender runs at BROADCAST_PER_SECOND (default 20, of Telegram's 30 a second; pass --rate 30
to use it all) with its default concurrency, through the paced bot. `physical_min_s` is
recipients / rate, the least time the limits allow; `ratio` = elapsed_s / physical_min_s
(1.0 is perfect). `duplicates` must be 0, and with the paced sender `http_429` too.
`--workers N` runs N bot processes' senders at once on one database; with `--redis` they share
Telegram's budget and the sender's rate through it (the Redis database is flushed first), so
the physical minimum stays recipients / rate however many workers there are.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from redis.asyncio import Redis

from bench.common import scratch_store, store_parser
from bot.app import build_runtime, freeze_startup_objects, prepare
from bot.config import Settings
from services import broadcast as outbox
from services.community import ChatInfo, record_community
from services.member import UserInfo, record_member
from tgemu import EMULATOR_TOKEN, Emulator

STAFF = 9_000_001
TEXT = "<b>Flash drop</b>: oolong 19.90 CNY until Sunday 20:00"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    groups, members = (10, 110) if args.quick else (40, 560)
    emulator = Emulator()
    await emulator.start()
    emulator.enforce_rate_limits = True
    async with scratch_store(args.backend, args.database, "broadcast") as url:
        settings = Settings(  # type: ignore[call-arg]
            _env_file=None,
            telegram_api_url=emulator.base_url,
            database_url=url,
            owner_ids=frozenset({STAFF}),
            broadcast_per_second=args.rate,
            promo_quiet_hours="off",  # the run must not depend on the hour it starts at
            redis_url=args.redis,
        )
        if args.redis:
            client = Redis.from_url(args.redis)
            await client.flushdb()
            await client.aclose()
        runtime = build_runtime(settings, EMULATOR_TOKEN)
        await prepare(runtime)
        freeze_startup_objects()  # as a process that runs the bot does after start-up
        others = [build_runtime(settings, EMULATOR_TOKEN) for _ in range(args.workers - 1)]
        # the world: groups with the bot in them, members who started it and opted in
        emulator.add_user(STAFF, "Staff")
        chat_ids = [-1_009_100_000_000 - g for g in range(groups)]
        member_ids = [8_100_000 + i for i in range(members)]
        now = datetime.now(UTC)
        async with runtime.sessions() as session, session.begin():
            for g, chat in enumerate(chat_ids):
                emulator.add_group(chat, f"Group {g}", creator=STAFF)
                emulator.add_bot_to_group(chat, STAFF)
                await record_community(
                    session,
                    chat=ChatInfo(id=chat, title=f"Group {g}", chat_type="supergroup"),
                    default_locale="en",
                    default_timezone="UTC",
                    joined=True,
                )
            for i, uid in enumerate(member_ids):
                emulator.add_user(uid, f"m{i}", language_code="en")
                emulator.send_message(uid, uid, "/start")  # they opened the private chat
                await record_member(
                    session,
                    user=UserInfo(id=uid, first_name=f"m{i}", language_code="en"),
                    default_locale="en",
                    started=True,
                )
                await outbox.set_consent(
                    session, member_id=uid, opted_in=True, wording_version="bench", now=now
                )
            broadcast_id, plan = await outbox.create_broadcast(
                session,
                draft=outbox.Draft(
                    text=TEXT, targets="everyone", scheduled_at=now, created_by=STAFF
                ),
                rules=settings.pacing_rules(),
                default_timezone="UTC",
            )
        emulator.pop_updates()
        before = len(emulator.calls)
        started = time.perf_counter()
        await asyncio.gather(*(r.broadcasts.pump() for r in [runtime, *others]))
        elapsed = time.perf_counter() - started
        await runtime.broadcasts.housekeeping()
        async with runtime.sessions() as session:
            view = await outbox.progress(session, broadcast_id=broadcast_id)
        assert view is not None
        copies = Counter(
            params.get("chat_id")
            for name, params in emulator.calls[before:]
            if name == "sendMessage" and params.get("text") == TEXT
        )
        delivered_chats = [
            chat
            for chat in chat_ids + member_ids
            if sum(1 for m in emulator.bot_messages(chat) if m.text and "Flash drop" in m.text)
        ]
        duplicates = sum(
            max(
                0,
                sum(1 for m in emulator.bot_messages(chat) if m.text and "Flash drop" in m.text)
                - 1,
            )
            for chat in chat_ids + member_ids
        )
        http_429 = emulator.http_429  # every 429 Telegram (the emulator) answered
        for other in others:
            await other.close()
        await runtime.close()
    await emulator.stop()
    recipients = plan.recipients
    physical_min = recipients / args.rate
    return {
        "bench": "broadcast",
        "backend": args.backend,
        "workers": args.workers,
        "redis": bool(args.redis),
        "recipients": recipients,
        "groups": groups,
        "members": members,
        "delivered": len(delivered_chats),
        "duplicates": duplicates,
        "requests_per_chat_max": max(copies.values(), default=0),
        "http_429": http_429,
        "status": view.status,
        "rate_per_s": args.rate,
        "elapsed_s": round(elapsed, 2),
        "physical_min_s": round(physical_min, 2),
        "ratio": round(elapsed / physical_min, 3),
    }


def main(argv: list[str]) -> None:
    parser = store_parser(__doc__)
    parser.add_argument("--rate", type=float, default=20.0, help="BROADCAST_PER_SECOND")
    parser.add_argument("--workers", type=int, default=1, help="senders running at once")
    parser.add_argument("--redis", default=None, help="REDIS_URL the workers share")
    parser.add_argument(
        "--check",
        action="store_true",
        help="exit 1 on a duplicate, a 429, or a recipient not delivered",
    )
    args = parser.parse_args(argv)
    figures = asyncio.run(run(args))
    print(json.dumps(figures))
    if args.check and (
        figures["duplicates"]
        or figures["http_429"]
        or figures["delivered"] != figures["recipients"]
    ):
        sys.exit(1)


if __name__ == "__main__":
    main(sys.argv[1:])
