"""The broadcast outbox end to end: planned rows, the sender, Telegram's answers, restarts."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select
from sqlmodel import col

from bot.app import build_runtime, prepare
from bot.config import Settings
from bot.outbox import BroadcastSender
from models.broadcast import (
    BROADCAST_CANCELLED,
    BROADCAST_DONE,
    RECIPIENT_FAILED,
    RECIPIENT_SENT,
    RECIPIENT_SKIPPED,
    TARGET_EVERYONE,
    BroadcastRecipient,
    MarketingConsent,
)
from services import broadcast as outbox
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, FakeClock, Harness
from tgemu import EMULATOR_TOKEN, Emulator

# the promotion policy's default caps, gap and quiet hours (tests/conftest.py UNPACED)
pytestmark = pytest.mark.pacing

MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday, outside every quiet hour in UTC
TEXT = "<b>New oolong</b> is here: 39.90 CNY until Sunday"
EXTRA_GROUPS = [-1001000000100 - i for i in range(4)]
EXTRA_MEMBERS = [2000 + i for i in range(6)]


async def make_harness(emulator: Emulator, settings: Settings, **values: Any) -> Harness:
    clock = FakeClock()
    clock.now = MORNING
    runtime = build_runtime(settings.model_copy(update=values), EMULATOR_TOKEN, clock=clock)
    await prepare(runtime, migrate=False)
    return Harness(emulator=emulator, runtime=runtime, clock=clock)


@pytest.fixture
async def paced(emulator: Emulator, settings: Settings) -> AsyncIterator[Harness]:
    """The bot with Telegram's limits enforced by the emulator and paced by the bot."""
    emulator.enforce_rate_limits = True
    harness = await make_harness(emulator, settings, pace_messages=True, broadcast_per_second=30.0)
    yield harness
    await harness.runtime.close()


async def world(harness: Harness, *, opted_in: list[int]) -> None:
    """Six groups with the bot; members who started it, some of whom opted in."""
    emu = harness.emulator
    for chat in EXTRA_GROUPS:
        emu.add_group(chat, f"Group {chat}", creator=LEE, members=[MIA])
    await harness.join_groups()
    for chat in EXTRA_GROUPS:
        emu.add_bot_to_group(chat, OWNER)  # staff-added: approved at once
    for uid in EXTRA_MEMBERS:
        emu.add_user(uid, f"Member {uid}", language_code="en")
    for uid in [MIA, SAM, LEE, KAI, *EXTRA_MEMBERS]:
        emu.send_message(uid, uid, "/cancel")  # opens the private chat
    await harness.feed_pending()
    async with harness.session() as session, session.begin():
        for uid in opted_in:
            await outbox.set_consent(
                session, member_id=uid, opted_in=True, wording_version="t", now=MORNING
            )
        await outbox.set_consent(
            session, member_id=SAM, opted_in=False, wording_version="t", now=MORNING
        )


async def schedule(harness: Harness, targets: str = TARGET_EVERYONE, **draft: Any) -> int:
    runtime = harness.runtime
    async with harness.session() as session, session.begin():
        broadcast_id, _summary = await outbox.create_broadcast(
            session,
            draft=outbox.Draft(
                text=draft.pop("text", TEXT),
                targets=targets,
                scheduled_at=harness.clock.now,
                created_by=SAM,
                **draft,
            ),
            rules=runtime.settings.pacing_rules(),
            default_timezone=runtime.settings.default_timezone,
        )
    return broadcast_id


async def until(condition: Callable[[], bool]) -> None:
    """Wait (at most 30 s) for something the background sender does."""
    for _ in range(3000):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the sender never got there")


def copies(emulator: Emulator, chat_id: int, text: str = "New oolong") -> int:
    return sum(1 for m in emulator.bot_messages(chat_id) if text in (m.text or m.caption or ""))


async def rows(harness: Harness, broadcast_id: int) -> dict[int, BroadcastRecipient]:
    async with harness.session() as session:
        found = await session.execute(
            select(BroadcastRecipient).where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
        )
        return {row.chat_id: row for row in found.scalars()}


