"""Product variants (SKUs): created in one line, ordered by variant, stock kept per variant."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import col, select

from bot.db import create_engine, create_session_factory
from models.order import Order
from models.product import Product, ProductVariant
from services.member import UserInfo, record_member
from services.order import OrderError, cancel_order, place_order
from services.product import ProductError, VariantSpec, add_variants, create_product
from services.reservation import expire_reservation
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness, make_settings

TEA_LINE = "/product_add Tea | 35.90 CNY | variants 100g=35.90:2, 250g=79.00:20"


async def make_staff(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def variants(harness: Harness) -> list[tuple[str, int, int | None, int]]:
    async with harness.session() as session:
        rows = await session.execute(select(ProductVariant).order_by(col(ProductVariant.id)))
        return [(v.name, v.price, v.stock, v.position) for v in rows.scalars().all()]


async def test_staff_create_a_product_with_variants_in_one_line(harness: Harness) -> None:
    # given staff
    await make_staff(harness)
    # when they add a product with two variants
    reply = await harness.send(SAM, SAM, TEA_LINE)
    # then both are stored in the order typed, and the reply lists them
    assert reply == [
        "Product #1 created: Tea, CN¥35.90.\n"
        "• 100g · CN¥35.90 · 2 left\n"
        "• 250g · CN¥79.00 · 20 left"
    ]
    assert await variants(harness) == [("100g", 3590, 2, 0), ("250g", 7900, 20, 1)]
    # and members see them on the product's card
    assert (await harness.send(MIA, MIA, "/products"))[0] == (
        "#1 Tea\n• 100g · CN¥35.90 · 2 left\n• 250g · CN¥79.00 · 20 left"
    )


async def test_variants_in_chinese_with_full_width_punctuation(harness: Harness) -> None:
    await make_staff(harness)
    line = "/product_add 草莓 ｜ 39.9 CNY ｜ 规格 小份＝３５块9：５，大份=¥79：3"
    reply = await harness.send(SAM, SAM, line)
    assert reply[0].startswith("Product #1 created: 草莓, CN¥39.90.")
    assert await variants(harness) == [("小份", 3590, 5, 0), ("大份", 7900, 3, 1)]


async def test_bad_variants_are_refused_with_what_to_fix(harness: Harness) -> None:
    await make_staff(harness)
    cases = {
        # two names that differ only in case collide
        "/product_add Tea | 5 CNY | variants Big=5:1, big=6:1": (
            "Two variants are called “big” (names count as the same whatever their case)."
        ),
        "/product_add Tea | 5 CNY | variants 100g=cheap:5": (
            "The price of “100g=cheap:5” is not right. The amount must be a number, like 35.90."
        ),
        "/product_add Tea | 5 CNY | variants 100g=0:5": (
            "The price of “100g=0:5” is not right. The amount must be more than zero."
        ),
        "/product_add Tea | 5 CNY | variants 100g=5": (
            "“100g=5” needs its stock after a colon, a whole number."
        ),
        "/product_add Tea | 5 CNY | variants 100g=5:lots": (
            "“100g=5:lots” needs its stock after a colon, a whole number."
        ),
        "/product_add Tea | 5 CNY | variants 100g 5": "I cannot read the variant “100g 5”.",
        "/product_add Tea | 5 CNY | variants": "Write each variant as NAME=PRICE:STOCK",
        "/product_add Tea | 5 CNY | stock 3 | variants a=5:1": (
            "A product with variants has a stock per variant"
        ),
    }
    for command, expected in cases.items():
        reply = (await harness.send(SAM, SAM, command))[0]
        assert reply.startswith(expected), (command, reply)
    # nothing was created by any of them
    async with harness.session() as session:
        assert (await session.execute(select(Product))).first() is None
    assert await variants(harness) == []


async def test_a_variant_added_later_cannot_take_a_name_in_use(harness: Harness) -> None:
    await make_staff(harness)
    await harness.send(SAM, SAM, TEA_LINE)
    async with harness.session() as session, session.begin():
        with pytest.raises(ProductError) as refused:
            await add_variants(session, product_id=1, variants=[VariantSpec("250G", 100, 1)])
    assert (refused.value.reason, refused.value.detail) == ("variant_taken", "250G")
    async with harness.session() as session, session.begin():
        added = await add_variants(session, product_id=1, variants=[VariantSpec("1kg", 250, 1)])
    assert [v.name for v in added.variants] == ["100g", "250g", "1kg"]


async def test_members_order_a_variant_and_its_stock_alone_moves(harness: Harness) -> None:
    # given a product with variants in the group's shop
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, TEA_LINE)
    # a /buy without the variant says which there are
    assert (await harness.send(MIA, TEA, "/buy 1 2"))[0] == (
        "Product #1 comes in several variants: say which one.\n"
        "• 100g · CN¥35.90 · 2 left\n"
        "• 250g · CN¥79.00 · 20 left\n"
        "For example: /buy 1 100g 2"
    )
    assert (await harness.send(MIA, TEA, "/buy 1 1kg 2"))[0].startswith(
        "Product #1 has no variant “1kg”."
    )
    # when Mia orders two of 250g (the name in any case)
    reply = await harness.send(MIA, TEA, "/buy 1 250G 2")
    # then the order is of that variant at its price
    assert reply[0].splitlines()[0] == (
        "Order #1 reserved: Tea · 250g ×2, CN¥158.00. Pay your leader at pickup."
    )
    order = await _order(harness, 1)
    assert (order.variant_id, order.variant_name, order.unit_price) == (2, "250g", 7900)
    assert await variants(harness) == [("100g", 3590, 2, 0), ("250g", 7900, 18, 1)]
    # and 100g has its own stock: three are refused, two sell it out
    assert (await harness.send(MIA, TEA, "/buy 1 100g 3"))[0] == (
        "Sorry, only 2 left: order fewer."
    )
    await harness.send(MIA, TEA, "/buy 1 100g 2")
    assert (await harness.send(MIA, TEA, "/buy 1 100g"))[0] == "Sorry, it is sold out."
    # the leader's pickup list and My orders name the variant beside the title
    listing = (await harness.send(LEE, TEA, "/orders"))[0]
    assert "#1 Mia · Tea · 250g ×2 · CN¥158.00 · reserved" in listing
    assert "#2 Mia · Tea · 100g ×2 · CN¥71.80 · reserved" in listing
    await harness.send(MIA, MIA, "/start")
    mine = "\n".join(await harness.send(MIA, MIA, "/orders"))
    assert "Tea · 250g" in mine and "Tea · 100g" in mine


async def test_cancelled_and_expired_orders_give_the_stock_back_to_their_variant(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, TEA_LINE)
    await harness.send(MIA, TEA, "/buy 1 100g 2")
    await harness.send(MIA, TEA, "/buy 1 250g 5")
    assert await variants(harness) == [("100g", 3590, 0, 0), ("250g", 7900, 15, 1)]
    async with harness.session() as session, session.begin():
        await cancel_order(session, order_id=1, actor_id=MIA)
    assert await variants(harness) == [("100g", 3590, 2, 0), ("250g", 7900, 15, 1)]
    order = await _order(harness, 2)
    assert order.expires_at is not None
    async with harness.session() as session, session.begin():
        assert await expire_reservation(session, order_id=2, now=order.expires_at) is not None
    assert await variants(harness) == [("100g", 3590, 2, 0), ("250g", 7900, 20, 1)]


async def _order(harness: Harness, order_id: int) -> Order:
    async with harness.session() as session:
        row = await session.get(Order, order_id)
    assert row is not None
    return row


@pytest.mark.parametrize("buyers", [12])
async def test_variant_stock_is_never_oversold_under_concurrent_orders(
    database_url: str, buyers: int
) -> None:
    # given two variants, 3 and 4 in stock, and a product stock that must not move
    engine = create_engine(make_settings(database_url=database_url))
    sessions = create_session_factory(engine)
    async with sessions() as session, session.begin():
        for uid in range(1, buyers + 1):
            await record_member(session, user=UserInfo(uid, f"u{uid}"), default_locale="en")
        product = await create_product(
            session,
            title="Limited",
            price=100,
            currency="CNY",
            created_by=1,
            variants=[VariantSpec("S", 100, 3), VariantSpec("L", 150, 4)],
        )
    small, large = product.variants

    async def attempt(uid: int, variant_id: int) -> bool:
        try:
            async with sessions() as session, session.begin():
                await place_order(
                    session,
                    member_id=uid,
                    chat_id=uid,
                    product_id=product.id,
                    quantity=1,
                    max_total=10**9,
                    variant_id=variant_id,
                )
            return True
        except OrderError as exc:
            assert exc.reason == "out_of_stock"
            return False

    # when every buyer tries each variant at once
    tries = [attempt(uid, v.id) for uid in range(1, buyers + 1) for v in (small, large)]
    results = await asyncio.gather(*tries)
    async with sessions() as session:
        left = dict(
            (await session.execute(select(ProductVariant.name, ProductVariant.stock))).all()
        )
        orders = (await session.execute(select(Order))).scalars().all()
    await engine.dispose()
    # then exactly the stock of each was sold
    assert sum(results) == 7
    assert sorted(o.variant_name for o in orders) == ["L"] * 4 + ["S"] * 3
    assert left == {"S": 0, "L": 0}


async def open_variant_drop(harness: Harness, options: str = "min=2 limit=3") -> int:
    """Sam opens a drop of Tea (100g: 2 in stock, 250g: 20) in both groups; the Tea card's id."""
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, TEA_LINE)
    assert await harness.send(SAM, SAM, f"/drop 1 24h {options}") == [
        "Group-buy #1 posted in 2 groups."
    ]
    return harness.emulator.last_bot_message(TEA).message_id


