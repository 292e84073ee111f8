"""Groups are approved before anything commercial happens in them: a stranger's group waits
for staff, who approve or decline it from a card or from /groups, and may suspend an approved
group (its open group-buys cancelled and refunded as a failed one is) and reinstate it."""

from __future__ import annotations

from sqlmodel import func, select

from handlers.filters import NOT_OPEN, NOT_YET_OPEN
from models.audit import AuditEntry
from models.community import (
    APPROVAL_APPROVED,
    APPROVAL_DECLINED,
    APPROVAL_PENDING,
    APPROVAL_SUSPENDED,
    Community,
)
from models.groupbuy import GroupBuy
from models.loyalty import CheckIn
from models.order import Order
from services.ledger import AccountRef, balance
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_groupbuy_prepay import complete, orders, prepay
from tests.test_order import make_staff

CORNER = -1001000000009  # "Mia's Corner", a group Mia created
SUSPENDED_TEXT = NOT_OPEN[APPROVAL_SUSPENDED]
DECLINED_TEXT = NOT_OPEN[APPROVAL_DECLINED]


async def community(harness: Harness, chat_id: int) -> Community:
    async with harness.session() as session:
        row = await session.get(Community, chat_id)
    assert row is not None
    return row


async def audited(harness: Harness, action: str) -> list[AuditEntry]:
    async with harness.session() as session:
        rows = await session.execute(select(AuditEntry).where(AuditEntry.action == action))
    return list(rows.scalars().all())


async def count(harness: Harness, model: type) -> int:
    async with harness.session() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def strangers_group(harness: Harness) -> None:
    """Sam is staff with a product on sale; Mia creates her own group and adds the bot."""
    await harness.join_groups()
    await make_staff(harness)
    for user in (OWNER, MIA, KAI):
        await harness.send(user, user, "/start")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    harness.emulator.add_group(CORNER, "Mia's Corner", creator=MIA, members=[KAI, SAM])
    for chat in (SAM, OWNER, CORNER):
        harness.new_bot_messages(chat)
    harness.emulator.add_bot_to_group(CORNER, MIA)
    await harness.feed_pending()


def review_card(harness: Harness, staff: int) -> int:
    """The id of the review card the staff member got, checking what it says."""
    cards = [m for m in harness.new_bot_messages(staff) if "waiting for approval" in (m.text or "")]
    assert len(cards) == 1
    card = cards[0]
    assert "Mia's Corner" in (card.text or "") and "Added by Mia" in (card.text or "")
    assert card.button_texts == ["✅ Approve", "✖️ Decline"]
    return card.message_id


async def test_a_strangers_group_waits_for_staff_and_opens_once_approved(
    harness: Harness,
) -> None:
    await strangers_group(harness)
    # then the group is greeted and its admins are told the brand will review it
    greeting = [m.text or "" for m in harness.new_bot_messages(CORNER)]
    assert len(greeting) == 1 and "asked the brand's staff to review this one" in greeting[0]
    row = await community(harness, CORNER)
    assert (row.approval, row.added_by, row.approval_by) == (APPROVAL_PENDING, MIA, None)
    # and every staff member and the owner got a card with Approve / Decline
    sam_card = review_card(harness, SAM)
    owner_card = review_card(harness, OWNER)

    # when Mia, the group's admin, tries to open a group-buy, Kai to check in and to order, and
    # Mia to mark Kai's order paid
    assert await harness.send(MIA, CORNER, "/groupbuy 1 24h min=2 stock=10") == [NOT_YET_OPEN]
    assert await harness.send(KAI, CORNER, "/checkin") == [NOT_YET_OPEN]  # in the group's language
    assert await harness.send(KAI, CORNER, "/buy 1") == [NOT_YET_OPEN]
    assert await harness.send(MIA, CORNER, "/paid @kai") == [NOT_YET_OPEN]
    assert await count(harness, Order) == 0
    # then each is told once, politely, and nothing was opened or earned
    assert await count(harness, GroupBuy) == 0
    assert await count(harness, CheckIn) == 0

    # when Sam approves it from the card
    assert await harness.press(SAM, SAM, sam_card, index=0) == "Done."
    # then the card shows the decision, the group hears it, and the decision is on record
    card = harness.emulator.last_bot_message(SAM)
    assert card.message_id == sam_card and "is approved" in (card.text or "")
    told = [m.text or "" for m in harness.new_bot_messages(CORNER)]
    assert told == [
        "🎉 The brand has approved this group! Leaders can now open group-buys here, and "
        "everyone can join them, check in and collect points. Send /help to see how."
    ]
    row = await community(harness, CORNER)
    assert (row.approval, row.approval_by) == (APPROVAL_APPROVED, SAM)
    assert [(a.actor_id, a.chat_id) for a in await audited(harness, "group.approved")] == [
        (OWNER, TEA),
        (OWNER, COFFEE),
        (SAM, CORNER),
    ]
    # and once Mia, its admin, applied to lead it and Sam appointed her, the same commands work
    applied = await harness.send(MIA, CORNER, "/lead")
    assert applied[0].startswith("Thank you, Mia!")
    appointment = harness.emulator.last_bot_message(SAM)
    assert await harness.press(SAM, SAM, appointment.message_id, index=0) == "Done."
    opened = await harness.send(MIA, CORNER, "/groupbuy 1 24h min=2 stock=10")
    assert any("Oolong tea" in text for text in opened)
    assert await count(harness, GroupBuy) == 1
    checked = await harness.send(KAI, CORNER, "/checkin")
    assert len(checked) == 1 and "Kai checked in" in checked[0]
    await harness.send(KAI, CORNER, "/buy 1")
    assert await harness.send(MIA, CORNER, "/paid @kai") == ["Marked paid for Kai: #1."]

    # when the owner presses Approve on his own card afterwards
    harness.new_bot_messages(OWNER)
    assert await harness.press(OWNER, OWNER, owner_card, index=0) == "Nothing was changed."
    # then he is told it is approved already, and nothing is decided twice
    assert [m.text for m in harness.new_bot_messages(OWNER)] == [
        f"Mia's Corner ({CORNER}) is already approved. Nothing was changed."
    ]
    assert len(await audited(harness, "group.approved")) == 3


