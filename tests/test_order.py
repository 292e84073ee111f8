"""Orders and payments end to end: Stars invoices, offline pickup lists, refunds."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlmodel import select

from bot.app import build_runtime, prepare
from bot.config import Settings
from bot.db import create_engine, create_session_factory
from models.base import utcnow
from models.order import Order, OrderEvent, Payment, StarRefund
from models.product import Product
from services.ledger import AccountRef, balance
from services.member import UserInfo, record_member
from services.order import OrderError, cancel_order, place_order
from services.product import create_product
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness, make_settings
from tgemu import EMULATOR_TOKEN, Emulator


async def make_staff(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def order_row(harness: Harness, order_id: int) -> Order:
    async with harness.session() as session:
        row = await session.get(Order, order_id)
    assert row is not None
    return row


async def buy_with_stars(harness: Harness) -> dict[str, object]:
    """Sam lists a 50-star product; Mia buys two; returns the invoice message's raw dict."""
    await make_staff(harness)
    assert await harness.send(SAM, SAM, "/product_add Moon cake | 25 XTR | stock 5 | telegram") == [
        "Product #1 created: Moon cake, ⭐ 25."
    ]
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, MIA, "/buy 1 2")
    invoice = harness.emulator.last_bot_message(MIA)
    assert invoice.kind == "invoice"
    return invoice.raw


async def pay(harness: Harness, user_id: int, message_id: int) -> dict[str, object]:
    """The member pays the invoice in Telegram; returns the bot's pre-checkout answer."""
    update = harness.emulator.pay_invoice(user_id, user_id, message_id)
    await harness.feed_pending()
    query_id = update["pre_checkout_query"]["id"]
    answers = [
        c
        for c in harness.emulator.calls_of("answerPreCheckoutQuery")
        if c["pre_checkout_query_id"] == query_id
    ]
    assert len(answers) == 1
    return answers[0]


async def test_a_member_pays_an_invoice_in_stars_and_sees_it_in_the_wallet(
    harness: Harness,
) -> None:
    invoice = await buy_with_stars(harness)
    assert invoice["invoice"]["total_amount"] == 50
    assert invoice["invoice"]["currency"] == "XTR"
    # when Mia pays: Telegram asks first, the bot agrees
    answer = await pay(harness, MIA, int(invoice["message_id"]))
    assert answer["ok"] is True
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    paid_update = harness.emulator.complete_payment(query_id)
    await harness.feed_pending()
    # then she is thanked, the order is paid, and the ledger holds the payment
    thanks, points = [m.text for m in harness.emulator.bot_messages(MIA)[-2:]]
    assert thanks == "Thank you! Order #1 is paid: ⭐ 50."
    # a Star is a whole unit: one point each at the Member tier's 1x
    assert points == "Order #1 earned you 50 points."
    order = await order_row(harness, 1)
    assert (order.status, order.paid_amount) == ("paid", 50)
    async with harness.session() as session:
        assert await balance(session, AccountRef("brand_revenue"), "XTR") == 50
        product = await session.get(Product, 1)
        assert product is not None and product.stock == 3
    wallet = (await harness.send(MIA, MIA, "/wallet"))[0]
    assert "−⭐ 50  Order paid" in wallet
    assert "+50 points  Points for an order" in wallet
    # and the same successful_payment delivered again has no effect
    sent_before = len(harness.emulator.bot_messages(MIA))
    again = dict(paid_update, update_id=int(paid_update["update_id"]) + 500)
    await harness.runtime.dp.feed_raw_update(harness.runtime.bot, again)
    async with harness.session() as session:
        payments = (await session.execute(select(Payment))).scalars().all()
        assert await balance(session, AccountRef("brand_revenue"), "XTR") == 50
    assert len(payments) == 1
    assert len(harness.emulator.bot_messages(MIA)) == sent_before


