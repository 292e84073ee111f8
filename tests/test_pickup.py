"""Pickup a leader can trust: the private sheet of a formed group-buy (60 members, paged),
buttons that name the member and the order, "Remind unpaid" once, and the same pickup by
button or command."""

from __future__ import annotations

from sqlmodel import select

from handlers.views.pickup import sheet_keyboard, sheet_text
from models.order import Order
from models.pickup import PickupReminder
from services.groupbuy import set_quantity
from services.member import UserInfo, record_member
from services.order import OrderView
from services.pickup import PickupLine, PickupSheet
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness

CROWD = 5000  # ids of the members created for the crowd: 5001, 5002, ...


async def formed_groupbuy(harness: Harness, crowd: int, *, english: bool = True) -> None:
    """Lee opens a ¥39.90 group-buy in Tea Lovers; Mia and Kai join with the button, `crowd`
    more members through the service (the even ones started the bot); Lee closes it: formed.

    Lee's Telegram app is in Simplified Chinese; `english` has him choose English first."""
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 200")
    for member in (LEE, MIA, KAI):
        await harness.send(member, member, "/start")
    if english:
        await harness.send(LEE, LEE, "/language")
        chooser = harness.emulator.last_bot_message(LEE)
        await harness.press(LEE, LEE, chooser.message_id, index=0)  # English
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=100 limit=3 pickup=Shop A")
    card = harness.emulator.last_bot_message(TEA)
    assert await harness.press(MIA, TEA, card.message_id, index=1) == "You are #1, quantity 2."
    assert await harness.press(KAI, TEA, card.message_id, index=0) == "你是第 2 位，數量 1。"
    for n in range(1, crowd + 1):
        member_id = CROWD + n
        harness.emulator.add_user(member_id, f"M{n}")
        if n % 2 == 0:  # opens a private chat with the bot
            harness.emulator.send_message(member_id, member_id, "/start")
    await harness.feed_pending()
    async with harness.session() as session, session.begin():
        for n in range(1, crowd + 1):
            member_id = CROWD + n
            await record_member(
                session, user=UserInfo(member_id, f"M{n}"), default_locale="en", started=n % 2 == 0
            )
            await set_quantity(
                session,
                groupbuy_id=1,
                member_id=member_id,
                chat_id=TEA,
                quantity=1,
                now=harness.clock(),
            )
    await harness.send(LEE, TEA, "/gb_close 1")


async def status(harness: Harness, order_id: int) -> str:
    async with harness.session() as session:
        row = await session.get(Order, order_id)
    assert row is not None
    return row.status


