"""Sign-up lists (接龙): a pasted list read and confirmed, several items ordered at once by
buttons and replies, stock and limits per item, forming per item or as a whole, a rush of
orders, and random orders and cancellations that keep every counter exact."""

from __future__ import annotations

import asyncio
import random
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from bot.db import create_engine, create_session_factory
from models.groupbuy import GroupBuyJoin, GroupBuyLine
from models.order import Order
from models.product import Product, ProductVariant
from services.groupbuy import (
    GroupBuyError,
    LineChange,
    change_lines,
    get_groupbuy,
    open_groupbuy,
    set_quantity,
    settle,
)
from services.jielong import (
    LINE_DUPLICATE,
    LINE_OPTION,
    LINE_PRICE,
    LINE_SHAPE,
    ListItem,
    ParsedList,
    ReplyUnreadable,
    list_product,
    parse_list,
    parse_reply,
)
from services.order import cancel_order, mark_paid_offline, refund_order
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

LIST = (
    "/signup 24h limit=3\n"
    "Fruit of the day\n"
    "1. Strawberries 1kg ¥39.9\n"
    "2. Blueberries 125g ¥25 stock=4 min=2\n"
    "3. Melon half 18元\n"
    "4. Pineapple\n"
)


def read(lines: list[str]) -> ParsedList:
    return parse_list(lines, currency="CNY", locale="zh_Hans", ceiling=10**9)


def test_a_pasted_list_is_read_line_by_line_with_reasons() -> None:
    parsed = read(
        [
            "今日水果接龙",
            "1. 草莓 2斤 ¥39.9",
            "2、蓝莓125g￥25 库存=20 成团=5",
            "3) 西瓜 半个 18元",
            "4. 菠萝",
            "今天下午到",
            "5. 草莓 2斤 ¥30",
            "6. 芒果 ¥12 库存=很多",
        ]
    )
    assert parsed.title == "今日水果接龙"
    assert parsed.items == (
        ListItem("草莓 2斤", 3990),
        ListItem("蓝莓125g", 2500, 20, 5),
        ListItem("西瓜 半个", 1800),
    )
    assert [(bad.number, bad.reason) for bad in parsed.bad] == [
        (5, LINE_PRICE),
        (6, LINE_SHAPE),
        (7, LINE_DUPLICATE),
        (8, LINE_OPTION),
    ]


def test_replies_read_as_orders_of_items() -> None:
    assert parse_reply("1x2 3x1") == [LineChange(1, 2), LineChange(3, 1)]
    assert parse_reply("1 × 2，3*1") == [LineChange(1, 2), LineChange(3, 1)]
    assert parse_reply("+1 3") == [LineChange(1, 3, add=True)]
    assert parse_reply("＋1 ＋3") == [LineChange(1, 1, add=True), LineChange(3, 1, add=True)]
    assert parse_reply("thanks!") is None
    assert parse_reply("1 more please") is None
    with pytest.raises(ReplyUnreadable) as spoiled:
        parse_reply("1x2 banana")
    assert spoiled.value.part == "banana"


async def open_list(harness: Harness, text: str = LIST) -> int:
    """Lee pastes the list in Tea Lovers and confirms it; the card's message id."""
    await harness.join_groups()
    await harness.send(LEE, TEA, text)
    draft = harness.emulator.last_bot_message(TEA)
    assert draft.button_texts == ["✅ Open it", "✖ Cancel"]
    await harness.press(LEE, TEA, draft.message_id, index=0)
    assert (
        next(m for m in harness.emulator.messages(TEA) if m.message_id == draft.message_id).text
        == "Sign-up list #1 opened: its card follows."
    )
    return harness.emulator.last_bot_message(TEA).message_id