async def test_a_broadcast_reaches_every_group_and_opted_in_member_once_within_the_limits(
    paced: Harness,
) -> None:
    # given six groups, and members of whom some opted in, one said /stop, one never answered
    opted = [MIA, KAI, *EXTRA_MEMBERS]
    await world(paced, opted_in=opted)
    # when a broadcast to everyone is confirmed and the sender runs
    broadcast_id = await schedule(paced)
    groups = [TEA, COFFEE, *EXTRA_GROUPS]
    async with paced.session() as session:  # the outbox depth operators watch: rows to send
        assert await outbox.outbox_depth(session) == len(groups) + len(opted)
    sent = await paced.runtime.broadcasts.pump()
    await paced.runtime.broadcasts.housekeeping()
    # then every group and every opted-in member got it exactly once, and Telegram never
    # had to answer 429
    assert sent == len(groups) + len(opted)
    assert all(copies(paced.emulator, chat) == 1 for chat in groups + opted)
    assert copies(paced.emulator, SAM) == 0 and copies(paced.emulator, LEE) == 0
    assert paced.runtime.paced.retry_after_seen == 0
    assert paced.emulator.http_429 == 0
    by_chat = await rows(paced, broadcast_id)
    assert by_chat[SAM].status == RECIPIENT_SKIPPED and by_chat[SAM].reason == "not_opted_in"
    assert by_chat[LEE].reason == "not_opted_in"
    assert all(by_chat[chat].message_id for chat in groups + opted)
    async with paced.session() as session:
        view = await outbox.progress(session, broadcast_id=broadcast_id)
    assert view is not None and view.status == BROADCAST_DONE
    assert view.counts == {RECIPIENT_SENT: len(groups) + len(opted), RECIPIENT_SKIPPED: 2}
    async with paced.session() as session:
        assert await outbox.outbox_depth(session) == 0


async def test_a_second_drop_the_same_day_waits_for_the_gap_and_never_lands_in_quiet_hours(
    paced: Harness,
) -> None:
    await world(paced, opted_in=[MIA])
    await schedule(paced)
    await paced.runtime.broadcasts.pump()
    # when a second broadcast is confirmed an hour later
    paced.clock.advance(hours=1)
    second = await schedule(paced, text="Second drop: 19.90 CNY until Sunday")
    planned = await rows(paced, second)
    # then every row waits for the 4-hour gap, and nothing goes now
    assert {row.not_before for row in planned.values() if row.status == "pending"} == {
        MORNING + timedelta(hours=4)
    }
    assert await paced.runtime.broadcasts.pump() == 0
    # when the clock reaches the slot, it goes
    paced.clock.advance(hours=3)
    assert await paced.runtime.broadcasts.pump() == 6 + 1
    assert copies(paced.emulator, TEA, "Second drop") == 1


async def test_an_injected_429_holds_the_bot_and_the_row_is_sent_once(paced: Harness) -> None:
    await world(paced, opted_in=[MIA])
    broadcast_id = await schedule(paced, targets="members")
    # given Telegram answers the next send with 429, retry after 1 s
    paced.emulator.inject_fault("sendMessage", status=429, retry_after=1)
    await paced.runtime.broadcasts.pump()
    # then the bot held every message for that second, retried, and sent it once
    assert paced.runtime.paced.retry_after_seen == 1
    assert paced.runtime.paced.pace._hold_until > 0
    assert copies(paced.emulator, MIA) == 1
    assert (await rows(paced, broadcast_id))[MIA].status == RECIPIENT_SENT


async def test_a_429_that_outlasts_the_retries_defers_the_row(harness: Harness) -> None:
    harness.clock.now = MORNING
    await world(harness, opted_in=[MIA])
    broadcast_id = await schedule(harness, targets="members")
    harness.emulator.inject_fault("sendMessage", status=429, retry_after=1, count=4)
    await harness.runtime.broadcasts.pump()
    row = (await rows(harness, broadcast_id))[MIA]
    assert row.status == "deferred" and row.reason == "429"
    assert row.not_before == MORNING + timedelta(seconds=1)
    harness.clock.advance(seconds=1)
    await harness.runtime.broadcasts.pump()
    assert copies(harness.emulator, MIA) == 1


