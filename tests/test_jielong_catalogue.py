"""Sign-up lists (接龙) with products of the catalogue: `#1:250g` and `#2` lines beside typed
items, read against the catalogue and confirmed with the products' names; their stock taken
from the catalogue's variants and products when the list opens and given back at closing; their
orders, pickup sheet and export naming the products; bad lines explained; and a rush on the
last units of a catalogue variant that never oversells it."""

from __future__ import annotations

import asyncio
import csv
import io
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from bot.db import create_engine, create_session_factory
from models.groupbuy import GroupBuyVariant
from models.order import Order
from models.product import Product, ProductVariant
from services.groupbuy import (
    GroupBuyError,
    LineChange,
    change_lines,
    get_groupbuy,
    open_groupbuy,
    settle,
)
from services.jielong import (
    LINE_CATALOGUE,
    LINE_DUPLICATE,
    list_entries,
    list_product,
    parse_list,
    resolve_catalogue,
)
from services.order import OrderError, mark_paid_offline, place_order, refund_order
from services.product import VariantSpec, create_product
from tests.conftest import (
    KAI,
    LEE,
    MIA,
    OWNER,
    SAM,
    TEA,
    Harness,
    assert_reconciles,
    make_settings,
)
from tests.test_groupbuy import GROUPS, NOW, seed
from tests.test_jielong import check_counters

TEA_LINE = "/product_add Tea | 35.90 CNY | variants 100g=35.90:5, 250g=79:4"
CUPS_LINE = "/product_add Cups | 20 CNY | stock 9"
LIST = (
    "/signup 24h limit=3\n"
    "Tea and fruit\n"
    "1. #1:250g\n"
    "2. #1:100g stock=3\n"
    "3. Melon half 18元\n"
    "4. #2\n"
)


def test_catalogue_lines_are_read_with_their_variant_and_price() -> None:
    parsed = parse_list(
        [
            "1. #12:250g",
            "2. #12 ¥39.9",
            "3. #13:500 39.9",
            "4. #14：大 盒 库存=3 成团=2",
            "5. #15 250g",
            "6. #12:250G",
            "7. #12abc",
            "8. #hashtag tea ¥5",
        ],
        currency="CNY",
        locale="zh_Hans",
        ceiling=10**9,
    )
    # a product, its variant (after a colon, or a space), and a price only when one is typed
    assert [(i.product_id, i.variant, i.priced and i.price, i.stock) for i in parsed.items] == [
        (12, "250g", False, None),
        (12, "", 3990, None),
        (13, "500", 3990, None),
        (14, "大 盒", False, 3),
        (15, "250g", False, None),
        (None, "", 500, None),
    ]
    assert parsed.items[3].min_units == 2
    assert parsed.items[-1].name == "#hashtag tea"  # '#' without a number is a typed name
    # the same variant twice, and '#12abc', are bad lines
    assert [(bad.number, bad.reason, bad.part) for bad in parsed.bad] == [
        (6, LINE_DUPLICATE, "#12:250G"),
        (7, LINE_CATALOGUE, "#12abc"),
    ]


async def catalogue(harness: Harness) -> None:
    """Sam (staff) adds Tea (#1: 100g with 5 in stock, 250g with 4) and Cups (#2, 9 in stock)."""
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, TEA_LINE)
    await harness.send(SAM, SAM, CUPS_LINE)


async def stock(harness: Harness) -> dict[str, int | None]:
    """The catalogue's stock now: each variant by name, each product without variants by title."""
    async with harness.session() as session:
        variants = (
            await session.execute(
                select(ProductVariant.name, ProductVariant.stock).where(
                    ProductVariant.product_id == 1
                )
            )
        ).all()
        cups = await session.scalar(select(Product.stock).where(Product.id == 2))
    return {**dict(variants), "Cups": cups}


