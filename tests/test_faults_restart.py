"""Faults: the bot process is killed (SIGKILL) in the middle of a group-buy's settlement, in
the middle of a broadcast, and while a Stars refund is between Telegram and the books, then
started again. The bot runs as `python -m bot run` in a child process pointed at the emulator,
which lives in the test and kills the child at an exact point: when Telegram receives its Nth
message of the kind, or has carried out a refund whose answer it holds back. Afterwards:
settled once, every row sent at most once and no chat with a message twice, scheduled jobs
still fire, the refund booked once."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlmodel import col

from bot.app import build_runtime
from bot.config import Settings
from models.broadcast import (
    RECIPIENT_FAILED,
    RECIPIENT_SENT,
    RECIPIENT_SKIPPED,
    BroadcastRecipient,
)
from models.order import Order, StarRefund
from services import broadcast as outbox
from services.broadcast import REASON_INTERRUPTED
from services.ledger import AccountRef, balance
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness, assert_reconciles
from tests.faults import duplicates, groupbuy_status, orders_by_member, postings
from tests.test_order import paid_stars_order
from tgemu import EMULATOR_TOKEN, TIMEOUT, Emulator

ROOT = Path(__file__).resolve().parent.parent
MEMBERS = [4000 + i for i in range(8)]
PROMO = "Winter pu-erh is here: 59.90 CNY"
FINAL = (RECIPIENT_SENT, RECIPIENT_FAILED, RECIPIENT_SKIPPED)  # nothing more will happen


def child_env(settings: Settings, emulator: Emulator) -> dict[str, str]:
    """The bot's configuration, as an operator would give it, pointed at the emulator."""
    env = {
        "PATH": os.environ.get("PATH", ""),
        "PYTHONPATH": str(ROOT),
        "BOT_TOKEN": EMULATOR_TOKEN,
        "TELEGRAM_API_URL": emulator.base_url,
        "DATABASE_URL": settings.database_url,
        "OWNER_IDS": str(OWNER),
        "PROMO_QUIET_HOURS": "off",
        "SWEEP_SECONDS": "3600",  # deadlines must be met by their own jobs, not the sweep
        "BROADCAST_CONCURRENCY": "1",
        "BROADCAST_POLL_SECONDS": "0.2",
        "BROADCAST_LEASE_SECONDS": "10",
        "LOG_LEVEL": "INFO",
    }
    if settings.redis_url:
        env["REDIS_URL"] = settings.redis_url
    return env


@asynccontextmanager
async def bot_process(
    env: Mapping[str, str], log: Path
) -> AsyncIterator[asyncio.subprocess.Process]:
    """`python -m bot run` in a child process; stopped (SIGTERM) when the block ends, unless
    it is gone already."""
    with log.open("ab") as out:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            env=dict(env),
            cwd=log.parent,
            stdout=out,
            stderr=out,
        )
        try:
            yield child
        finally:
            if child.returncode is None:
                child.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(child.wait(), 30)
                except TimeoutError:
                    child.kill()
                    await child.wait()


def kill_on(
    emulator: Emulator, child: Callable[[], asyncio.subprocess.Process | None], text: str, nth: int
) -> None:
    """SIGKILL the child when Telegram receives its `nth` sendMessage containing `text` (the
    message is delivered: the process dies before it hears the answer)."""
    seen = 0

    def watch(method: str, params: Mapping[str, Any]) -> None:
        nonlocal seen
        process = child()
        if method != "sendMessage" or text not in str(params.get("text", "")) or process is None:
            return
        seen += 1
        if seen == nth:
            process.kill()
            emulator.call_watchers.remove(watch)

    emulator.call_watchers.append(watch)


async def until(condition: Callable[[], Any], what: str, limit: float = 90.0) -> None:
    """Wait for the child to get somewhere (the outcome is asserted, not the time it takes)."""
    for _ in range(int(limit / 0.05)):
        if await condition():
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"the bot never got there: {what}")