async def test_members_join_a_group_buy_by_variant_from_the_card(harness: Harness) -> None:
    # given a drop of a product with two variants
    card_id = await open_variant_drop(harness)
    card = harness.emulator.last_bot_message(TEA)
    assert card.text.splitlines()[:3] == [
        "🛒 Tea",
        "• 100g · CN¥35.90 · 2 left",
        "• 250g · CN¥79.00 · 20 left",
    ]
    assert card.button_texts == ["Join 100g", "Join 250g", "−1", "Leave", "Details"]
    # the drop took each variant's stock (all of it: no stock= given)
    assert await variants(harness) == [("100g", 3590, 0, 0), ("250g", 7900, 0, 1)]
    # when Mia takes 100g twice and Kai 250g once
    assert await harness.press(MIA, TEA, card_id, index=0) == "You are #1, quantity 1."
    assert await harness.press(MIA, TEA, card_id, index=0) == "You are #1, quantity 2."
    assert await harness.press(KAI, TEA, card_id, index=1) == "你是第 2 位，數量 1。"
    # then 100g is sold out for Lee while 250g is not
    assert await harness.press(LEE, TEA, card_id, index=0) == (
        "抱歉，已经售罄：点卡片上的 🔔 到货通知即可加入候补。"
    )
    # and Mia cannot hold another variant at once
    assert await harness.press(MIA, TEA, card_id, index=1) == (
        "You joined with 100g. Leave first to take another variant."
    )
    await harness.runtime.cards.flush()
    card = next(m for m in harness.emulator.messages(TEA) if m.message_id == card_id)
    assert "• 100g · CN¥35.90 · sold out" in card.text
    assert "• 250g · CN¥79.00 · 19 left" in card.text
    # and 100g's button became its waitlist
    assert card.button_texts == ["🔔 100g", "Join 250g", "−1", "Leave", "Details"]
    # the sign-up list (接龙) names each member's variant
    listing = (await harness.send(MIA, TEA, "/list"))[0]
    assert "1. Mia ×2 · 100g" in listing and "2. Kai ×1 · 250g" in listing
    # Mia gives one back with −1: 100g has one again, which Lee takes
    assert await harness.press(MIA, TEA, card_id, index=2) == "You are #1, quantity 1."
    await harness.runtime.cards.flush()
    assert await harness.press(LEE, TEA, card_id, index=0) == "你是第 3 位，数量 1。"
    # when the deadline passes, the orders are of each member's variant at its price
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    assert harness.emulator.last_bot_message(TEA).text == "#1 Tea formed: 3 sold!"
    async with harness.session() as session:
        orders = (await session.execute(select(Order).order_by(col(Order.id)))).scalars().all()
    assert [(o.member_id, o.variant_name, o.quantity, o.unit_price) for o in orders] == [
        (MIA, "100g", 1, 3590),
        (KAI, "250g", 1, 7900),
        (LEE, "100g", 1, 3590),
    ]
    # and what no one took goes back to each variant's stock
    assert await variants(harness) == [("100g", 3590, 0, 0), ("250g", 7900, 19, 1)]
    # the leader's pickup sheet names the variant beside the title
    listing = (await harness.send(LEE, TEA, "/orders"))[0]
    assert "Tea · 100g ×1" in listing and "Tea · 250g ×1" in listing