async def test_a_leader_runs_pickup_for_60_members_from_the_sheet(harness: Harness) -> None:
    # given a group-buy of 60 members (Mia ×2, Kai ×1 and 58 more) formed
    await formed_groupbuy(harness, crowd=58)
    # then Lee, who opened it, got the pickup sheet in private
    sheet = harness.emulator.last_bot_message(LEE)
    lines = sheet.text.splitlines()
    assert lines[:5] == [
        "📋 Pickup sheet · #1 Oolong tea",
        "Pickup: Shop A",
        "Oolong tea ×61 · CN¥2,433.90 · paid CN¥0.00 · picked up ×0",
        "Orders: 60 · paid 0 · picked up 0",
        "Your commission: CN¥0.00 so far, CN¥121.40 once every order is paid.",
    ]
    assert "Orders 1–10 of 60 (page 1 of 6):" in lines
    assert "#1 Mia ×2 · CN¥79.80 · ⏳ unpaid" in lines
    assert sheet.button_texts[:3] == ["✅ Paid · Mia #1", "✅ Paid · Kai #2", "✅ Paid · M1 #3"]
    assert sheet.button_texts[10:] == ["More ▶ 2 of 6", "🔔 Remind unpaid (60)"]

    # when Lee marks the third row paid, then the first, then the third again (picked up):
    # each button keeps naming the order of its row, and every tap marks that order
    assert await harness.press(LEE, LEE, sheet.message_id, index=2) == "Done."
    sheet = harness.emulator.last_bot_message(LEE)
    assert sheet.button_texts[:3] == [
        "✅ Paid · Mia #1",
        "✅ Paid · Kai #2",
        "📦 Picked up · M1 #3",
    ]
    assert await harness.press(LEE, LEE, sheet.message_id, index=0) == "Done."
    assert await harness.press(LEE, LEE, sheet.message_id, index=2) == "Done."
    sheet = harness.emulator.last_bot_message(LEE)
    assert sheet.button_texts[:3] == ["📦 Picked up · Mia #1", "✅ Paid · Kai #2", "✔️ Done · M1 #3"]
    assert [await status(harness, i) for i in (1, 2, 3, 4)] == [
        "paid",
        "reserved",
        "fulfilled",
        "reserved",
    ]
    # a done row stays where it was and does nothing
    assert await harness.press(LEE, LEE, sheet.message_id, index=2) == (
        "Nothing to do for this order."
    )
    assert await status(harness, 3) == "fulfilled"
    # the sheet was edited in place, with the totals and the commission so far
    assert sheet.edit_count == 3
    assert "Orders: 60 · paid 2 · picked up 1" in sheet.text
    assert "Your commission: CN¥5.98 so far, CN¥121.40 once every order is paid." in sheet.text

    # the pages: More to the last page, whose buttons are orders 51-60 and Back
    for page in range(2, 7):
        assert (
            await harness.press(LEE, LEE, sheet.message_id, index=10 if page == 2 else 11) is None
        )
        sheet = harness.emulator.last_bot_message(LEE)
        assert f"(page {page} of 6):" in sheet.text
    assert "Orders 51–60 of 60 (page 6 of 6):" in sheet.text
    assert sheet.button_texts[0] == "✅ Paid · M49 #51"
    assert sheet.button_texts[10:] == ["◀ Back", "🔔 Remind unpaid (58)"]
    # marking on the last page keeps the sheet on that page
    assert await harness.press(LEE, LEE, sheet.message_id, index=9) == "Done."
    sheet = harness.emulator.last_bot_message(LEE)
    assert "Orders 51–60 of 60 (page 6 of 6):" in sheet.text
    assert sheet.button_texts[9] == "📦 Picked up · M58 #60"
    assert await status(harness, 60) == "paid"


async def test_remind_unpaid_reminds_each_member_once(harness: Harness) -> None:
    # given a formed group-buy of 12 members; Mia and Kai and six of the crowd started the bot
    await formed_groupbuy(harness, crowd=10)
    sheet = harness.emulator.last_bot_message(LEE)
    assert await harness.press(LEE, LEE, sheet.message_id, index=0) == "Done."  # Mia paid
    sheet = harness.emulator.last_bot_message(LEE)
    remind = sheet.button_texts.index("🔔 Remind unpaid (11)")
    # when Lee taps "Remind unpaid"
    await harness.press(LEE, LEE, sheet.message_id, index=remind)
    # then each unpaid member who can be reached got one reminder in private
    assert harness.emulator.last_bot_message(CROWD + 2).text == (
        "A reminder from your leader: Oolong tea is waiting for your payment (#4 ×1 CN¥39.90). "
        "Pay your leader at pickup.\nPickup: Shop A"
    )
    assert "提醒" in (harness.emulator.last_bot_message(KAI).text or "")  # in his language
    assert harness.emulator.last_bot_message(LEE).text == (
        "Reminders sent: 6.\nCould not be reached (they never started a private chat with me): "
        "5, M1, M3, M5, M7, M9."
    )
    reminded = [m for m in harness.emulator.bot_messages(CROWD + 2) if "reminder" in m.text]
    assert len(reminded) == 1
    # and Mia, who paid, was not reminded
    assert not any("reminder" in m.text for m in harness.emulator.bot_messages(MIA))
    # when Lee taps it again, nobody is reminded twice
    await harness.press(LEE, LEE, sheet.message_id, index=remind)
    assert harness.emulator.last_bot_message(LEE).text == (
        "Reminders sent: 0.\nReminded before, so not again: 6.\nCould not be reached (they never "
        "started a private chat with me): 5, M1, M3, M5, M7, M9."
    )
    assert [m.text for m in harness.emulator.bot_messages(CROWD + 2)].count(reminded[0].text) == 1
    async with harness.session() as session:
        rows = (await session.execute(select(PickupReminder))).scalars().all()
    assert sorted(row.member_id for row in rows) == sorted(
        [KAI] + [CROWD + n for n in range(2, 11, 2)]
    )
    # stamped on the bot's clock (the test's), not the machine's
    assert {row.reminded_at for row in rows} == {harness.clock()}