async def test_a_pasted_list_is_confirmed_then_opened(harness: Harness) -> None:
    await harness.join_groups()
    # a member cannot open one
    assert (await harness.send(MIA, TEA, LIST))[
        0
    ] == "Sorry, only the leaders of this group can do that."
    # when Lee pastes a list with a line the bot cannot read
    reply = await harness.send(LEE, TEA, LIST)
    # then the bot shows the items it read and names the line it left out, and why
    lines = reply[0].splitlines()
    assert lines[:4] == [
        "📝 Sign-up list: Fruit of the day",
        "1. Strawberries 1kg · CN¥39.90",
        "2. Blueberries 125g · CN¥25.00 · 4 in stock · min 2",
        "3. Melon half · CN¥18.00",
    ]
    assert lines[4].endswith("forms at 1 person · limit 3 of each item per member")
    assert "Line 6 4. Pineapple: no price I can read: write it like ¥39.9 or 39.9元" in lines
    # Cancel forgets it; nothing was opened
    draft = harness.emulator.last_bot_message(TEA)
    await harness.press(LEE, TEA, draft.message_id, index=1)
    assert harness.emulator.last_bot_message(TEA).text == (
        "Sign-up list cancelled: nothing was opened."
    )
    async with harness.session() as session:
        assert (await session.execute(select(Product))).first() is None
    # a list with no item at all says so
    reply = await harness.send(LEE, TEA, "/signup\nHello\nworld")
    assert reply[0].startswith("I found no item in this list.\nLine 3 world: not an item")
    # when Lee pastes it again and confirms, its card lists the items with their buttons
    card_id = await open_list(harness)
    card = next(m for m in harness.emulator.messages(TEA) if m.message_id == card_id)
    assert card.text.splitlines()[:4] == [
        "🛒 Fruit of the day",
        "1. Strawberries 1kg · CN¥39.90",
        "2. Blueberries 125g · CN¥25.00 · 4 left · min 2: 0/2",
        "3. Melon half · CN¥18.00",
    ]
    assert card.button_texts == [
        "+1 · 1. Strawberries 1kg",
        "+1 · 2. Blueberries 125g",
        "+1 · 3. Melon half",
        "Leave",
        "My order",
    ]
    # and the product made for it stays out of the catalogue
    async with harness.session() as session:
        product = (await session.execute(select(Product))).scalar_one()
    assert not product.active
    assert "Fruit of the day" not in "\n".join(await harness.send(MIA, MIA, "/products"))