async def started(harness: Harness) -> None:
    """The cast and the extra members started the bot; the two groups have it."""
    emu = harness.emulator
    await harness.join_groups()
    for i, uid in enumerate(MEMBERS):
        emu.add_user(uid, f"Member{uid}", language_code="en")
        emu.set_member_status(TEA if i % 2 == 0 else COFFEE, uid, "member")
    for uid in [MIA, SAM, LEE, KAI, *MEMBERS]:
        emu.send_message(uid, uid, "/start")
    emu.send_message(OWNER, OWNER, "/grant_staff @sam")
    emu.send_message(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    emu.send_message(SAM, SAM, "/product_add Jasmine tea | 29.90 CNY | stock 50")
    await harness.feed_pending()


async def stop_in_process_bot(harness: Harness) -> None:
    """The test's own bot steps aside: from now on only the child talks to Telegram."""
    await harness.runtime.close()
    harness.runtime = build_runtime(harness.runtime.settings, EMULATOR_TOKEN, clock=harness.clock)


async def test_killed_mid_settlement_the_group_buy_settles_once_and_deadlines_still_fire(
    harness: Harness, tmp_path: Path
) -> None:
    emu = harness.emulator
    real_now = datetime.now(UTC).replace(microsecond=0)
    # given a drop whose deadline passed while the bot was down (opened two days ago) ...
    harness.clock.now = real_now - timedelta(days=2)
    await started(harness)
    await harness.send(SAM, SAM, "/drop 1 24h min=3 stock=30 limit=3")
    tea_card = emu.last_bot_message(TEA).message_id
    coffee_card = emu.last_bot_message(COFFEE).message_id
    joined: dict[int, int] = {}
    for i, uid in enumerate([MIA, LEE, KAI, *MEMBERS]):
        chat, card = (TEA, tea_card) if i % 2 == 0 else (COFFEE, coffee_card)
        if uid == KAI:
            chat, card = COFFEE, coffee_card
        joined[uid] = 1 + i % 2
        await harness.press(uid, chat, card, index=i % 2)
    # ... and a second drop whose deadline is half a minute from now, a job the bot must
    # rebuild from the database when it starts again (far enough that, on a busy machine, the
    # first process is killed before it: a deadline already due at the first start would be
    # settled there, and its announcement could die with it, as a reply cut short does)
    harness.clock.now = datetime.now(UTC) - timedelta(minutes=90) + timedelta(seconds=30)
    await harness.send(LEE, TEA, "/groupbuy 2 90m min=1 stock=5")
    second_card = emu.last_bot_message(TEA).message_id
    await harness.press(MIA, TEA, second_card, index=0)
    await stop_in_process_bot(harness)
    env = child_env(harness.runtime.settings, emu)
    log = tmp_path / "bot.log"

    # when the bot starts, settles the first drop, and is killed as Telegram receives the
    # second member's "formed" message
    running: list[asyncio.subprocess.Process] = []
    kill_on(emu, lambda: running[0] if running else None, "formed! Your order", 2)
    async with bot_process(env, log) as child:
        running.append(child)
        await asyncio.wait_for(child.wait(), 120)
    assert child.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    # and it is started again
    async with bot_process(env, log):

        async def second_formed() -> bool:
            return await groupbuy_status(harness, 2) == "formed" and any(
                (m.text or "").startswith("#2 Jasmine tea formed") for m in emu.bot_messages(TEA)
            )

        # then the second drop's deadline job fires in the restarted process
        await until(second_formed, "group-buy #2 formed at its deadline")

    # and the first drop was settled once: one order per member, at the final price
    assert await groupbuy_status(harness, 1) == "formed"
    orders = await orders_by_member(harness, 1)
    assert orders == {uid: [quantity] for uid, quantity in joined.items()}
    assert await orders_by_member(harness, 2) == {MIA: [1]}
    # and each group was told once, and no chat shows any message twice
    for chat in (TEA, COFFEE):
        told = [m for m in emu.bot_messages(chat) if (m.text or "").startswith("#1 Oolong tea")]
        assert len(told) == 1, [m.text for m in told]
    assert duplicates(harness, [TEA, COFFEE, MIA, SAM, LEE, KAI, *MEMBERS]) == {}
    assert set((await postings(harness, "")).values()) <= {1}


async def test_killed_mid_broadcast_every_row_is_sent_at_most_once_and_the_rest_resumes(
    harness: Harness, tmp_path: Path
) -> None:
    emu = harness.emulator
    harness.clock.now = datetime.now(UTC).replace(microsecond=0)
    await started(harness)
    recipients = [MIA, KAI, *MEMBERS]
    # given a broadcast to both groups and the opted-in members, due now
    settings = harness.runtime.settings.model_copy(update={"promo_quiet_hours": "off"})
    async with harness.session() as session, session.begin():
        for uid in recipients:
            await outbox.set_consent(
                session, member_id=uid, opted_in=True, wording_version="t", now=harness.clock.now
            )
        broadcast_id, _summary = await outbox.create_broadcast(
            session,
            draft=outbox.Draft(
                text=PROMO, targets="everyone", scheduled_at=harness.clock.now, created_by=SAM
            ),
            rules=settings.pacing_rules(),
            default_timezone=settings.default_timezone,
        )
    await stop_in_process_bot(harness)
    env = child_env(harness.runtime.settings, emu)
    log = tmp_path / "bot.log"

    # when the bot is killed as Telegram receives the fourth copy
    running: list[asyncio.subprocess.Process] = []
    kill_on(emu, lambda: running[0] if running else None, PROMO, 4)
    async with bot_process(env, log) as child:
        running.append(child)
        await asyncio.wait_for(child.wait(), 120)
    assert child.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    delivered_before = sum(
        1
        for chat in [TEA, COFFEE, *recipients]
        for m in emu.bot_messages(chat)
        if PROMO in (m.text or "")
    )
    assert delivered_before == 4

    async def rows() -> list[BroadcastRecipient]:
        async with harness.session() as session:
            found = await session.execute(
                select(BroadcastRecipient).where(
                    col(BroadcastRecipient.broadcast_id) == broadcast_id
                )
            )
            return list(found.scalars())

    async def settled() -> bool:
        return all(row.status in FINAL for row in await rows())

    # and started again, it resumes where it stopped
    async with bot_process(env, log):
        await until(settled, "every broadcast row sent or given up")

    # then every group and every opted-in member has exactly one copy
    for chat in [TEA, COFFEE, *recipients]:
        copies = [m for m in emu.bot_messages(chat) if PROMO in (m.text or "")]
        assert len(copies) == 1, (chat, len(copies))
    # and the one row in flight when the process died is failed as interrupted, never resent
    # (Telegram had it: the copy above), every other row is sent
    by_status = [(row.status, row.reason) for row in await rows()]
    assert by_status.count((RECIPIENT_FAILED, REASON_INTERRUPTED)) == 1
    skipped = by_status.count((RECIPIENT_SKIPPED, "not_opted_in"))  # Sam, Lee ...
    assert by_status.count((RECIPIENT_SENT, None)) == len(by_status) - skipped - 1
    assert duplicates(harness, [TEA, COFFEE, *recipients]) == {}


async def test_killed_between_telegrams_refund_and_its_booking_the_refund_is_booked_once(
    harness: Harness, tmp_path: Path
) -> None:
    emu = harness.emulator
    # given Mia paid 50 Stars for order #1, and the bot now runs as its own process
    await paid_stars_order(harness)
    [charge_id] = list(emu.payments)
    assert emu.payments[charge_id]["refunded"] is False
    await stop_in_process_bot(harness)
    # a refund claimed by a process that died is taken over a second after its claim
    env = child_env(harness.runtime.settings, emu) | {"REFUND_LEASE_SECONDS": "1"}
    log = tmp_path / "bot.log"
    # and Telegram will carry out the next refund but hold its answer back
    emu.inject_fault("refundStarPayment", status=TIMEOUT, after=True)

    async def refunded_unanswered() -> bool:
        return ("refundStarPayment", TIMEOUT) in emu.faults_served

    async def refund_row() -> StarRefund:
        async with harness.session() as session:
            return (await session.execute(select(StarRefund))).scalar_one()

    # when Sam refunds the order, and the bot is killed once Telegram has refunded the Stars
    # and before the bot heard so
    emu.send_message(SAM, SAM, "/refund 1")
    async with bot_process(env, log) as child:
        await until(refunded_unanswered, "Telegram refunded the charge, answer held")
        child.kill()
        await child.wait()
    assert child.returncode == -signal.SIGKILL, log.read_text()[-3000:]
    # then Telegram has given the Stars back, the books still owe them to Mia, and she has
    # not been told yet
    assert emu.payments[charge_id]["refunded"] is True
    assert (await refund_row()).status == "pending"
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 50
    refunded = "Order #1 was refunded: ⭐ 50."
    assert refunded not in [m.text for m in emu.bot_messages(MIA)]

    # when the bot is started again
    async with bot_process(env, log):

        async def booked() -> bool:
            row = await refund_row()
            return row.status != "pending" and refunded in [m.text for m in emu.bot_messages(MIA)]

        await until(booked, "the refund booked and Mia told")

    # then the refund is booked once, as sent: Telegram answered the second ask with
    # CHARGE_ALREADY_REFUNDED, and nothing was refunded twice
    row = await refund_row()
    assert (row.status, row.amount, row.charge_id) == ("sent", 50, charge_id)
    assert len(emu.calls_of("refundStarPayment")) == 2
    async with harness.session() as session:
        order = await session.get(Order, 1)
        assert order is not None and (order.status, order.refunded_amount) == ("refunded", 50)
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 0
        assert await balance(session, AccountRef("customer_receivable", MIA), "XTR") == 0
        assert await balance(session, AccountRef("brand_refunds"), "XTR") == -50
    assert await postings(harness, f"payment:{charge_id}:") == {f"payment:{charge_id}:refunded": 1}
    assert sum(1 for key in await postings(harness, "order:1:refund")) == 1
    await assert_reconciles(harness.runtime.settings.database_url)
    # and Mia was told once, Sam once
    assert [m.text for m in emu.bot_messages(MIA)].count(refunded) == 1
    assert duplicates(harness, [MIA, SAM]) == {}
    assert [m.text for m in emu.bot_messages(SAM)].count(
        "Refund of ⭐ 50 for order #1 booked; Telegram is sending the Stars back to the member now."
    ) == 1