async def test_pre_checkout_refuses_a_cancelled_order_in_the_members_language(
    harness: Harness, database_url: str
) -> None:
    invoice = await buy_with_stars(harness)
    await harness.send(MIA, MIA, "/language")
    picker = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, picker.message_id, index=1)  # 简体中文
    engine = create_engine(make_settings(database_url=database_url))
    async with create_session_factory(engine)() as session, session.begin():
        await cancel_order(session, order_id=1, actor_id=SAM, note="test")
    await engine.dispose()
    answer = await pay(harness, MIA, int(invoice["message_id"]))
    assert answer["ok"] is False
    assert answer["error_message"] == "这个订单已取消，无法付款。"
    async with harness.session() as session:
        product = await session.get(Product, 1)
        assert product is not None and product.stock == 5  # the cancellation gave stock back


async def test_money_for_an_order_cancelled_meanwhile_goes_straight_back(
    harness: Harness, database_url: str
) -> None:
    invoice = await buy_with_stars(harness)
    assert (await pay(harness, MIA, int(invoice["message_id"])))["ok"] is True
    # the order is cancelled after Telegram's check but before the money arrives
    engine = create_engine(make_settings(database_url=database_url))
    async with create_session_factory(engine)() as session, session.begin():
        await cancel_order(session, order_id=1, actor_id=SAM, note="sold elsewhere")
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    harness.emulator.complete_payment(query_id)
    await harness.feed_pending()
    # then the Stars are refunded through Telegram and the member is told
    refunds = harness.emulator.calls_of("refundStarPayment")
    assert len(refunds) == 1 and refunds[0]["user_id"] == MIA
    assert harness.emulator.last_bot_message(MIA).text == (
        "This order could no longer be paid, so your ⭐ 50 went straight back to you."
    )
    async with create_session_factory(engine)() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 0
        assert await balance(session, AccountRef("customer_receivable", MIA), "XTR") == 0
        assert await balance(session, AccountRef("brand_revenue"), "XTR") == 0
        payment = (await session.execute(select(Payment))).scalar_one()
        assert payment.status == "refunded"
    await engine.dispose()


async def test_staff_refund_a_stars_order_through_telegram(harness: Harness) -> None:
    invoice = await buy_with_stars(harness)
    await pay(harness, MIA, int(invoice["message_id"]))
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    harness.emulator.complete_payment(query_id)
    await harness.feed_pending()
    # a part of a Stars payment cannot be refunded
    assert await harness.send(SAM, SAM, "/refund 1 10") == [
        "Telegram Stars payments can only be refunded in full."
    ]
    # a member may not refund
    assert await harness.send(MIA, MIA, "/refund 1") == ["Sorry, only brand staff can do that."]
    # staff refund it in full: booked at once, and the refunder sends the Stars back
    assert await harness.send(SAM, SAM, "/refund 1") == [
        "Refund of ⭐ 50 for order #1 booked; Telegram is sending the Stars back to the member now."
    ]
    call = harness.emulator.calls_of("refundStarPayment")[-1]
    assert call["user_id"] == MIA
    assert harness.emulator.last_bot_message(MIA).text == "Order #1 was refunded: ⭐ 50."
    assert (await order_row(harness, 1)).status == "refunded"
    # and a second refund is refused
    assert await harness.send(SAM, SAM, "/refund 1") == [
        "That order has already been refunded in full."
    ]
    async with harness.session() as session:
        assert await balance(session, AccountRef("brand_revenue"), "XTR") == 50
        assert await balance(session, AccountRef("brand_refunds"), "XTR") == -50


