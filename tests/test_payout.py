"""Cash leaders collect and commission they earn, in and out of the books: hand-overs staff
confirm, payouts staff approve (netted against cash owed), and the refusals around them."""

from __future__ import annotations

import asyncio

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import select

from bot.db import create_engine, create_session_factory
from models.base import utcnow
from models.payout import CashHandover, PayoutRequest
from services.cash import CashError, decide_handover, request_handover
from services.ledger import AccountRef, Posting, balance, post, reconcile
from services.member import UserInfo, record_member
from services.order import mark_paid_offline, place_order
from services.payout import PayoutError, decide_payout, open_payout, request_payout
from services.product import create_product
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness, make_settings

CNY = "CNY"


async def held(harness: Harness, kind: str, owner: int = 0) -> int:
    async with harness.session() as session:
        return await balance(session, AccountRef(kind, owner), CNY)


async def leader_sells_a_group_buy(harness: Harness) -> None:
    """Lee's group-buy of a ¥1,000.00 kettle (5% commission) formed with Mia, who pays Lee in
    cash at pickup."""
    await harness.join_groups()
    for user in (SAM, LEE, MIA, KAI):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Iron kettle | 1000.00 CNY | stock 20")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=1 stock=10")
    card = harness.emulator.last_bot_message(TEA)
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.send(LEE, TEA, "/gb_close 1")
    assert await harness.send(LEE, TEA, "/paid @mia") == ["Marked paid for Mia: #1."]


def last_card(harness: Harness, chat_id: int) -> tuple[int, list[str], str]:
    message = harness.emulator.last_bot_message(chat_id)
    return message.message_id, message.button_texts, message.text or ""