async def test_a_variant_group_buy_that_fails_gives_all_stock_back(harness: Harness) -> None:
    card_id = await open_variant_drop(harness, "min=5 stock=10")
    assert await variants(harness) == [("100g", 3590, 0, 0), ("250g", 7900, 10, 1)]
    await harness.press(MIA, TEA, card_id, index=1)
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    assert await variants(harness) == [("100g", 3590, 2, 0), ("250g", 7900, 20, 1)]


async def test_variant_group_buys_refuse_tiers_and_prepayment(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, TEA_LINE)
    reply = await harness.send(SAM, SAM, "/drop 1 24h tiers=5:30")
    assert reply[0].startswith("Each variant of this product has its own price")
    await harness.send(SAM, SAM, "/product_add Stars tea | 10 XTR | telegram | variants a=10:5")
    reply = await harness.send(SAM, SAM, "/drop 2 24h")
    assert reply[0].startswith("Group-buys of products with variants are paid at pickup")
    assert await variants(harness) == [
        ("100g", 3590, 2, 0),
        ("250g", 7900, 20, 1),
        ("a", 10, 5, 0),
    ]


async def test_staff_add_variants_in_the_product_wizard(harness: Harness) -> None:
    # given staff in the wizard, at the last look (a stock of 10 given)
    await make_staff(harness)
    for text in ("/product_new", "Tea", "/skip", "/skip", "35.90 CNY", "10"):
        await harness.send(SAM, SAM, text)
    await harness.press(SAM, SAM, harness.emulator.last_bot_message(SAM).message_id, index=0)
    summary = harness.emulator.last_bot_message(SAM)
    assert "Stock: 10" in summary.text
    assert summary.button_texts[:2] == ["✅ Create", "🧩 Variants"]
    # when they tap 🧩 Variants and type them (bad ones are explained and asked again)
    await harness.press(SAM, SAM, summary.message_id, index=1)
    asked = harness.emulator.last_bot_message(SAM)
    assert asked.text.startswith("Does it come in variants (sizes, flavours, weights)?")
    assert asked.button_texts == ["⬅️ Back", "⏭ Skip", "✖️ Cancel"]
    steps = [
        ("100g=35.90:5, 100G=40:1", "Two variants are called “100G”"),
        ("100g=35.90", "“100g=35.90” needs its stock after a colon"),
        ("100g=cheap:5", "The price of “100g=cheap:5” is not right."),
    ]
    for text, expected in steps:
        reply = await harness.send(SAM, SAM, text)
        assert reply and reply[-1].startswith(expected), (text, reply)
    await harness.send(SAM, SAM, "100g=35.90:5，250g＝79：2")
    # then the last look shows them in place of the product's stock
    summary = harness.emulator.last_bot_message(SAM)
    assert summary.text.splitlines() == [
        "Tea",
        "Price: CN¥35.90",
        "Variants:",
        "• 100g · CN¥35.90 · 5 left",
        "• 250g · CN¥79.00 · 2 left",
        "Payment: Pay the leader offline",
    ]
    await harness.press(SAM, SAM, summary.message_id, index=0)
    assert harness.emulator.last_bot_message(SAM).text == (
        "Product #1 created: Tea, CN¥35.90.\n• 100g · CN¥35.90 · 5 left\n• 250g · CN¥79.00 · 2 left"
    )
    assert await variants(harness) == [("100g", 3590, 5, 0), ("250g", 7900, 2, 1)]
    async with harness.session() as session:
        product = await session.get(Product, 1)
    assert product is not None and product.stock is None


