"""Paid broadcasts and several workers: `allow_paid_broadcast` at its own rate only while the
setting is on, and Telegram's one budget shared through Redis by every sender of the bot."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest
from redis.asyncio import Redis

from bot.config import Settings
from bot.redis import REDIS_CONNECTIONS, SharedPace, SharedRate, create_redis
from bot.sender import Booking, Pace, PaceLimits
from services import broadcast as outbox
from services.member import UserInfo, record_member
from tests.conftest import COFFEE, MIA, OWNER, TEA, TEST_REDIS_URL, Harness
from tests.test_broadcast import tap
from tests.test_broadcast_outbox import MORNING, TEXT, make_harness, schedule, world
from tgemu import Emulator

# the promotion policy's default caps, gap and quiet hours (tests/conftest.py UNPACED)
pytestmark = pytest.mark.pacing

needs_redis = pytest.mark.skipif(
    not TEST_REDIS_URL, reason="needs TEST_REDIS_URL (the PostgreSQL + Redis run)"
)
MANY = [5000 + i for i in range(70)]  # more members than Telegram's 30 a second
# the windows alone, without the slack that absorbs Telegram's jitter
LIMITS = PaceLimits(per_second=3, private_gap=1.0, group_per_minute=2, slack=0.0)


def paid_calls(emulator: Emulator) -> list[object]:
    """allow_paid_broadcast of every call that carried the broadcast's text to a member (the
    owner's previews are never paid)."""
    return [
        params.get("allow_paid_broadcast")
        for name, params in emulator.calls
        if name == "sendMessage"
        and str(params.get("text")).endswith(TEXT)
        and params["chat_id"] != OWNER
    ]


async def compose_to_members(harness: Harness) -> str:
    """The owner runs the wizard to the opted-in members, confirms, and the sender runs;
    returns the summary they saw before confirming."""
    await harness.send(OWNER, OWNER, "/broadcast")
    await harness.send(OWNER, OWNER, TEXT)
    await tap(harness, OWNER, "⏭ Skip", user=OWNER)
    await tap(harness, OWNER, "⏭ Skip", user=OWNER)
    await tap(harness, OWNER, "Members who opted in", user=OWNER)
    await tap(harness, OWNER, "Now", user=OWNER)
    summary = harness.emulator.last_bot_message(OWNER).text or ""
    await tap(harness, OWNER, "✅ Confirm", user=OWNER)
    await harness.runtime.broadcasts.pump()
    await harness.runtime.broadcasts.housekeeping()
    return summary


async def test_a_paid_broadcast_goes_out_with_allow_paid_broadcast_at_its_own_rate(
    emulator: Emulator, settings: Settings
) -> None:
    # given paid broadcasts are switched on, and Telegram's limits are enforced
    emulator.enforce_rate_limits = True
    harness = await make_harness(
        emulator,
        settings,
        pace_messages=True,
        broadcast_paid=True,
        broadcast_paid_per_second=500.0,
    )
    try:
        opted = [MIA, *range(2000, 2006)]
        await world(harness, opted_in=opted)
        # when the owner composes one to the opted-in members
        summary = await compose_to_members(harness)
        # then the summary says it is paid and at what rate
        assert "Paid broadcast: sent with allow_paid_broadcast at up to 500 messages a second" in (
            summary
        )
        # and every message carried allow_paid_broadcast, none got a 429, each member got one
        assert paid_calls(emulator) == [True] * len(opted)
        assert emulator.http_429 == 0
        assert harness.runtime.broadcasts.paid_rate.interval == pytest.approx(1 / 500)
        # and /broadcast_status shows it is paid, with the finish at the paid rate
        status = (await harness.send(OWNER, OWNER, "/broadcast_status 1"))[0]
        assert "Paid broadcast: sent with allow_paid_broadcast at up to 500" in status
        assert "Sent 7, waiting 0" in status
    finally:
        await harness.runtime.close()