async def test_members_order_several_items_by_reply_and_buttons(harness: Harness) -> None:
    card_id = await open_list(harness)

    async def reply(user: int, text: str) -> str:
        return (await harness.send(user, TEA, text, reply_to_message_id=card_id))[0]

    # Mia orders two items in one reply; Kai taps Blueberries
    assert await reply(MIA, "1x2 3x1") == (
        "Mia, your order: 1. Strawberries 1kg ×2, 3. Melon half ×1 · CN¥97.80 · you are #1."
    )
    assert await harness.press(KAI, TEA, card_id, index=1) == (
        "你的訂單：2. Blueberries 125g ×1 · CN¥25.00 · 第 2 位"
    )
    # bad orders get a clear answer and book nothing
    assert await reply(MIA, "2x5") == "2. Blueberries 125g: at most 3 per member."
    assert await reply(MIA, "9x1") == "There is no item 9 on this list."
    assert await reply(MIA, "1x2 banana") == (
        "I could not read banana. Order like 1x2 3x1 (item × quantity), or +1 for one more of "
        "item 1."
    )
    assert await reply(LEE, "2x2") == (
        "Lee, your order: 2. Blueberries 125g ×2 · CN¥50.00 · you are #3."
    )
    assert await reply(MIA, "2x3") == "2. Blueberries 125g: only 1 left."
    assert await reply(LEE, "+2") == (
        "Lee, your order: 2. Blueberries 125g ×3 · CN¥75.00 · you are #3."
    )
    # all or nothing: a sold-out item in the reply keeps Mia's other line as it was
    assert await reply(MIA, "1x3 +2") == "2. Blueberries 125g is sold out."
    assert await harness.press(MIA, TEA, card_id, index=4) == (
        "Your order: 1. Strawberries 1kg ×2, 3. Melon half ×1 · CN¥97.80 · #1"
    )
    # chit-chat replying to the card is left alone
    assert await harness.send(MIA, TEA, "looks good!", reply_to_message_id=card_id) == []
    # the sign-up list names each member's lines, and the card follows (coalesced edit)
    listing = (await harness.send(MIA, TEA, "/list"))[0]
    assert "1. Mia: 1. Strawberries 1kg ×2, 3. Melon half ×1" in listing
    assert "3. Lee: 2. Blueberries 125g ×3" in listing
    await harness.runtime.cards.flush()
    card = next(m for m in harness.emulator.messages(TEA) if m.message_id == card_id)
    assert "2. Blueberries 125g · CN¥25.00 · sold out · min 2: 4/2" in card.text
    assert "Progress: 3/1 people" in card.text
    # Lee changes his mind: he leaves, and Blueberries are back
    assert await harness.press(LEE, TEA, card_id, index=3) == "你已退出这份接龙。"
    assert await reply(MIA, "+2") == (
        "Mia, your order: 1. Strawberries 1kg ×2, 2. Blueberries 125g ×1, 3. Melon half ×1 · "
        "CN¥122.80 · you are #1."
    )
    # when the deadline passes, each line becomes an order of its item at its price
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    async with harness.session() as session:
        orders = (await session.execute(select(Order).order_by(col(Order.id)))).scalars().all()
        stock = dict(
            (await session.execute(select(ProductVariant.name, ProductVariant.stock))).all()
        )
    assert [(o.member_id, o.variant_name, o.quantity, o.unit_price) for o in orders] == [
        (MIA, "Strawberries 1kg", 2, 3990),
        (MIA, "Blueberries 125g", 1, 2500),
        (MIA, "Melon half", 1, 1800),
        (KAI, "Blueberries 125g", 1, 2500),
    ]
    # what was not sold goes back: 4 Blueberries in stock, 2 sold
    assert stock["Blueberries 125g"] == 2
    # the leader's /orders and pickup sheet show each line
    listing = (await harness.send(LEE, TEA, "/orders"))[0]
    assert "#1 Mia · Fruit of the day · Strawberries 1kg ×2 · CN¥79.80 · reserved" in listing
    assert "#4 Kai · Fruit of the day · Blueberries 125g ×1 · CN¥25.00 · reserved" in listing
    await harness.send(LEE, LEE, "/start")
    await harness.send(MIA, MIA, "/start")
    mine = "\n".join(await harness.send(MIA, MIA, "/orders"))
    assert "Fruit of the day · Strawberries 1kg" in mine and "Fruit of the day · Melon half" in mine


async def test_a_list_forms_item_by_item(harness: Harness) -> None:
    # given a list that forms item by item, Blueberries at 2 units at least
    card_id = await open_list(harness, LIST.replace("limit=3", "limit=3 form=each"))
    card = next(m for m in harness.emulator.messages(TEA) if m.message_id == card_id)
    assert "Each item forms on its own, at its own minimum." in card.text
    await harness.send(MIA, MIA, "/start")
    await harness.send(LEE, LEE, "/start")
    # Mia orders Strawberries and one Blueberries; nobody else orders Blueberries
    await harness.send(MIA, TEA, "1x1 2x1", reply_to_message_id=card_id)
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    # then Strawberries formed and Blueberries did not: one order, and all stock back
    assert harness.emulator.last_bot_message(TEA).text == (
        "#1 Fruit of the day formed: 1 sold!\n"
        "Not formed (below their minimum): 2. Blueberries 125g (1/2)"
    )
    # the leader's pickup sheet (in his language) names the item on each line and in totals
    sheet = harness.emulator.last_bot_message(LEE).text.splitlines()
    assert sheet[1].startswith("Fruit of the day · Strawberries 1kg ×1 · ¥39.90")
    assert sheet[-1] == "#1 Mia · Strawberries 1kg ×1 · ¥39.90 · ⏳ 未付款"
    assert harness.emulator.last_bot_message(MIA).text.splitlines()[:3] == [
        "Fruit of the day formed! Your orders:",
        "#1 Strawberries 1kg ×1: CN¥39.90",
        "In all CN¥39.90. Pay your leader at pickup.",
    ]
    async with harness.session() as session:
        orders = (await session.execute(select(Order))).scalars().all()
        stock = dict(
            (await session.execute(select(ProductVariant.name, ProductVariant.stock))).all()
        )
    assert [(o.variant_name, o.quantity) for o in orders] == [("Strawberries 1kg", 1)]
    assert stock["Blueberries 125g"] == 4