async def test_a_member_who_blocked_the_bot_is_marked_unreachable_and_never_retried(
    harness: Harness,
) -> None:
    harness.clock.now = MORNING
    await world(harness, opted_in=[MIA, KAI])
    harness.emulator.block_bot(MIA)
    harness.emulator.pop_updates()
    first = await schedule(harness, targets="members")
    await harness.runtime.broadcasts.pump()
    row = (await rows(harness, first))[MIA]
    assert row.status == RECIPIENT_SKIPPED and row.reason == "unreachable"
    assert copies(harness.emulator, KAI) == 1
    async with harness.session() as session:
        consent = await session.get(MarketingConsent, MIA)
    assert consent is not None and consent.unreachable_at is not None
    # the next broadcast skips her at planning: no send is even tried
    harness.clock.advance(days=1)
    calls = len(harness.emulator.calls_of("sendMessage"))
    second = await schedule(harness, targets="members")
    assert (await rows(harness, second))[MIA].reason == "unreachable"
    await harness.runtime.broadcasts.pump()
    sent_to = [p["chat_id"] for p in harness.emulator.calls_of("sendMessage")[calls:]]
    assert MIA not in sent_to and KAI in sent_to


async def test_a_server_error_is_retried_with_backoff(harness: Harness) -> None:
    harness.clock.now = MORNING
    await world(harness, opted_in=[MIA])
    broadcast_id = await schedule(harness, targets="members")
    harness.emulator.inject_fault("sendMessage", status=502)
    await harness.runtime.broadcasts.pump()
    row = (await rows(harness, broadcast_id))[MIA]
    assert row.status == "deferred" and row.reason.startswith("5xx")
    assert row.not_before == MORNING + timedelta(seconds=5)
    harness.clock.advance(seconds=5)
    await harness.runtime.broadcasts.pump()
    assert copies(harness.emulator, MIA) == 1


async def test_a_sender_stopped_mid_broadcast_and_restarted_sends_every_row_exactly_once(
    emulator: Emulator, settings: Settings
) -> None:
    # given a slow sender (4 a second) and a broadcast to sixteen chats
    harness = await make_harness(emulator, settings, broadcast_per_second=4.0)
    runtime = harness.runtime
    opted = [MIA, KAI, *EXTRA_MEMBERS]
    await world(harness, opted_in=opted)
    broadcast_id = await schedule(harness)
    chats = [TEA, COFFEE, *EXTRA_GROUPS, *opted]
    # when it is stopped after a few sends
    await runtime.broadcasts.start()
    await until(lambda: runtime.broadcasts.sent >= 3)
    await runtime.broadcasts.stop()
    delivered = sum(copies(emulator, chat) for chat in chats)
    assert 3 <= delivered < len(chats)
    # and another sender (a restarted process) takes over
    restarted = BroadcastSender(
        sessions=runtime.sessions, bot=runtime.bot, settings=runtime.settings, clock=harness.clock
    )
    await restarted.housekeeping()
    await restarted.pump()
    await restarted.housekeeping()
    await runtime.close()
    # then every chat holds exactly one copy
    assert {chat: copies(emulator, chat) for chat in chats} == dict.fromkeys(chats, 1)
    async with runtime.sessions() as session:
        view = await outbox.progress(session, broadcast_id=broadcast_id)
    await runtime.engine.dispose()
    assert view is not None and view.status == BROADCAST_DONE