async def test_a_leader_runs_offline_pickup_from_the_groups_list(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 10")
    # members order in the group
    reply = await harness.send(MIA, TEA, "/buy 1 2")
    assert [text.splitlines()[0] for text in reply] == [
        "Order #1 reserved: Oolong tea ×2, CN¥71.80. Pay your leader at pickup."
    ]
    assert "Held for you until" in reply[0]  # pay-at-pickup reservations expire
    await harness.send(KAI, TEA, "/buy 1")
    # a member cannot see or use the pickup list
    assert await harness.send(MIA, TEA, "/orders") == [
        "Sorry, only the leaders of this group can do that."
    ]
    # the leader opens it
    listing = (await harness.send(LEE, TEA, "/orders"))[0]
    assert "#1 Mia · Oolong tea ×2 · CN¥71.80 · reserved" in listing
    assert "#2 Kai · Oolong tea ×1 · CN¥35.90 · reserved" in listing
    card = harness.emulator.last_bot_message(TEA)
    # one button per order, naming the member and the order, for what it needs next
    assert card.button_texts == ["✅ Paid · Mia #1", "✅ Paid · Kai #2"]
    # a member pressing a button is refused, and picking up before paying is refused
    assert await harness.press(MIA, TEA, card.message_id, index=0) == (
        "Sorry, only the leaders of this group can do that."
    )
    forged = await harness.press(
        LEE, TEA, card.message_id, callback_data="ord:picked:1", force=True
    )
    assert forged == "That order is not paid yet."
    # the leader marks Mia's order paid with the button: the list is edited in place
    assert await harness.press(LEE, TEA, card.message_id, index=0) == "Done."
    edited = harness.emulator.messages(TEA)[-1]
    assert edited.message_id == card.message_id
    assert "#1 Mia · Oolong tea ×2 · CN¥71.80 · paid" in edited.text
    assert edited.button_texts == ["📦 Picked up · Mia #1", "✅ Paid · Kai #2"]
    # and Kai's by command, then Mia picks up
    assert await harness.send(LEE, TEA, "/paid @kai") == ["Marked paid for Kai: #2."]
    async with harness.session() as session:  # Lee owes the brand the cash he took
        assert await balance(session, AccountRef("leader_cash", LEE), "CNY") == -10770
    assert await harness.send(LEE, TEA, "/pickedup @mia") == ["Marked picked up for Mia: #1."]
    assert await harness.send(LEE, TEA, "/pickedup @mia") == [
        "Mia has no orders here waiting for that."
    ]
    assert (await order_row(harness, 1)).status == "fulfilled"
    async with harness.session() as session:
        assert await balance(session, AccountRef("brand_revenue"), "CNY") == 10770
        events = (
            (
                await session.execute(
                    select(OrderEvent).where(OrderEvent.order_id == 1).order_by(OrderEvent.id)
                )
            )
            .scalars()
            .all()
        )
    assert [(e.from_status, e.to_status, e.actor_id) for e in events] == [
        (None, "reserved", MIA),
        ("reserved", "paid", LEE),
        ("paid", "fulfilled", LEE),
    ]


async def test_a_leader_never_marks_their_own_order_or_a_stars_order_paid(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 10")
    await harness.send(SAM, SAM, "/product_add Moon cake | 25 XTR | stock 5 | telegram")
    await harness.send(LEE, LEE, "/start")
    await harness.send(MIA, MIA, "/start")
    # given Lee, the leader, ordered tea in his own group, and Mia ordered moon cakes in Stars
    await harness.send(LEE, TEA, "/buy 1")
    assert await harness.send(MIA, TEA, "/buy 2") == [
        "Order #2 reserved. I sent you the invoice in private."
    ]
    # then the pickup list offers no "paid" button for the Stars order
    await harness.send(LEE, TEA, "/orders")
    card = harness.emulator.last_bot_message(TEA)
    assert card.button_texts == ["✅ Paid · Lee #1", "⏳ Pays by invoice · Mia #2"]
    # and Lee cannot mark his own order paid, by command or button, nor Mia's Stars order
    assert await harness.send(LEE, TEA, "/paid @lee") == [
        "You cannot mark your own order paid: another leader or staff must confirm the money."
    ]
    assert await harness.press(LEE, TEA, card.message_id, index=0) == (
        "You cannot mark your own order paid: another leader or staff must confirm the money."
    )
    assert await harness.send(LEE, TEA, "/paid @mia") == [
        "Mia has no orders here waiting for that."
    ]
    forged = await harness.press(LEE, TEA, card.message_id, callback_data="ord:paid:2", force=True)
    assert forged == "That order is paid in Telegram, with the invoice the member got."
    assert (await order_row(harness, 1)).status == "reserved"
    assert (await order_row(harness, 2)).status == "awaiting_payment"
    async with harness.session() as session:
        assert await balance(session, AccountRef("brand_revenue"), "CNY") == 0
    # when staff take Lee's money for his order, the cash is owed by staff
    assert await harness.send(SAM, TEA, "/paid @lee") == ["Marked paid for Lee: #1."]
    async with harness.session() as session:
        assert await balance(session, AccountRef("leader_cash", SAM), "CNY") == -3590
    # then Lee cannot mark his own order picked up either, by command or button
    assert await harness.send(LEE, TEA, "/pickedup @lee") == [
        "You cannot mark your own order picked up: another leader or staff must confirm it."
    ]
    await harness.send(LEE, TEA, "/orders")
    card = harness.emulator.last_bot_message(TEA)
    assert await harness.press(LEE, TEA, card.message_id, callback_data="ord:picked:1") == (
        "You cannot mark your own order picked up: another leader or staff must confirm it."
    )
    assert (await order_row(harness, 1)).status == "paid"


async def test_a_forged_button_for_another_groups_order_is_refused(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY")
    await harness.send(MIA, COFFEE, "/buy 1")  # order #1 belongs to Coffee Club
    await harness.send(MIA, TEA, "/buy 1")  # order #2 to Tea Lovers
    await harness.send(LEE, TEA, "/orders")
    card = harness.emulator.last_bot_message(TEA)
    # Lee, leader of Tea Lovers, forges the button to mark Coffee Club's order paid
    answer = await harness.press(LEE, TEA, card.message_id, callback_data="ord:paid:1", force=True)
    assert answer == "There is no such order in this group."
    assert (await order_row(harness, 1)).status == "reserved"


async def test_partial_refunds_never_exceed_what_was_paid(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY")
    await harness.send(MIA, TEA, "/buy 1")
    assert await harness.send(SAM, SAM, "/refund 1") == ["That order is not paid yet."]
    await harness.send(LEE, TEA, "/paid @mia")
    assert await harness.send(SAM, SAM, "/refund 1 ten") == [
        "The amount must be a number, like 35.90."
    ]
    assert await harness.send(SAM, SAM, "/refund 1 -3") == ["The amount must be more than zero."]
    assert await harness.send(SAM, SAM, "/refund 1 10.505") == [
        "That currency does not have so many decimal places."
    ]
    booked = await harness.send(SAM, SAM, "/refund 1 10.50")
    assert booked == [
        "Refund of CN¥10.50 for order #1 booked; the ledger shows it as owed to the member. "
        "Once they have their money back, send /refund_paid 1. The group's leader may pay it "
        "from the cash they hold and send /refund_paid 1 in the group."
    ]
    assert await harness.send(SAM, SAM, "/refund 1 30") == [
        "That is more than what is left to refund on this order."
    ]
    assert (await harness.send(SAM, SAM, "/refund 1")) == [
        "Refund of CN¥25.40 for order #1 booked; the ledger shows it as owed to the member. "
        "Once they have their money back, send /refund_paid 1. The group's leader may pay it "
        "from the cash they hold and send /refund_paid 1 in the group."
    ]
    order = await order_row(harness, 1)
    assert (order.status, order.paid_amount, order.refunded_amount) == ("refunded", 3590, 3590)
    async with harness.session() as session:
        assert await balance(session, AccountRef("brand_revenue"), "CNY") == 3590
        assert await balance(session, AccountRef("brand_refunds"), "CNY") == -3590
        assert await balance(session, AccountRef("customer_payable", MIA), "CNY") == 3590


async def test_product_add_explains_bad_input(harness: Harness) -> None:
    await make_staff(harness)
    cases = {
        "/product_add": "Send it in one line, for example:",
        "/product_add Tea | abc CNY": "The amount must be a number, like 35.90.",
        "/product_add Tea | 0 CNY": "The amount must be more than zero.",
        "/product_add Tea | 5 ABC": "Use a currency code such as CNY",
        "/product_add Tea | 99999999 CNY": "That amount is above the allowed maximum.",
        "/product_add Tea | 5 CNY | stock lots": "Stock must be a whole number",
        "/product_add Tea | 5 CNY | telegram": "Telegram payments in CNY need",
        "/product_add <b>Tea</b> | 5 CNY": "Product #1 created: <b>Tea</b>, CN¥5.00.",
    }
    for command, expected in cases.items():
        reply = (await harness.send(SAM, SAM, command))[0]
        assert reply.startswith(expected), (command, reply)
    card = (await harness.send(MIA, MIA, "/products"))[0]
    assert card == "#1 <b>Tea</b>\nCN¥5.00"


async def test_buy_explains_bad_input(harness: Harness) -> None:
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Tea | 5 CNY | stock 1")
    cases = {
        "/buy": "Tell me what to order",
        "/buy tea": "Tell me what to order",
        "/buy 1 0": "The quantity must be a whole number from 1 to 999.",
        "/buy 7": "There is no product #7.",
        "/buy 1 2": "Sorry, only 1 left: order fewer.",  # the stock error says what is left
    }
    for command, expected in cases.items():
        reply = (await harness.send(MIA, MIA, command))[0]
        assert reply.startswith(expected), (command, reply)


@pytest.mark.parametrize("buyers", [12])
async def test_stock_is_never_oversold_under_concurrent_orders(
    database_url: str, buyers: int
) -> None:
    engine = create_engine(make_settings(database_url=database_url))
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        for uid in range(1, buyers + 1):
            await record_member(session, user=UserInfo(uid, f"u{uid}"), default_locale="en")
        product = await create_product(
            session, title="Limited", price=100, currency="CNY", stock=5, created_by=1
        )

    async def attempt(uid: int) -> bool:
        try:
            async with sessions() as session, session.begin():
                await place_order(
                    session,
                    member_id=uid,
                    chat_id=uid,
                    product_id=product.id,
                    quantity=1,
                    max_total=10**9,
                )
            return True
        except OrderError as exc:
            assert exc.reason == "out_of_stock"
            return False

    results = await asyncio.gather(*(attempt(uid) for uid in range(1, buyers + 1)))
    async with sessions() as session:
        row = await session.get(Product, product.id)
        orders = (await session.execute(select(Order))).scalars().all()
    await engine.dispose()
    assert sum(results) == 5 and len(orders) == 5
    assert row is not None and row.stock == 0


@pytest.fixture
async def card_harness(emulator: Emulator, settings: Settings) -> AsyncIterator[Harness]:
    """The bot with a payments provider token, so it can send invoices in yuan."""
    runtime = build_runtime(
        settings.model_copy(update={"payment_provider_token": SecretStr("284685063:TEST:abc")}),
        EMULATOR_TOKEN,
    )
    await prepare(runtime, migrate=False)
    yield Harness(emulator=emulator, runtime=runtime)
    await runtime.close()


async def test_card_money_for_a_cancelled_order_is_owed_back_and_staff_are_told(
    card_harness: Harness, database_url: str
) -> None:
    harness = card_harness
    await make_staff(harness)
    await harness.send(OWNER, OWNER, "/start")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | telegram")
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, MIA, "/buy 1")
    invoice = harness.emulator.last_bot_message(MIA)
    assert invoice.kind == "invoice"
    assert harness.emulator.calls_of("sendInvoice")[-1]["provider_token"] == "284685063:TEST:abc"
    assert (await pay(harness, MIA, invoice.message_id))["ok"] is True
    engine = create_engine(make_settings(database_url=database_url))
    async with create_session_factory(engine)() as session, session.begin():
        await cancel_order(session, order_id=1, actor_id=SAM, note="test")
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    harness.emulator.complete_payment(query_id)
    await harness.feed_pending()
    # the member is told the money will come back; no Stars refund is attempted
    assert harness.emulator.last_bot_message(MIA).text == (
        "This order could no longer be paid. Your CN¥35.90 will be refunded; our staff have "
        "been told."
    )
    assert harness.emulator.calls_of("refundStarPayment") == []
    # staff and the owner are told to pay it back
    for staff_id in (SAM, OWNER):
        assert harness.emulator.last_bot_message(staff_id).text.startswith(
            "Refund due: order #1 of Mia, CN¥35.90."
        )
    # and the ledger shows the money as owed to Mia, which her wallet shows too
    async with create_session_factory(engine)() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "CNY") == 3590
        payment = (await session.execute(select(Payment))).scalar_one()
        assert payment.status == "refund_due"
    await engine.dispose()
    wallet = (await harness.send(MIA, MIA, "/wallet"))[0]
    assert "Refunds owed to you: CN¥35.90" in wallet


async def paid_stars_order(harness: Harness) -> None:
    invoice = await buy_with_stars(harness)
    await pay(harness, MIA, int(invoice["message_id"]))
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    harness.emulator.complete_payment(query_id)
    await harness.feed_pending()


async def test_a_refund_telegram_does_not_answer_is_owed_then_sent_once_it_does(
    harness: Harness,
) -> None:
    await paid_stars_order(harness)
    # given Telegram fails the refund request once (a 500)
    harness.emulator.inject_fault("refundStarPayment", status=500)
    # when staff refund the order
    assert await harness.send(SAM, SAM, "/refund 1") == [
        "Refund of ⭐ 50 for order #1 booked; Telegram is sending the Stars back to the member now."
    ]
    # then the refund is committed and owed to Mia, waiting for Telegram
    order = await order_row(harness, 1)
    assert (order.status, order.refunded_amount) == ("refunded", 50)
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 50
        refund = (await session.execute(select(StarRefund))).scalar_one()
        assert (refund.status, refund.attempts) == ("pending", 1)
    # and a second /refund is refused: nothing is refunded twice
    assert await harness.send(SAM, SAM, "/refund 1") == [
        "That order has already been refunded in full."
    ]
    # when the refunder asks again after its backoff, Telegram answers
    assert await harness.runtime.refunder.run_once(now=utcnow() + timedelta(minutes=1)) == 1
    await harness.runtime.notifier.drain()
    # then the Stars went back once, the ledger says so, and Mia is told
    assert len(harness.emulator.calls_of("refundStarPayment")) == 2
    assert harness.emulator.last_bot_message(MIA).text == "Order #1 was refunded: ⭐ 50."
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 0
        refund = (await session.execute(select(StarRefund))).scalar_one()
        assert refund.status == "sent"


async def test_stars_telegram_will_not_return_become_a_refund_due_for_staff(
    harness: Harness, database_url: str
) -> None:
    invoice = await buy_with_stars(harness)
    assert (await pay(harness, MIA, int(invoice["message_id"])))["ok"] is True
    engine = create_engine(make_settings(database_url=database_url))
    async with create_session_factory(engine)() as session, session.begin():
        await cancel_order(session, order_id=1, actor_id=SAM, note="sold elsewhere")
    # Telegram refuses the refund for good (not a passing failure)
    harness.emulator.inject_fault(
        "refundStarPayment", status=400, description="Bad Request: CHARGE_NOT_FOUND"
    )
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    harness.emulator.complete_payment(query_id)
    await harness.feed_pending()
    assert harness.emulator.last_bot_message(MIA).text == (
        "Your ⭐ 50 for order #1 will be refunded by our staff; they have been told."
    )
    assert harness.emulator.last_bot_message(SAM).text.startswith("Refund due: order #1 of Mia")
    async with create_session_factory(engine)() as session:
        payment = (await session.execute(select(Payment))).scalar_one()
        assert payment.status == "refund_due"
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 50
    await engine.dispose()