async def test_a_list_as_a_whole_fails_when_an_item_misses_its_minimum(harness: Harness) -> None:
    card_id = await open_list(harness)
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, TEA, "1x1 2x1", reply_to_message_id=card_id)
    harness.clock.advance(hours=24, seconds=1)
    assert await harness.runtime.closer.close_due() == 1
    assert harness.emulator.last_bot_message(MIA).text == (
        "Fruit of the day did not form. Nothing to pay."
    )
    async with harness.session() as session:
        assert (await session.execute(select(Order))).first() is None
        stock = dict(
            (await session.execute(select(ProductVariant.name, ProductVariant.stock))).all()
        )
    assert stock["Blueberries 125g"] == 4


# ------------------------------------------------------------------ service level ----------


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


async def open_service_list(
    sessions: async_sessionmaker[AsyncSession],
    *,
    stocks: tuple[int, ...],
    minimums: tuple[int, ...] = (),
    per_item: bool = False,
) -> tuple[int, int]:
    """A list of items with these stocks (and minimums) in two open groups; its id and its
    product's. Members are seeded on the first call for a database."""
    async with sessions() as session:
        seeded = (await session.execute(select(func.count()).select_from(Product))).scalar_one()
    if not seeded:
        await seed(sessions, members=100)
    items = tuple(
        ListItem(f"item {n}", 100 * n, stock, minimum)
        for n, (stock, minimum) in enumerate(
            zip(stocks, minimums or (0,) * len(stocks), strict=True), 1
        )
    )
    async with sessions() as session, session.begin():
        product = await list_product(
            session,
            parsed=ParsedList("List", items, ()),
            title="List",
            currency="CNY",
            created_by=1,
        )
        gb = await open_groupbuy(
            session,
            product_id=product.id,
            opened_by=1,
            chat_ids=list(GROUPS),
            min_count=1,
            stock_cap=9999,
            per_member_limit=3,
            deadline=NOW + timedelta(hours=24),
            now=NOW,
            multi=True,
            form_per_item=per_item,
            item_minimums=tuple(item.min_units for item in items),
        )
    return gb.id, product.id


async def check_counters(
    session: AsyncSession, gb_id: int, *, people: bool = True
) -> dict[int, int]:
    """Every counter agrees with the members' lines (and the people counted, while it is
    open: a refund after forming frees units, not a place); returns units sold per item."""
    view = await get_groupbuy(session, gb_id)
    assert view is not None
    per_item = dict(
        (
            await session.execute(
                select(GroupBuyLine.variant_id, func.sum(GroupBuyLine.quantity))
                .where(GroupBuyLine.groupbuy_id == gb_id)
                .group_by(GroupBuyLine.variant_id)
            )
        ).all()
    )
    per_member = dict(
        (
            await session.execute(
                select(GroupBuyLine.member_id, func.sum(GroupBuyLine.quantity))
                .where(GroupBuyLine.groupbuy_id == gb_id)
                .group_by(GroupBuyLine.member_id)
            )
        ).all()
    )
    joins = dict(
        (
            await session.execute(
                select(GroupBuyJoin.member_id, GroupBuyJoin.quantity).where(
                    GroupBuyJoin.groupbuy_id == gb_id
                )
            )
        ).all()
    )
    for item in view.variants:
        assert 0 <= item.units_sold <= item.stock_cap
        assert item.units_sold == per_item.get(item.variant_id, 0)
    assert {m: q for m, q in joins.items() if q} == {m: q for m, q in per_member.items() if q}
    assert view.units_sold == sum(item.units_sold for item in view.variants)
    if people:
        assert view.participants == sum(1 for q in joins.values() if q > 0)
    return {item.variant_id: item.units_sold for item in view.variants}