async def test_catalogue_products_go_on_a_list_and_sell_from_their_stock(
    harness: Harness,
) -> None:
    # given Tea with two variants and Cups in the catalogue
    await catalogue(harness)
    # when Lee pastes a list of Tea 250g, Tea 100g (3 of its 5), a typed item and Cups
    reply = await harness.send(LEE, TEA, LIST)
    # then the bot shows each catalogue item by its product's name, price and the stock it takes
    assert reply[0].splitlines()[:5] == [
        "📝 Sign-up list: Tea and fruit",
        "1. Tea 250g (#1) · CN¥79.00 · 4 in stock",
        "2. Tea 100g (#1) · CN¥35.90 · 3 in stock",
        "3. Melon half · CN¥18.00",
        "4. Cups (#2) · CN¥20.00 · 9 in stock",
    ]
    draft = harness.emulator.last_bot_message(TEA)
    await harness.press(LEE, TEA, draft.message_id, index=0)
    card = harness.emulator.last_bot_message(TEA)
    assert card.text.splitlines()[1:5] == [
        "1. Tea 250g · CN¥79.00 · 4 left",
        "2. Tea 100g · CN¥35.90 · 3 left",
        "3. Melon half · CN¥18.00",
        "4. Cups · CN¥20.00 · 9 left",
    ]
    # and the list holds the catalogue's units while it is open
    assert await stock(harness) == {"100g": 2, "250g": 0, "Cups": 0}
    # when members order several items by replying to the card
    assert (await harness.send(MIA, TEA, "1x2 3x1", reply_to_message_id=card.message_id)) == [
        "Mia, your order: 1. Tea 250g ×2, 3. Melon half ×1 · CN¥176.00 · you are #1."
    ]
    assert (await harness.send(KAI, TEA, "1x2 2x1 4x3", reply_to_message_id=card.message_id)) == [
        "Kai, your order: 1. Tea 250g ×2, 2. Tea 100g ×1, 4. Cups ×3 · CN¥253.90 · you are #2."
    ]
    # then Tea 250g is sold out on the list, and a member asking for more is told so
    assert (await harness.send(LEE, TEA, "1x1", reply_to_message_id=card.message_id)) == [
        "1. Tea 250g is sold out."
    ]
    # when the deadline passes, each line is an order of its catalogue product and variant
    await harness.send(MIA, MIA, "/start")
    await harness.send(LEE, LEE, "/start")
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    async with harness.session() as session:
        orders = (await session.execute(select(Order).order_by(col(Order.id)))).scalars().all()
        list_product_id = await session.scalar(select(func.max(Product.id)))
    assert [(o.member_id, o.product_id, o.title, o.variant_name, o.quantity) for o in orders] == [
        (MIA, 1, "Tea", "250g", 2),
        (MIA, list_product_id, "Tea and fruit", "Melon half", 1),
        (KAI, 1, "Tea", "250g", 2),
        (KAI, 1, "Tea", "100g", 1),
        (KAI, 2, "Cups", "", 3),
    ]
    # and the stock moved exactly: what was not sold of what the list took is back
    assert await stock(harness) == {"100g": 4, "250g": 0, "Cups": 6}
    # the member's notice and the leader's pickup sheet name the products
    assert harness.emulator.last_bot_message(MIA).text.splitlines()[:3] == [
        "Tea and fruit formed! Your orders:",
        "#1 Tea · 250g ×2: CN¥158.00",
        "#2 Melon half ×1: CN¥18.00",
    ]
    sheet = harness.emulator.last_bot_message(LEE).text
    assert "#1 Mia · Tea · 250g ×2 · ¥158.00 · ⏳ 未付款" in sheet
    assert "#5 Kai · Cups ×3 · ¥60.00 · ⏳ 未付款" in sheet
    assert "Tea · 100g ×1 · ¥35.90" in sheet  # its line in the totals
    # and so do /orders and the staff's export
    listing = (await harness.send(LEE, TEA, "/orders"))[0]
    assert "#4 Kai · Tea · 100g ×1 · CN¥35.90 · reserved" in listing
    await harness.send(SAM, SAM, "/export 7d")
    exported = harness.emulator.bot_messages(SAM)[-1]
    data = harness.emulator.file_bytes(exported.raw["document"]["file_id"]).decode("utf-8-sig")
    rows = [
        (row["product_id"], row["title"], row["variant"], row["quantity"])
        for row in csv.DictReader(io.StringIO(data))
    ]
    assert rows == [
        ("1", "Tea", "250g", "2"),
        (str(list_product_id), "Tea and fruit", "Melon half", "1"),
        ("1", "Tea", "250g", "2"),
        ("1", "Tea", "100g", "1"),
        ("2", "Cups", "", "3"),
    ]
    # and a paid order of each kind refunded before pickup frees its units on the list, as a
    # list's own item does (its counter and the member's line follow), and puts them back on
    # the shelf, the catalogue's stock, where the shop sells them; the ledger balanced
    shelf = await stock(harness)
    async with harness.session() as session, session.begin():
        for order_id in (3, 5):  # Kai's Tea 250g and Cups
            await mark_paid_offline(session, order_id=order_id, actor_id=LEE)
            await refund_order(session, order_id=order_id, actor_id=LEE)
    async with harness.session() as session:
        sold = await check_counters(session, 1, people=False)
        view = await get_groupbuy(session, 1)
    assert view is not None
    assert [sold[item.variant_id] for item in view.variants] == [2, 1, 1, 0]
    after = await stock(harness)
    assert after["250g"] == (shelf["250g"] or 0) + 2 and after["Cups"] == (shelf["Cups"] or 0) + 3
    assert after["100g"] == shelf["100g"]
    await assert_reconciles(harness.runtime.settings.database_url)