async def test_a_pickup_by_button_or_command_sends_the_same_review_invitation(
    harness: Harness,
) -> None:
    # given Mia, M2 and M4 (all reading English) paid their orders of a formed group-buy
    await formed_groupbuy(harness, crowd=4)
    assert await harness.send(LEE, TEA, "/paid @mia") == ["Marked paid for Mia: #1."]
    assert await harness.send(LEE, TEA, f"/paid {CROWD + 2}") == ["Marked paid for M2: #4."]
    assert await harness.send(LEE, TEA, f"/paid {CROWD + 4}") == ["Marked paid for M4: #6."]
    # when Lee marks Mia's picked up with the group list's button, M2's with the sheet's
    # button, and M4's by command
    await harness.send(LEE, TEA, "/orders")
    listing = harness.emulator.last_bot_message(TEA)
    assert listing.button_texts[0] == "📦 Picked up · Mia #1"
    assert await harness.press(LEE, TEA, listing.message_id, index=0) == "Done."
    await harness.send(LEE, LEE, "/sheet 1")
    sheet = harness.emulator.last_bot_message(LEE)
    assert sheet.button_texts[3] == "📦 Picked up · M2 #4"
    assert await harness.press(LEE, LEE, sheet.message_id, index=3) == "Done."
    assert await harness.send(LEE, TEA, f"/pickedup {CROWD + 4}") == [
        "Marked picked up for M4: #6."
    ]
    # then all three got the same invitation to review
    invitation = (
        "Enjoy! How was order #{id}? Review it with /review {id} 5 and a few words, "
        "and earn 10 points."
    )
    for member, order in ((MIA, 1), (CROWD + 2, 4), (CROWD + 4, 6)):
        texts = [m.text for m in harness.emulator.bot_messages(member)]
        assert texts.count(invitation.format(id=order)) == 1
    # and the group's list kept Mia's row where it was, done
    listing = next(m for m in harness.emulator.messages(TEA) if m.message_id == listing.message_id)
    assert listing.button_texts[:2] == ["✔️ Done · Mia #1", "✅ Paid · Kai #2"]


async def test_only_the_leader_who_opened_it_or_staff_see_the_sheet(harness: Harness) -> None:
    await formed_groupbuy(harness, crowd=0)
    assert await harness.send(MIA, MIA, "/sheet 1") == [
        "Only the leader who opened group-buy #1, or the brand's staff, can run its pickup."
    ]
    sheet = harness.emulator.last_bot_message(LEE)
    forged = await harness.press(
        MIA, MIA, sheet.message_id, callback_data="pk:paid:1:2:0", force=True
    )
    assert (
        forged
        == "Only the leader who opened group-buy #1, or the brand's staff, can run its pickup."
    )
    assert await status(harness, 2) == "reserved"
    assert (await harness.send(LEE, LEE, "/sheet 1"))[0].startswith("📋 Pickup sheet · #1")
    assert (await harness.send(SAM, SAM, "/sheet 1"))[0].startswith("📋 Pickup sheet · #1")
    assert await harness.send(LEE, LEE, "/sheet") == [
        "Tell me which group-buy: /sheet ID, for example /sheet 4."
    ]
    # staff mark a leader's group-buy order paid from the sheet; Lee's own order he cannot
    sheet = harness.emulator.last_bot_message(SAM)
    assert await harness.press(SAM, SAM, sheet.message_id, index=1) == "Done."
    assert await status(harness, 2) == "paid"