async def test_a_leaders_cash_is_handed_over_and_commission_paid_out_to_the_cent(
    harness: Harness,
) -> None:
    # given Lee collected Mia's ¥1,000.00 in cash: revenue as before, the cash owed by Lee
    await leader_sells_a_group_buy(harness)
    assert await held(harness, "brand_revenue") == 100_000
    assert await held(harness, "leader_cash", LEE) == -100_000
    assert await held(harness, "customer_receivable", MIA) == 0  # Mia owes nothing now
    assert await held(harness, "leader_commission_pending", LEE) == 5_000
    wallet = (await harness.send(LEE, LEE, "/wallet"))[0]
    assert "交接" in wallet and "¥1,000.00" in wallet  # Lee reads Chinese
    # when Lee hands over ¥400.00 of it
    assert await harness.send(LEE, LEE, "/handover 400.00") == [
        "已记录交接 #1：¥400.00。员工收到款项后会确认；确认前仍记在你名下。"
    ]
    # then staff get a card to confirm, and nothing is booked before they do
    card_id, buttons, text = last_card(harness, SAM)
    assert "Hand-over #1: Lee says they handed over CN¥400.00. They owe CN¥1,000.00" in text
    assert buttons == ["✅ Received", "❌ Not received"]
    assert await held(harness, "leader_cash", LEE) == -100_000
    # and a member forging the staff button is refused, with nothing booked
    assert await harness.press(MIA, SAM, card_id, callback_data="ho:confirm:1", force=True) == (
        "Sorry, only brand staff can do that."
    )
    # when Sam confirms, twice (a double tap)
    assert await harness.press(SAM, SAM, card_id, index=0) == "Confirmed received."
    assert await harness.press(SAM, SAM, card_id, callback_data="ho:confirm:1", force=True) == (
        "That hand-over was already decided."
    )
    # then it is booked once, and Lee is told
    assert await held(harness, "leader_cash", LEE) == -60_000
    assert await held(harness, "brand_cash") == -40_000
    assert "¥400.00" in harness.emulator.last_bot_message(LEE).text
    # and more than Lee owes is refused with what he owes
    assert await harness.send(LEE, LEE, "/handover 700") == ["这超过了你欠品牌的现金：¥600.00。"]
    # when Lee asks for his commission before the refund window ended
    replies = await harness.send(LEE, LEE, "/payout")
    assert "还没有可提现的佣金" in replies[0]
    # and the window passes and the release job runs, after which the cash is overdue
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    assert await held(harness, "leader_commission", LEE) == 5_000
    listing = (await harness.send(SAM, SAM, "/leader_cash"))[0]
    assert "⚠️ Lee: CN¥600.00, oldest since" in listing and "overdue" in listing
    # when Lee asks for it
    assert await harness.send(LEE, LEE, "/payout") == [
        "提现申请 #1（¥50.00）已发给员工。他们决定后我会通知你。"
    ]
    assert await harness.send(LEE, LEE, "/payout") == [
        "你之前的提现申请还在等员工处理。处理后再申请吧。"
    ]
    # then staff see the statement and may net it against the cash Lee owes
    card_id, buttons, text = last_card(harness, SAM)
    assert "Payout request #1: Lee asks for CN¥50.00." in text
    assert "Released: CN¥50.00 · pending: 0 · paid out so far: 0 · cash owed: CN¥600.00" in text
    assert buttons == ["✅ Pay, keeping CN¥50.00 of cash owed", "✅ Pay in full", "❌ Refuse"]
    # and Lee forging the Approve button is refused (in his language)
    assert await harness.press(LEE, SAM, card_id, callback_data="po:pay:1", force=True) == (
        "抱歉，只有品牌员工可以这样做。"
    )
    # when Sam pays it, netted
    assert await harness.press(SAM, SAM, card_id, index=0) == (
        "Paid: CN¥0.00 to hand over, CN¥50.00 kept against cash owed."
    )
    owner_card = harness.emulator.last_bot_message(OWNER)
    assert await harness.press(OWNER, OWNER, owner_card.message_id, index=1) == (
        "That payout request was already decided."
    )
    # then the commission is paid out once, and the netted part settled Lee's cash
    assert await held(harness, "leader_commission", LEE) == 0
    assert await held(harness, "commission_paid_out", LEE) == 5_000
    assert await held(harness, "leader_cash", LEE) == -55_000
    assert "¥50.00" in harness.emulator.last_bot_message(LEE).text
    # when Lee hands over the rest and Sam confirms
    await harness.send(LEE, LEE, "/handover")
    card_id, _buttons, text = last_card(harness, SAM)
    assert "handed over CN¥550.00" in text
    assert await harness.press(SAM, SAM, card_id, index=0) == "Confirmed received."
    # then every cent is accounted for: the brand holds the revenue in cash, less nothing
    assert await held(harness, "leader_cash", LEE) == 0
    assert await held(harness, "brand_cash") == -100_000
    assert await held(harness, "brand_revenue") == 100_000
    assert await held(harness, "brand_commission_expense") == -5_000
    assert await held(harness, "commission_paid_out", LEE) == 5_000
    async with harness.session() as session:
        report = await reconcile(session)
        payout = await session.get(PayoutRequest, 1)
        handovers = (await session.execute(select(CashHandover))).scalars().all()
    assert report.ok, report.lines()
    assert payout is not None
    assert (payout.status, payout.amount, payout.netted, payout.decided_by) == (
        "paid",
        5_000,
        5_000,
        SAM,
    )
    assert [(h.amount, h.status, h.decided_by) for h in handovers] == [
        (40_000, "confirmed", SAM),
        (55_000, "confirmed", SAM),
    ]
    listing = (await harness.send(SAM, SAM, "/leader_cash"))[0]
    assert "Nobody owes the brand cash." in listing