async def test_a_list_of_catalogue_items_that_does_not_form_gives_all_stock_back(
    harness: Harness,
) -> None:
    # given a list of Tea 250g (min 3) and Cups, forming as a whole
    await catalogue(harness)
    await harness.send(LEE, TEA, "/signup 24h\n1. #1:250g min=3\n2. #2 stock=5")
    await harness.press(LEE, TEA, harness.emulator.last_bot_message(TEA).message_id, index=0)
    card = harness.emulator.last_bot_message(TEA)
    assert await stock(harness) == {"100g": 5, "250g": 0, "Cups": 4}
    # when only one 250g is ordered, below its minimum
    await harness.send(MIA, TEA, "1x1 2x2", reply_to_message_id=card.message_id)
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    # then nothing is ordered and every unit the list took is back in the catalogue
    async with harness.session() as session:
        assert (await session.execute(select(Order))).first() is None
    assert await stock(harness) == {"100g": 5, "250g": 4, "Cups": 9}


async def test_bad_catalogue_lines_say_which_line_and_why(harness: Harness) -> None:
    # given the catalogue, with Cups switched off and Tea 100g's stock sold
    await catalogue(harness)
    await harness.send(SAM, SAM, "/product_add Mugs | 30 CNY | stock 0")
    await harness.send(SAM, SAM, "/product_add Stars pack | 50 XTR")
    await harness.send(SAM, SAM, "/product_set 2 active off")
    # when Lee pastes a list with every kind of bad catalogue line, and one good one
    reply = await harness.send(
        LEE,
        TEA,
        "/signup 24h\n"
        "1. #1:250g\n"
        "2. #99\n"
        "3. #1:500g\n"
        "4. #1\n"
        "5. #2\n"
        "6. #3\n"
        "7. #3:big\n"
        "8. #1:250g\n"
        "9. #1:100g ¥30\n"
        "10. #12abc ¥5\n"
        "11. #4\n",
    )
    # then each bad line is named with its reason, listing Tea's variants where it helps
    lines = reply[0].splitlines()
    assert lines[1] == "1. Tea 250g (#1) · CN¥79.00 · 4 in stock"
    bad = lines[lines.index("I could not read these lines (left out):") + 1 : -2]
    assert bad == [
        "Line 3 2. #99: there is no product #99 in the catalogue",
        "Line 4 3. #1:500g: #1 Tea has no variant 500g. Its variants: 100g, 250g",
        "Line 5 4. #1: name a variant of #1 Tea, like #1:100g. Its variants: 100g, 250g",
        "Line 6 5. #2: #2 Cups is switched off in the catalogue",
        "Line 7 6. #3: #3 Mugs is out of stock",
        "Line 8 7. #3:big: #3 Mugs has no variants: write it as #3",
        "Line 9 8. #1:250g: another item has this name already",
        "Line 10 9. #1:100g ¥30: only staff change a catalogue price: leave the price out to "
        "sell #1 Tea at CN¥35.90",
        "Line 11 10. #12abc ¥5: I cannot read #12abc: write a product of the catalogue as #12, "
        "or #12:250g for one of its variants",
        "Line 12 11. #4: #4 Stars pack is paid by invoice or in another currency, and a list is "
        "paid at pickup",
    ]
    # and staff may set another price on a catalogue item
    reply = await harness.send(SAM, TEA, "/signup 24h\n1. #1:100g ¥30")
    assert reply[0].splitlines()[1] == "1. Tea 100g (#1) · CN¥30.00 · 5 in stock"
    # a list of only bad lines opens nothing, and says why
    reply = await harness.send(LEE, TEA, "/signup 24h\n1. #99")
    assert reply[0].startswith(
        "I found no item in this list.\nLine 2 1. #99: there is no product #99 in the catalogue"
    )


async def test_a_catalogue_item_switched_off_before_confirming_opens_nothing(
    harness: Harness,
) -> None:
    # given Lee's list of Tea 250g and Cups, read and waiting for his confirmation
    await catalogue(harness)
    await harness.send(LEE, TEA, "/signup 24h\n1. #1:250g\n2. #2")
    draft = harness.emulator.last_bot_message(TEA)
    # when staff switch Cups off meanwhile
    await harness.send(SAM, SAM, "/product_set 2 active off")
    # then opening is refused naming the item, and no stock was taken
    assert await harness.press(LEE, TEA, draft.message_id, index=0) == (
        "2. Cups is no longer on sale in the catalogue: send the list again without it."
    )
    assert await stock(harness) == {"100g": 5, "250g": 4, "Cups": 9}
    async with harness.session() as session:
        assert (await session.execute(select(GroupBuyVariant))).first() is None


