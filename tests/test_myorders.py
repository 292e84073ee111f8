"""My orders: /orders in private (and the /start menu's button) lists a member's orders and
group-buy places, newest first, a page at a time, each with the button it needs; Pay sends an
invoice that pays, Cancel frees the stock, Review takes the stars. End to end through the
emulator, in English and 简体中文."""

from __future__ import annotations

from datetime import timedelta

from handlers.views.reservation import local_moment
from models.groupbuy import GroupBuy
from models.order import Order
from models.product import Product
from models.review import Review
from services.myorders import PAGE_SIZE
from tests.conftest import COFFEE, KAI, LEE, MIA, SAM, TEA, Harness
from tests.test_order import make_staff, pay

HOLD_HOURS = 48


async def press_text(
    harness: Harness, user: int, chat: int, message_id: int, text: str
) -> str | None:
    """The user taps the button with this text on the message."""
    message = next(m for m in harness.emulator.bot_messages(chat) if m.message_id == message_id)
    return await harness.press(user, chat, message_id, index=message.button_texts.index(text))


async def listing(harness: Harness, user: int) -> tuple[str, list[str], int]:
    """The user sends /orders in private; returns the list's text, buttons and message id."""
    replies = await harness.send(user, user, "/orders")
    assert len(replies) == 1
    message = harness.emulator.last_bot_message(user)
    return message.text or "", message.button_texts, message.message_id


async def order_row(harness: Harness, order_id: int) -> Order:
    async with harness.session() as session:
        row = await session.get(Order, order_id, populate_existing=True)
    assert row is not None
    return row


async def complete(harness: Harness, user: int, invoice_message_id: int) -> None:
    """The user pays the invoice and Telegram confirms the payment."""
    answer = await pay(harness, user, invoice_message_id)
    assert answer["ok"] is True
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    harness.emulator.complete_payment(query_id)
    await harness.feed_pending()


async def given_mias_orders(harness: Harness) -> None:
    """Tea to pay at pickup, moon cakes paid in Stars, a group-buy of tea with a pickup place.
    Mia joins the group-buy with two, then orders tea that she pays and picks up (#1),
    reserves two teas (#2), and orders two moon cakes whose invoice she leaves unpaid (#3)."""
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY | stock 20")
    await harness.send(SAM, SAM, "/product_add Moon cake | 25 XTR | stock 5 | telegram")
    await harness.send(MIA, MIA, "/start")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=3 stock=10 pickup=Shop A, Sat 10:00")
    card = harness.emulator.last_bot_message(TEA).message_id
    await harness.press(MIA, TEA, card, index=1)  # Join ×2
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(LEE, TEA, "/pickedup @mia")
    await harness.send(MIA, TEA, "/buy 1 2")
    await harness.send(MIA, TEA, "/buy 2 2")


async def test_a_member_sees_orders_in_every_state_with_the_action_each_needs(
    harness: Harness,
) -> None:
    # given Mia's orders in four states and a group-buy place
    await given_mias_orders(harness)
    # (she set no time zone: times are the group's, with the zone named)
    deadline = local_moment(harness.clock() + timedelta(hours=24), "UTC") + " UTC"
    held = local_moment((await order_row(harness, 2)).expires_at, "UTC") + " UTC"  # type: ignore[arg-type]
    # when she sends /orders in private
    text, buttons, _id = await listing(harness, MIA)
    # then she reads each, newest first, with its status, pickup and deadline, and its buttons
    assert text == (
        "📦 Your orders · 1–4 of 4\n\n"
        "#3 Moon cake ×2 · ⭐ 50\n"
        "   waiting for your payment\n\n"
        "#2 Oolong tea ×2 · CN¥71.80\n"
        "   to pay at pickup\n"
        f"   held until {held}\n\n"
        "#1 Oolong tea ×1 · CN¥35.90\n"
        "   picked up\n\n"
        "Group-buy #1 Oolong tea ×2 · CN¥71.80 so far\n"
        f"   joined; the group-buy closes {deadline}\n"
        "   Pickup: Shop A, Sat 10:00"
    )
    assert buttons == [
        "💳 Pay #3",
        "❌ Cancel #3",
        "👤 For someone else #3",  # not picked up: whom it is for may be said (代订)
        "❌ Cancel #2",
        "👤 For someone else #2",
        "⭐ Review #1",
        "🛟 Problem with #1",  # picked up: an after-sales ticket may be opened on it
        "❌ Leave group-buy #1",
        "⬅️ Back",  # to the main menu
    ]


