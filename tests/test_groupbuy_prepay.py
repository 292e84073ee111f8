"""Telegram-paid group-buys are paid when members join: at formation the part above the final
tier price is owed back, unpaid orders move to the final price, and a group-buy that does not
form refunds every prepayment."""

from __future__ import annotations

from sqlmodel import select

from models.order import Order
from services.ledger import AccountRef, balance
from tests.conftest import KAI, LEE, MIA, SAM, TEA, Harness
from tests.test_order import make_staff, pay


async def open_stars_groupbuy(harness: Harness, options: str) -> int:
    """Lee opens a Stars group-buy of 30 ⭐ moon cakes in Tea Lovers; returns the card."""
    await harness.join_groups()
    await make_staff(harness)
    for uid in (MIA, KAI, LEE):
        await harness.send(uid, uid, "/start")
    await harness.send(SAM, SAM, "/product_add Moon cake | 30 XTR | stock 20 | telegram")
    await harness.send(LEE, TEA, f"/groupbuy 1 24h {options}")
    return harness.emulator.last_bot_message(TEA).message_id


async def prepay(harness: Harness, member: int, card: int, index: int = 0) -> dict[str, object]:
    """The member taps join; returns the invoice the bot sent them in private."""
    harness.new_bot_messages(member)
    await harness.press(member, TEA, card, index=index)
    invoices = [m for m in harness.new_bot_messages(member) if m.kind == "invoice"]
    assert len(invoices) == 1
    return invoices[0].raw


async def complete(harness: Harness, member: int, invoice: dict[str, object]) -> None:
    answer = await pay(harness, member, int(str(invoice["message_id"])))
    assert answer["ok"] is True
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    harness.emulator.complete_payment(query_id)
    await harness.feed_pending()


async def orders(harness: Harness) -> list[Order]:
    async with harness.session() as session:
        return list((await session.execute(select(Order).order_by(Order.id))).scalars().all())


async def test_prepaid_members_get_the_tier_difference_back_when_it_forms(
    harness: Harness,
) -> None:
    card = await open_stars_groupbuy(harness, "min=3u stock=10 limit=3 tiers=3:20")
    # Mia joins with one unit: an invoice for 30 ⭐ comes at once, and she pays it
    invoice = await prepay(harness, MIA, card)
    assert invoice["invoice"]["total_amount"] == 30  # type: ignore[index]
    await complete(harness, MIA, invoice)
    # she cannot leave a place she paid for
    leave = harness.emulator.last_bot_message(TEA).button_texts.index("Leave")
    assert await harness.press(MIA, TEA, card, index=leave) == (
        "You have already paid for these units. Ask your leader if you must cancel."
    )
    # Kai joins with one, then one more: his single unpaid order follows his quantity, and the
    # third unit sold reaches the 20 ⭐ tier, so it is priced at 20 ⭐ a unit
    first = await prepay(harness, KAI, card)
    assert first["invoice"]["total_amount"] == 30  # type: ignore[index]
    second = await prepay(harness, KAI, card)
    assert second["invoice"]["total_amount"] == 40  # type: ignore[index]
    kinds = [(o.member_id, o.quantity, o.status) for o in await orders(harness)]
    assert kinds == [(MIA, 1, "paid"), (KAI, 1, "cancelled"), (KAI, 2, "awaiting_payment")]
    # the deadline passes with 3 units sold: it forms at the 20 ⭐ tier
    harness.new_bot_messages(MIA)
    harness.new_bot_messages(KAI)
    harness.clock.advance(hours=24, seconds=1)
    await harness.runtime.closer.close_due()
    await harness.runtime.notifier.drain()
    mia = [m.text for m in harness.new_bot_messages(MIA)]
    assert mia == [
        "Moon cake formed! You have paid already: see you at pickup.",
        "Moon cake formed at a lower price than you prepaid: ⭐ 10 of order #1 is owed back to "
        "you, and our staff will return it.",
    ]
    kai = harness.new_bot_messages(KAI)
    assert kai[0].text == "Moon cake成團啦！你的訂單 #3：×2，⭐ 40。"  # Kai reads Traditional
    assert kai[1].kind == "invoice" and kai[1].raw["invoice"]["total_amount"] == 40
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 10
        assert await balance(session, AccountRef("brand_revenue"), "XTR") == 30
    # Kai's earlier invoices are stale now and cannot be paid
    stale = await pay(harness, KAI, int(str(second["message_id"])))
    assert stale["ok"] is False
    await complete(harness, KAI, kai[1].raw)
    assert [
        (o.id, o.status, o.paid_amount) for o in await orders(harness) if o.status == "paid"
    ] == [
        (1, "paid", 30),
        (3, "paid", 40),
    ]


async def test_a_group_buy_that_does_not_form_refunds_every_prepayment(
    harness: Harness,
) -> None:
    card = await open_stars_groupbuy(harness, "min=5u stock=10 limit=3")
    await complete(harness, MIA, await prepay(harness, MIA, card))
    await prepay(harness, KAI, card)  # never paid
    harness.new_bot_messages(MIA)
    harness.clock.advance(hours=24, seconds=1)
    await harness.runtime.closer.close_due()
    await harness.runtime.refunder.run_once()  # woken by the settlement's commit
    await harness.runtime.notifier.drain()
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "Moon cake did not form. Nothing to pay.",
        "Your prepayment of ⭐ 30 for order #1 went back to you.",
    ]
    refunds = harness.emulator.calls_of("refundStarPayment")
    assert [c["user_id"] for c in refunds] == [MIA]
    statuses = [(o.id, o.status) for o in await orders(harness)]
    assert statuses == [(1, "refunded"), (2, "cancelled")]
    async with harness.session() as session:
        assert await balance(session, AccountRef("brand_refunds"), "XTR") == -30
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 0


async def test_a_leader_cancelling_refunds_the_prepayments(harness: Harness) -> None:
    card = await open_stars_groupbuy(harness, "min=5u stock=10 limit=3")
    await complete(harness, MIA, await prepay(harness, MIA, card))
    replies = await harness.send(LEE, TEA, "/gb_cancel 1")
    assert any("was cancelled" in reply for reply in replies)
    assert [c["user_id"] for c in harness.emulator.calls_of("refundStarPayment")] == [MIA]
    assert harness.emulator.last_bot_message(MIA).text == (
        "Your prepayment of ⭐ 30 for order #1 went back to you."
    )
    assert [(o.id, o.status) for o in await orders(harness)] == [(1, "refunded")]
