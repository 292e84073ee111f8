"""Delivery end to end: an address asked in the invoice (a provider currency) and answered
with the brand's shipping options within Telegram's time limit, or asked in private (Stars and
offline orders); shipping cost booked with the order; /ship with a tracking number, once; the
member told in their language; the address erased by /forgetme."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from pydantic import SecretStr
from sqlalchemy import func
from sqlmodel import col, select

from bot.app import build_runtime, prepare
from bot.config import Settings
from bot.db import create_engine, create_session_factory
from models.base import utcnow
from models.order import Order, OrderEvent
from services.delivery import DeliveryError, give_address, ship_order
from services.ledger import AccountRef, balance
from services.member import UserInfo, record_member
from services.order import mark_paid_offline, place_order
from services.product import create_product, update_product
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, FakeClock, Harness, make_settings
from tests.test_privacy import mydata_document
from tgemu import EMULATOR_TOKEN, Emulator

ADDRESS = {
    "country_code": "CN",
    "state": "Guangdong",
    "city": "Shenzhen",
    "street_line1": "1 Tea Road",
    "street_line2": "",
    "post_code": "518000",
}


@pytest.fixture
async def card_harness(emulator: Emulator, settings: Settings) -> AsyncIterator[Harness]:
    """The bot with a payments provider token, so it invoices in yuan and asks addresses."""
    clock = FakeClock()
    runtime = build_runtime(
        settings.model_copy(update={"payment_provider_token": SecretStr("284685063:TEST:abc")}),
        EMULATOR_TOKEN,
        clock=clock,
    )
    await prepare(runtime, migrate=False)
    yield Harness(emulator=emulator, runtime=runtime, clock=clock)
    await runtime.close()


async def staff_with_options(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    assert await harness.send(SAM, SAM, "/shipping_option_add SF Express | 12 CNY | CN, HK") == [
        "Shipping option #1 added: SF Express · CN¥12.00 · CN, HK"
    ]
    assert await harness.send(SAM, SAM, "/shipping_option_add Star post | 5 XTR") == [
        "Shipping option #2 added: Star post · ⭐ 5 · everywhere"
    ]


async def order_row(harness: Harness, order_id: int) -> Order:
    async with harness.session() as session:
        row = await session.get(Order, order_id)
    assert row is not None
    return row


async def test_a_provider_invoice_asks_the_address_and_the_bot_answers_with_its_options(
    card_harness: Harness,
) -> None:
    harness = card_harness
    await staff_with_options(harness)
    # given a tea only delivered, paid by card
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | telegram")
    assert (await harness.send(SAM, SAM, "/product_set 1 delivery delivery"))[0].startswith(
        "Product #1 saved"
    )
    # when Mia buys it, the invoice asks her name, phone and address, flexible in price
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, MIA, "/buy 1")
    sent = harness.emulator.calls_of("sendInvoice")[-1]
    assert (sent["need_shipping_address"], sent["is_flexible"]) == (True, True)
    invoice = harness.emulator.last_bot_message(MIA)
    # an address abroad is refused with the reason, in her language
    abroad = harness.emulator.pay_invoice(
        MIA,
        MIA,
        invoice.message_id,
        shipping_address=ADDRESS | {"country_code": "US"},
        name="Mia Wong",
        phone_number="+8613800000000",
    )
    await harness.feed_pending()
    answer = harness.emulator.shipping_answers[abroad["shipping_query"]["id"]]
    assert (answer["ok"], answer["error_message"]) == (False, "Sorry, we do not ship to US.")
    # an address at home is offered the brand's yuan option, answered in time
    update = harness.emulator.pay_invoice(
        MIA,
        MIA,
        invoice.message_id,
        shipping_address=ADDRESS,
        name="Mia Wong",
        phone_number="+8613800000000",
    )
    await harness.feed_pending()
    query_id = update["shipping_query"]["id"]
    answer = harness.emulator.shipping_answers[query_id]
    assert answer["ok"] is True
    assert [(o["id"], o["title"]) for o in answer["shipping_options"]] == [("1", "SF Express")]
    # then she picks it and pays the tea and the shipping in one
    pre = harness.emulator.choose_shipping(query_id, "1")["pre_checkout_query"]
    assert pre["total_amount"] == 3590 + 1200
    await harness.feed_pending()
    assert harness.emulator.pre_checkout_answers[pre["id"]]["ok"] is True
    harness.emulator.complete_payment(pre["id"])
    await harness.feed_pending()
    row = await order_row(harness, 1)
    assert (row.status, row.paid_amount, row.shipping_cost) == ("paid", 4790, 1200)
    assert row.ship_address == "1 Tea Road, Shenzhen, Guangdong, 518000, CN"
    assert (row.ship_name, row.ship_phone) == ("Mia Wong", "+8613800000000")
    async with harness.session() as session:  # the shipping is booked beside the revenue
        assert await balance(session, AccountRef("brand_revenue"), "CNY") == 3590
        assert await balance(session, AccountRef("brand_shipping"), "CNY") == 1200
        # points are earned on the tea (35 whole yuan), never on the shipping (47 in all)
        assert await balance(session, AccountRef("member_points", MIA), "PTS") == 35
    # the orders export shows the shipping within the total the member paid
    await harness.send(SAM, SAM, "/export 1d")
    exported = harness.emulator.bot_messages(SAM)[-1]
    data = harness.emulator.file_bytes(exported.raw["document"]["file_id"]).decode("utf-8-sig")
    [line] = list(csv.DictReader(io.StringIO(data)))
    assert (line["shipping_minor"], line["total_minor"], line["paid_minor"]) == (
        "1200",
        "4790",
        "4790",
    )
    # and the order is not on a pickup sheet, but in the CSV of orders to ship
    # (a name typed as a formula reaches the spreadsheet as text, never run)
    async with harness.session() as session, session.begin():
        stored = await session.get(Order, 1)
        assert stored is not None
        stored.ship_name = '=HYPERLINK("http://x")'
    await harness.send(SAM, SAM, "/to_ship")
    document = harness.emulator.last_bot_message(SAM)
    assert (document.kind, document.text) == ("document", "1 order to ship.")
    sheet = harness.emulator.file_bytes(document.raw["document"]["file_id"]).decode("utf-8-sig")
    [shipped] = list(csv.DictReader(io.StringIO(sheet)))
    # (a phone's leading + too: a spreadsheet shows '+86... as +86..., not as a number)
    assert (shipped["order"], shipped["quantity"], shipped["phone"]) == (
        "1",
        "1",
        "'+8613800000000",
    )
    assert shipped["name"] == '\'=HYPERLINK("http://x")'
    assert shipped["address"] == "1 Tea Road, Shenzhen, Guangdong, 518000, CN"
    # when staff ship it, Mia is told the carrier and tracking number
    assert await harness.send(SAM, SAM, "/ship 1 SF SF1234567890") == [
        "Order #1 shipped: SF, SF1234567890. The member was told."
    ]
    assert harness.emulator.last_bot_message(MIA).text == (
        "Order #1 is on its way: SF, tracking number SF1234567890."
    )
    # shipping it twice is refused and changes nothing
    assert await harness.send(SAM, SAM, "/ship 1 EMS EE999") == [
        "This order was already shipped (tracking number SF1234567890)."
    ]
    assert (await order_row(harness, 1)).tracking_number == "SF1234567890"
    assert await harness.send(SAM, SAM, "/to_ship") == ["No order is waiting to be shipped."]


async def test_a_shipping_query_answered_too_late_is_refused_by_telegram(
    card_harness: Harness,
) -> None:
    harness = card_harness
    await staff_with_options(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | telegram")
    await harness.send(SAM, SAM, "/product_set 1 delivery delivery")
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, MIA, "/buy 1")
    invoice = harness.emulator.last_bot_message(MIA)
    update = harness.emulator.pay_invoice(
        MIA,
        MIA,
        invoice.message_id,
        shipping_address=ADDRESS,
        name="Mia",
        phone_number="+8613800000000",
    )
    # when the bot answers only after Telegram's limit has passed
    asked = harness.emulator.clock()
    harness.emulator.clock = lambda: asked + 11
    await harness.feed_pending()
    # then Telegram kept no answer, and the member cannot pay with an option
    assert update["shipping_query"]["id"] not in harness.emulator.shipping_answers
    with pytest.raises(ValueError, match="not answered"):
        harness.emulator.choose_shipping(update["shipping_query"]["id"], "1")


async def test_a_stars_order_asks_the_address_in_private_then_invoices_with_shipping(
    harness: Harness,
) -> None:
    await staff_with_options(harness)
    await harness.send(SAM, SAM, "/product_add Moon cake | 25 XTR | telegram")
    await harness.send(SAM, SAM, "/product_set 1 delivery delivery")
    await harness.send(MIA, MIA, "/start")
    # when Mia buys it, no invoice yet: the bot asks who receives it
    replies = await harness.send(MIA, MIA, "/buy 1")
    assert replies[0] == (
        "Order #1 reserved: Moon cake ×1, ⭐ 25. I will ask your delivery address in private."
    )
    assert replies[1].startswith("Order #1 is delivered to you. Who receives it?")
    assert harness.emulator.calls_of("sendInvoice") == []
    # bad input is named and asked again
    assert await harness.send(MIA, MIA, "M" * 65) == [
        "The name is too long. Characters allowed: 64."
    ]
    assert await harness.send(MIA, MIA, "Mia Wong") == ["The recipient's phone number?"]
    assert await harness.send(MIA, MIA, "call me") == [
        "That does not look like a phone number: digits, +, spaces and dashes."
    ]
    await harness.send(MIA, MIA, "+86 138 0000 0000")
    assert await harness.send(MIA, MIA, "x" * 301) == [
        "The address is too long. Characters allowed: 300."
    ]
    assert await harness.send(MIA, MIA, "1 Tea Road, Shenzhen") == ["How shall we ship it?"]
    question = harness.emulator.last_bot_message(MIA)
    assert question.reply_markup is not None
    button = question.reply_markup["inline_keyboard"][0][0]
    assert button["text"] == "Star post · ⭐ 5"
    await harness.press(MIA, MIA, question.message_id, index=0)
    # then the address is kept, and the invoice carries the shipping in its one price
    texts = [m.text for m in harness.new_bot_messages(MIA)]
    assert any(t and t.startswith("Thank you! Order #1 will be delivered to:") for t in texts)
    sent = harness.emulator.calls_of("sendInvoice")[-1]
    assert "need_shipping_address" not in sent or not sent["need_shipping_address"]
    assert harness.emulator.last_bot_message(MIA).kind == "invoice"
    row = await order_row(harness, 1)
    assert (row.ship_address, row.shipping_cost, row.total) == ("1 Tea Road, Shenzhen", 5, 30)
    # an unpaid order cannot be shipped
    assert await harness.send(SAM, SAM, "/ship 1 SF SF1") == [
        "Order #1 is not paid yet: it is shipped once paid."
    ]
    # /mydata shows the address with the order
    _texts, document = await mydata_document(harness, MIA)
    order = next(row for row in document["tables"]["orders"] if row["id"] == 1)
    assert (order["ship_name"], order["ship_address"]) == ("Mia Wong", "1 Tea Road, Shenzhen")
    # /forgetme erases the address
    await harness.send(MIA, MIA, "/forgetme")
    question = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, question.message_id, index=0)
    row = await order_row(harness, 1)
    assert (row.ship_name, row.ship_phone, row.ship_address) == ("", "", "")


async def test_a_pickup_order_gets_no_tracking_number(harness: Harness) -> None:
    await staff_with_options(harness)
    await harness.send(SAM, SAM, "/product_add Tea | 10 CNY")
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, MIA, "/buy 1")
    assert await harness.send(SAM, SAM, "/ship 1 SF SF1") == [
        "Order #1 is picked up, not delivered."
    ]
    assert await harness.send(SAM, SAM, "/ship 1") == [
        "Send /ship ORDER CARRIER TRACKING, for example: /ship 12 SF SF1234567890"
    ]


async def test_a_member_chooses_delivery_of_an_offline_order_and_follows_it_in_my_orders(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await staff_with_options(harness)
    # given a tea offered both ways, paid to the leader
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY")
    await harness.send(SAM, SAM, "/product_set 1 delivery both")
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, TEA, "/buy 1")
    reply = harness.emulator.last_bot_message(TEA)
    assert reply.reply_markup is not None
    assert reply.reply_markup["inline_keyboard"][0][0]["text"] == "🚚 Deliver to my address instead"
    # when she taps it, the address is asked in private
    assert await harness.press(MIA, TEA, reply.message_id, index=0) == (
        "I will ask your address in private."
    )
    assert harness.emulator.last_bot_message(MIA).text.startswith("Order #1 is delivered to you.")
    assert await harness.send(MIA, MIA, "   ") == ["Please write the recipient's name."]
    await harness.send(MIA, MIA, "Mia Wong")
    await harness.send(MIA, MIA, "13800000000")
    assert await harness.send(MIA, MIA, "1 Tea Road\nShenzhen") == ["How shall we ship it?"]
    question = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, question.message_id, index=0)
    assert harness.emulator.last_bot_message(MIA).text == (
        "Thank you! Order #1 will be delivered to:\n1 Tea Road\nShenzhen\n"
        "Shipping: CN¥12.00. Total: CN¥47.90."
    )
    # then the leader's pickup list leaves it out, and My orders shows the delivery
    listing = (await harness.send(LEE, TEA, "/orders"))[0]
    assert "#1 " not in listing
    mine = (await harness.send(MIA, MIA, "/orders"))[0]
    assert "🚚 Delivery: address given, not shipped yet" in mine
    assert "CN¥47.90" in mine
    # the leader collects the money with the shipping; staff ship, then mark it delivered
    await harness.send(LEE, TEA, "/paid @mia")
    row = await order_row(harness, 1)
    assert (row.status, row.paid_amount) == ("paid", 4790)
    async with harness.session() as session:
        assert await balance(session, AccountRef("brand_shipping"), "CNY") == 1200
    await harness.send(SAM, SAM, "/ship 1 SF SF42")
    shipped = (await harness.send(MIA, MIA, "/orders"))[0]
    assert "🚚 Shipped: SF, tracking number SF42" in shipped
    # paid and on its way: never "ready for pickup"
    assert "paid, to be delivered" in shipped and "pickup" not in shipped
    assert await harness.send(SAM, SAM, "/delivered 1") == ["Order #1 marked delivered."]
    assert harness.emulator.last_bot_message(MIA).text == "Order #1 was delivered. Thank you!"
    assert "🚚 Delivered (SF, SF42)" in (await harness.send(MIA, MIA, "/orders"))[0]


async def test_the_address_is_erased_after_its_retention_from_shipping(harness: Harness) -> None:
    await harness.join_groups()
    await staff_with_options(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY")
    await harness.send(SAM, SAM, "/product_set 1 delivery delivery")
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, TEA, "/buy 1")
    for answer in ("Mia", "13800000000", "1 Tea Road"):
        await harness.send(MIA, MIA, answer)
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=0)
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(SAM, SAM, "/ship 1 SF SF42")
    retention = harness.runtime.retention
    # kept while the parcel travels
    assert (await retention.run())["delivery_address"] == 0
    assert (await order_row(harness, 1)).ship_address == "1 Tea Road"
    # erased 90 days after it was shipped, name, phone and address, once
    retention.clock = lambda: harness.clock() + timedelta(days=91)
    assert (await retention.run())["delivery_address"] == 3
    row = await order_row(harness, 1)
    assert (row.ship_name, row.ship_phone, row.ship_address) == ("", "", "")
    assert (row.carrier, row.tracking_number) == ("SF", "SF42")
    assert (await retention.run())["delivery_address"] == 0


async def test_two_staff_shipping_one_order_at_once_ship_it_once(database_url: str) -> None:
    # given a paid delivery order with an address
    engine = create_engine(make_settings(database_url=database_url))
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        for user_id, name in ((MIA, "Mia"), (SAM, "Sam"), (LEE, "Lee")):
            await record_member(session, user=UserInfo(user_id, name), default_locale="en")
        product = await create_product(
            session, title="Tea", price=1000, currency="CNY", created_by=SAM
        )
        await update_product(session, product_id=product.id, field="fulfilment", value="delivery")
        order = await place_order(
            session, member_id=MIA, chat_id=MIA, product_id=product.id, quantity=1, max_total=10**9
        )
        await give_address(
            session,
            order_id=order.id,
            member_id=MIA,
            name="Mia",
            phone="13800000000",
            address="1 Tea Road",
            option_id=None,
        )
        await mark_paid_offline(session, order_id=order.id, actor_id=LEE)

    # when two staff ship it at the same moment with different tracking numbers
    async def ship(tracking: str) -> str:
        try:
            async with sessions() as session, session.begin():
                await ship_order(
                    session,
                    order_id=order.id,
                    actor_id=SAM,
                    carrier="SF",
                    tracking=tracking,
                    now=utcnow(),
                )
        except DeliveryError as exc:
            return exc.reason
        return "shipped"

    results = await asyncio.gather(ship("SF1"), ship("SF2"))
    # then one ships it and the other is told it was shipped already
    assert sorted(results) == ["already_shipped", "shipped"]
    async with sessions() as session:
        row = await session.get(Order, order.id)
        assert row is not None and row.tracking_number in ("SF1", "SF2")
        events = (
            await session.execute(
                select(OrderEvent).where(
                    col(OrderEvent.order_id) == order.id, col(OrderEvent.note).like("shipped%")
                )
            )
        ).scalars()
        assert [event.to_status for event in events] == ["shipped"]
        # the shipment is not a second payment: the order reached "paid" once
        paid = await session.execute(
            select(func.count())
            .select_from(OrderEvent)
            .where(col(OrderEvent.order_id) == order.id, col(OrderEvent.to_status) == "paid")
        )
        assert paid.scalar_one() == 1
    await engine.dispose()


async def test_a_group_buy_of_a_delivered_product_asks_the_address_in_my_orders(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await staff_with_options(harness)
    # given a drop of a tea only delivered, paid to the leader
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    await harness.send(SAM, SAM, "/product_set 1 delivery delivery")
    await harness.send(SAM, SAM, "/drop 1 24h min=1 stock=10")
    card = harness.emulator.last_bot_message(TEA)
    await harness.send(MIA, MIA, "/start")
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.send(LEE, TEA, "/gb_close 1")
    # when it formed and Mia looks at her orders, she is asked for the address
    assert (
        "🚚 Delivery: send me your address with /address 1"
        in (await harness.send(MIA, MIA, "/orders"))[0]
    )
    # and gives it with /address
    replies = await harness.send(MIA, MIA, "/address 1")
    assert replies[-1].startswith("Order #1 is delivered to you.")
    for answer in ("Mia", "13800000000", "1 Tea Road"):
        await harness.send(MIA, MIA, answer)
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=0)
    row = await order_row(harness, 1)
    assert (row.delivery, row.ship_address, row.shipping_cost, row.total) == (
        "delivery",
        "1 Tea Road",
        1200,
        3990 + 1200,
    )
    assert (
        "🚚 Delivery: address given, not shipped yet"
        in (await harness.send(MIA, MIA, "/orders"))[0]
    )
    # someone else's order, or a pickup order, cannot be given an address
    assert await harness.send(SAM, SAM, "/address 1") == [
        "Send /address ORDER, the number of your order to deliver."
    ]


async def test_a_member_who_never_started_the_bot_is_told_how_to_give_the_address(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await staff_with_options(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY")
    await harness.send(SAM, SAM, "/product_set 1 delivery delivery")
    # when Kai, who never opened a private chat with the bot, orders in the group
    assert await harness.send(KAI, TEA, "/buy 1") == [
        "Order #1 reserved: Oolong tea ×1, CN¥35.90. Send me /start in private, then "
        "/address 1 for the delivery."
    ]
    # then nothing was sent to him in private, and the leader's pickup list leaves it out
    assert harness.emulator.bot_messages(KAI) == []
    assert "#1 " not in (await harness.send(LEE, TEA, "/orders"))[0]


async def test_choosing_delivery_of_a_card_order_sends_a_new_invoice_that_asks_the_address(
    card_harness: Harness,
) -> None:
    harness = card_harness
    await staff_with_options(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | telegram")
    await harness.send(SAM, SAM, "/product_set 1 delivery both")
    await harness.send(MIA, MIA, "/start")
    # given Mia's order, picked up unless she chooses: an invoice without an address
    await harness.send(MIA, MIA, "/buy 1")
    first = harness.emulator.calls_of("sendInvoice")[-1]
    assert not first.get("need_shipping_address")
    old_invoice = next(
        m for m in reversed(harness.emulator.bot_messages(MIA)) if m.kind == "invoice"
    )
    offer = harness.emulator.last_bot_message(MIA)
    assert offer.text == "Rather have order #1 delivered? Tap below; a new invoice follows."
    # when she taps Deliver
    assert await harness.press(MIA, MIA, offer.message_id, index=0) == (
        "I will ask your address in private."
    )
    # then a new invoice asks the address, and the old one is out of date
    second = harness.emulator.calls_of("sendInvoice")[-1]
    assert (second["need_shipping_address"], second["is_flexible"]) == (True, True)
    stale = harness.emulator.pay_invoice(MIA, MIA, old_invoice.message_id)
    await harness.feed_pending()
    answer = harness.emulator.pre_checkout_answers[stale["pre_checkout_query"]["id"]]
    assert answer["ok"] is False
    assert (await order_row(harness, 1)).delivery == "delivery"


async def test_a_group_buy_delivers_a_product_that_is_picked_up_when_it_says_so(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await staff_with_options(harness)
    # given a tea picked up, dropped with delivery as the drop's own mode
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    assert (await harness.send(SAM, SAM, "/drop 1 24h min=1 stock=10 delivery=bike"))[0] == (
        "Write how its orders reach members as delivery=pickup, delivery=delivery or "
        "delivery=both (leave it out: as the product says)."
    )
    await harness.send(SAM, SAM, "/drop 1 24h min=1 stock=10 delivery=delivery")
    card = harness.emulator.last_bot_message(TEA)
    await harness.send(MIA, MIA, "/start")
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.send(LEE, TEA, "/gb_close 1")
    # then Mia's order follows the group-buy: delivered, and she is asked the address
    assert (await order_row(harness, 1)).delivery == "delivery"
    assert (
        "🚚 Delivery: send me your address with /address 1"
        in (await harness.send(MIA, MIA, "/orders"))[0]
    )
    replies = await harness.send(MIA, MIA, "/address 1")
    assert replies[-1].startswith("Order #1 is delivered to you.")
    # and a drop of a tea only delivered, with pickup as its own mode, is picked up
    await harness.send(SAM, SAM, "/product_add Green tea | 19.90 CNY | stock 100")
    await harness.send(SAM, SAM, "/product_set 2 delivery delivery")
    await harness.send(SAM, SAM, "/drop 2 24h min=1 stock=10 delivery=pickup")
    card = harness.emulator.last_bot_message(TEA)
    await harness.press(KAI, TEA, card.message_id, index=0)
    await harness.send(LEE, TEA, "/gb_close 2")
    async with harness.session() as session:
        order = (
            await session.execute(select(Order).where(col(Order.groupbuy_id) == 2))
        ).scalar_one()
    assert order.delivery == "pickup"


async def test_a_card_group_buy_offered_both_ways_asks_the_address_once_chosen(
    card_harness: Harness,
) -> None:
    harness = card_harness
    await harness.join_groups()
    await staff_with_options(harness)
    # given a tea picked up and paid by card, dropped to be picked up or delivered
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | telegram")
    await harness.send(SAM, SAM, "/drop 1 24h min=1 stock=10 delivery=both")
    card = harness.emulator.last_bot_message(TEA)
    await harness.send(MIA, MIA, "/start")
    # when Mia joins, her prepayment invoice is for pickup, and delivery is offered
    await harness.press(MIA, TEA, card.message_id, index=0)
    first = harness.emulator.calls_of("sendInvoice")[-1]
    assert not first.get("need_shipping_address")
    offer = next(
        m
        for m in harness.emulator.bot_messages(MIA)
        if m.text == "Rather have order #1 delivered? Tap below; a new invoice follows."
    )
    # and once she taps it, a new invoice asks the address
    assert await harness.press(MIA, MIA, offer.message_id, index=0) == (
        "I will ask your address in private."
    )
    second = harness.emulator.calls_of("sendInvoice")[-1]
    assert (second["need_shipping_address"], second["is_flexible"]) == (True, True)
    assert (await order_row(harness, 1)).delivery == "delivery"
