"""Leader credit: the record staff read (/leader_record), the limits they set (/leader_limit)
and the suspension for review from the record, end to end through the emulator."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlmodel import select

from bot.db import create_engine, create_session_factory
from models.audit import AuditEntry
from models.base import utcnow
from models.credit import LeaderLimit
from models.groupbuy import GroupBuy
from models.order import Order
from services.groupbuy import GroupBuyError, open_groupbuy
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness, make_settings


async def staff_and_a_kettle(harness: Harness, stock: int = 30) -> None:
    """Both groups joined (Lee leads Tea Lovers), Sam staff, a ¥100.00 kettle paid at pickup."""
    await harness.join_groups()
    for user in (OWNER, SAM, LEE, MIA, KAI):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, f"/product_add Iron kettle | 100.00 CNY | stock {stock}")


async def record(harness: Harness) -> tuple[int, list[str], str]:
    """Sam asks for Lee's record: its message id, buttons and text."""
    replies = await harness.send(SAM, SAM, "/leader_record @lee")
    assert len(replies) == 1
    message = harness.emulator.last_bot_message(SAM)
    return message.message_id, message.button_texts, message.text or ""


async def test_the_record_counts_what_happened_under_the_leader(harness: Harness) -> None:
    # given Lee's first group-buy formed with Mia, Kai and Olivia, each paying Lee in cash
    await staff_and_a_kettle(harness)
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=1 stock=5")
    card = harness.emulator.last_bot_message(TEA)
    for member in (MIA, KAI, OWNER):
        await harness.press(member, TEA, card.message_id, index=0)
    await harness.send(LEE, TEA, "/gb_close 1")
    for name in ("mia", "kai", "olivia"):
        assert len(await harness.send(LEE, TEA, f"/paid @{name}")) == 1
    # and his second group-buy fails: nobody joins before its deadline
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=5 stock=5")
    # and Mia reserves a kettle to pay at pickup, and never comes
    await harness.send(MIA, TEA, "/buy 1 1")
    # and staff refund Kai's order
    await harness.send(SAM, SAM, "/refund 2")
    # when four days pass: the reservation expires, the second group-buy fails, and Mia picks
    # hers up only now, and gives it one star
    harness.clock.advance(days=4)
    assert (await harness.runtime.reservations.run()).expired == 1
    await harness.runtime.closer.close_due()
    await harness.send(LEE, TEA, "/pickedup @mia")
    await harness.send(MIA, MIA, "/review 1 1 Waited four days")
    # then Lee's record says all of it, in Sam's language
    _id, buttons, text = await record(harness)
    assert text.splitlines() == [
        "📋 Leader record of Lee (1003)",
        "Leads: Tea Lovers",
        "Group-buys: 2 run · 0 open · 1 formed · 1 failed · 0 cancelled",
        "Orders paid: 3 · picked up late (over 3 days): 1 · never picked up: 1 · "
        "reservations expired unpaid: 1",
        "Refunds: 1 (CN¥100.00) · complaints (reviews of 2 stars or fewer): 1 · NPS detractors: 0",
        text.splitlines()[5],
        "Limits: none.",
    ]
    # (Kai's refund is the brand's to pay back: the cash Lee took for it is still owed)
    assert text.splitlines()[5].startswith("Cash owed to the brand: CN¥300.00, oldest since ")
    assert "overdue" not in text
    assert buttons == ["⏸ Suspend for review"]
    # when the cash stays with Lee past the overdue days
    harness.clock.advance(days=4)
    _id, _buttons, text = await record(harness)
    # then the record flags it
    assert "⚠️ Cash owed to the brand:" in text and "overdue (more than 7 days)" in text


async def test_limits_refuse_a_third_group_buy_and_a_large_cash_order(harness: Harness) -> None:
    # given Sam limits Lee to two open group-buys and ¥150.00 an order marked paid by hand
    await staff_and_a_kettle(harness)
    assert await harness.send(SAM, SAM, "/leader_limit @lee groupbuys 2") == [
        "Done. Lee (1003)\nLimits: open group-buys at once: at most 2."
    ]
    told = harness.emulator.last_bot_message(LEE).text or ""
    assert "团购" in told and "2" in told  # Lee reads Chinese
    assert await harness.send(SAM, SAM, "/leader_limit @lee order 150.00") == [
        "Done. Lee (1003)\nLimits: open group-buys at once: at most 2; orders marked paid by "
        "hand up to CN¥150.00."
    ]
    # when Lee opens two group-buys, then a third
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=1 stock=5")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=1 stock=5")
    card = harness.emulator.last_bot_message(TEA)
    replies = await harness.send(LEE, TEA, "/groupbuy 1 24h min=1 stock=5")
    # then the third is refused, naming the limit (in the group's language), and not opened
    assert replies == [
        "The brand's staff limit the group-buys you may have open at once to 2, and that many "
        "are open now. Open this one when one of them has closed, or ask the brand's staff."
    ]
    async with harness.session() as session:
        opened = (await session.execute(select(GroupBuy))).scalars().all()
    assert len(opened) == 2
    # when Mia takes two kettles (¥200.00) of the second and Lee marks them paid in cash
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.send(LEE, TEA, "/gb_close 2")
    replies = await harness.send(LEE, TEA, "/paid @mia")
    # then it is refused with the limit, and the order stays unpaid
    assert replies == [
        "This order is more than the brand's staff let you mark paid by hand: your limit is "
        "CN¥150.00 an order. Ask the brand's staff to collect and mark this one."
    ]
    async with harness.session() as session:
        order = (await session.execute(select(Order))).scalars().one()
    assert order.status == "reserved" and order.total == 20_000
    # when Sam lifts the limits, Lee may mark it
    await harness.send(SAM, SAM, "/leader_limit @lee off")
    assert await harness.send(SAM, SAM, "/leader_limit @lee") == ["Lee (1003)\nLimits: none."]
    assert await harness.send(LEE, TEA, "/paid @mia") == ["Marked paid for Mia: #1."]
    # and every change was audited
    async with harness.session() as session:
        details = (
            (
                await session.execute(
                    select(AuditEntry.detail).where(AuditEntry.action == "leader.limit")
                )
            )
            .scalars()
            .all()
        )
        assert await session.get(LeaderLimit, LEE) is None
    # (beside the role check's own row for each command, with no detail)
    changes = [detail for detail in details if detail]
    assert changes == ["1003: groupbuys=2", "1003: order=15000 CNY", "1003: off"]


