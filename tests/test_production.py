"""Production end to end, with real processes on one PostgreSQL and one Redis: two webhook
workers and two scheduler processes (one leads, one stands by), fed one stream of updates.

The test plays Telegram: the emulator makes the updates (members writing and tapping), and
the test delivers each one to a worker as Telegram's load balancer would, some to both workers
and some twice, retrying any delivery that was not acknowledged. Then a leader's group-buy is
settled exactly once by the scheduler at its deadline (given as a time a few seconds ahead,
which the product accepts), after the leading scheduler was killed and the other took over;
and a broadcast reaches every recipient once while both workers' senders claim its rows.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families
from redis.asyncio import Redis
from sqlalchemy import select
from sqlalchemy.ext.asyncio import create_async_engine
from sqlmodel import col

from bot.leader import LEADER_KEY
from bot.webhook import SECRET_HEADER
from models.broadcast import RECIPIENT_SENT, BroadcastRecipient
from models.groupbuy import GROUPBUY_FORMED, GroupBuy
from models.idempotency import ProcessedUpdate
from models.order import Order
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA
from tests.net import eventually
from tests.processes import START_LIMIT, StartBot, free_port, healthy, inbox_drained
from tgemu import EMULATOR_TOKEN, Emulator

pytestmark = pytest.mark.skipif(
    not (os.environ.get("TEST_DATABASE_URL") and os.environ.get("TEST_REDIS_URL")),
    reason="needs TEST_DATABASE_URL and TEST_REDIS_URL (the production stores)",
)
SECRET = "s3cret"
TTL = 2.0  # the scheduler lock: a dead leader is replaced within about 4/3 of it
PEOPLE = [(3001 + n, f"Fan{n}") for n in range(6)]  # members who opt in to offers
JOINERS = (MIA, SAM, OWNER, KAI)
# every process: no throttling in the way, offers at any hour, quick sweeps, a slow shared
# broadcast rate and one send at a time per process, so that the senders take turns
COMMON = {
    "OWNER_IDS": str(OWNER),
    "THROTTLE_LIMIT": "100000",
    "PROMO_QUIET_HOURS": "off",
    "SWEEP_SECONDS": "1",
    "LEADER_TTL_SECONDS": str(TTL),
    "BROADCAST_PER_SECOND": "2",
    "BROADCAST_CONCURRENCY": "1",
    "BROADCAST_POLL_SECONDS": "0.5",
    "WEBHOOK_SWEEP_SECONDS": "1",
}


class Telegram:
    """Delivers the emulator's updates to the workers: alternately, every third one to both
    workers at once and every fourth one twice to the same worker; a delivery that got no 200
    is retried until one does, as Telegram does."""

    def __init__(self, emulator: Emulator, hooks: list[str], database_url: str) -> None:
        self.emulator = emulator
        self.hooks = hooks
        self.database_url = database_url
        self.count = itertools.count()
        self.delivered: list[int] = []  # every update id, once
        self.posts = 0
        self.http: aiohttp.ClientSession | None = None

    async def _post(self, update: dict[str, Any], hook: str) -> int:
        assert self.http is not None
        self.posts += 1
        try:
            async with self.http.post(
                hook, json=update, headers={SECRET_HEADER: SECRET}
            ) as response:
                return response.status
        except aiohttp.ClientError:
            return 0

    async def _deliver(self, update: dict[str, Any]) -> None:
        n = next(self.count)
        first, other = self.hooks[n % 2], self.hooks[(n + 1) % 2]
        targets = [first]
        if n % 3 == 0:
            targets.append(other)
        if n % 4 == 1:
            targets.append(first)
        statuses = await asyncio.gather(*(self._post(update, hook) for hook in targets))
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 60
        while 200 not in statuses:
            assert loop.time() < deadline, f"update {update['update_id']} never acknowledged"
            await asyncio.sleep(0.2)
            statuses.append(await self._post(update, first))
        self.delivered.append(int(update["update_id"]))

    async def flush(self) -> None:
        """Deliver every update made so far, then wait until the workers handled them."""
        updates = self.emulator.pop_updates()
        await asyncio.gather(*(self._deliver(update) for update in updates))
        await inbox_drained(self.database_url)

    async def tap(self, user: int, chat: int, label: str) -> None:
        """The user taps the button with this label on the bot's last message in the chat."""
        await eventually(
            lambda: label in self.emulator.last_bot_message(chat).button_texts,
            limit=30,
            what=f"a {label!r} button in chat {chat}",
        )
        last = self.emulator.last_bot_message(chat)
        self.emulator.press_button(
            user, chat, last.message_id, index=last.button_texts.index(label)
        )
        await self.flush()

    async def tap_all(self, users: list[int], label: str) -> None:
        """Each user taps the button with this label in their private chat, all at once."""
        for user in users:
            await eventually(
                lambda user=user: label in self.emulator.last_bot_message(user).button_texts,
                limit=30,
                what=f"a {label!r} button for {user}",
            )
            last = self.emulator.last_bot_message(user)
            index = last.button_texts.index(label)
            self.emulator.press_button(user, user, last.message_id, index=index)
        await self.flush()

    async def say(self, user: int, chat: int, text: str) -> None:
        self.emulator.send_message(user, chat, text)
        await self.flush()