async def test_pay_sends_a_fresh_invoice_that_pays_the_order(harness: Harness) -> None:
    # given Mia's unpaid moon cakes (#3), whose first invoice she never paid
    await given_mias_orders(harness)
    first_invoice = harness.emulator.last_bot_message(MIA)
    assert first_invoice.kind == "invoice"
    _text, _buttons, listed = await listing(harness, MIA)
    # when she taps Pay #3
    toast = await press_text(harness, MIA, MIA, listed, "💳 Pay #3")
    # then a new invoice for 50 ⭐ comes, and the old one no longer works
    assert toast == "Here is a new invoice for order #3; earlier ones no longer work."
    invoice = harness.emulator.last_bot_message(MIA)
    assert invoice.kind == "invoice" and invoice.raw["invoice"]["total_amount"] == 50
    assert (await pay(harness, MIA, first_invoice.message_id))["ok"] is False
    # and paying it pays the order
    await complete(harness, MIA, invoice.message_id)
    assert (await order_row(harness, 3)).status == "paid"
    assert "Thank you! Order #3 is paid: ⭐ 50." in [
        m.text for m in harness.emulator.bot_messages(MIA)
    ]
    # and her list now says paid, with no Pay or Cancel for it
    text, buttons, _id = await listing(harness, MIA)
    assert "#3 Moon cake ×2 · ⭐ 50\n   paid, ready for pickup" in text
    assert "💳 Pay #3" not in buttons and "❌ Cancel #3" not in buttons


async def test_cancel_frees_the_stock_and_leave_gives_the_place_back(harness: Harness) -> None:
    # given Mia's reservation of two teas (#2) and her two places in group-buy #1
    await given_mias_orders(harness)
    async with harness.session() as session:
        tea = await session.get(Product, 1)
        assert tea is not None
        stock = tea.stock
    _text, _buttons, listed = await listing(harness, MIA)
    # when she taps Cancel #2
    toast = await press_text(harness, MIA, MIA, listed, "❌ Cancel #2")
    # then it is cancelled, its two units are back in stock, and the list shows it in place
    assert toast == "Order #2 cancelled; its stock is back on sale."
    assert (await order_row(harness, 2)).status == "cancelled"
    async with harness.session() as session:
        tea = await session.get(Product, 1, populate_existing=True)
        assert tea is not None and stock is not None and tea.stock == stock + 2
    page = next(m for m in harness.emulator.bot_messages(MIA) if m.message_id == listed)
    assert "#2 Oolong tea ×2 · CN¥71.80\n   cancelled" in (page.text or "")
    assert "❌ Cancel #2" not in page.button_texts
    # when she leaves the group-buy from the list, its units go back to the group-buy
    toast = await press_text(harness, MIA, MIA, listed, "❌ Leave group-buy #1")
    assert toast == "You left group-buy #1."
    async with harness.session() as session:
        gb = await session.get(GroupBuy, 1, populate_existing=True)
        assert gb is not None and (gb.units_sold, gb.participants) == (0, 0)
    # and a second tap on the stale button is refused politely
    assert (
        await harness.press(MIA, MIA, listed, callback_data="my:leave:1:0", force=True)
        == "You have not joined this group-buy."
    )


async def test_review_takes_the_stars_once(harness: Harness) -> None:
    # given Mia picked up order #1
    await given_mias_orders(harness)
    _text, _buttons, listed = await listing(harness, MIA)
    # when she taps Review #1, she is asked for stars
    await press_text(harness, MIA, MIA, listed, "⭐ Review #1")
    ask = harness.emulator.last_bot_message(MIA)
    assert ask.text == (
        "How was order #1, Oolong tea? Tap the stars. To add a few words, send /review 1 5 "
        "and your words instead."
    )
    assert ask.button_texts == ["1⭐", "2⭐", "3⭐", "4⭐", "5⭐"]
    # and when she taps five stars, the review is recorded and earns her points
    await press_text(harness, MIA, MIA, ask.message_id, "5⭐")
    assert harness.emulator.last_bot_message(MIA).text == (
        "Thank you for your review! It earned you 10 points. Send up to 5 photos (and one short "
        "video) here to show what you got; once the brand approves them they earn you 50 points."
    )
    async with harness.session() as session:
        review = await session.get(Review, 1)
        assert review is not None and (review.member_id, review.rating) == (MIA, 5)
    # then the list no longer offers Review, and a second rating is refused
    _text, buttons, _id = await listing(harness, MIA)
    assert "⭐ Review #1" not in buttons
    assert (
        await harness.press(MIA, MIA, ask.message_id, callback_data="my:rate:1:4", force=True)
        == "You have already reviewed that order. Thank you!"
    )


