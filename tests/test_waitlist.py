"""Waitlists end to end: a sold-out card's Notify me, freed units offered in private in turn,
an offer that lapses on the controlled clock and passes to the next, an Accept after it lapsed
that books nothing, and (on PostgreSQL too) two accepts racing for the last unit."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import select

from models.groupbuy import GroupBuy, GroupBuyJoin
from models.order import Order
from models.product import Product
from models.waitlist import WaitlistEntry
from services.waitlist import WaitlistError, accept_offer, join_waitlist, make_offers
from tests.conftest import LEE, MIA, OWNER, SAM, TEA, Harness


async def sold_out_drop(harness: Harness, minimum: int = 1, also: tuple[int, ...] = ()) -> int:
    """Sam (staff) opens a 2-unit drop needing `minimum` people; Mia takes both (`also`: more
    members who start the bot). Returns the Tea card's message id."""
    await harness.join_groups()
    for who in (SAM, MIA, OWNER, *also):
        await harness.send(who, who, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    await harness.send(SAM, SAM, f"/drop 1 24h min={minimum} stock=2 limit=2")
    card = harness.emulator.last_bot_message(TEA).message_id
    assert await harness.press(MIA, TEA, card, index=1) == "You are #1, quantity 2."
    await harness.runtime.cards.flush()
    return card


def card_of(harness: Harness, card: int):
    return next(m for m in harness.emulator.messages(TEA) if m.message_id == card)


async def test_freed_units_go_to_the_waitlist_in_turn_and_a_lapsed_offer_books_nothing(
    harness: Harness,
) -> None:
    card = await sold_out_drop(harness)
    # given a sold-out card: Join became the waitlist
    assert card_of(harness, card).button_texts == [
        "🔔 Notify me / join the waitlist",
        "−1",
        "Leave",
        "Details",
    ]
    # when Sam and then the owner join the waitlist
    assert await harness.press(SAM, TEA, card, index=0) == (
        "You are #1 on the waitlist. When units are freed I offer them in private, in turn."
    )
    assert (await harness.press(OWNER, TEA, card, index=0) or "").startswith("You are #2")
    # the same tap again keeps the place
    assert (await harness.press(SAM, TEA, card, index=0) or "").startswith("You are #1")
    listing = (await harness.send(MIA, TEA, "/list"))[0]
    assert "2 on the waitlist" in listing
    # nothing is offered while nothing is free
    assert (await harness.runtime.waitlist.run()).offered == 0
    # when Mia gives one unit back, the first in line is offered it in private
    assert await harness.press(MIA, TEA, card, index=1) == "You are #1, quantity 1."
    report = await harness.runtime.waitlist.run()
    assert report.offered == 1
    offer = harness.emulator.last_bot_message(SAM)
    assert offer.text == (
        "Good news: 1 unit of Oolong tea freed up, and you are first on the waitlist. Accept "
        "within 30 minutes to order; after that the offer passes to the next member waiting."
    )
    assert offer.button_texts == ["✅ Accept", "Leave the waitlist"]
    # a second run offers nothing more: the one free unit is under offer
    assert (await harness.runtime.waitlist.run()).offered == 0
    # when Sam lets the offer lapse, it passes to the owner
    harness.clock.advance(minutes=31)
    report = await harness.runtime.waitlist.run()
    assert (report.lapsed, report.offered) == (1, 1)
    assert harness.emulator.last_bot_message(SAM).text.startswith(
        "Your offer for Oolong tea lapsed"
    )
    owner_offer = harness.emulator.last_bot_message(OWNER)
    # then Sam's late Accept is refused and books nothing
    answer = await harness.press(SAM, SAM, offer.message_id, index=0)
    assert answer is not None and answer.startswith("Sorry, this offer lapsed")
    # and the owner's Accept books the unit as Join does
    assert await harness.press(OWNER, OWNER, owner_offer.message_id, index=0) is None
    assert harness.emulator.last_bot_message(OWNER).text == (
        "You joined Oolong tea: quantity 1, you are #2."
    )
    # and the owner's button again is refused: accepted once
    again = await harness.press(OWNER, OWNER, owner_offer.message_id, index=0)
    assert again == "You already accepted this offer."
    async with harness.session() as session:
        gb = await session.get(GroupBuy, 1)
        assert gb is not None and (gb.units_sold, gb.stock_cap) == (2, 2)
        joins = (await session.execute(select(GroupBuyJoin))).scalars().all()
        assert sorted((j.member_id, j.quantity) for j in joins) == [(OWNER, 1), (MIA, 1)]
        statuses = {
            e.member_id: e.status
            for e in (await session.execute(select(WaitlistEntry))).scalars().all()
        }
    assert statuses == {SAM: "lapsed", OWNER: "booked"}


async def test_the_waitlist_refuses_what_is_not_sold_out_and_who_cannot_be_written_to(
    harness: Harness,
) -> None:
    await harness.join_groups()
    for who in (SAM, OWNER):
        await harness.send(who, who, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    await harness.send(SAM, SAM, "/drop 1 24h min=1 stock=2 limit=2")
    card = harness.emulator.last_bot_message(TEA).message_id
    # Mia never started the bot: she is asked to, and is not put in line
    await harness.press(SAM, TEA, card, index=1)
    await harness.runtime.cards.flush()
    answer = await harness.press(MIA, TEA, card, index=0)
    assert answer is not None and answer.startswith("Start a private chat with me first")
    # a forged "wait" on a card with units left is refused
    async with harness.session() as session, session.begin():
        gb = await session.get(GroupBuy, 1)
        assert gb is not None
        gb.units_sold = 1
    try:
        async with harness.session() as session, session.begin():
            await join_waitlist(
                session, groupbuy_id=1, member_id=OWNER, chat_id=TEA, now=harness.clock()
            )
    except WaitlistError as exc:
        assert exc.reason == "not_sold_out"
    else:
        raise AssertionError("joined the waitlist of a group-buy with units left")


async def test_two_accepts_for_the_last_unit_never_oversell(harness: Harness) -> None:
    card = await sold_out_drop(harness)
    await harness.press(SAM, TEA, card, index=0)
    await harness.press(OWNER, TEA, card, index=0)
    # two units freed: both in line get an offer of one
    assert await harness.press(MIA, TEA, card, index=2) == "You left this group-buy."
    assert (await harness.runtime.waitlist.run()).offered == 2
    # and a third member takes one of them from the card meanwhile
    async with harness.session() as session, session.begin():
        gb = await session.get(GroupBuy, 1)
        assert gb is not None
        gb.units_sold += 1
    async with harness.session() as session:
        entries = (
            (await session.execute(select(WaitlistEntry).order_by(WaitlistEntry.id)))
            .scalars()
            .all()
        )
    now = harness.clock()

    async def accept(entry: WaitlistEntry) -> bool:
        async with harness.session() as session, session.begin():
            assert entry.id is not None
            done = await accept_offer(
                session,
                entry_id=entry.id,
                offer_no=entry.offer_no,
                member_id=entry.member_id,
                now=now,
            )
            return not done.taken

    # when both accept at once, one books the last unit and the other is told it was taken
    booked = await asyncio.gather(*(accept(entry) for entry in entries))
    assert sorted(booked) == [False, True]
    async with harness.session() as session:
        gb = await session.get(GroupBuy, 1)
        assert gb is not None and gb.units_sold == gb.stock_cap == 2
        waiting = (
            (await session.execute(select(WaitlistEntry).where(WaitlistEntry.status == "waiting")))
            .scalars()
            .all()
        )
        # the one who lost stays first in line, offered again once units are freed
        assert len(waiting) == 1
        assert await make_offers(session, now=now + timedelta(minutes=1), minutes=30) == []


async def test_a_member_who_comes_back_to_the_waitlist_is_told_their_new_place(
    harness: Harness,
) -> None:
    # given Sam, who waited for the sold-out drop and left its waitlist
    card = await sold_out_drop(harness)
    assert (await harness.press(SAM, TEA, card, index=0) or "").startswith("You are #1")
    waiting = harness.emulator.last_bot_message(SAM)
    assert await harness.press(SAM, SAM, waiting.message_id, index=0) == "You left the waitlist."
    left = next(m for m in harness.emulator.messages(SAM) if m.message_id == waiting.message_id)
    # the message says so instead of his old place, and no longer offers to leave
    assert (left.text, left.button_texts) == ("You left the waitlist.", [])
    # when the owner waits, and Sam comes back a minute later
    harness.clock.advance(minutes=1)
    assert (await harness.press(OWNER, TEA, card, index=0) or "").startswith("You are #1")
    harness.clock.advance(minutes=1)
    # then Sam is told his new place, behind the owner (not "#0", his old row as it was read)
    assert (await harness.press(SAM, TEA, card, index=0) or "").startswith("You are #2")


async def test_units_a_formed_group_buy_gave_back_are_never_offered_to_its_waitlist(
    harness: Harness,
) -> None:
    # given Mia holding both units of the drop, and Sam waiting
    card = await sold_out_drop(harness)
    await harness.press(SAM, TEA, card, index=0)
    # when Mia gives one back and the drop closes before the waitlist job runs
    assert await harness.press(MIA, TEA, card, index=1) == "You are #1, quantity 1."
    harness.clock.advance(hours=25)
    assert await harness.runtime.closer.close_due() == 1
    # then the unit went back to the product's stock, where it is for sale: the waitlist
    # ends, and nothing is offered to Sam
    assert (await harness.runtime.waitlist.run()).offered == 0
    async with harness.session() as session:
        gb = await session.get(GroupBuy, 1)
        product = await session.get(Product, 1)
        assert gb is not None and product is not None
        assert (gb.status, gb.units_sold) == ("formed", 1)
        assert product.stock == 99
        entry = (await session.execute(select(WaitlistEntry))).scalar_one()
        assert (entry.member_id, entry.status) == (SAM, "left")
    # and Sam is told his wait is over, and where the units went (before his pickup sheet:
    # he opened the drop)
    told = [m.text for m in harness.emulator.messages(SAM) if "waitlist" in (m.text or "")]
    assert told[-1] == (
        "Oolong tea has formed and closed, and its waitlist with it: no units were booked for "
        "you. What it did not sell is back in the shop: see /products."
    )


async def test_a_group_buy_that_fails_or_is_cancelled_tells_its_waitlist_it_ended(
    harness: Harness,
) -> None:
    # given a drop of 2 units needing 2 people, both units Mia's; Sam and Lee (who reads
    # Chinese) wait for one
    card = await sold_out_drop(harness, minimum=2, also=(LEE,))
    await harness.press(SAM, TEA, card, index=0)
    await harness.press(LEE, TEA, card, index=0)
    # when the deadline passes with one person in: it does not form
    harness.clock.advance(hours=25)
    assert await harness.runtime.closer.close_due() == 1
    # then each waiting member is told in their language, once, and nothing is offered
    assert harness.emulator.last_bot_message(SAM).text == (
        "Oolong tea did not form, so its waitlist has ended: nothing was booked for you and you "
        "owe nothing."
    )
    assert harness.emulator.last_bot_message(LEE).text == (
        "Oolong tea未能成团，候补名单随之结束：没有为你预订任何商品，你也无需付款。"
    )
    told = [m for m in harness.emulator.messages(SAM) if "waitlist has ended" in (m.text or "")]
    assert len(told) == 1
    assert (await harness.runtime.waitlist.run()).offered == 0
    async with harness.session() as session:
        entries = (await session.execute(select(WaitlistEntry))).scalars().all()
    assert sorted((e.member_id, e.status) for e in entries) == sorted(
        [(SAM, "left"), (LEE, "left")]
    )
    # when Sam taps Leave under his old waitlist message, he is told he is off the line, and
    # the message says so instead of his old place, without the button
    placed = next(m for m in harness.emulator.messages(SAM) if "on the waitlist" in (m.text or ""))
    assert placed.button_texts == ["Leave the waitlist"]
    answer = await harness.press(SAM, SAM, placed.message_id, index=0)
    assert answer == "You are not on this waitlist."
    placed = next(m for m in harness.emulator.messages(SAM) if m.message_id == placed.message_id)
    assert (placed.text, placed.button_texts) == ("You are not on this waitlist.", [])
    # Lee, who leaves nothing, keeps his until he taps it
    lee_placed = next(m for m in harness.emulator.messages(LEE) if "候补" in (m.text or ""))
    assert lee_placed.button_texts == ["退出候补"]
    # when the next drop is cancelled while Sam waits, he is told it was cancelled
    await harness.send(SAM, SAM, "/drop 1 24h min=1 stock=2 limit=2")
    card = harness.emulator.last_bot_message(TEA).message_id
    assert await harness.press(MIA, TEA, card, index=1) == "You are #1, quantity 2."
    await harness.runtime.cards.flush()
    await harness.press(SAM, TEA, card, index=0)
    await harness.send(SAM, TEA, "/gb_cancel 2")
    assert harness.emulator.last_bot_message(SAM).text == (
        "Oolong tea was cancelled, so its waitlist has ended: nothing was booked for you and you "
        "owe nothing."
    )


async def test_an_offer_of_units_a_formed_group_buy_gave_back_books_nothing(
    harness: Harness,
) -> None:
    # given the owner offered the unit Mia gave back
    card = await sold_out_drop(harness)
    await harness.press(OWNER, TEA, card, index=0)
    await harness.press(MIA, TEA, card, index=1)
    assert (await harness.runtime.waitlist.run()).offered == 1
    offer = harness.emulator.last_bot_message(OWNER)
    # when Sam closes the drop now (the unit goes back to the product, for sale there)
    await harness.send(SAM, TEA, "/gb_close 1")
    # then the owner's Accept, still in time, books nothing
    answer = await harness.press(OWNER, OWNER, offer.message_id, index=0)
    assert answer is not None and answer.startswith("Sorry, this offer lapsed")
    async with harness.session() as session:
        gb = await session.get(GroupBuy, 1)
        product = await session.get(Product, 1)
        assert gb is not None and product is not None
        assert (gb.status, gb.units_sold, product.stock) == ("formed", 1, 99)
        orders = (await session.execute(select(Order))).scalars().all()
    assert [(o.member_id, o.quantity) for o in orders] == [(MIA, 1)]