async def test_a_declined_group_stays_closed(harness: Harness) -> None:
    await strangers_group(harness)
    harness.new_bot_messages(CORNER)
    sam_card = review_card(harness, SAM)
    # when Sam declines it
    assert await harness.press(SAM, SAM, sam_card, index=1) == "Done."
    # then the group is told, and group-buys and check-ins stay closed
    told = [m.text or "" for m in harness.new_bot_messages(CORNER)]
    assert len(told) == 1 and "decided not to run group-buys in this group" in told[0]
    assert (await community(harness, CORNER)).approval == APPROVAL_DECLINED
    assert await harness.send(MIA, CORNER, "/groupbuy 1 24h min=2 stock=10") == [DECLINED_TEXT]
    assert await harness.send(MIA, CORNER, "/invite") == [DECLINED_TEXT]
    assert await count(harness, GroupBuy) == 0
    assert len(await audited(harness, "group.declined")) == 1
    # and /groups lists it as declined, with Approve offered should staff change their mind
    await harness.send(SAM, SAM, "/groups")
    listing = harness.emulator.last_bot_message(SAM)
    assert "✖️ Declined (1)" in (listing.text or "")
    assert "✅ Approve Mia's Corner" in listing.button_texts


async def test_a_group_the_bot_left_cannot_be_decided(harness: Harness) -> None:
    await strangers_group(harness)
    sam_card = review_card(harness, SAM)
    # given Mia removed the bot before staff looked
    harness.emulator.remove_bot_from_group(CORNER, MIA)
    await harness.feed_pending()
    # when Sam presses Approve
    assert await harness.press(SAM, SAM, sam_card, index=0) == "Nothing was changed."
    # then he is told why and nothing changed
    assert [m.text for m in harness.new_bot_messages(SAM)] == [
        f"I am no longer in Mia's Corner ({CORNER}), so nothing was changed. Add me to the "
        "group again first."
    ]
    assert (await community(harness, CORNER)).approval == APPROVAL_PENDING


async def test_staff_adding_the_bot_approve_the_group_at_once(harness: Harness) -> None:
    await harness.join_groups()
    # then both groups the owner added are approved, by him, without a review card
    for chat in (TEA, COFFEE):
        row = await community(harness, chat)
        assert (row.approval, row.approval_by, row.added_by) == (APPROVAL_APPROVED, OWNER, OWNER)
    assert harness.emulator.bot_messages(OWNER) == []