async def test_the_sheet_reads_in_simplified_chinese(harness: Harness) -> None:
    # given Lee, whose Telegram app is in Simplified Chinese, ran a group-buy that formed
    await formed_groupbuy(harness, crowd=0, english=False)
    # then his sheet is in Simplified Chinese
    sheet = harness.emulator.last_bot_message(LEE)
    assert sheet.text.splitlines()[:5] == [
        "📋 提货单 · #1 Oolong tea",
        "取货：Shop A",
        "Oolong tea ×3 · ¥119.70 · 已付 ¥0.00 · 已提货 ×0",
        "订单：2 个 · 已付款 0 · 已提货 0",
        "你的佣金：目前 ¥0.00，全部付款后 ¥5.98。",
    ]
    assert "订单 1–2，共 2 个（第 1/1 页）：" in sheet.text
    assert "#1 Mia ×2 · ¥79.80 · ⏳ 未付款" in sheet.text
    assert sheet.button_texts == ["✅ 已付款 · Mia #1", "✅ 已付款 · Kai #2", "🔔 提醒未付款（2）"]
    assert await harness.press(LEE, LEE, sheet.message_id, index=0) == "已完成。"
    assert harness.emulator.last_bot_message(LEE).button_texts[0] == "📦 已提货 · Mia #1"


def line(order_id: int, status: str = "reserved") -> PickupLine:
    order = OrderView(
        id=order_id,
        member_id=order_id,
        chat_id=TEA,
        leader_id=LEE,
        title="Oolong tea",
        quantity=1,
        unit_price=3990,
        currency="CNY",
        payment_mode="offline",
        status=status,
        paid_amount=0,
        refunded_amount=0,
        version=1,
    )
    return PickupLine(order, f"M{order_id}")


def sheet_of(count: int) -> PickupSheet:
    return PickupSheet(
        1,
        "Oolong tea",
        "CNY",
        "formed",
        LEE,
        "",
        "",
        tuple(line(i) for i in range(1, count + 1)),
        (),
        0,
        0,
        0,
    )


async def test_the_sheet_pages_at_its_boundaries(harness: Harness) -> None:
    i18n = harness.runtime.i18n
    with i18n.context(), i18n.use_locale("en"):
        pages_at_boundaries()


def pages_at_boundaries() -> None:
    # ten orders fit one page: no page buttons
    ten = sheet_of(10)
    assert "Orders 1–10 of 10 (page 1 of 1):" in sheet_text(ten, 0, "en")
    assert sheet_keyboard(ten, 0).inline_keyboard[-1][0].text == "🔔 Remind unpaid (10)"
    assert len(sheet_keyboard(ten, 0).inline_keyboard) == 11
    # eleven make a second page with the eleventh alone
    eleven = sheet_of(11)
    assert "Orders 1–10 of 11 (page 1 of 2):" in sheet_text(eleven, 0, "en")
    assert [b.text for b in sheet_keyboard(eleven, 0).inline_keyboard[10]] == ["More ▶ 2 of 2"]
    assert "Orders 11–11 of 11 (page 2 of 2):" in sheet_text(eleven, 1, "en")
    second = sheet_keyboard(eleven, 1).inline_keyboard
    assert [row[0].text for row in second] == [
        "✅ Paid · M11 #11",
        "◀ Back",
        "🔔 Remind unpaid (11)",
    ]
    # a page past the end shows the last one; none yet is said so
    assert "Orders 11–11 of 11 (page 2 of 2):" in sheet_text(eleven, 7, "en")
    assert "Nobody has an order in this group-buy." in sheet_text(sheet_of(0), 0, "en")


