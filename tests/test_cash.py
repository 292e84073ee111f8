"""Cash a leader or staff member collected for the brand: hand-overs (/handover) and their
confirmation, and refunds owed paid back from a leader's cash or the brand's (/refund_paid)."""

from __future__ import annotations

from services.ledger import AccountRef, balance
from services.period import parse_period
from services.statement import leader_statement
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_order import make_staff
from tests.test_payout import held, last_card, leader_sells_a_group_buy


async def test_staff_marking_cash_hold_it_and_never_confirm_their_own_hand_over(
    harness: Harness,
) -> None:
    # given Sam (staff) took Mia's cash himself
    await leader_sells_a_group_buy(harness)  # Lee took order #1's
    await harness.send(MIA, TEA, "/buy 1")  # ¥980.00: the tier her first order reached
    assert await harness.send(SAM, TEA, "/paid @mia") == ["Marked paid for Mia: #2."]
    assert await held(harness, "leader_cash", SAM) == -98_000
    # when Sam hands it over, the card goes to the owner, and Sam cannot confirm it himself
    await harness.send(SAM, SAM, "/handover")
    card_id, _buttons, text = last_card(harness, OWNER)
    assert "Hand-over #1: Sam says they handed over CN¥980.00." in text
    assert await harness.press(SAM, OWNER, card_id, callback_data="ho:confirm:1", force=True) == (
        "You cannot confirm your own hand-over: another staff member must."
    )
    assert await held(harness, "leader_cash", SAM) == -98_000
    # then the owner confirms it
    assert await harness.press(OWNER, OWNER, card_id, index=0) == "Confirmed received."
    assert await held(harness, "leader_cash", SAM) == 0
    # and someone who holds no cash has nothing to hand over
    assert await harness.send(KAI, KAI, "/handover") == ["你沒有替品牌收的現金，無需交接。"]


async def test_a_refund_owed_is_paid_back_from_the_leaders_cash_or_the_brands(
    harness: Harness,
) -> None:
    # given Lee took Mia's CN¥35.90 in cash for order #1 and Kai's for order #2, and staff
    # refunded both: the brand owes each member their money back
    await harness.join_groups()
    await make_staff(harness)
    for user in (MIA, KAI):
        await harness.send(user, user, "/start")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY")
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(KAI, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    await harness.send(LEE, TEA, "/paid @kai")
    await harness.send(SAM, SAM, "/refund 1")
    await harness.send(SAM, SAM, "/refund 2 10")
    # when Mia, a member, tries to record it, and Lee gets the order number wrong
    assert await harness.send(MIA, TEA, "/refund_paid 1") == [
        "Sorry, only the leaders of this group can do that."
    ]
    assert await harness.send(LEE, TEA, "/refund_paid") == [
        "Once the member has their money back, send /refund_paid ORDER_ID, for example "
        "/refund_paid 12."
    ]
    # when Lee hands Mia her CN¥35.90 back out of the cash he holds
    assert await harness.send(LEE, TEA, "/refund_paid 1") == [
        "Recorded: the refund of CN¥35.90 for order #1 was paid back to Mia.\n"
        "It came out of the cash you hold for the brand: you now owe CN¥35.90."
    ]
    # then the brand owes Mia nothing, Lee owes only Kai's cash, and Mia is told
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "CNY") == 0
        assert await balance(session, AccountRef("leader_cash", LEE), "CNY") == -3590
    assert harness.emulator.last_bot_message(MIA).text == (
        "Lee paid your refund of CN¥35.90 for order #1 back to you."
    )
    # and recording it again changes nothing
    assert await harness.send(LEE, TEA, "/refund_paid 1") == [
        "No refund of order #1 is waiting to be paid back."
    ]
    # when Sam (staff) records in private that the brand paid Kai's CN¥10.00 back
    assert await harness.send(SAM, SAM, "/refund_paid 2") == [
        "Recorded: the refund of CN¥10.00 for order #2 was paid back to Kai."
    ]
    # then it came from the brand's cash, and Lee still owes Kai's cash
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", KAI), "CNY") == 0
        assert await balance(session, AccountRef("brand_cash"), "CNY") == 1000
        assert await balance(session, AccountRef("leader_cash", LEE), "CNY") == -3590
    # and a second refund of order #2 is owed again, and more than Lee holds is refused
    await harness.send(SAM, SAM, "/refund 2")
    await harness.send(LEE, LEE, "/handover")
    card = harness.emulator.last_bot_message(SAM).message_id
    await harness.press(SAM, SAM, card, index=0)
    assert await harness.send(LEE, TEA, "/refund_paid 2") == [
        "You hold CN¥0.00 of the brand's cash, less than this refund (CN¥25.90): staff pay it "
        "back instead."
    ]
    assert await harness.send(SAM, SAM, "/refund_paid 2") == [
        "Recorded: the refund of CN¥25.90 for order #2 was paid back to Kai."
    ]
    # and Lee's statement shows the refund he paid out of the cash, and still adds up
    async with harness.session() as session:
        period = parse_period("", timezone="UTC", today=harness.clock().date())
        cash = (await leader_statement(session, leader_id=LEE, period=period)).total("CNY")
    assert (cash.cash_collected, cash.cash_handed_over, cash.cash_refunded) == (7180, 3590, 3590)
    assert cash.cash_owed_closing == 0