async def test_suspending_a_group_cancels_its_group_buys_with_refunds(harness: Harness) -> None:
    # given Lee's Stars group-buy in Tea Lovers, prepaid by Mia
    stars_card = await open_stars_groupbuy_here(harness)
    await complete(harness, MIA, await prepay(harness, MIA, stars_card))
    # and an offline group-buy Kai joined, and a staff drop in both groups
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")
    await harness.send(LEE, TEA, "/groupbuy 2 24h min=5 stock=10")
    offline_card = harness.emulator.last_bot_message(TEA).message_id
    await harness.press(KAI, TEA, offline_card, index=0)
    await harness.send(SAM, SAM, "/drop 2 24h min=5 stock=10")
    for chat in (MIA, KAI, TEA, SAM):
        harness.new_bot_messages(chat)

    # when Sam lists the groups and suspends Tea Lovers
    await harness.send(SAM, SAM, "/groups")
    listing = harness.emulator.last_bot_message(SAM)
    assert "✅ Approved (2)" in (listing.text or "")
    assert "open group-buys: 2" in (listing.text or "")
    suspend = listing.button_texts.index("⏸ Suspend Tea Lovers")
    await harness.press(SAM, SAM, listing.message_id, index=suspend)
    question = harness.emulator.last_bot_message(SAM)
    assert "Its open group-buys (2) will be cancelled" in (question.text or "")
    assert await harness.press(SAM, SAM, question.message_id, index=0) == "Done."

    # then its own group-buys are cancelled, the Stars prepayment is refunded, all are told
    assert harness.emulator.last_bot_message(SAM).text == (
        f"⏸ Tea Lovers ({TEA}) is suspended. Open group-buys cancelled and refunded: 2."
    )
    async with harness.session() as session:
        statuses = (await session.execute(select(GroupBuy.id, GroupBuy.status))).all()
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 0
    assert sorted(statuses) == [(1, "cancelled"), (2, "cancelled"), (3, "open")]
    assert [c["user_id"] for c in harness.emulator.calls_of("refundStarPayment")] == [MIA]
    assert [(o.member_id, o.status) for o in await orders(harness)] == [(MIA, "refunded")]
    mia = [m.text for m in harness.new_bot_messages(MIA)]
    assert "Your prepayment of ⭐ 30 for order #1 went back to you." in mia
    assert len(harness.new_bot_messages(KAI)) == 1  # Kai reads Traditional
    group = [m.text or "" for m in harness.new_bot_messages(TEA)]
    assert any("paused business in this group" in text for text in group)
    assert any("#1 Moon cake was cancelled" in text for text in group)
    assert any("#2 Oolong tea was cancelled" in text for text in group)
    row = await community(harness, TEA)
    assert (row.approval, row.approval_by) == (APPROVAL_SUSPENDED, SAM)
    assert len(await audited(harness, "group.suspended")) == 1
    # and nothing commercial works there any more, while Coffee Club goes on
    assert await harness.send(LEE, TEA, "/groupbuy 2 24h min=5 stock=10") == [SUSPENDED_TEXT]
    assert await harness.send(MIA, TEA, "/checkin") == [SUSPENDED_TEXT]
    assert await harness.send(MIA, TEA, "/buy 2") == [SUSPENDED_TEXT]
    drop_card = harness.emulator.last_bot_message(COFFEE)
    assert "Oolong tea" in (drop_card.text or "")

    # when Sam reinstates it
    await harness.send(SAM, SAM, "/groups")
    listing = harness.emulator.last_bot_message(SAM)
    reinstate = listing.button_texts.index("▶️ Reinstate Tea Lovers")
    assert await harness.press(SAM, SAM, listing.message_id, index=reinstate) == "Done."
    # then it is approved again and members can check in
    assert (await community(harness, TEA)).approval == APPROVAL_APPROVED
    checked = await harness.send(MIA, TEA, "/checkin")
    assert len(checked) == 1 and "Mia checked in" in checked[0]
    assert len(await audited(harness, "group.reinstated")) == 1


async def open_stars_groupbuy_here(harness: Harness) -> int:
    """Lee opens a Stars group-buy (product #1) in Tea Lovers; returns its card."""
    await harness.join_groups()
    await make_staff(harness)
    for uid in (MIA, KAI, LEE):
        await harness.send(uid, uid, "/start")
    await harness.send(SAM, SAM, "/product_add Moon cake | 30 XTR | stock 20 | telegram")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=5u stock=10 limit=3")
    return harness.emulator.last_bot_message(TEA).message_id


async def test_a_suspension_not_confirmed_changes_nothing(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/groups")
    listing = harness.emulator.last_bot_message(SAM)
    await harness.press(SAM, SAM, listing.message_id, index=0)  # ⏸ Suspend Coffee Club
    question = harness.emulator.last_bot_message(SAM)
    assert await harness.press(SAM, SAM, question.message_id, index=1) == "Nothing was changed."
    assert (await community(harness, COFFEE)).approval == APPROVAL_APPROVED


async def test_a_drop_skips_a_group_waiting_for_approval(harness: Harness) -> None:
    await strangers_group(harness)
    harness.new_bot_messages(CORNER)
    # when Sam opens a drop in every group
    replies = await harness.send(SAM, SAM, "/drop 1 24h min=2 stock=10")
    # then it is posted in the two approved groups only
    assert replies[-1] == "Group-buy #1 posted in 2 groups."
    assert harness.new_bot_messages(CORNER) == []
    assert "Oolong tea" in (harness.emulator.last_bot_message(TEA).text or "")
