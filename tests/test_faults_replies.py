"""Faults: the reply or notice that follows a money update fails once, with a 502 or with no
answer at all (the connection closes unanswered, which the bot takes as it takes a timeout).
Whatever the update did is committed and reconciles, the person is told once Telegram answers
again (or the failure is counted for staff to see), and the same update delivered again
changes nothing.

The money updates here are a leader's "paid" and "picked up" (by button and by command) and a
member redeeming a reward with points. Each test drives them as people do and reads only what
Telegram shows and what the store holds."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from sqlmodel import select

from models.coupons import MemberCoupon
from models.order import Order, OrderEvent
from models.rewards import Redemption, Reward
from services.points import points_balance
from tests.conftest import LEE, MIA, OWNER, SAM, TEA, Harness, assert_reconciles
from tests.faults import postings
from tests.net import sample
from tgemu import DROPPED

FAULTS = [pytest.param(502, id="502"), pytest.param(DROPPED, id="no-answer")]
FAILED = "bot_effects_failed_total"


@pytest.fixture
async def quick(harness: Harness) -> AsyncIterator[Harness]:
    """The harness with short waits: a background message is tried again at once."""
    harness.runtime.notifier.retry_seconds = (0.0, 0.0, 0.0)
    yield harness


async def redeliver(harness: Harness, update: dict[str, Any]) -> None:
    """Telegram delivers the same update again: under its own id, then under a new one."""
    runtime = harness.runtime
    await runtime.dp.feed_raw_update(runtime.bot, update)
    again = dict(update, update_id=int(update["update_id"]) + 900)
    await runtime.dp.feed_raw_update(runtime.bot, again)
    await runtime.notifier.drain()


def texts(harness: Harness, chat_id: int) -> list[str]:
    return [m.text or "" for m in harness.emulator.bot_messages(chat_id) if not m.deleted]


async def order_status(harness: Harness, order_id: int) -> str:
    async with harness.session() as session:
        order = await session.get(Order, order_id)
    assert order is not None
    return order.status


async def order_events(harness: Harness, order_id: int) -> list[tuple[str | None, str]]:
    async with harness.session() as session:
        rows = await session.execute(
            select(OrderEvent).where(OrderEvent.order_id == order_id).order_by(OrderEvent.id)
        )
        return [(e.from_status, e.to_status) for e in rows.scalars()]


async def points_of(harness: Harness, member_id: int) -> int:
    async with harness.session() as session:
        return await points_balance(session, member_id)


async def mia_ordered_in_tea(harness: Harness) -> None:
    """Sam sells Oolong tea; Mia (who started the bot) orders two in Tea Lovers, to pay Lee,
    its leader, at pickup."""
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 10")
    await harness.send(MIA, MIA, "/start")
    reply = await harness.send(MIA, TEA, "/buy 1 2")
    assert [text.splitlines()[0] for text in reply] == [
        "Order #1 reserved: Oolong tea ×2, CN¥71.80. Pay your leader at pickup."
    ]


POINTS_NOTICE = "Order #1 earned you 71 points."


# ----------------------------------------------------------------- the leader's "paid" ------
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("method", ["answerCallbackQuery", "editMessageText", "sendMessage"])
async def test_a_paid_button_whose_answer_fails_keeps_the_payment_and_its_points(
    quick: Harness, database_url: str, method: str, fault: int
) -> None:
    harness = quick
    await mia_ordered_in_tea(harness)
    await harness.send(LEE, TEA, "/orders")
    card = harness.emulator.last_bot_message(TEA)
    # given Telegram fails the next call of one kind once: the toast, the list's edit, or
    # the note that tells Mia her points
    harness.emulator.inject_fault(method, status=fault)
    # when Lee taps "✅ #1 paid"
    update = harness.emulator.press_button(LEE, TEA, card.message_id, index=0)
    await harness.feed_pending()
    assert harness.emulator.faults_served == [(method, fault)]
    # then the order is paid with its points, and the ledger reconciles
    assert await order_status(harness, 1) == "paid"
    assert await order_events(harness, 1) == [(None, "reserved"), ("reserved", "paid")]
    assert await points_of(harness, MIA) == 71
    assert await postings(harness, "order:1:") == {
        "order:1:points": 1,
        "order:1:paid": 1,
        "order:1:cash": 1,  # the leader holds the cash
    }
    await assert_reconciles(database_url)
    # and Mia hears of her points once, and Lee's list shows the order paid
    assert texts(harness, MIA).count(POINTS_NOTICE) == 1
    listing = harness.emulator.messages(TEA)
    shown = next(m for m in listing if m.message_id == card.message_id).text or ""
    if method == "editMessageText":
        assert "#1 Mia · Oolong tea ×2 · CN¥71.80 · reserved" in shown
    else:
        assert "#1 Mia · Oolong tea ×2 · CN¥71.80 · paid" in shown
    # and a toast or an edit that was lost is counted for staff (a message is sent again)
    assert sample(harness.runtime, FAILED) == (0 if method == "sendMessage" else 1)
    # when the same tap is delivered again
    told = len(harness.emulator.bot_messages(MIA))
    await redeliver(harness, update)
    # then nothing changes and nobody is told twice
    assert await order_events(harness, 1) == [(None, "reserved"), ("reserved", "paid")]
    assert await points_of(harness, MIA) == 71
    assert len(harness.emulator.bot_messages(MIA)) == told


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_paid_command_whose_reply_fails_keeps_the_payment_and_tells_the_leader(
    quick: Harness, database_url: str, fault: int
) -> None:
    harness = quick
    await mia_ordered_in_tea(harness)
    # given Telegram fails the next message once
    harness.emulator.inject_fault("sendMessage", status=fault)
    # when Lee marks Mia's orders paid by command
    update = harness.emulator.send_message(LEE, TEA, "/paid @mia")
    await harness.feed_pending()
    assert harness.emulator.faults_served == [("sendMessage", fault)]
    # then the order is paid with its points, and the ledger reconciles
    assert await order_status(harness, 1) == "paid"
    assert await points_of(harness, MIA) == 71
    assert await postings(harness, "order:1:") == {
        "order:1:points": 1,
        "order:1:paid": 1,
        "order:1:cash": 1,  # the leader holds the cash
    }
    await assert_reconciles(database_url)
    # and Lee reads his reply once Telegram answers again, and Mia hears of her points
    assert sample(harness.runtime, FAILED) == 0
    assert texts(harness, TEA).count("Marked paid for Mia: #1.") == 1
    assert texts(harness, MIA).count(POINTS_NOTICE) == 1
    # when the same message is delivered again, nothing changes and nobody is told twice
    sent = (len(harness.emulator.bot_messages(TEA)), len(harness.emulator.bot_messages(MIA)))
    await redeliver(harness, update)
    assert await points_of(harness, MIA) == 71
    assert await order_events(harness, 1) == [(None, "reserved"), ("reserved", "paid")]
    assert (
        len(harness.emulator.bot_messages(TEA)),
        len(harness.emulator.bot_messages(MIA)),
    ) == sent


# ------------------------------------------------------------ the leader's "picked up" ------
@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("method", ["answerCallbackQuery", "editMessageText", "sendMessage"])
async def test_a_picked_up_button_whose_answer_fails_keeps_the_pickup(
    quick: Harness, database_url: str, method: str, fault: int
) -> None:
    harness = quick
    await mia_ordered_in_tea(harness)
    assert await harness.send(LEE, TEA, "/paid @mia") == ["Marked paid for Mia: #1."]
    await harness.send(LEE, TEA, "/orders")
    card = harness.emulator.last_bot_message(TEA)
    assert card.button_texts == ["📦 Picked up · Mia #1"]
    # given Telegram fails the next call of one kind once
    harness.emulator.inject_fault(method, status=fault)
    # when Lee taps "📦 Picked up · Mia #1"
    update = harness.emulator.press_button(LEE, TEA, card.message_id, index=0)
    await harness.feed_pending()
    assert harness.emulator.faults_served == [(method, fault)]
    # then the order is picked up, and the ledger reconciles
    assert await order_status(harness, 1) == "fulfilled"
    await assert_reconciles(database_url)
    # and Mia is invited to review it, once, as /pickedup does
    invite = "Enjoy! How was order #1? Review it with /review 1 5 and a few words, and earn"
    assert len([t for t in texts(harness, MIA) if t.startswith(invite)]) == 1
    # and Lee's list shows the order picked up on its row (or the failed edit is counted)
    shown = next(m for m in harness.emulator.messages(TEA) if m.message_id == card.message_id)
    if method == "editMessageText":
        assert (shown.text or "").endswith("CN¥71.80 · paid")
    else:
        assert (shown.text or "").endswith("CN¥71.80 · picked up")
        assert shown.button_texts == ["✔️ Done · Mia #1"]
    assert sample(harness.runtime, FAILED) == (0 if method == "sendMessage" else 1)
    # when the same tap is delivered again, nothing changes
    events = await order_events(harness, 1)
    told = len(harness.emulator.bot_messages(MIA))
    await redeliver(harness, update)
    assert await order_events(harness, 1) == events
    assert events[-1] == ("paid", "fulfilled")
    assert len(harness.emulator.bot_messages(MIA)) == told


@pytest.mark.parametrize("fault", FAULTS)
async def test_a_pickedup_command_whose_reply_fails_keeps_the_pickup_and_tells_the_leader(
    quick: Harness, database_url: str, fault: int
) -> None:
    harness = quick
    await mia_ordered_in_tea(harness)
    assert await harness.send(LEE, TEA, "/paid @mia") == ["Marked paid for Mia: #1."]
    # given Telegram fails the next message once
    harness.emulator.inject_fault("sendMessage", status=fault)
    # when Lee marks Mia's order picked up by command
    update = harness.emulator.send_message(LEE, TEA, "/pickedup @mia")
    await harness.feed_pending()
    assert harness.emulator.faults_served == [("sendMessage", fault)]
    # then it is picked up, Lee reads his reply, and Mia is invited to review it once
    assert await order_status(harness, 1) == "fulfilled"
    await assert_reconciles(database_url)
    assert texts(harness, TEA).count("Marked picked up for Mia: #1.") == 1
    invite = "Enjoy! How was order #1? Review it with /review 1 5 and a few words, and earn"
    assert len([t for t in texts(harness, MIA) if t.startswith(invite)]) == 1
    # when the same message is delivered again, nothing changes and nobody is told twice
    events = await order_events(harness, 1)
    sent = (len(harness.emulator.bot_messages(TEA)), len(harness.emulator.bot_messages(MIA)))
    await redeliver(harness, update)
    assert await order_events(harness, 1) == events
    assert (
        len(harness.emulator.bot_messages(TEA)),
        len(harness.emulator.bot_messages(MIA)),
    ) == sent


# ------------------------------------------------------------------ redeeming a reward ------
async def mia_can_redeem_a_coupon(harness: Harness) -> int:
    """Sam offers a CN¥5 coupon for 5 points; Mia checked in (5 points), opens the catalog and
    taps Redeem. Returns the id of the question asking her to confirm."""
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/coupon_new TEA5 5.00 CNY")
    assert await harness.send(SAM, SAM, "/reward_add Five off | 5 | 10 | coupon tea5") == [
        "Reward #1 added: Five off for 5 points."
    ]
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, TEA, "/checkin")
    assert await points_of(harness, MIA) == 5
    await harness.send(MIA, MIA, "/rewards")
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=0)
    return harness.emulator.last_bot_message(MIA).message_id


REDEEMED = (
    "You redeemed Five off for 5 points. Your coupon TEA5 is in /coupons: use it with "
    "/usecoupon TEA5, or with its button when you order. You have 0 points left."
)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("method", ["answerCallbackQuery", "sendMessage"])
async def test_a_redemption_whose_answer_fails_spends_the_points_once_and_issues_the_coupon(
    quick: Harness, database_url: str, method: str, fault: int
) -> None:
    harness = quick
    catalog = await mia_can_redeem_a_coupon(harness)
    # given Telegram fails the next call of one kind once: the toast or the confirmation
    harness.emulator.inject_fault(method, status=fault)
    # when Mia taps Confirm
    update = harness.emulator.press_button(MIA, MIA, catalog, index=0)
    await harness.feed_pending()
    assert harness.emulator.faults_served == [(method, fault)]
    # then the points are spent once, the coupon is hers, and the ledger reconciles
    assert await points_of(harness, MIA) == 0
    async with harness.session() as session:
        redemptions = (await session.execute(select(Redemption))).scalars().all()
        coupons = (await session.execute(select(MemberCoupon))).scalars().all()
        reward = await session.get(Reward, 1)
    assert [(r.member_id, r.cost) for r in redemptions] == [(MIA, 5)]
    assert [c.member_id for c in coupons] == [MIA]
    assert reward is not None and reward.stock == 9
    await assert_reconciles(database_url)
    # and Mia reads the confirmation once (a lost toast is counted), never "try again"
    assert sample(harness.runtime, FAILED) == (1 if method == "answerCallbackQuery" else 0)
    assert texts(harness, MIA).count(REDEEMED) == 1
    assert not [t for t in texts(harness, MIA) if "try again" in t]
    answer = harness.emulator.callback_answers.get(update["callback_query"]["id"])
    assert answer is None or "try again" not in (answer.get("text") or "")
    # when the same tap is delivered again, nothing more is spent and nothing said
    told = len(harness.emulator.bot_messages(MIA))
    await redeliver(harness, update)
    assert await points_of(harness, MIA) == 0
    async with harness.session() as session:
        assert len((await session.execute(select(Redemption))).scalars().all()) == 1
        assert len((await session.execute(select(MemberCoupon))).scalars().all()) == 1
    assert len(harness.emulator.bot_messages(MIA)) == told


# ------------------------------------------------------------- staff refund an offline order
@pytest.mark.parametrize("fault", FAULTS)
async def test_a_refund_whose_reply_to_staff_fails_still_tells_the_member(
    quick: Harness, database_url: str, fault: int
) -> None:
    harness = quick
    await mia_ordered_in_tea(harness)
    assert await harness.send(LEE, TEA, "/paid @mia") == ["Marked paid for Mia: #1."]
    # given Telegram fails the next message once: the reply to Sam
    harness.emulator.inject_fault("sendMessage", status=fault)
    # when Sam refunds the order
    update = harness.emulator.send_message(SAM, SAM, "/refund 1")
    await harness.feed_pending()
    assert harness.emulator.faults_served == [("sendMessage", fault)]
    # then the refund is booked and reconciles, and Mia is told all the same
    assert await order_status(harness, 1) == "refunded"
    assert await points_of(harness, MIA) == 0
    await assert_reconciles(database_url)
    assert (
        texts(harness, MIA).count(
            "Order #1 was refunded: CN¥71.80. Your leader or our staff will give you the "
            "money back, and I will tell you when they have."
        )
        == 1
    )
    # and the reply Sam did not get is counted for staff to see; Sam is not asked to refund
    # again, only to look first
    assert sample(harness.runtime, FAILED) == 1
    assert texts(harness, SAM)[-1] == (
        "Sorry, Telegram lost my answer. What you asked for may already be done: please check "
        "before you try again."
    )
    # when the same message is delivered again, nothing is refunded twice nor said twice
    events = await order_events(harness, 1)
    told = len(harness.emulator.bot_messages(MIA))
    await redeliver(harness, update)
    assert await order_events(harness, 1) == events
    assert len(harness.emulator.bot_messages(MIA)) == told