async def test_a_send_cut_off_by_a_crash_is_never_sent_again(
    emulator: Emulator, settings: Settings
) -> None:
    harness = await make_harness(emulator, settings, broadcast_concurrency=1)
    runtime = harness.runtime
    await world(harness, opted_in=[MIA])
    broadcast_id = await schedule(harness, targets="members")
    # given the send hangs and the process dies while it is in flight
    emulator.inject_fault("sendMessage", status=200, delay=5.0)
    before = len(emulator.calls_of("sendMessage"))
    pump = asyncio.create_task(runtime.broadcasts.pump())
    await until(lambda: len(emulator.calls_of("sendMessage")) > before)
    pump.cancel()
    with pytest.raises(asyncio.CancelledError):
        await pump
    assert (await rows(harness, broadcast_id))[MIA].status == "sending"
    # when a new process starts after the lease ended
    harness.clock.advance(seconds=runtime.settings.broadcast_lease_seconds + 1)
    await runtime.broadcasts.housekeeping()
    await runtime.broadcasts.pump()
    # then the row is failed as interrupted, not sent a second time
    row = (await rows(harness, broadcast_id))[MIA]
    assert row.status == RECIPIENT_FAILED and row.reason == "interrupted"
    assert len(emulator.calls_of("sendMessage")) == before + 1
    await runtime.close()


async def test_drain_waits_for_a_send_in_flight_so_a_clock_jump_never_fails_it(
    emulator: Emulator, settings: Settings
) -> None:
    # the playground's :wait: a slow send is in flight when the clock is about to jump a day
    harness = await make_harness(emulator, settings, broadcast_concurrency=1)
    runtime = harness.runtime
    await world(harness, opted_in=[MIA])
    broadcast_id = await schedule(harness, targets="members")
    emulator.inject_fault("sendMessage", status=200, delay=0.5)
    before = len(emulator.calls_of("sendMessage"))
    background = asyncio.create_task(runtime.broadcasts.pump())
    await until(lambda: len(emulator.calls_of("sendMessage")) > before)
    # when drain returns, the clock jumps past the lease and housekeeping runs
    await runtime.broadcasts.drain()
    harness.clock.advance(hours=24)
    await runtime.broadcasts.housekeeping()
    await background
    # then the row was recorded sent before the jump, and sent once
    row = (await rows(harness, broadcast_id))[MIA]
    assert row.status == RECIPIENT_SENT and row.reason is None
    assert len(emulator.calls_of("sendMessage")) == before + 1
    await runtime.close()


async def test_two_senders_never_take_the_same_row(harness: Harness) -> None:
    harness.clock.now = MORNING
    opted = [MIA, KAI, *EXTRA_MEMBERS]
    await world(harness, opted_in=opted)
    await schedule(harness)
    runtime = harness.runtime
    other = BroadcastSender(
        sessions=runtime.sessions, bot=runtime.bot, settings=runtime.settings, clock=harness.clock
    )
    await asyncio.gather(runtime.broadcasts.pump(), other.pump())
    sends = Counter(
        p["chat_id"] for p in harness.emulator.calls_of("sendMessage") if p["text"].endswith(TEXT)
    )
    chats = [TEA, COFFEE, *EXTRA_GROUPS, *opted]
    assert sends == dict.fromkeys(chats, 1)
    assert runtime.broadcasts.sent + other.sent == len(chats)


async def test_pause_resume_and_cancel(harness: Harness) -> None:
    harness.clock.now = MORNING
    await world(harness, opted_in=[MIA, KAI])
    broadcast_id = await schedule(harness, targets="members")
    async with harness.session() as session, session.begin():
        await outbox.control(session, broadcast_id=broadcast_id, action="pause", now=MORNING)
    assert await harness.runtime.broadcasts.pump() == 0
    async with harness.session() as session, session.begin():
        await outbox.control(session, broadcast_id=broadcast_id, action="resume", now=MORNING)
    assert await harness.runtime.broadcasts.pump() == 2
    harness.clock.advance(days=1)
    second = await schedule(harness, targets="members")
    async with harness.session() as session, session.begin():
        status = await outbox.control(session, broadcast_id=second, action="cancel", now=MORNING)
    assert status == BROADCAST_CANCELLED
    assert await harness.runtime.broadcasts.pump() == 0
    assert {row.reason for row in (await rows(harness, second)).values()} >= {"cancelled"}
    with pytest.raises(outbox.BroadcastError):
        async with harness.session() as session, session.begin():
            await outbox.control(session, broadcast_id=second, action="resume", now=MORNING)