async def scrape(base: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    async with aiohttp.ClientSession() as http, http.get(f"{base}/metrics") as response:
        body = await response.text()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(body)
        for sample in family.samples
    }


def total(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    wanted = set(labels.items())
    return sum(value for (n, lab), value in samples.items() if n == name and wanted <= lab)


def texts(emulator: Emulator, chat: int) -> list[str]:
    return [m.text or m.caption or "" for m in emulator.bot_messages(chat)]


def count(emulator: Emulator, chat: int, needle: str) -> int:
    return sum(needle in text for text in texts(emulator, chat))


async def leader_pid(client: Redis) -> int | None:
    token = await client.get(LEADER_KEY)
    return None if token is None else int(token.decode().split("-")[0])


async def test_two_workers_and_two_schedulers_handle_a_community_day_exactly_once(
    emulator: Emulator, bot_process: StartBot, redis_url: str | None, database_url: str
) -> None:
    assert redis_url
    for user_id, name in PEOPLE:
        emulator.add_user(user_id, name, language_code="en")
    # given two webhook workers that leave the scheduler to others
    ports = [free_port(), free_port()]
    workers = [
        await bot_process(
            "run",
            "--webhook",
            WEBHOOK_URL=f"http://127.0.0.1:{port}/hook",
            WEBHOOK_SECRET=SECRET,
            WEBHOOK_PORT=str(port),
            RUN_SCHEDULER="false",
            **COMMON,
        )
        for port in ports
    ]
    # and two scheduler processes: one will lead, the other stands by
    scheduler_ports = [free_port(), free_port()]
    schedulers = [
        await bot_process("scheduler", WEBHOOK_PORT=str(port), **COMMON) for port in scheduler_ports
    ]
    for port in ports + scheduler_ports:
        await healthy(f"http://127.0.0.1:{port}")
    # Telegram delivers through the test from now on, not to the last webhook set
    await eventually(
        lambda: emulator.webhook is not None, limit=START_LIMIT, what="a worker set its webhook"
    )
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{emulator.base_url}/bot{EMULATOR_TOKEN}/deleteWebhook") as r:
            assert r.status == 200
        telegram = Telegram(
            emulator, [f"http://127.0.0.1:{port}/hook" for port in ports], database_url
        )
        telegram.http = http
        bases = {
            process.pid: f"http://127.0.0.1:{port}"
            for process, port in zip(schedulers, scheduler_ports, strict=True)
        }
        await run_the_day(emulator, telegram, workers, bases, redis_url, database_url)
        samples = [await scrape(f"http://127.0.0.1:{port}") for port in ports]

    # then every update was handled once: one claim per update, and between the two workers
    # every update reached a handler exactly once (copies were dropped as duplicates or earlier)
    engine = create_async_engine(database_url)
    try:
        loop = asyncio.get_running_loop()
        limit = loop.time() + 30
        while True:  # a reply can reach Telegram just before its update's claim commits
            async with engine.connect() as connection:
                claimed = list(
                    (await connection.execute(select(col(ProcessedUpdate.update_id)))).scalars()
                )
            if len(claimed) >= len(telegram.delivered) or loop.time() > limit:
                break
            await asyncio.sleep(0.1)
        assert sorted(claimed) == sorted(telegram.delivered)
    finally:
        await engine.dispose()
    assert telegram.posts > len(telegram.delivered)  # copies were really sent
    reached = sum(
        total(s, "bot_updates_total", outcome=outcome)
        for s in samples
        for outcome in ("handled", "unhandled")
    )
    assert reached == len(telegram.delivered)
    assert sum(total(s, "bot_updates_total", outcome="error") for s in samples) == 0


async def run_the_day(
    emulator: Emulator,
    telegram: Telegram,
    workers: list[Any],
    schedulers: dict[int, str],
    redis_url: str,
    database_url: str,
) -> None:
    # the owner adds the bot to both groups; everyone starts it; the owner makes Sam staff
    emulator.add_bot_to_group(TEA, OWNER)
    emulator.add_bot_to_group(COFFEE, OWNER)
    everyone = [SAM, MIA, KAI, LEE, OWNER, *(uid for uid, _ in PEOPLE)]
    for uid in everyone:
        emulator.send_message(uid, uid, "/start")
    await telegram.flush()
    for uid in everyone:
        await eventually(
            lambda uid=uid: len(emulator.bot_messages(uid)) > 0, limit=30, what=f"{uid} greeted"
        )
    for uid, name in [(MIA, "Mia"), (SAM, "Sam"), (OWNER, "Olivia"), *PEOPLE]:
        assert count(emulator, uid, f"Hi {name}!") == 1, name
    await telegram.say(OWNER, OWNER, "/grant_staff @sam")
    await telegram.say(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    # the fans opt in to offers (each taps 🔔 Offers, then yes)
    await telegram.tap_all([uid for uid, _ in PEOPLE], "🔔 Offers")
    await telegram.tap_all([uid for uid, _ in PEOPLE], "✅ Yes, send me offers")

    # when Lee, leader of Tea Lovers, opens a group-buy closing a few seconds from now
    deadline = (datetime.now(UTC) + timedelta(seconds=15)).replace(microsecond=0)
    await telegram.say(LEE, TEA, f"/groupbuy 1 {deadline.isoformat()} min=3")
    await eventually(
        lambda: "Join ×1" in emulator.last_bot_message(TEA).button_texts,
        limit=30,
        what="the group-buy card",
    )
    card = emulator.last_bot_message(TEA).message_id
    # when the leading scheduler is killed while the group-buy is open
    client = Redis.from_url(redis_url)
    try:
        loop = asyncio.get_running_loop()
        limit = loop.time() + START_LIMIT
        while (pid := await leader_pid(client)) is None:
            assert loop.time() < limit, "no scheduler took the lock"
            await asyncio.sleep(0.1)
        (standby,) = [other for other in schedulers if other != pid]
        os.kill(pid, signal.SIGKILL)
        # and four members join it at once meanwhile
        for uid in JOINERS:
            emulator.press_button(uid, TEA, card, index=0)
        await telegram.flush()
        # then the standby takes the lock once it expired (about 4/3 of the ttl)
        limit = loop.time() + 30 * TTL
        while await leader_pid(client) != standby:
            assert loop.time() < limit, "the standby scheduler never took over"
            await asyncio.sleep(0.1)
    finally:
        await client.aclose()
    await eventually(
        lambda: all(count(emulator, uid, "You joined Oolong tea") for uid in (MIA, SAM, OWNER)),
        limit=30,
        what="the joiners were confirmed",
    )
    for uid in (MIA, SAM, OWNER):
        assert count(emulator, uid, "You joined Oolong tea") == 1, uid

    # when Sam broadcasts to everyone meanwhile
    await telegram.say(SAM, SAM, "/broadcast")
    await telegram.say(SAM, SAM, "<b>New oolong</b> for the weekend")
    await telegram.tap(SAM, SAM, "⏭ Skip")
    await telegram.say(SAM, SAM, "Shop now | https://example.com/oolong")
    await telegram.tap(SAM, SAM, "Everyone: groups and members")
    await telegram.tap(SAM, SAM, "Now")
    await telegram.tap(SAM, SAM, "✅ Confirm")
    recipients = [TEA, COFFEE, *(uid for uid, _ in PEOPLE)]
    await eventually(
        lambda: all(count(emulator, chat, "New oolong") for chat in recipients),
        limit=60,
        what="the broadcast reached everyone",
    )
    # then every recipient got it once, and both workers' senders claimed rows (a row is
    # marked sent just after Telegram took the message: wait for the marks, bounded)
    engine = create_async_engine(database_url)
    try:
        loop = asyncio.get_running_loop()
        limit = loop.time() + 30
        while True:
            async with engine.connect() as connection:
                sent = (
                    await connection.execute(
                        select(BroadcastRecipient.chat_id, BroadcastRecipient.claimed_by).where(
                            col(BroadcastRecipient.status) == RECIPIENT_SENT
                        )
                    )
                ).all()
            if len(sent) >= len(recipients) or loop.time() > limit:
                break
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()
    assert Counter(chat for chat, _by in sent) == dict.fromkeys(recipients, 1)
    claimers = {int(str(by).split("-")[0]) for _chat, by in sent}
    assert {worker.pid for worker in workers} <= claimers, claimers

    # when the deadline passes, the scheduler that took over settles the group-buy
    await eventually(
        lambda: all(count(emulator, uid, "formed!") for uid in (MIA, SAM, OWNER)),
        limit=90,
        what="the members were told the group-buy formed",
    )
    for uid in (MIA, SAM, OWNER):
        assert count(emulator, uid, "Oolong tea formed! Your order") == 1, uid
    assert count(emulator, TEA, "formed:") == 1
    for chat in recipients:
        assert count(emulator, chat, "New oolong") == 1, chat
    engine = create_async_engine(database_url)
    try:
        async with engine.connect() as connection:
            statuses = (await connection.execute(select(GroupBuy.status))).scalars().all()
            buyers = (await connection.execute(select(Order.member_id))).scalars().all()
    finally:
        await engine.dispose()
    assert statuses == [GROUPBUY_FORMED]
    assert sorted(buyers) == sorted(JOINERS)
    # and the settlement was the standby's, counted once
    samples = await scrape(schedulers[standby])
    assert total(samples, "bot_groupbuy_settlements_total", outcome="formed") == 1