async def test_the_groups_order_list_pages_and_keeps_its_rows(harness: Harness) -> None:
    # given a formed group-buy of 11 orders (Mia, Kai and 9 more)
    await formed_groupbuy(harness, crowd=9)
    # when Lee lists the group's orders
    await harness.send(LEE, TEA, "/orders")
    listing = harness.emulator.last_bot_message(TEA)
    # then ten are on the first page, and More leads to the eleventh: none is cut silently
    assert "Open orders: 11 · page 1 of 2" in listing.text
    assert listing.button_texts[0] == "✅ Paid · Mia #1"
    assert listing.button_texts[10:] == ["More ▶ 2 of 2"]
    assert await harness.press(LEE, TEA, listing.message_id, index=10) is None
    listing = next(m for m in harness.emulator.messages(TEA) if m.message_id == listing.message_id)
    assert "Open orders: 11 · page 2 of 2" in listing.text
    assert listing.button_texts == ["✅ Paid · M9 #11", "◀ Back"]
    # and marking there keeps the page and the row
    assert await harness.press(LEE, TEA, listing.message_id, index=0) == "Done."
    listing = next(m for m in harness.emulator.messages(TEA) if m.message_id == listing.message_id)
    assert "page 2 of 2" in listing.text
    assert listing.button_texts == ["📦 Picked up · M9 #11", "◀ Back"]
    assert await status(harness, 11) == "paid"


async def leader_never_started(harness: Harness) -> None:
    """Lee opens a group-buy in Tea Lovers without ever opening a private chat with the bot;
    Mia and Kai join."""
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 200")
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=100 pickup=Shop A")
    card = harness.emulator.last_bot_message(TEA)
    await harness.press(MIA, TEA, card.message_id, index=0)
    await harness.press(KAI, TEA, card.message_id, index=0)


async def test_a_leader_who_never_started_the_bot_opens_the_sheet_from_the_group(
    harness: Harness,
) -> None:
    await leader_never_started(harness)
    # when Lee closes it in the group: formed
    harness.new_bot_messages(TEA)
    replies = await harness.send(LEE, TEA, "/gb_close 1")
    # then the group tells Lee where his sheet is, with a button into the bot (Lee has no
    # private chat with it, so nothing was sent there)
    [note] = [m for m in harness.emulator.bot_messages(TEA) if m.text.startswith("Lee, #1")]
    assert "#1 Oolong tea formed: 2 sold at CN¥39.90 each!" in replies
    assert note.text == (
        "Lee, #1 Oolong tea formed and your pickup sheet is ready, but I cannot write to you in "
        "private before you start me. Tap the button below, then Start."
    )
    assert note.buttons == [
        [{"text": "📋 Open the pickup sheet", "url": "https://t.me/community_bot?start=sheet-1"}]
    ]
    assert harness.emulator.bot_messages(LEE) == []
    # when Lee follows it, the bot greets him and sends the sheet, whose buttons work
    replies = await harness.send(LEE, LEE, "/start sheet-1")
    assert replies[-1].splitlines()[0] == "📋 提货单 · #1 Oolong tea"
    sheet = harness.emulator.last_bot_message(LEE)
    assert await harness.press(LEE, LEE, sheet.message_id, index=0) == "已完成。"
    assert await status(harness, 1) == "paid"
    # and anyone else following the link is refused
    assert (await harness.send(MIA, MIA, "/start sheet-1"))[-1] == (
        "Only the leader who opened group-buy #1, or the brand's staff, can run its pickup."
    )


async def test_the_note_comes_when_the_deadline_forms_it_too(harness: Harness) -> None:
    await leader_never_started(harness)
    harness.new_bot_messages(TEA)
    # when the deadline passes and the scheduler closes it
    harness.clock.advance(hours=25)
    assert await harness.runtime.closer.close_due() == 1
    await harness.runtime.notifier.drain()
    # then the group gets the note with the button
    [note] = [m for m in harness.new_bot_messages(TEA) if (m.text or "").startswith("Lee, #1")]
    assert note.buttons[0][0]["url"] == "https://t.me/community_bot?start=sheet-1"


async def test_a_leader_who_started_the_bot_gets_no_note_in_the_group(harness: Harness) -> None:
    await leader_never_started(harness)
    await harness.send(LEE, LEE, "/start")
    replies = await harness.send(LEE, TEA, "/gb_close 1")
    assert not any("pickup sheet is ready" in text for text in replies)
    assert harness.emulator.last_bot_message(LEE).text.startswith("📋 提货单 · #1")
