"""The runtime: errors, duplicates, throttling, Redis outages, polling, webhook, command menus."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Any, ClassVar

import pytest
from aiogram import Router
from aiogram.filters import Command
from aiogram.types import Message
from redis.asyncio import Connection as RedisConnection
from sqlalchemy import event
from sqlmodel import select

from bot.app import build_runtime, prepare
from bot.config import Settings
from handlers.views.commands import COMMANDS, MENU_LIMIT, commands_for
from models.member import Member
from services.role import Role
from tests.conftest import LEE, MIA, TEA, Harness
from tests.net import TcpProxy
from tgemu import EMULATOR_TOKEN, Emulator


async def test_a_failing_handler_gets_a_localized_apology_not_a_traceback(
    harness: Harness, caplog: pytest.LogCaptureFixture
) -> None:
    # given a handler that fails
    boom = Router(name="boom")

    @boom.message(Command("boom"))
    async def explode(message: Message) -> None:
        raise RuntimeError("kaboom")

    harness.runtime.dp.include_router(boom)
    routers = harness.runtime.dp.sub_routers
    routers.insert(0, routers.pop())  # before the last router, whose hint takes unknown text
    # when members trigger it
    with caplog.at_level(logging.ERROR):
        english = await harness.send(MIA, MIA, "/boom")
        chinese = await harness.send(LEE, LEE, "/boom")
    # then each gets a short apology in their language
    assert english == ["Sorry, something went wrong on my side. Please try again in a moment."]
    assert chinese == ["抱歉，我这边出了点问题。请稍后再试。"]
    assert not any("Traceback" in text or "kaboom" in text for text in english + chinese)
    # and the log names the update with the error, its text in the traceback
    assert any("RuntimeError" in record.getMessage() for record in caplog.records)
    assert "kaboom" in caplog.text
    # and the failed update's writes were rolled back as a unit (member not recorded by it)
    async with harness.session() as session:
        assert await session.get(Member, MIA) is None


async def test_the_same_update_delivered_twice_has_one_effect(harness: Harness) -> None:
    update = harness.emulator.send_message(MIA, MIA, "/start")
    harness.emulator.pop_updates()
    await harness.runtime.dp.feed_raw_update(harness.runtime.bot, update)
    await harness.runtime.dp.feed_raw_update(harness.runtime.bot, update)
    greetings = [m for m in harness.emulator.bot_messages(MIA) if m.text.startswith("Hi Mia")]
    assert len(greetings) == 1


async def test_a_user_sending_too_fast_is_told_once_then_ignored(
    emulator: Emulator, settings: Settings
) -> None:
    # a window far longer than the test, so a slow machine cannot let the window pass
    slow = settings.model_copy(update={"throttle_limit": 3, "throttle_window": 3600})
    runtime = build_runtime(slow, EMULATOR_TOKEN)
    await prepare(runtime, migrate=False)
    harness = Harness(emulator=emulator, runtime=runtime)
    try:
        replies = [await harness.send(MIA, MIA, "/cancel") for _ in range(6)]
    finally:
        await runtime.close()
    assert replies[:3] == [["There is nothing to cancel."]] * 3
    assert replies[3] == ["You are going a little fast. Please wait a few seconds and try again."]
    assert replies[4:] == [[], []]


class _Writes(RedisConnection):
    """A Redis connection that keeps what it writes, one entry a write (a round trip)."""

    writes: ClassVar[list[bytes]] = []

    async def send_packed_command(self, command: Any, check_health: bool = True) -> None:
        chunks = [command] if isinstance(command, bytes | str) else list(command)
        self.writes.append(b"".join(c.encode() if isinstance(c, str) else c for c in chunks))
        await super().send_packed_command(command, check_health)


@pytest.mark.needs_redis
async def test_the_state_read_and_the_throttle_count_are_one_round_trip(
    emulator: Emulator, settings: Settings
) -> None:
    # given the bot on Redis, a member in the middle of a wizard
    runtime = build_runtime(settings, EMULATOR_TOKEN)
    assert runtime.redis is not None
    runtime.redis.connection_pool.connection_class = _Writes
    await prepare(runtime, migrate=False)
    harness = Harness(emulator=emulator, runtime=runtime)
    try:
        await harness.send(MIA, MIA, "/start")
        _Writes.writes.clear()
        # when they write
        replies = await harness.send(MIA, MIA, "/cancel")
    finally:
        await runtime.close()
    # then the bot's first write to Redis both read their state and counted the update, and
    # nothing else counted it (the handler reads the state again, on its own)
    assert replies == ["There is nothing to cancel."]
    first = _Writes.writes[0]
    assert b"GET" in first and b":state" in first and b"INCR" in first and b"throttle:" in first
    assert [w for w in _Writes.writes if b"throttle:" in w] == [first]


@pytest.mark.needs_redis
async def test_the_state_is_read_while_the_update_reads_its_member(
    emulator: Emulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # given the bot on Redis, whose state read takes a while
    runtime = build_runtime(settings, EMULATOR_TOKEN)
    await prepare(runtime, migrate=False)
    harness = Harness(emulator=emulator, runtime=runtime)
    storage = runtime.dp.fsm.storage
    read_state = storage.state_and_hit
    steps: list[str] = []

    async def slow_read(*args: Any) -> Any:
        steps.append("state asked")
        await asyncio.sleep(0.05)
        read = await read_state(*args)
        steps.append("state read")
        return read

    def statement(*_args: Any) -> None:
        if not steps or steps[-1] != "SQL":
            steps.append("SQL")

    try:
        await harness.send(MIA, MIA, "/start")
        monkeypatch.setattr(storage, "state_and_hit", slow_read)
        event.listen(runtime.engine.sync_engine, "before_cursor_execute", statement)
        # when the member writes
        replies = await harness.send(MIA, MIA, "/cancel")
        event.remove(runtime.engine.sync_engine, "before_cursor_execute", statement)
    finally:
        await runtime.close()
    # then the update's database work began while Redis was still answering, not after it
    assert replies == ["There is nothing to cancel."]
    assert steps.index("SQL") < steps.index("state read"), steps


async def test_polling_end_to_end(harness: Harness) -> None:
    """The real long-polling loop fetches the update from the emulator and answers it."""
    dp, bot = harness.runtime.dp, harness.runtime.bot
    polling = asyncio.create_task(
        dp.start_polling(
            bot,
            handle_as_tasks=False,
            handle_signals=False,
            close_bot_session=False,
            polling_timeout=1,
        )
    )
    try:
        update = harness.emulator.send_message(MIA, MIA, "/start")
        await harness.emulator.wait_processed(update["update_id"], timeout=15)
        assert harness.emulator.last_bot_message(MIA).text.startswith("Hi Mia!")
    finally:
        await dp.stop_polling()
        await asyncio.wait_for(polling, timeout=10)


def scope_key(scope: dict[str, object]) -> str:
    return json.dumps(scope, sort_keys=True)


def test_no_command_menu_holds_more_than_telegram_takes() -> None:
    # Telegram refuses a menu of more than 100 commands (and the bot then keeps the old one):
    # a new command past the limit must choose what leaves the menu (in_menu=False), never
    # be cut silently; /help still lists every command of the role
    for role in Role:
        for private in (True, False):
            for admin in (False, True):
                meant = [c for c in commands_for(role, private=private, admin=admin) if c.in_menu]
                assert len(meant) <= MENU_LIMIT, (role, private, admin)
    hidden = [c.name for c in COMMANDS if not c.in_menu]
    assert hidden == [
        "membership",
        "jielong",
        "pickup_point_remove",
        "keeper_remove",
        "for",
        "shipping_option_remove",
        "leader_reinstate",
        "group_level",
        "group_invite",
        "membership_plans",
        "membership_plan_add",
        "membership_plan_off",
        "buyers_group",
        "drop_pickup",
        "care_result",
        "broadcast_result",
        "reviews",
        "points_grant",
        "digest",
        "metrics",
        "alert_set",
        "alerts",
        "alert_remove",
        "trial_new",
        "trial",
        "report",
    ]


async def test_command_menus_are_registered_per_scope_and_language(harness: Harness) -> None:
    commands = harness.emulator.commands
    private = scope_key({"type": "all_private_chats"})
    groups = scope_key({"type": "all_group_chats"})
    admins = scope_key({"type": "all_chat_administrators"})

    def names(key: tuple[str, str]) -> list[str]:
        return [c["command"] for c in commands[key]]

    assert names((private, "")) == [
        "start",
        "orders",
        "help",
        "language",
        "wallet",
        "payout",
        "handover",
        "invite",
        "referrals",
        "leaderboard_optin",
        "me",
        "checkin",
        "points",
        "rewards",
        "coupons",
        "ticket_open",
        "ticket",
        "ticket_say",
        "usecoupon",
        "gift",
        "donate",
        "tiers",
        "timezone",
        "birthday",
        "review",
        "suggest",
        "nps_me",
        "products",
        "buy",
        "reservations",
        "cancel",
        "stop",
        "privacy",
        "mydata",
        "forgetme",
        "address",
    ]
    assert names((groups, "")) == [
        "help",
        "invite",
        "leaderboard",
        "checkin",
        "gift",
        "suggest",
        "products",
        "buy",
        "list",
    ]
    assert names((admins, "")) == [
        "help",
        "invite",
        "leaderboard",
        "checkin",
        "gift",
        "suggest",
        "products",
        "buy",
        "lead",  # the admins are candidates: they apply to lead
        "settings",
        "list",
        "groupbuy",
        "signup",
        "gb_extend",
        "gb_close",
        "gb_cancel",
        "orders",
        "paid",
        "pickedup",
        "stats",
        # pickup points and their keepers, run by the group's leader
        "pickup_point_add",
        "pickup_points",
        "keeper_add",
        "gb_points",
        "point_sheet",
    ]
    assert commands[(private, "en")] == commands[(private, "")]
    # Chinese menus carry translated descriptions
    assert {"command": "language", "description": "选择语言"} in commands[(private, "zh")]
    assert {"command": "settings", "description": "群组语言和时区"} in commands[(admins, "zh")]
    assert {"command": "stats", "description": "销售、会员和 NPS 数据及图表"} in commands[
        (admins, "zh")
    ]


@pytest.mark.needs_redis
async def test_the_bot_keeps_answering_while_redis_is_away(
    emulator: Emulator,
    settings: Settings,
    redis_proxy: TcpProxy,
    caplog: pytest.LogCaptureFixture,
) -> None:
    assert settings.redis_url
    url = redis_proxy.url(settings.redis_url)
    runtime = build_runtime(settings.model_copy(update={"redis_url": url}), EMULATOR_TOKEN)
    await prepare(runtime, migrate=False)
    harness = Harness(emulator=emulator, runtime=runtime)
    try:
        # given the bot works with Redis
        assert (await harness.send(MIA, MIA, "/start"))[0].startswith("Hi Mia!")
        assert runtime.redis is not None and await runtime.redis.dbsize() >= 1
        # when Redis goes away mid-run
        await redis_proxy.cut()
        with caplog.at_level(logging.WARNING):
            replies = await harness.send(MIA, MIA, "/cancel")
            help_text = await harness.send(MIA, MIA, "/help")
        # then the bot still answers, and says in the log that it runs degraded
        assert replies == ["There is nothing to cancel."]
        assert help_text[0].startswith("Here is what you can do:")
        assert any("Redis unavailable" in r.getMessage() for r in caplog.records)
        # and when Redis is back, it is used again
        await redis_proxy.start()
        with caplog.at_level(logging.WARNING):
            await harness.send(MIA, MIA, "/cancel")
        assert any("Redis is back" in r.getMessage() for r in caplog.records)
    finally:
        await runtime.close()


async def test_group_updates_register_unknown_groups(harness: Harness) -> None:
    """A message from a group the bot never saw join still registers it with the defaults."""
    await harness.send(MIA, TEA, "/help")
    async with harness.session() as session:
        from models.community import Community

        community = await session.get(Community, TEA)
        members = (await session.execute(select(Member.id))).scalars().all()
    assert community is not None and community.locale == "en"
    assert MIA in members


@pytest.fixture
async def impatient(
    emulator: Emulator, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[Harness]:
    """The bot with a SQLite busy timeout of zero: an update that had to wait on SQLite's write
    lock would fail at once instead of after ten seconds."""
    monkeypatch.setattr("bot.db.SQLITE_BUSY_TIMEOUT_MS", 0)
    runtime = build_runtime(settings, EMULATOR_TOKEN)
    await prepare(runtime, migrate=False)
    yield Harness(emulator=emulator, runtime=runtime)
    await runtime.close()


async def test_a_burst_of_updates_handled_at_once_loses_none(impatient: Harness) -> None:
    """Polling hands a batch to the Dispatcher as concurrent tasks; on SQLite they queue for the
    one writer in the bot instead of failing on the database lock."""
    h = impatient
    await h.join_groups()
    members = [5_000 + i for i in range(12)]
    for uid in members:
        h.emulator.add_user(uid, f"m{uid}", language_code="en")
        h.emulator.send_message(uid, TEA, "/checkin")
    burst = h.emulator.pop_updates()
    # when the whole batch is handled at once
    await asyncio.gather(*(h.runtime.dp.feed_raw_update(h.runtime.bot, u) for u in burst))
    # then every member checked in and was answered, and nobody got an apology
    texts = [m.text or "" for m in h.emulator.bot_messages(TEA)]
    for uid in members:
        assert f"m{uid} checked in: +5 points. Streak: 1 day." in texts
    assert not any("went wrong" in t for t in texts)
