"""No network call between BEGIN and COMMIT: the guard that proves it, and money updates whose
messages fail after the commit without losing anything."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import text
from sqlmodel import select

from bot.transactions import NetworkInTransaction, unit_of_work
from handlers.views.text import later
from models.base import utcnow
from models.member import Member
from models.order import Order, Payment, StarRefund
from services.ledger import AccountRef, balance
from tests.conftest import MIA, SAM, Harness
from tests.test_order import buy_with_stars, order_row, paid_stars_order, pay


async def test_a_bot_call_with_a_transaction_open_is_refused_and_counted(
    harness: Harness,
) -> None:
    runtime = harness.runtime
    # given a job that holds its own transaction open
    async with runtime.sessions() as session, session.begin():
        await session.execute(text("SELECT 1"))
        # when it calls Telegram, the call fails (strict, as in every test) and is counted
        with pytest.raises(NetworkInTransaction):
            await runtime.bot.send_message(MIA, "hello")
    counted = runtime.metrics.network_in_transaction.labels(method="sendMessage")._value.get()
    assert counted == 1
    # then nothing reached Telegram
    assert harness.emulator.bot_messages(MIA) == []


async def test_a_message_queued_with_a_transaction_open_is_refused_and_counted(
    harness: Harness,
) -> None:
    # queuing a background message inside a transaction is the same breach as sending it: the
    # message could go out before the commit, or about writes a rollback takes back (member
    # care once told of gifts so)
    runtime = harness.runtime
    await harness.send(MIA, MIA, "/start")
    harness.new_bot_messages(MIA)
    async with runtime.sessions() as session, session.begin():
        await session.execute(text("SELECT 1"))
        with pytest.raises(NetworkInTransaction):
            runtime.notifier.send(MIA, "a gift for you")
    counted = runtime.metrics.network_in_transaction.labels(method="sendMessage")._value.get()
    assert counted == 1
    await runtime.notifier.drain()
    assert harness.new_bot_messages(MIA) == []
    # queued on the unit of work instead, it goes out once the transaction committed
    async with unit_of_work(runtime.sessions) as unit:
        await unit.session.execute(text("SELECT 1"))
        unit.add(later(runtime.notifier.send, MIA, "a gift for you"))
    await runtime.notifier.drain()
    assert [m.text for m in harness.new_bot_messages(MIA)] == ["a gift for you"]


async def test_a_unit_of_work_commits_before_it_talks_to_telegram(harness: Harness) -> None:
    runtime = harness.runtime
    await harness.send(MIA, MIA, "/start")
    seen_by_others: list[str] = []

    async def look() -> None:
        async with runtime.sessions() as other:
            member = await other.get(Member, MIA)
            assert member is not None
            seen_by_others.append(member.locale)

    # given a unit of work that writes, then talks to Telegram, then writes again
    async with unit_of_work(runtime.sessions) as unit:
        member = await unit.session.get(Member, MIA)
        assert member is not None
        member.locale = "zh_Hans"
        await runtime.bot.send_message(MIA, "one")  # the write above commits first
        await look()
        member.locale = "zh_Hant"
    await look()
    # then another session saw the first write before the unit ended, and the second after
    assert seen_by_others == ["zh_Hans", "zh_Hant"]


async def test_a_thank_you_that_fails_once_never_takes_the_payment_back(
    harness: Harness,
) -> None:
    invoice = await buy_with_stars(harness)
    assert (await pay(harness, MIA, int(invoice["message_id"])))["ok"] is True
    # given Telegram answers the next message with a 502
    harness.emulator.inject_fault("sendMessage", status=502)
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    paid_update = harness.emulator.complete_payment(query_id)
    # when the payment arrives
    await harness.feed_pending()
    # then the order is paid with its points, and Mia is thanked once Telegram answers again
    order = await order_row(harness, 1)
    assert (order.status, order.paid_amount) == ("paid", 50)
    texts = [m.text for m in harness.emulator.bot_messages(MIA)]
    assert texts.count("Thank you! Order #1 is paid: ⭐ 50.") == 1
    assert texts.count("Order #1 earned you 50 points.") == 1
    async with harness.session() as session:
        assert await balance(session, AccountRef("brand_revenue"), "XTR") == 50
        assert await balance(session, AccountRef("member_points", MIA), "PTS") == 50
    # and the same payment delivered again changes nothing and says nothing
    sent = len(harness.emulator.bot_messages(MIA))
    again = dict(paid_update, update_id=int(paid_update["update_id"]) + 900)
    await harness.runtime.dp.feed_raw_update(harness.runtime.bot, again)
    await harness.feed_pending()
    async with harness.session() as session:
        assert len((await session.execute(select(Payment))).scalars().all()) == 1
        assert await balance(session, AccountRef("member_points", MIA), "PTS") == 50
    assert len(harness.emulator.bot_messages(MIA)) == sent


async def test_a_refund_reply_that_fails_leaves_the_refund_complete(harness: Harness) -> None:
    await paid_stars_order(harness)
    # given the staff member's reply fails with a 502
    harness.emulator.inject_fault("sendMessage", status=502)
    # when staff refund the order
    await harness.send(SAM, SAM, "/refund 1")
    # then the refund is booked, the Stars went back, and Mia is told
    order = await order_row(harness, 1)
    assert (order.status, order.refunded_amount) == ("refunded", 50)
    assert len(harness.emulator.calls_of("refundStarPayment")) == 1
    assert harness.emulator.last_bot_message(MIA).text == "Order #1 was refunded: ⭐ 50."
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 0
        assert (await session.execute(select(StarRefund))).scalar_one().status == "sent"
    # and asking again is refused, not refunded twice
    assert await harness.send(SAM, SAM, "/refund 1") == [
        "That order has already been refunded in full."
    ]
    assert len(harness.emulator.calls_of("refundStarPayment")) == 1


async def test_a_refund_interrupted_after_telegram_sent_it_is_booked_once(
    harness: Harness,
) -> None:
    await paid_stars_order(harness)
    # given the refunder's request does not get through at first
    harness.emulator.inject_fault("refundStarPayment", status=502)
    await harness.send(SAM, SAM, "/refund 1")
    async with harness.session() as session:
        refund = (await session.execute(select(StarRefund))).scalar_one()
        order = await session.get(Order, 1)
    assert refund.status == "pending" and order is not None
    # and a refunder then got the Stars back from Telegram but was killed before booking it
    assert await harness.runtime.bot.refund_star_payment(MIA, refund.charge_id)
    # when a refunder runs after the restart
    later = utcnow() + timedelta(minutes=15)
    assert await harness.runtime.refunder.run_once(now=later) == 1
    # then Telegram's CHARGE_ALREADY_REFUNDED closes it: booked once, Mia told once
    assert await harness.runtime.refunder.run_once(now=later + timedelta(hours=1)) == 0
    await harness.runtime.notifier.drain()
    told = [m.text for m in harness.emulator.bot_messages(MIA)]
    assert told.count("Order #1 was refunded: ⭐ 50.") == 1
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 0
        assert await balance(session, AccountRef("customer_receivable", MIA), "XTR") == 0
        assert (await session.execute(select(StarRefund))).scalar_one().status == "sent"