async def test_skipping_variants_in_the_wizard_keeps_the_stock(harness: Harness) -> None:
    await make_staff(harness)
    for text in ("/product_new", "Tea", "/skip", "/skip", "35.90 CNY", "10"):
        await harness.send(SAM, SAM, text)
    await harness.press(SAM, SAM, harness.emulator.last_bot_message(SAM).message_id, index=0)
    await harness.press(SAM, SAM, harness.emulator.last_bot_message(SAM).message_id, index=1)
    await harness.send(SAM, SAM, "/skip")
    summary = harness.emulator.last_bot_message(SAM)
    assert "Stock: 10" in summary.text and "Variants:" not in summary.text
    await harness.press(SAM, SAM, summary.message_id, index=0)
    assert await variants(harness) == []


async def test_stats_name_the_variant_beside_the_best_sellers(harness: Harness) -> None:
    # given Mia's orders of two variants, paid to the leader
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, TEA_LINE)
    await harness.send(MIA, TEA, "/buy 1 250g 3")
    await harness.send(MIA, TEA, "/buy 1 100g 1")
    paid = await harness.send(LEE, TEA, "/paid @mia")
    assert paid and not paid[0].startswith("Sorry"), paid
    # when staff read /stats
    harness.new_bot_messages(SAM)
    harness.emulator.send_message(SAM, SAM, "/stats")
    await harness.feed_pending()
    summary = "\n".join(m.text for m in harness.new_bot_messages(SAM) if m.kind == "text")
    # then the best sellers name each variant beside the title, most units first
    lines = summary.splitlines()
    at = lines.index("Best sellers")
    assert lines[at + 1 : at + 3] == [
        "Tea · 250g: 3 units, CN¥237.00",
        "Tea · 100g: 1 unit, CN¥35.90",
    ]