async def test_a_limit_is_only_for_leaders_and_only_set_by_staff(harness: Harness) -> None:
    await staff_and_a_kettle(harness)
    # a member is no leader: nothing to limit
    assert await harness.send(SAM, SAM, "/leader_limit @mia groupbuys 1") == [
        "Mia (1004) leads no group, so there is nothing to limit."
    ]
    # bad input says what to write
    replies = await harness.send(SAM, SAM, "/leader_limit @lee order lots")
    assert replies == ["Write the amount like 500.00, optionally with its currency: 500.00 CNY."]
    assert (
        "/leader_limit @alice groupbuys 2"
        in (await harness.send(SAM, SAM, "/leader_limit @lee groupbuys many"))[0]
    )
    # a member or a leader asking is refused, and nothing is stored
    assert await harness.send(MIA, MIA, "/leader_limit @lee groupbuys 0") == [
        "Sorry, only brand staff can do that."
    ]
    assert await harness.send(LEE, LEE, "/leader_record @lee") == ["抱歉，只有品牌员工可以这样做。"]
    assert await harness.send(MIA, MIA, "/leader_record @lee") == [
        "Sorry, only brand staff can do that."
    ]
    async with harness.session() as session:
        assert await session.get(LeaderLimit, LEE) is None


async def test_staff_suspend_a_leader_for_review_from_the_record(harness: Harness) -> None:
    # given Sam reads Lee's record
    await staff_and_a_kettle(harness)
    message_id, buttons, _text = await record(harness)
    # when Mia forges the button, she is refused and nothing changes
    assert await harness.press(
        MIA, SAM, message_id, callback_data=f"crd:suspend:{LEE}", force=True
    ) == ("Sorry, only brand staff can do that.")
    # when Sam taps "Suspend for review"
    assert await harness.press(SAM, SAM, message_id, index=0) == "Done."
    # then the record says who suspended Lee, and Lee is told why, in Chinese
    edited = harness.emulator.last_bot_message(SAM).text or ""
    assert edited.endswith(
        "Lee (1003) is suspended as leader of Tea Lovers.\nI told them in private."
    )
    told = harness.emulator.last_bot_message(LEE).text or ""
    assert "Tea Lovers" in told and "暂停" in told
    # and Lee can no longer open a group-buy there
    replies = await harness.send(LEE, TEA, "/groupbuy 1 24h min=1 stock=5")
    assert replies and "Tea Lovers" not in replies[0]
    async with harness.session() as session:
        assert (await session.execute(select(GroupBuy))).first() is None
    # and a second tap changes nothing
    assert await harness.press(
        SAM, SAM, message_id, callback_data=f"crd:suspend:{LEE}", force=True
    ) == ("Lee is not an active leader of any group.")
    # and the record shows the suspension, without the button
    _message_id, buttons, text = await record(harness)
    assert "Suspended in: Tea Lovers" in text and buttons == []


async def test_two_group_buys_opened_at_once_keep_to_the_limit(
    harness: Harness, database_url: str
) -> None:
    # given Lee may have one group-buy open at once
    await staff_and_a_kettle(harness)
    await harness.send(SAM, SAM, "/leader_limit @lee groupbuys 1")
    engine = create_engine(make_settings(database_url=database_url))
    sessions = create_session_factory(engine)
    now = utcnow()

    async def open_one() -> str:
        try:
            async with sessions() as session, session.begin():
                await open_groupbuy(
                    session,
                    product_id=1,
                    opened_by=LEE,
                    chat_ids=[TEA],
                    min_count=1,
                    stock_cap=2,
                    per_member_limit=1,
                    deadline=now + timedelta(days=1),
                    now=now,
                )
            return "opened"
        except GroupBuyError as exc:
            return f"{exc.reason} {exc.detail}"

    # when he opens four at once
    outcomes = await asyncio.gather(*(open_one() for _ in range(4)))
    await engine.dispose()
    # then one opened, and three were refused naming the limit
    assert sorted(outcomes) == ["leader_limit 1"] * 3 + ["opened"]
    async with harness.session() as session:
        assert len((await session.execute(select(GroupBuy))).scalars().all()) == 1