async def test_a_payout_refused_books_nothing_and_bad_requests_are_explained(
    harness: Harness,
) -> None:
    # given Lee's commission of ¥50.00 released
    await leader_sells_a_group_buy(harness)
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    await harness.send(LEE, LEE, "/language")
    await harness.press(LEE, LEE, harness.emulator.last_bot_message(LEE).message_id, index=0)
    # when Lee asks for more than he has, less than the minimum, or nonsense
    assert await harness.send(LEE, LEE, "/payout 80") == [
        "That is more than your released commission: CN¥50.00."
    ]
    assert await harness.send(LEE, LEE, "/payout 20") == [
        "The least you can ask to be paid out is CN¥50.00. Your released commission: CN¥50.00."
    ]
    replies = await harness.send(LEE, LEE, "/payout lots")
    assert len(replies) == 1 and "Sorry" not in replies[0] and "#" not in replies[0]
    # and Mia, who earned nothing, asks
    replies = await harness.send(MIA, MIA, "/payout")
    assert replies[0].startswith("You have no released commission to pay out yet.")
    # when Lee asks properly and Sam refuses
    await harness.send(LEE, LEE, "/payout 50")
    card_id, _buttons, _text = last_card(harness, SAM)
    assert await harness.press(SAM, SAM, card_id, index=2) == "Refused."
    # then nothing moved, Lee is told, and he may ask again
    assert await held(harness, "leader_commission", LEE) == 5_000
    assert await held(harness, "commission_paid_out", LEE) == 0
    assert "did not approve your payout request #1" in (
        harness.emulator.last_bot_message(LEE).text or ""
    )
    replies = await harness.send(LEE, LEE, "/payout")
    assert replies == [
        "Payout request #2 for CN¥50.00 sent to staff. I will tell you when they decide."
    ]
    # and paid in full (no netting), the cash stays owed
    card_id, _buttons, _text = last_card(harness, SAM)
    assert await harness.press(SAM, SAM, card_id, index=1) == "Paid: CN¥50.00 to hand over."
    assert await held(harness, "commission_paid_out", LEE) == 5_000
    assert await held(harness, "leader_cash", LEE) == -100_000


async def test_a_suspended_leader_is_paid_nothing_until_reinstated(harness: Harness) -> None:
    # given Lee's commission of ¥50.00 released, his payout request waiting for staff
    await leader_sells_a_group_buy(harness)
    harness.clock.advance(days=8)
    await harness.runtime.closer.close_due()
    await harness.send(LEE, LEE, "/language")
    await harness.press(LEE, LEE, harness.emulator.last_bot_message(LEE).message_id, index=0)
    await harness.send(LEE, LEE, "/payout 50")
    card_id, _buttons, _text = last_card(harness, SAM)
    # when staff suspend him meanwhile, and Sam then taps Pay on the card
    await harness.send(SAM, SAM, "/leader_suspend @lee cash handed over late")
    answer = await harness.press(SAM, SAM, card_id, index=1)
    # then nothing is paid, and Sam reads why and what to do
    assert answer == (
        "Nothing was paid: this leader is suspended. Reinstate them first (/leader_reinstate), "
        "or refuse the request."
    )
    assert await held(harness, "commission_paid_out", LEE) == 0
    assert await held(harness, "leader_commission", LEE) == 5_000
    # when Sam refuses it and the suspended Lee asks again
    assert await harness.press(SAM, SAM, card_id, index=2) == "Refused."
    replies = await harness.send(LEE, LEE, "/payout 50")
    # then he is told payouts wait for his reinstatement, and no request is made
    assert replies == [
        "Your leader role is suspended while the brand reviews it, so payouts wait until you "
        "are reinstated. Staff will tell you what happens next."
    ]
    # when staff reinstate him, he asks again and Sam pays
    await harness.send(SAM, SAM, "/leader_reinstate @lee")
    await harness.send(LEE, LEE, "/payout 50")
    card_id, _buttons, _text = last_card(harness, SAM)
    assert await harness.press(SAM, SAM, card_id, index=1) == "Paid: CN¥50.00 to hand over."
    assert await held(harness, "commission_paid_out", LEE) == 5_000


# ------------------------------------------------------------------ races, on the services ----

LEADER, BUYER, STAFF = 501, 502, (601, 602, 603, 604)


async def earner_with_cash_and_commission(sessions: async_sessionmaker[AsyncSession]) -> None:
    """The leader collected a buyer's ¥50.00 in cash and holds ¥100.00 released commission."""
    async with sessions() as session, session.begin():
        for uid in (LEADER, BUYER, *STAFF):
            await record_member(session, user=UserInfo(uid, f"u{uid}"), default_locale="en")
        product = await create_product(
            session, title="Tea", price=5_000, currency=CNY, stock=None, created_by=STAFF[0]
        )
        order = await place_order(
            session,
            member_id=BUYER,
            chat_id=BUYER,
            product_id=product.id,
            quantity=1,
            max_total=10**9,
        )
        await mark_paid_offline(session, order_id=order.id, actor_id=LEADER)
        await post(
            session,
            key="test:released",
            kind="commission_release",
            postings=[
                Posting(AccountRef("brand_commission_expense"), CNY, -10_000),
                Posting(AccountRef("leader_commission", LEADER), CNY, 10_000),
            ],
        )