async def test_a_paid_broadcast_is_sent_unpaid_once_the_setting_is_off(
    emulator: Emulator, settings: Settings
) -> None:
    # given a broadcast scheduled as paid, and then paid broadcasts switched off
    harness = await make_harness(emulator, settings, broadcast_paid=False)
    try:
        await world(harness, opted_in=[MIA])
        await schedule(harness, targets="members", paid=True)
        # when the sender runs, no Star is spent: the message goes without the parameter
        await harness.runtime.broadcasts.pump()
        assert paid_calls(emulator) == [None]
        status = (await harness.send(OWNER, OWNER, "/broadcast_status 1"))[0]
        assert "Paid broadcast" not in status
        # and the wizard's summary does not say paid either
        harness.clock.advance(days=1)
        assert "Paid broadcast" not in await compose_to_members(harness)
        assert paid_calls(emulator) == [None, None]
    finally:
        await harness.runtime.close()


def test_paid_messages_stay_out_of_the_overall_budget() -> None:
    now = [100.0]
    pace = Pace(LIMITS, clock=lambda: now[0])
    for chat in range(1, 6):  # five paid messages in the same instant
        asyncio.run(pace.acquire(chat, paid=True))
    assert pace._wait(99, now[0]) == 0  # an unpaid one still fits in 3 a second
    assert pace._wait(1, now[0]) == 1.0  # but each chat keeps its one a second


# ---------------------------------------------------------------- several workers ---------


@pytest.fixture
async def redis(redis_url: str | None) -> AsyncIterator[Redis]:
    if redis_url is None:
        pytest.skip("needs TEST_REDIS_URL (the PostgreSQL + Redis run)")
    client = Redis.from_url(redis_url)
    yield client
    await client.aclose()


@needs_redis
async def test_the_shared_pace_books_every_window_for_all_workers(redis: Redis) -> None:
    # given two workers' paces on one Redis and one clock the test moves
    now = [1000.0]
    first, second = (
        SharedPace(redis, namespace="t", limits=LIMITS, clock=lambda: now[0]) for _ in range(2)
    )
    # a private chat: one message a second, whichever worker sends it
    assert isinstance(await first.try_book(MIA), Booking)
    assert await second.try_book(MIA) == pytest.approx(1.0)
    now[0] += 0.4
    assert await second.try_book(MIA) == pytest.approx(0.6)
    # a group: two a minute
    assert isinstance(await first.try_book(TEA), Booking)
    assert isinstance(await second.try_book(TEA), Booking)
    # overall: three a second, whatever the chat (the first of them is 0.4 s old)
    assert await first.try_book(COFFEE) == pytest.approx(0.6)
    assert await first.try_book(TEA) == pytest.approx(60.0)
    # a paid message is outside the overall budget, not outside its chat's
    assert isinstance(await second.try_book(COFFEE, paid=True), Booking)
    now[0] += 0.6
    assert isinstance(await second.try_book(4242), Booking)
    # a booking counts from when Telegram got it: a slow send moves it
    now[0] += 1.0
    booking = await first.try_book(4343)
    assert isinstance(booking, Booking)
    now[0] += 0.5
    await first.done(booking)
    assert await second.try_book(4343) == pytest.approx(1.0)
    # a 429 seen by one worker holds the other
    await first.hold(5)
    assert await second.try_book(4444) == pytest.approx(5.0)
    # and another bot on the same Redis has budgets of its own
    other = SharedPace(redis, namespace="other", limits=LIMITS, clock=lambda: now[0])
    assert isinstance(await other.try_book(4444), Booking)
    # the slack that absorbs Telegram's jitter is added to every shared window too
    slack = replace(LIMITS, slack=0.05)
    third, fourth = (
        SharedPace(redis, namespace="slack", limits=slack, clock=lambda: now[0]) for _ in range(2)
    )
    assert isinstance(await third.try_book(MIA), Booking)
    assert await fourth.try_book(MIA) == pytest.approx(1.05)