async def test_a_catalogue_item_sold_out_before_confirming_opens_nothing(
    harness: Harness,
) -> None:
    # given Lee's list of Tea 250g and Cups, read and waiting
    await catalogue(harness)
    await harness.send(LEE, TEA, "/signup 24h\n1. #2\n2. #1:250g")
    draft = harness.emulator.last_bot_message(TEA)
    # when the last 250g are sold in a shop order meanwhile
    async with harness.session() as session, session.begin():
        await place_order(
            session,
            member_id=KAI,
            chat_id=KAI,
            product_id=1,
            quantity=4,
            max_total=10**9,
            variant_id=2,
        )
    # then opening is refused naming the item; Cups' stock stays in the catalogue
    assert await harness.press(LEE, TEA, draft.message_id, index=0) == ("2. Tea 250g is sold out.")
    assert await stock(harness) == {"100g": 5, "250g": 0, "Cups": 9}


# ------------------------------------------------------------------ a rush -----------------


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


async def test_a_rush_on_the_last_units_of_a_catalogue_variant_never_oversells_it(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given 100 members and a catalogue variant with 12 units left, 8 of them on a list (with
    # a typed item) open in two groups, the other 4 in the shop
    await seed(sessions, members=100)
    async with sessions() as session, session.begin():
        tea = await create_product(
            session,
            title="Tea",
            price=3590,
            currency="CNY",
            created_by=1,
            variants=[VariantSpec("100g", 3590, 30), VariantSpec("250g", 7900, 12)],
        )
        lines = [f"1. #{tea.id}:250g stock=8", "2. Melon ¥18"]
        parsed = await resolve_catalogue(
            session,
            parse_list(lines, currency="CNY", locale="en", ceiling=10**9),
            currency="CNY",
            may_set_price=False,
        )
        assert not parsed.bad
        made = await list_product(
            session, parsed=parsed, title="List", currency="CNY", created_by=1
        )
        gb = await open_groupbuy(
            session,
            product_id=made.id,
            opened_by=1,
            chat_ids=list(GROUPS),
            min_count=1,
            stock_cap=9999,
            per_member_limit=3,
            deadline=NOW + timedelta(hours=24),
            now=NOW,
            multi=True,
            items=list_entries(made, parsed.items),
        )
    variant_id = tea.variants[1].id

    async def order(member: int) -> str:
        try:
            async with sessions() as session, session.begin():
                await change_lines(
                    session,
                    groupbuy_id=gb.id,
                    member_id=member,
                    chat_id=GROUPS[member % 2],
                    changes=[LineChange(1, 1 + member % 2), LineChange(2, 1)],
                    now=NOW,
                )
            return "ordered"
        except GroupBuyError as exc:
            return exc.reason

    async def shop(member: int) -> str:
        try:
            async with sessions() as session, session.begin():
                await place_order(
                    session,
                    member_id=member,
                    chat_id=member,
                    product_id=tea.id,
                    quantity=1,
                    max_total=10**9,
                    variant_id=variant_id,
                )
            return "ordered"
        except OrderError as exc:
            return exc.reason

    # when 100 members order the 250g on the list at once, while 20 buy it in the shop
    outcomes = await asyncio.gather(
        *(order(m) for m in range(1, 101)), *(shop(m) for m in range(1, 21))
    )
    # then the list sold at most its 8 units, the shop exactly the other 4, and no more
    assert set(outcomes[:100]) == {"ordered", "item_sold_out"}
    assert outcomes[100:].count("ordered") == 4
    async with sessions() as session:
        view = await get_groupbuy(session, gb.id)
        assert view is not None
        item = view.variants[0]
        in_shop = await session.scalar(
            select(func.sum(col(Order.quantity))).where(col(Order.variant_id) == variant_id)
        )
        left = await session.scalar(
            select(ProductVariant.stock).where(ProductVariant.id == variant_id)
        )
    assert (item.product_id, item.stock_cap) == (tea.id, 8)
    assert 6 <= item.units_sold <= 8  # an order of 2 cannot take a last single unit
    assert (in_shop, left) == (4, 0)
    # and at closing the list's orders and the stock given back add up to the 8 it took
    async with sessions() as session, session.begin():
        assert await settle(session, groupbuy_id=gb.id, now=NOW, early=True) is not None
    async with sessions() as session:
        ordered = await session.scalar(
            select(func.sum(col(Order.quantity))).where(
                col(Order.variant_id) == variant_id, col(Order.groupbuy_id) == gb.id
            )
        )
        left = await session.scalar(
            select(ProductVariant.stock).where(ProductVariant.id == variant_id)
        )
    assert ordered == item.units_sold
    assert int(ordered or 0) + int(left or 0) == 8