async def test_an_empty_list_says_how_to_order_and_the_start_menu_opens_it(
    harness: Harness,
) -> None:
    # given Mia has never ordered
    await harness.send(MIA, MIA, "/start")
    menu = harness.emulator.last_bot_message(MIA)
    assert menu.button_texts[0] == "📦 My orders"
    # when she taps My orders on the /start menu, or sends /orders
    await harness.press(MIA, MIA, menu.message_id, index=0)
    opened = harness.emulator.last_bot_message(MIA)
    text, buttons, _id = await listing(harness, MIA)
    # then the menu itself turned into the list, in place
    assert opened.message_id == menu.message_id
    # and both say how to order, with nothing to tap but Back to the menu
    assert (
        opened.text
        == text
        == (
            "You have no orders yet. Join a group-buy with the buttons on its card in your "
            "group, or order in the group with /buy; your orders, their pickup and payment "
            "then show up here."
        )
    )
    assert buttons == opened.button_texts == ["⬅️ Back"]


async def orders_of_stars(harness: Harness, user: int, chat: int, count: int) -> None:
    """The user orders one moon cake `count` times (Stars: no cap on reservations)."""
    for _n in range(count):
        await harness.send(user, chat, "/buy 1")


async def test_paging_at_the_boundaries(harness: Harness) -> None:
    # given exactly one page of orders
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Moon cake | 25 XTR | stock 50 | telegram")
    await harness.send(MIA, MIA, "/start")
    await orders_of_stars(harness, MIA, TEA, PAGE_SIZE)
    # when Mia lists them, all show, with no More
    text, buttons, _id = await listing(harness, MIA)
    assert text.startswith(f"📦 Your orders · 1–{PAGE_SIZE} of {PAGE_SIZE}\n")
    assert text.count("Moon cake") == PAGE_SIZE
    assert "More ▶️" not in buttons and "◀️ Previous" not in buttons
    assert buttons[-1] == "⬅️ Back"  # the way back to the main menu
    # given one more than a page
    await orders_of_stars(harness, MIA, TEA, 1)
    text, buttons, listed = await listing(harness, MIA)
    # then the first page says so and offers More; the newest comes first
    last = PAGE_SIZE + 1
    assert text.startswith(f"📦 Your orders · 1–{PAGE_SIZE} of {last}\n\n#{last} Moon cake")
    assert buttons[-2:] == ["More ▶️", "⬅️ Back"]
    # when she taps More, the same message shows the last one, with Back
    await press_text(harness, MIA, MIA, listed, "More ▶️")
    page = next(m for m in harness.emulator.bot_messages(MIA) if m.message_id == listed)
    assert (page.text or "").startswith(f"📦 Your orders · {last}–{last} of {last}\n\n#1 Moon")
    assert page.button_texts == [
        "💳 Pay #1",
        "❌ Cancel #1",
        "👤 For someone else #1",
        "◀️ Previous",
        "⬅️ Back",
    ]
    # and the page's Back returns to the first page
    await press_text(harness, MIA, MIA, listed, "◀️ Previous")
    page = next(m for m in harness.emulator.bot_messages(MIA) if m.message_id == listed)
    assert (page.text or "").startswith(f"📦 Your orders · 1–{PAGE_SIZE} of {last}")