@pytest.mark.parametrize("orders", [200])
async def test_a_rush_of_multi_item_orders_never_oversells_an_item(
    sessions: async_sessionmaker[AsyncSession], orders: int
) -> None:
    # given 100 members and a list of three items with 10, 15 and 20 in stock
    gb_id, _product = await open_service_list(sessions, stocks=(10, 15, 20))
    rng = random.Random(22)
    plan = [
        (rng.randint(1, 100), [LineChange(rng.randint(1, 3), rng.randint(1, 3)) for _ in "ab"])
        for _ in range(orders)
    ]

    async def order(member: int, changes: list[LineChange]) -> str:
        try:
            async with sessions() as session, session.begin():
                await change_lines(
                    session,
                    groupbuy_id=gb_id,
                    member_id=member,
                    chat_id=GROUPS[member % 2],
                    changes=changes,
                    now=NOW,
                )
            return "ordered"
        except GroupBuyError as exc:
            return exc.reason

    # when 200 orders of two lines each arrive at once
    outcomes = await asyncio.gather(*(order(m, c) for m, c in plan))
    # then no item sold more than its stock, and every counter agrees with the lines
    assert set(outcomes) <= {"ordered", "item_sold_out"}
    assert "item_sold_out" in outcomes
    async with sessions() as session:
        sold = await check_counters(session, gb_id)
    # (how close each item comes to its stock depends on the order the rush arrives in: an
    # order is all or nothing, so a last unit can stay when every later order wants more)
    stock = dict(zip(sorted(sold), (10, 15, 20), strict=True))
    assert all(0 < sold[item] <= stock[item] for item in sold), sold


MEMBERS = 4
CASHIER = 100  # the leader who takes the cash at pickup (never one of the buyers)
START_STOCK = (3, 5, 2, 6)
STEP = st.tuples(
    st.integers(1, MEMBERS),
    st.one_of(
        st.just("leave"),
        st.lists(st.tuples(st.integers(1, 4), st.integers(1, 2), st.just(True)), min_size=1),
        st.lists(
            st.tuples(st.integers(1, 5), st.integers(0, 3), st.booleans()),
            min_size=1,
            max_size=3,
        ),
    ),
)
FATES = st.lists(st.sampled_from(["unpaid", "paid", "refunded", "cancelled"]), min_size=16)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=st.lists(STEP, min_size=3, max_size=12), per_item=st.booleans(), fates=FATES)
async def test_random_orders_cancellations_and_refunds_keep_stock_and_ledger_exact(
    database_url: str, steps: list[tuple[int, object]], per_item: bool, fates: list[str]
) -> None:
    # every example opens a new list in the same database (teardown reconciles its ledger)
    engine = create_engine(make_settings(database_url=database_url))
    sessions = create_session_factory(engine)
    try:
        gb_id, product_id = await open_service_list(
            sessions, stocks=START_STOCK, minimums=(0, 2, 0, 0), per_item=per_item
        )
        # given random orders, changes and leavings by four members
        for member, step in steps:
            try:
                async with sessions() as session, session.begin():
                    if step == "leave":
                        await set_quantity(
                            session,
                            groupbuy_id=gb_id,
                            member_id=member,
                            chat_id=GROUPS[member % 2],
                            quantity=0,
                            now=NOW,
                        )
                    else:
                        assert isinstance(step, list)
                        await change_lines(
                            session,
                            groupbuy_id=gb_id,
                            member_id=member,
                            chat_id=GROUPS[member % 2],
                            changes=[LineChange(i, q, add=a and q > 0) for i, q, a in step],
                            now=NOW,
                        )
            except GroupBuyError as exc:
                assert exc.reason in (
                    "unknown_item",
                    "item_over_limit",
                    "item_sold_out",
                    "not_joined",
                )
            # then after each, every counter agrees with the members' lines
            async with sessions() as session:
                await check_counters(session, gb_id)
        # when it closes, the orders are the lines of the items that formed, and every unit
        # not ordered is back in stock
        async with sessions() as session, session.begin():
            assert await settle(session, groupbuy_id=gb_id, now=NOW, early=True) is not None
        async with sessions() as session:
            view = await get_groupbuy(session, gb_id)
            assert view is not None
            orders = (
                (await session.execute(select(Order).where(Order.groupbuy_id == gb_id)))
                .scalars()
                .all()
            )
            stock = dict(
                (
                    await session.execute(
                        select(ProductVariant.id, ProductVariant.stock).where(
                            ProductVariant.product_id == product_id
                        )
                    )
                ).all()
            )
        formed = {o.variant_id for o in orders}
        for start, item in zip(START_STOCK, view.variants, strict=True):
            ordered = sum(o.quantity for o in orders if o.variant_id == item.variant_id)
            assert stock[item.variant_id] == start - ordered
            if item.variant_id in formed:
                assert ordered == item.units_sold
        # and each order paid, refunded or cancelled moves money through the ledger only
        for order, fate in zip(orders, fates, strict=False):
            async with sessions() as session, session.begin():
                if fate == "cancelled":
                    await cancel_order(session, order_id=order.id, actor_id=CASHIER)
                elif fate in ("paid", "refunded"):
                    await mark_paid_offline(session, order_id=order.id, actor_id=CASHIER)
                    if fate == "refunded":
                        await refund_order(session, order_id=order.id, actor_id=CASHIER)
        async with sessions() as session:
            sold = await check_counters(session, gb_id, people=False)
        refunded = {
            (o.variant_id, o.quantity)
            for o, fate in zip(orders, fates, strict=False)
            if fate == "refunded"
        }
        for item in view.variants:
            if item.variant_id in formed:
                kept = sum(
                    o.quantity
                    for o, fate in zip(orders, fates, strict=False)
                    if o.variant_id == item.variant_id and fate != "refunded"
                )
                assert sold[item.variant_id] == kept, refunded
        await assert_reconciles(database_url)
    finally:
        await engine.dispose()


