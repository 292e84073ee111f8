"""A group-buy's settlement whose news fails once on Telegram loses nothing: the settlement is
committed whole (orders, refunds, ledger), the failed message is sent again by the notifier
or the failure is counted, and the sweep running again changes nothing."""

from __future__ import annotations

from collections import Counter

import pytest
from sqlalchemy import func, select

from models.ledger import LedgerTransaction
from models.order import StarRefund
from services.ledger import AccountRef, balance
from tests.conftest import KAI, LEE, MIA, TEA, Harness
from tests.faults import groupbuy_status
from tests.test_groupbuy_prepay import complete, open_stars_groupbuy, orders, prepay
from tgemu import DROPPED

FORMED = "formed"  # three members prepaid 30, 30 and 20 ⭐; it forms at the 20 ⭐ tier
FAILED = "failed"  # one member prepaid, one did not pay; the minimum is not reached
FAULTS = {
    "a 502 on the group's message": ("sendMessage", 502),
    "no answer to the group's message": ("sendMessage", DROPPED),
    "a 502 on the card's final edit": ("editMessageText", 502),
}


async def given_a_groupbuy_about_to(harness: Harness, outcome: str) -> int:
    """Returns the card's message id; the deadline has just passed."""
    if outcome == FORMED:
        card = await open_stars_groupbuy(harness, "min=3u stock=10 limit=3 tiers=3:20")
        for member in (MIA, KAI, LEE):
            await complete(harness, member, await prepay(harness, member, card))
    else:
        card = await open_stars_groupbuy(harness, "min=5u stock=10 limit=3")
        await complete(harness, MIA, await prepay(harness, MIA, card))
        await prepay(harness, KAI, card)  # never paid
    harness.clock.advance(hours=24, seconds=1)
    return card


async def stored(harness: Harness) -> tuple[object, ...]:
    """What the settlement committed: orders, refunds, ledger transactions, balances."""
    async with harness.session() as session:
        refunds = (await session.execute(select(StarRefund.charge_id))).scalars().all()
        postings = (
            await session.execute(select(func.count()).select_from(LedgerTransaction))
        ).scalar_one()
        owed = {
            m: await balance(session, AccountRef("customer_payable", m), "XTR")
            for m in (MIA, KAI, LEE)
        }
        revenue = await balance(session, AccountRef("brand_revenue"), "XTR")
    statuses = [(o.id, o.member_id, o.status, o.paid_amount) for o in await orders(harness)]
    return statuses, sorted(refunds), postings, owed, revenue


def told(harness: Harness, chat: int, since: int = 0) -> Counter[str]:
    """The bot's text messages in the chat after message `since`, counted by text."""
    return Counter(
        m.text or ""
        for m in harness.emulator.bot_messages(chat)
        if m.kind == "text" and m.message_id > since
    )


def last_id(harness: Harness, chat: int) -> int:
    return max((m.message_id for m in harness.emulator.messages(chat)), default=0)


@pytest.mark.parametrize("fault", FAULTS)
@pytest.mark.parametrize("outcome", [FORMED, FAILED])
async def test_a_settlement_whose_news_fails_once_is_complete_and_settled_once(
    harness: Harness, outcome: str, fault: str
) -> None:
    card = await given_a_groupbuy_about_to(harness, outcome)
    before = {chat: last_id(harness, chat) for chat in (TEA, MIA, KAI)}
    # given Telegram fails the next call of the method once
    method, status = FAULTS[fault]
    harness.emulator.inject_fault(method, status=status)
    failed_before = harness.runtime.metrics.effects_failed._value.get()

    # when the sweep settles the group-buy
    assert await harness.runtime.closer.close_due() == 1
    await harness.runtime.refunder.run_once()  # woken by the settlement's commit
    await harness.runtime.notifier.drain()

    # then the fault happened, and the settlement is committed whole
    assert (method, status) in harness.emulator.faults_served
    assert await groupbuy_status(harness, 1) == outcome
    statuses, refunds, _postings, owed, revenue = await stored(harness)
    if outcome == FORMED:
        assert [(s[1], s[2], s[3]) for s in statuses] == [
            (MIA, "paid", 30),
            (KAI, "paid", 30),
            (LEE, "paid", 20),
        ]
        assert owed == {MIA: 10, KAI: 10, LEE: 0}  # above the final price: owed back
        assert (refunds, revenue) == ([], 80)
    else:
        assert [(s[1], s[2]) for s in statuses] == [(MIA, "refunded"), (KAI, "cancelled")]
        assert len(refunds) == 1 and owed == {MIA: 0, KAI: 0, LEE: 0}  # the Stars went back
    # and the group and every member were told once: a failed message was sent again
    news = {chat: told(harness, chat, since=before[chat]) for chat in (TEA, MIA, KAI)}
    group_news = (
        "#1 Moon cake formed: 3 sold at ⭐ 20 each!"
        if outcome == FORMED
        else "#1 Moon cake did not form. Every reservation was released."
    )
    assert news[TEA] == Counter({group_news: 1})
    if outcome == FORMED:
        assert news[MIA] == Counter(
            {
                "Moon cake formed! You have paid already: see you at pickup.": 1,
                "Moon cake formed at a lower price than you prepaid: ⭐ 10 of order #1 is owed "
                "back to you, and our staff will return it.": 1,
            }
        )
    else:
        assert news[MIA] == Counter(
            {
                "Moon cake did not form. Nothing to pay.": 1,
                "Your prepayment of ⭐ 30 for order #1 went back to you.": 1,
            }
        )
        assert news[KAI] == Counter({"Moon cake未成團，不用付款。": 1})  # Kai reads Traditional
    # or, for the card's edit, which is not sent again, the failure is counted
    final = next(m for m in harness.emulator.messages(TEA) if m.message_id == card)
    failed = harness.runtime.metrics.effects_failed._value.get() - failed_before
    if method == "editMessageText":
        assert failed == 1 and final.text.startswith("🛒")
    else:
        assert failed == 0 and final.button_texts == []

    # when the sweep runs again, nothing changes and nothing more is said
    settled = await stored(harness)
    sent = len(harness.emulator.bot_messages(TEA)), len(harness.emulator.bot_messages(MIA))
    assert await harness.runtime.closer.close_due() == 0
    await harness.runtime.refunder.run_once()
    await harness.runtime.notifier.drain()
    assert await stored(harness) == settled
    assert (len(harness.emulator.bot_messages(TEA)), len(harness.emulator.bot_messages(MIA))) == (
        sent
    )
    assert len(harness.emulator.calls_of("refundStarPayment")) == (outcome == FAILED)