async def test_concurrent_payout_requests_and_approvals_pay_once(database_url: str) -> None:
    engine = create_engine(make_settings(database_url=database_url))
    sessions = create_session_factory(engine)
    await earner_with_cash_and_commission(sessions)
    now = utcnow()

    async def ask() -> str:
        try:
            async with sessions() as session, session.begin():
                await request_payout(
                    session, member_id=LEADER, amount=None, currency=None, minimum=1, now=now
                )
            return "asked"
        except PayoutError as exc:
            return exc.reason

    async def approve(staff_id: int, payout_id: int) -> str:
        try:
            async with sessions() as session, session.begin():
                await decide_payout(
                    session, payout_id=payout_id, staff_id=staff_id, approve=True, net=True, now=now
                )
            return "paid"
        except PayoutError as exc:
            return exc.reason

    # when the leader asks five times at once
    asked = await asyncio.gather(*(ask() for _ in range(5)))
    # then one request is open
    assert sorted(asked) == ["already_open"] * 4 + ["asked"]
    # when four staff approve it at once (its id is whichever insert won: on PostgreSQL the
    # ones refused used up sequence numbers too)
    async with sessions() as session:
        request = await open_payout(session, LEADER)
    assert request is not None
    approved = await asyncio.gather(*(approve(staff_id, request.id) for staff_id in STAFF))
    # then it is paid once, netting the ¥50.00 cash the leader owed
    assert sorted(approved) == ["already_decided"] * 3 + ["paid"]
    async with sessions() as session:
        assert await balance(session, AccountRef("leader_commission", LEADER), CNY) == 0
        assert await balance(session, AccountRef("commission_paid_out", LEADER), CNY) == 10_000
        assert await balance(session, AccountRef("leader_cash", LEADER), CNY) == 0
        assert await balance(session, AccountRef("brand_cash"), CNY) == -5_000
        rows = (await session.execute(select(PayoutRequest))).scalars().all()
    await engine.dispose()
    assert [(r.status, r.amount, r.netted) for r in rows] == [("paid", 10_000, 5_000)]


async def test_a_hand_over_and_a_netted_payout_at_once_never_settle_more_than_owed(
    database_url: str,
) -> None:
    engine = create_engine(make_settings(database_url=database_url))
    sessions = create_session_factory(engine)
    await earner_with_cash_and_commission(sessions)
    now = utcnow()
    # given the leader says he handed over all his cash, and asks for his commission
    async with sessions() as session, session.begin():
        await request_handover(session, holder_id=LEADER, amount=None, currency=None, now=now)
        await request_payout(
            session, member_id=LEADER, amount=None, currency=None, minimum=1, now=now
        )

    async def confirm() -> str:
        try:
            async with sessions() as session, session.begin():
                await decide_handover(
                    session, handover_id=1, staff_id=STAFF[0], confirm=True, now=now
                )
            return "confirmed"
        except CashError as exc:
            return exc.reason

    async def pay() -> str:
        async with sessions() as session, session.begin():
            view = await decide_payout(
                session, payout_id=1, staff_id=STAFF[1], approve=True, net=True, now=now
            )
        return f"netted {view.netted}"

    # when one staff member confirms the hand-over while another pays the commission, netted
    outcomes = set(await asyncio.gather(confirm(), pay()))
    # then the cash is settled exactly once: by the hand-over, or by the netting
    assert outcomes in ({"confirmed", "netted 0"}, {"more_than_owed", "netted 5000"})
    async with sessions() as session:
        assert await balance(session, AccountRef("leader_cash", LEADER), CNY) == 0
        assert await balance(session, AccountRef("brand_cash"), CNY) == -5_000
        assert await balance(session, AccountRef("commission_paid_out", LEADER), CNY) == 10_000
    await engine.dispose()