@needs_redis
async def test_a_burst_of_bookings_waits_for_a_redis_connection(redis_url: str) -> None:
    # given the bot's own Redis client, and more messages booked at once than it keeps
    # connections (a flash sale's confirmations, each waiting its turn in the pace)
    client = create_redis(redis_url)
    pace = SharedPace(client, namespace="burst", limits=PaceLimits(per_second=10_000))
    try:
        bookings = await asyncio.gather(*(pace.acquire(None) for _ in range(3 * REDIS_CONNECTIONS)))
    finally:
        await client.aclose()
    # then every one was booked in Redis, shared with the other workers: the pace never fell
    # back to this process's memory (where the others' messages are not counted)
    assert all(booking.keys for booking in bookings)
    assert not pace.degraded


@needs_redis
async def test_the_shared_rate_spaces_the_starts_of_every_worker(redis: Redis) -> None:
    now = [50.0]
    workers = [
        SharedRate(redis, key="rate:t", per_second=4, clock=lambda: now[0]) for _ in range(2)
    ]
    # four starts asked for at the same moment, alternately by each worker, are spaced evenly
    waits = [await workers[i % 2].turn() for i in range(4)]
    assert waits == pytest.approx([0.0, 0.25, 0.5, 0.75])
    # and once the time has come, the next start is now
    now[0] += 2.0
    assert await workers[0].turn() == 0.0


async def test_without_redis_the_pace_and_rate_fall_back_to_the_process() -> None:
    # given a Redis that is not there
    dead = Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)
    now = [10.0]
    pace = SharedPace(dead, namespace="t", limits=LIMITS, clock=lambda: now[0])
    rate = SharedRate(dead, key="rate:t", per_second=1000, clock=lambda: now[0])
    try:
        # when messages are booked, they are paced in the process, and it says so
        booking = await pace.acquire(MIA)
        assert booking.keys == () and pace.degraded
        assert pace._wait(MIA, now[0]) == 1.0
        await rate.wait()
        assert rate.degraded
    finally:
        await dead.aclose()


@needs_redis
async def test_two_workers_sharing_redis_deliver_a_broadcast_without_a_single_429(
    emulator: Emulator, settings: Settings
) -> None:
    # given two bot processes on one database and one Redis, each at the full 30 a second
    # (together they would send 60), with Telegram's limits enforced
    emulator.enforce_rate_limits = True
    workers = [
        await make_harness(emulator, settings, pace_messages=True, broadcast_per_second=30.0)
        for _ in range(2)
    ]
    first, second = workers
    try:
        await first.join_groups()
        async with first.session() as session, session.begin():
            for uid in MANY:
                emulator.add_user(uid, f"m{uid}", language_code="en")
                emulator.send_message(uid, uid, "/start")  # the private chat is open
                await record_member(
                    session,
                    user=UserInfo(id=uid, first_name=f"m{uid}", language_code="en"),
                    default_locale="en",
                    started=True,
                )
                await outbox.set_consent(
                    session, member_id=uid, opted_in=True, wording_version="t", now=MORNING
                )
        emulator.pop_updates()
        await schedule(first)
        # when both senders run at once, and both also write to one chat meanwhile
        await asyncio.gather(
            first.runtime.broadcasts.pump(),
            second.runtime.broadcasts.pump(),
            *(w.runtime.bot.send_message(TEA, f"note {i}") for i, w in enumerate(workers * 2)),
        )
    finally:
        for worker in workers:
            await worker.runtime.close()
    # then every group and member got it exactly once, and Telegram never answered 429
    sends = Counter(p["chat_id"] for name, p in emulator.calls if str(p.get("text")).endswith(TEXT))
    assert sends == dict.fromkeys([TEA, COFFEE, *MANY], 1)
    assert first.runtime.broadcasts.sent + second.runtime.broadcasts.sent == len(MANY) + 2
    assert emulator.http_429 == 0
    assert sum(w.runtime.paced.retry_after_seen for w in workers) == 0