async def test_a_product_with_variants_opens_as_a_sign_up_list(harness: Harness) -> None:
    # given a product with two variants, opened by Lee with form=
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Tea | 35.90 CNY | variants 100g=35.90:5, 250g=79:5")
    await harness.send(SAM, SAM, "/product_add Cups | 20 CNY | stock 9")
    assert (await harness.send(LEE, TEA, "/groupbuy 2 24h form=all"))[0].startswith(
        "A sign-up list of a product needs its variants as items"
    )
    assert (await harness.send(LEE, TEA, "/groupbuy 1 24h form=sometimes"))[0] == (
        "Write how the list forms as form=each (item by item) or form=all (as a whole)."
    )
    await harness.send(LEE, TEA, "/groupbuy 1 24h form=each limit=2")
    card = harness.emulator.last_bot_message(TEA)
    assert card.button_texts[:2] == ["+1 · 1. 100g", "+1 · 2. 250g"]
    # then members order both variants at once
    reply = await harness.send(MIA, TEA, "1x1 2x2", reply_to_message_id=card.message_id)
    assert reply == ["Mia, your order: 1. 100g ×1, 2. 250g ×2 · CN¥193.90 · you are #1."]


async def test_a_list_confirmed_too_late_opens_nothing(harness: Harness) -> None:
    # given a list read for a deadline in 24 hours, confirmed a day later
    await harness.join_groups()
    await harness.send(LEE, TEA, LIST)
    draft = harness.emulator.last_bot_message(TEA)
    harness.clock.advance(hours=25)
    # then the open is refused, and neither the list's product nor a group-buy stays
    assert await harness.press(LEE, TEA, draft.message_id, index=0) == (
        "The deadline must be in the future."
    )
    async with harness.session() as session:
        assert (await session.execute(select(Product))).first() is None
    # and the draft is gone: a second tap says so
    assert await harness.press(LEE, TEA, draft.message_id, index=0) == (
        "This list is no longer waiting: send it again."
    )


async def test_a_misspelt_option_on_the_signup_line_is_named_and_reads_nothing(
    harness: Harness,
) -> None:
    # given Lee pastes a list whose first line has limt= for limit=
    await harness.join_groups()
    reply = await harness.send(LEE, TEA, LIST.replace("limit=3", "limt=3"))
    # then the option is named with the command's options, and no draft list is shown
    assert reply[0].startswith(
        "I do not know the option limt: check how it is spelled. The options this command "
        "takes are below.\n\nOpen a sign-up list (接龙): /signup (or /jielong)"
    ), reply
    assert len(reply) == 1 and harness.emulator.last_bot_message(TEA).button_texts == []
    async with harness.session() as session:
        assert (await session.execute(select(func.count()).select_from(Product))).scalar() == 0
