"""A reply to the /list message orders from the sign-up list it shows, like a reply to the
card; a reply to a /list naming no open list is left alone."""

from __future__ import annotations

from sqlalchemy import select
from sqlmodel import col

from models.groupbuy import GroupBuyLine
from tests.conftest import KAI, MIA, TEA, Harness
from tests.test_jielong import open_list


async def test_a_reply_to_the_list_message_orders_from_the_list(harness: Harness) -> None:
    # given an open sign-up list and its /list message
    await open_list(harness)
    await harness.send(MIA, TEA, "/list")
    listing = harness.emulator.last_bot_message(TEA)
    assert listing.text.startswith("#1 Fruit of the day")
    # when Mia and Kai reply to it with orders
    assert await harness.send(MIA, TEA, "1x2 3x1", reply_to_message_id=listing.message_id) == [
        "Mia, your order: 1. Strawberries 1kg ×2, 3. Melon half ×1 · CN¥97.80 · you are #1."
    ]
    answer = await harness.send(KAI, TEA, "+2", reply_to_message_id=listing.message_id)
    assert answer == ["Kai, your order: 2. Blueberries 125g ×1 · CN¥25.00 · you are #2."]
    # and an unreadable order is told what was not read
    spoiled = await harness.send(MIA, TEA, "1x2 banana", reply_to_message_id=listing.message_id)
    assert spoiled[0].startswith("I could not read banana.")
    # then the lines are booked as from the card
    async with harness.session() as session:
        lines = (
            await session.execute(
                select(col(GroupBuyLine.member_id), col(GroupBuyLine.quantity)).order_by(
                    col(GroupBuyLine.id)
                )
            )
        ).all()
    assert sorted(lines) == sorted([(MIA, 2), (MIA, 1), (KAI, 1)])
    # chit-chat replying to the /list message is left alone
    assert await harness.send(MIA, TEA, "thanks", reply_to_message_id=listing.message_id) == []
