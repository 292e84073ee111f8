"""Waitlists per variant and per sign-up list item: a sold-out variant's (item's) button joins
its own line, its freed units are offered in turn and accepting books that variant (adds the
item's line); a lapsed offer books nothing; (on PostgreSQL too) accepts racing for two freed
units of an item never oversell it and never book an offer twice."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select
from sqlmodel import col

from models.groupbuy import GroupBuyJoin, GroupBuyLine, GroupBuyVariant
from models.waitlist import WaitlistEntry
from services.errors import Refused
from services.groupbuy import LineChange, change_lines
from services.waitlist import accept_offer, join_waitlist
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_jielong import open_list
from tests.test_variants import open_variant_drop

WAITING = "You are #{n} on the waitlist. When units are freed I offer them in private, in turn."


def card_of(harness: Harness, card: int):
    return next(m for m in harness.emulator.messages(TEA) if m.message_id == card)


async def entries(harness: Harness) -> dict[int, tuple[int | None, str]]:
    async with harness.session() as session:
        rows = (await session.execute(select(WaitlistEntry))).scalars().all()
    return {e.member_id: (e.variant_id, e.status) for e in rows}


async def test_a_sold_out_variant_has_its_own_waitlist(harness: Harness) -> None:
    # given a drop of Tea (100g: 2 in stock, 250g: 20) where Mia takes both 100g
    card = await open_variant_drop(harness, "min=1 limit=3")
    for who in (MIA, KAI, LEE):
        await harness.send(who, who, "/start")
    await harness.press(MIA, TEA, card, index=0)
    assert await harness.press(MIA, TEA, card, index=0) == "You are #1, quantity 2."
    await harness.runtime.cards.flush()
    # then only 100g's button became its waitlist
    assert card_of(harness, card).button_texts == [
        "🔔 100g",
        "Join 250g",
        "−1",
        "Leave",
        "Details",
    ]
    # when Kai and Lee wait for 100g
    assert (
        await harness.press(KAI, TEA, card, index=0)
        == "你在候補第 1 位。有空出時，我會按順序私聊通知。"
    )
    assert (
        await harness.press(LEE, TEA, card, index=0)
        == "你在候补第 2 位。有空出时，我会按顺序私聊通知。"
    )
    async with harness.session() as session:
        variant_100g = await session.scalar(
            select(col(GroupBuyVariant.variant_id)).where(col(GroupBuyVariant.name) == "100g")
        )
    assert await entries(harness) == {
        KAI: (variant_100g, "waiting"),
        LEE: (variant_100g, "waiting"),
    }
    # a forged wait for 250g, which has units left, is refused
    async with harness.session() as session:
        try:
            await join_waitlist(
                session,
                groupbuy_id=1,
                member_id=SAM,
                chat_id=TEA,
                now=harness.clock(),
                variant_id=variant_100g + 1,
            )
        except Refused as exc:
            assert exc.reason == "not_sold_out"
        else:
            raise AssertionError("waited for a variant with units left")
    # when Mia gives both 100g back, Kai and Lee are offered one each
    await harness.press(MIA, TEA, card, index=3)
    assert (await harness.runtime.waitlist.run()).offered == 2
    kai_offer = harness.emulator.last_bot_message(KAI)
    assert kai_offer.text.startswith("好消息：Tea · 100g空出了 1 件")
    lee_offer = harness.emulator.last_bot_message(LEE)
    # and Kai's Accept books 100g for him
    assert await harness.press(KAI, KAI, kai_offer.message_id, index=0) is None
    assert harness.emulator.last_bot_message(KAI).text == (
        "你已參加Tea · 100g：數量 1，你是第 1 位。"
    )
    # while Lee lets his lapse: his late Accept books nothing
    harness.clock.advance(minutes=31)
    assert (await harness.runtime.waitlist.run()).lapsed == 1
    assert harness.emulator.last_bot_message(LEE).text.startswith(
        "你的名额已过期（商品：Tea · 100g）"
    )
    late = await harness.press(LEE, LEE, lee_offer.message_id, index=0)
    assert late is not None and late.startswith("抱歉，这个名额已过期")
    async with harness.session() as session:
        joins = (await session.execute(select(GroupBuyJoin))).scalars().all()
        held = {j.member_id: (j.variant_id, j.quantity) for j in joins if j.quantity}
        sold = await session.scalar(
            select(col(GroupBuyVariant.units_sold)).where(
                col(GroupBuyVariant.variant_id) == variant_100g
            )
        )
    assert held == {KAI: (variant_100g, 1)}
    assert sold == 1
    assert await entries(harness) == {KAI: (variant_100g, "booked"), LEE: (variant_100g, "lapsed")}


STOCKED = (
    "/signup 24h limit=3\n"
    "Fruit of the day\n"
    "1. Strawberries 1kg ¥39.9\n"
    "2. Blueberries 125g ¥25 stock=2\n"
)


async def test_a_list_item_waitlist_hands_over_freed_units_exactly_once(harness: Harness) -> None:
    # given a list whose Blueberries (2 in stock) Mia takes both of
    card = await open_list(harness, STOCKED)
    for who in (KAI, SAM, OWNER, MIA):
        await harness.send(who, who, "/start")
    await harness.send(MIA, TEA, "2x2", reply_to_message_id=card)
    await harness.runtime.cards.flush()
    assert card_of(harness, card).button_texts == [
        "+1 · 1. Strawberries 1kg",
        "🔔 2. Blueberries 125g",
        "Leave",
        "My order",
    ]
    # when three members wait for item 2
    for who in (SAM, KAI, OWNER):
        await harness.press(who, TEA, card, index=1)
    assert {m: s for m, (_v, s) in (await entries(harness)).items()} == {
        SAM: "waiting",
        KAI: "waiting",
        OWNER: "waiting",
    }
    # and Mia gives both back: the first two in line are offered one each
    await harness.send(MIA, TEA, "2x0", reply_to_message_id=card)
    assert (await harness.runtime.waitlist.run()).offered == 2
    sam_offer = harness.emulator.last_bot_message(SAM)
    assert sam_offer.text.startswith(
        "Good news: 1 unit of Fruit of the day · Blueberries 125g freed up"
    )
    async with harness.session() as session:
        offered = (
            (
                await session.execute(
                    select(WaitlistEntry)
                    .where(col(WaitlistEntry.status) == "offered")
                    .order_by(col(WaitlistEntry.id))
                )
            )
            .scalars()
            .all()
        )
    assert [e.member_id for e in offered] == [SAM, KAI]
    now = harness.clock()

    async def accept(entry: WaitlistEntry) -> str:
        async with harness.session() as session, session.begin():
            assert entry.id is not None
            try:
                done = await accept_offer(
                    session,
                    entry_id=entry.id,
                    offer_no=entry.offer_no,
                    member_id=entry.member_id,
                    now=now,
                )
            except Refused as exc:
                return exc.reason
            return "taken" if done.taken else "accepted"

    async def walk_in() -> str:
        async with harness.session() as session, session.begin():
            try:
                await change_lines(
                    session,
                    groupbuy_id=1,
                    member_id=LEE,
                    chat_id=TEA,
                    changes=[LineChange(2, 1, add=True)],
                    now=now,
                )
            except Refused as exc:
                return exc.reason
            return "accepted"

    # when both offers are accepted at once, each twice (a double tap), while Lee takes one
    # from the list
    results = await asyncio.gather(
        accept(offered[0]), accept(offered[1]), accept(offered[0]), accept(offered[1]), walk_in()
    )
    # then the item is never oversold and no offer books twice
    assert results.count("accepted") == 2
    # a second tap of an offer is refused (already accepted, or lapsed after a lost race)
    assert sorted(results[2:4]) in (["booked", "booked"], ["booked", "taken"], ["booked", "lapsed"])
    async with harness.session() as session:
        sold = await session.scalar(
            select(col(GroupBuyVariant.units_sold)).where(col(GroupBuyVariant.name).like("Blue%"))
        )
        lines = {
            m: q
            for m, q in (
                await session.execute(
                    select(col(GroupBuyLine.member_id), func.sum(col(GroupBuyLine.quantity)))
                    .where(col(GroupBuyLine.quantity) > 0)
                    .group_by(col(GroupBuyLine.member_id))
                )
            ).all()
        }
        booked = await session.scalar(
            select(func.count())
            .select_from(WaitlistEntry)
            .where(col(WaitlistEntry.status) == "booked")
        )
    assert sold == 2
    assert sum(lines.values()) == 2 and all(q == 1 for q in lines.values())
    assert booked == sum(1 for m in lines if m in (SAM, KAI))
    # the owner, third in line, is still waiting; whoever lost a race is back in line
    state = await entries(harness)
    assert state[OWNER][1] == "waiting"
    assert all(state[m][1] == "booked" for m in lines if m in (SAM, KAI))


async def test_a_refused_accept_keeps_the_offer_and_books_nothing(harness: Harness) -> None:
    # given Mia holding all of 100g, and Kai holding 250g while he waits for 100g
    card = await open_variant_drop(harness, "min=1 limit=3")
    for who in (MIA, KAI):
        await harness.send(who, who, "/start")
    await harness.press(MIA, TEA, card, index=0)
    await harness.press(MIA, TEA, card, index=0)
    await harness.press(KAI, TEA, card, index=1)
    await harness.runtime.cards.flush()
    await harness.press(KAI, TEA, card, index=0)
    # when Mia gives one back and Kai accepts the offer while holding 250g
    await harness.press(MIA, TEA, card, index=2)
    assert (await harness.runtime.waitlist.run()).offered == 1
    offer = harness.emulator.last_bot_message(KAI)
    refused = await harness.press(KAI, KAI, offer.message_id, index=0)
    # then he is told why, nothing is booked, and the offer is still his
    assert refused == "你已參團的規格是：250g。要換規格，請先退出。"
    state = await entries(harness)
    assert state[KAI][1] == "offered"
    # and once he left 250g, the same Accept books 100g
    await harness.runtime.cards.flush()
    await harness.press(KAI, TEA, card, index=3)
    assert await harness.press(KAI, KAI, offer.message_id, index=0) is None
    assert harness.emulator.last_bot_message(KAI).text == (
        "你已參加Tea · 100g：數量 1，你是第 2 位。"
    )
    async with harness.session() as session:
        joins = (await session.execute(select(GroupBuyJoin))).scalars().all()
        sold = {
            v.name: v.units_sold
            for v in (await session.execute(select(GroupBuyVariant))).scalars().all()
        }
    assert sorted((j.member_id, j.quantity) for j in joins if j.quantity) == [(MIA, 1), (KAI, 1)]
    assert sold == {"100g": 2, "250g": 0}
    assert (await entries(harness))[KAI][1] == "booked"


async def test_a_list_that_forms_tells_its_waitlist_it_ended_without_pointing_to_the_shop(
    harness: Harness,
) -> None:
    # given Mia holds both Blueberries of a list, and Sam waits for them
    card = await open_list(harness, STOCKED)
    for who in (SAM, MIA):
        await harness.send(who, who, "/start")
    await harness.send(MIA, TEA, "2x2", reply_to_message_id=card)
    await harness.runtime.cards.flush()
    await harness.press(SAM, TEA, card, index=1)
    # when the deadline passes and the list forms (each item's minimum is one)
    harness.clock.advance(hours=25)
    assert await harness.runtime.closer.close_due() == 1
    # then Sam is told his wait is over; a pasted list's items are in no shop to point to
    assert harness.emulator.last_bot_message(SAM).text == (
        "Fruit of the day has closed, and its waitlist with it: nothing was booked for you."
    )
    assert (await entries(harness))[SAM][1] == "left"