async def test_zh_a_member_who_joined_a_stars_group_buy_before_starting_pays_from_my_orders(
    harness: Harness,
) -> None:
    # given Kai opens a Stars group-buy in Coffee Club, and Lee (简体中文) joins it from the card
    # before he ever opened a private chat with the bot: no invoice could reach him
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Moon cake | 30 XTR | stock 20 | telegram")
    await harness.send(KAI, COFFEE, "/groupbuy 1 24h min=1u stock=10 pickup=咖啡店 周六 10:00")
    card = harness.emulator.last_bot_message(COFFEE).message_id
    await harness.press(LEE, COFFEE, card, index=0)
    assert [m for m in harness.emulator.bot_messages(LEE) if m.kind == "invoice"] == []
    # when he starts the bot and opens 我的订单 from the menu
    await harness.send(LEE, LEE, "/start")
    menu = harness.emulator.last_bot_message(LEE)
    assert menu.button_texts[0] == "📦 我的订单"
    await harness.press(LEE, LEE, menu.message_id, index=0)
    listed = harness.emulator.last_bot_message(LEE)
    # then he reads his unpaid order in Chinese, with its pickup and a Pay button naming it
    assert listed.text is not None and listed.text.startswith("📦 我的订单 · 第 1–1 条，共 1 条")
    assert "#1 Moon cake ×1 · ⭐ 30\n   未付款\n   取货：咖啡店 周六 10:00" in listed.text
    assert listed.message_id == menu.message_id  # the menu turned into the list
    assert listed.button_texts == ["💳 付款 #1", "❌ 取消 #1", "👤 代订 #1", "⬅️ 返回"]
    # and Pay sends an invoice that pays the order
    await press_text(harness, LEE, LEE, listed.message_id, "💳 付款 #1")
    invoice = harness.emulator.last_bot_message(LEE)
    assert invoice.kind == "invoice" and invoice.raw["invoice"]["total_amount"] == 30
    await complete(harness, LEE, invoice.message_id)
    assert (await order_row(harness, 1)).status == "paid"
    # and his list says it is paid and when the group-buy closes, with nothing left to do
    deadline = local_moment(harness.clock() + timedelta(hours=24), "UTC") + " UTC"
    text, buttons, _id = await listing(harness, LEE)
    assert f"#1 Moon cake ×1 · ⭐ 30\n   已付款，拼团于 {deadline} 截止" in text
    assert buttons == ["👤 代订 #1", "⬅️ 返回"]  # nothing to pay: whom it is for may be said
    # and when it forms, his notice names the pickup (he has paid: no Pay button)
    harness.new_bot_messages(LEE)
    harness.clock.advance(hours=24, seconds=1)
    await harness.runtime.closer.close_due()
    await harness.runtime.notifier.drain()
    told = harness.new_bot_messages(LEE)
    assert told[0].text == "Moon cake成团啦！你已付款，取货时见。\n取货：咖啡店 周六 10:00"
    assert told[0].button_texts == []


async def test_zh_a_formed_notice_carries_the_pickup_and_a_pay_button(harness: Harness) -> None:
    # given Lee (简体中文) joined a Stars group-buy in Coffee Club without paying
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(LEE, LEE, "/start")
    await harness.send(SAM, SAM, "/product_add Moon cake | 30 XTR | stock 20 | telegram")
    await harness.send(KAI, COFFEE, "/groupbuy 1 24h min=1u stock=10 pickup=咖啡店 周六 10:00")
    card = harness.emulator.last_bot_message(COFFEE).message_id
    await harness.press(LEE, COFFEE, card, index=0)
    # when it forms
    harness.new_bot_messages(LEE)
    harness.clock.advance(hours=24, seconds=1)
    await harness.runtime.closer.close_due()
    await harness.runtime.notifier.drain()
    # then he is told where to pick it up, with a Pay button, and the invoice follows
    told = harness.new_bot_messages(LEE)
    assert told[0].text == "Moon cake成团啦！你的订单 #1：×1，⭐ 30。\n取货：咖啡店 周六 10:00"
    assert told[0].button_texts == ["💳 付款 #1"]
    assert told[1].kind == "invoice"
    # and the button sends a fresh invoice that pays it
    await press_text(harness, LEE, LEE, told[0].message_id, "💳 付款 #1")
    invoice = harness.emulator.last_bot_message(LEE)
    assert invoice.kind == "invoice" and invoice.message_id != told[1].message_id
    await complete(harness, LEE, invoice.message_id)
    assert (await order_row(harness, 1)).status == "paid"
