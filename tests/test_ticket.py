"""After-sales tickets (售后) end to end: a member opens a ticket from My orders with a photo,
the clock runs out and all staff are told, staff answer and close it with a coupon
(先行赔付); a Stars order partly refunded from a ticket, booked once; and the bad inputs: a
ticket on someone else's order or an unpaid one, a refund above what is left, acting on a
closed ticket, and two staff closing one ticket at once."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from sqlalchemy import text
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, func, select

from models.audit import AuditEntry
from models.coupons import MemberCoupon
from models.ticket import Ticket, TicketMessage
from services.ledger import AccountRef, balance
from services.ticket import TicketError, open_ticket, resolve_coupon, resolve_plain
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, Harness
from tests.dashboard_kit import dashboard, dashboard_port, login_link, settings
from tests.test_order import buy_with_stars, pay
from tests.test_pickup import formed_groupbuy

__all__ = ["dashboard", "dashboard_port", "settings"]  # fixtures the dashboard test uses

# a 1×1 PNG, as a member's photo of the damage
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000154a24f5d0000000049454e44ae426082"
)


async def ticket_row(harness: Harness, ticket_id: int) -> Ticket:
    async with harness.session() as session:
        row = await session.get(Ticket, ticket_id)
    assert row is not None
    return row


async def given_paid_orders(harness: Harness) -> None:
    """Group-buy #1 formed in Tea Lovers: Mia's order #1 (×2) and Kai's #2, both marked paid
    by Lee from his sheet; Sam is staff."""
    await formed_groupbuy(harness, crowd=0)
    sheet = harness.emulator.last_bot_message(LEE)
    assert await harness.press(LEE, LEE, sheet.message_id, index=0) == "Done."
    sheet = harness.emulator.last_bot_message(LEE)
    assert await harness.press(LEE, LEE, sheet.message_id, index=1) == "Done."


async def test_a_ticket_from_my_orders_escalates_then_is_answered_and_compensated(
    harness: Harness,
) -> None:
    # given Mia's paid order #1
    await given_paid_orders(harness)
    # when she taps 🛟 in My orders, and "Damaged"
    await harness.send(MIA, MIA, "/orders")
    listing = harness.emulator.last_bot_message(MIA)
    await harness.press(
        MIA, MIA, listing.message_id, index=listing.button_texts.index("🛟 Problem with #1")
    )
    chooser = harness.emulator.last_bot_message(MIA)
    assert chooser.text == "🛟 What is wrong with order #1?"
    harness.new_bot_messages(SAM)
    harness.new_bot_messages(LEE)
    await harness.press(MIA, MIA, chooser.message_id, index=chooser.button_texts.index("Damaged"))
    # then ticket #1 is open with both clocks, and staff and Lee are told
    assert harness.emulator.last_bot_message(MIA).text == (
        "🛟 Ticket #1 opened on order #1. Staff or your leader answer within 2 hours. Tell us "
        "more with /ticket_say 1 and your words; for damage, send photos with /ticket_say 1 as "
        "their caption."
    )
    row = await ticket_row(harness, 1)
    opened = harness.clock()
    assert (row.kind, row.status, row.member_id, row.leader_id) == ("damaged", "open", MIA, LEE)
    assert row.answer_due == opened.replace() + (row.answer_due - row.opened_at)
    assert (row.answer_due - row.opened_at).total_seconds() == 2 * 3600
    assert (row.resolve_due - row.opened_at).total_seconds() == 24 * 3600
    for who in (SAM, LEE):
        notice = [m.text or "" for m in harness.new_bot_messages(who)]
        assert notice and notice[-1].startswith(
            "🛟 New ticket #1 from Mia: order #1 Oolong tea ×2, Damaged."
        )
    # when Mia sends a photo of the damage with its caption
    harness.emulator.send_photo(MIA, MIA, PNG, caption="/ticket_say 1 the box was <crushed>")
    await harness.feed_pending()
    assert harness.emulator.last_bot_message(MIA).text == (
        "Added to ticket #1; staff and your leader are told."
    )
    told = harness.emulator.last_bot_message(SAM).text or ""
    assert told.splitlines() == [
        "💬 Ticket #1, Mia writes:",
        "the box was <crushed>",
        "(a photo: see it with /ticket 1)",
        "Reply with /ticket_say 1.",
    ]
    # and nobody answers for 2 hours and a minute: the clock escalates to all staff, once
    harness.new_bot_messages(OWNER)
    harness.clock.advance(hours=2, minutes=1)
    assert await harness.runtime.tickets.run() == 1
    assert await harness.runtime.tickets.run() == 0
    for who in (SAM, OWNER):
        lines = (harness.emulator.last_bot_message(who).text or "").splitlines()
        assert lines[0].startswith("⏰ Ticket #1 has no answer in time (due ")
        # staff who set no zone of their own read it on the brand's clock, named
        assert " UTC)" in lines[0]
        assert lines[1] == "Order #1, Damaged. See it with /ticket 1."
    queue = (await harness.send(SAM, SAM, "/tickets"))[0]
    assert "#1 · order #1 · Damaged · ⚠️ overdue · answer due" in queue
    assert f"answer due {row.answer_due:%m-%d %H:%M} UTC" in queue
    # and staff who set their own zone read it on their own clock, unnamed
    await harness.send(SAM, SAM, "/timezone Asia/Shanghai")
    queue = (await harness.send(SAM, SAM, "/tickets"))[0]
    shanghai = row.answer_due.astimezone(ZoneInfo("Asia/Shanghai"))
    assert f"answer due {shanghai:%m-%d %H:%M}" in queue and "Asia/Shanghai" not in queue
    await harness.send(SAM, SAM, "/timezone UTC")
    # when Sam answers: the first answer is recorded and Mia reads it
    assert await harness.send(SAM, SAM, "/ticket_say 1 So sorry! We make it right today.") == [
        "Sent to the member on ticket #1."
    ]
    row = await ticket_row(harness, 1)
    assert (row.answered_by, row.answered_at) == (SAM, harness.clock())
    assert (harness.emulator.last_bot_message(MIA).text or "").startswith(
        "💬 Ticket #1, Sam answers:\nSo sorry!"
    )
    # and Lee (the leader) sees the ticket, its photo and messages
    replies = await harness.send(LEE, LEE, "/ticket 1")
    assert replies[0].splitlines()[0] == "🛟 Ticket #1 · Damaged"
    assert "Mia: the box was <crushed>" in replies[0]
    assert harness.emulator.last_bot_message(LEE).kind == "photo"
    # when Sam compensates with a coupon (先行赔付)
    await harness.send(SAM, SAM, "/coupon_new SORRY10 10.00 CNY")
    assert await harness.send(SAM, SAM, "/ticket_coupon 1 sorry10") == [
        "Ticket #1 closed; the member is told:\n"
        "✅ Ticket #1 closed: coupon SORRY10 is yours as compensation; see /coupons."
    ]
    # then Mia holds the coupon once, and is told
    assert harness.emulator.last_bot_message(MIA).text == (
        "✅ Ticket #1 closed: coupon SORRY10 is yours as compensation; see /coupons."
    )
    async with harness.session() as session:
        held = await session.scalar(
            select(func.count()).select_from(MemberCoupon).where(col(MemberCoupon.member_id) == MIA)
        )
        steps = list(
            (
                await session.execute(
                    select(col(AuditEntry.action))
                    .where(col(AuditEntry.action).startswith("ticket."))
                    .order_by(col(AuditEntry.id))
                )
            ).scalars()
        )
    assert held == 1
    assert steps[:4] == ["ticket.open", "ticket.say", "ticket.message", "ticket.escalate"]
    assert "ticket.answer" in steps and steps[-1] == "ticket.resolve"
    # and a closed ticket takes nothing more, from anyone
    assert await harness.send(SAM, SAM, "/ticket_coupon 1 SORRY10") == [
        "Ticket #1 is closed: nothing more can be done on it."
    ]
    assert await harness.send(MIA, MIA, "/ticket_say 1 thanks") == [
        "Ticket #1 is closed: nothing more can be done on it."
    ]
    # and the escalation for resolution never comes for a closed ticket
    harness.clock.advance(hours=23)
    assert await harness.runtime.tickets.run() == 0
    # and the ticket's clocks go into /stats, by leader and product, and Lee's record
    stats = "\n".join(await harness.send(SAM, SAM, "/stats"))
    assert (
        "• <b>After-sales tickets</b>: 1 opened, 1 closed, 0 open, 1 overdue; first answer in "
        "2 hours, resolution in 2 hours on average"
    ) in harness.emulator.bot_messages(SAM)[-2].html
    assert "After-sales tickets" in stats
    assert "By leader: Lee: 1 (overdue 1; answer 2 hours, resolution 2 hours)" in stats
    assert "By product: Oolong tea: 1 (overdue 1; answer 2 hours, resolution 2 hours)" in stats
    record = (await harness.send(SAM, SAM, "/leader_record @lee"))[0]
    assert (
        "After-sales tickets: 1 · overdue: 1 · first answer in 2 hours · resolution in 2 hours"
        in record
    )


async def test_bad_tickets_are_refused_with_what_to_fix(harness: Harness) -> None:
    # given Mia's paid order #1 and Kai's order #2
    await given_paid_orders(harness)
    # a ticket on someone else's order, refused in Kai's language (Traditional Chinese)
    assert await harness.send(KAI, KAI, "/ticket_open 1 missing one bag") == [
        "訂單 #1 不是你的訂單。你的訂單見 /orders。"
    ]
    # a kind that is not one
    assert (await harness.send(MIA, MIA, "/ticket_open 1 angry"))[0].startswith(
        "Send /ticket_open ORDER_ID KIND"
    )
    # Mia opens one; a second on the same order points at the first
    replies = await harness.send(MIA, MIA, "/ticket_open 1 missing one bag is missing")
    assert replies[0].startswith("🛟 Ticket #1 opened on order #1.")
    assert await harness.send(MIA, MIA, "/ticket_open 1 quality") == [
        "This order already has an open ticket, #1: add to it with /ticket_say 1."
    ]
    # Kai may not see or act on Mia's ticket; Lee (the leader) may not give money back
    assert await harness.send(KAI, KAI, "/ticket 1") == ["你無權查看這個工單。"]
    assert await harness.send(LEE, LEE, "/ticket_refund 1") == [
        "Sorry, only brand staff can do that."
    ]
    assert await harness.send(MIA, MIA, "/ticket_decline 1 nope") == [
        "Only the brand's staff or your leader can close a ticket."
    ]
    # a refund proposal above what was paid (CN¥79.80), and a decline without a reason
    await harness.send(SAM, SAM, "/start")
    assert await harness.send(SAM, SAM, "/ticket_refund 1 100") == [
        "That is more than was paid for the order, less what was already refunded: at most "
        "CN¥79.80."
    ]
    assert (await harness.send(LEE, LEE, "/ticket_decline 1"))[0].startswith(
        "Send /ticket_decline TICKET_ID"
    )
    # then the ticket is still open and nothing was booked
    assert (await ticket_row(harness, 1)).status == "open"
    # when Sam refunds CN¥20 of it: booked once, owed to Mia until paid back by hand
    replies = await harness.send(SAM, SAM, "/ticket_refund 1 20")
    assert replies[0].splitlines()[:2] == [
        "Ticket #1 closed; the member is told:",
        "✅ Ticket #1 closed: a refund of CN¥20.00 on order #1.",
    ]
    assert "send /refund_paid 1" in replies[0]
    assert harness.emulator.last_bot_message(MIA).text == (
        "✅ Ticket #1 closed: a refund of CN¥20.00 on order #1.\n"
        "Order #1 was refunded: CN¥20.00. Your leader or our staff will give you the money back, "
        "and I will tell you when they have."
    )
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "CNY") == 2000


async def test_an_unpaid_order_gets_no_ticket(harness: Harness) -> None:
    # given Mia's order #1 not paid yet (the group-buy formed, nobody marked it paid)
    await formed_groupbuy(harness, crowd=0)
    assert await harness.send(MIA, MIA, "/ticket_open 1 missing") == [
        "Order #1 is not paid yet: a ticket can be opened once it is paid. To drop an unpaid "
        "order, cancel it in /orders."
    ]
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 0


async def test_a_stars_order_refunded_from_tickets_in_part_then_in_full_books_once(
    harness: Harness,
) -> None:
    # given Mia paid ⭐ 50 for order #1
    invoice = await buy_with_stars(harness)
    await pay(harness, MIA, int(invoice["message_id"]))
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    harness.emulator.complete_payment(query_id)
    await harness.feed_pending()
    # when she opens a ticket and Sam refunds ⭐ 60: refused, more than she paid
    await harness.send(MIA, MIA, "/ticket_open 1 quality the cakes are stale")
    assert await harness.send(SAM, SAM, "/ticket_refund 1 60") == [
        "That is more than was paid for the order, less what was already refunded: at most ⭐ 50."
    ]
    # when Sam refunds the whole order from the ticket: the refunder sends the Stars back
    assert await harness.send(SAM, SAM, "/ticket_refund 1") == [
        "Ticket #1 closed; the member is told:\n✅ Ticket #1 closed: a refund of ⭐ 50 on order #1."
    ]
    refunds = harness.emulator.calls_of("refundStarPayment")
    assert len(refunds) == 1 and refunds[0]["user_id"] == MIA
    texts = [m.text for m in harness.emulator.bot_messages(MIA)[-2:]]
    assert "✅ Ticket #1 closed: a refund of ⭐ 50 on order #1." in texts
    assert "Order #1 was refunded: ⭐ 50." in texts
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 0
        assert await balance(session, AccountRef("brand_refunds"), "XTR") == -50
    # and the refunded order takes no new ticket
    assert await harness.send(MIA, MIA, "/ticket_open 1 missing") == [
        "Order #1 is already refunded in full."
    ]


async def test_a_partial_stars_refund_from_a_ticket_is_owed_not_sent_whole(
    harness: Harness,
) -> None:
    # given Mia paid ⭐ 50 and opened a ticket
    invoice = await buy_with_stars(harness)
    await pay(harness, MIA, int(invoice["message_id"]))
    query_id = harness.emulator.calls_of("answerPreCheckoutQuery")[-1]["pre_checkout_query_id"]
    harness.emulator.complete_payment(query_id)
    await harness.feed_pending()
    await harness.send(MIA, MIA, "/ticket_open 1 damaged one cake broken")
    # when Sam refunds ⭐ 20 of it
    replies = await harness.send(SAM, SAM, "/ticket_refund 1 20")
    assert replies[0].startswith(
        "Ticket #1 closed; the member is told:\n"
        "✅ Ticket #1 closed: a refund of ⭐ 20 on order #1.\n"
        "Refund of ⭐ 20 for order #1 booked; the ledger shows it as owed to the member."
    )
    # then Telegram is not asked (it returns a Stars payment only whole): ⭐ 20 is owed to Mia
    assert harness.emulator.calls_of("refundStarPayment") == []
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 20
        assert await balance(session, AccountRef("brand_refunds"), "XTR") == -20
    # and the rest is never sent back as the whole charge: /refund refuses it, and a second
    # ticket refunds the ⭐ 30 left as owed too
    assert await harness.send(SAM, SAM, "/refund 1") == [
        "Telegram Stars payments can only be refunded in full."
    ]
    await harness.send(MIA, MIA, "/ticket_open 1 missing and one missing")
    replies = await harness.send(SAM, SAM, "/ticket_refund 2")
    assert replies[0].startswith(
        "Ticket #2 closed; the member is told:\n✅ Ticket #2 closed: a refund of ⭐ 30 on order #1."
    )
    assert harness.emulator.calls_of("refundStarPayment") == []
    async with harness.session() as session:
        assert await balance(session, AccountRef("customer_payable", MIA), "XTR") == 50
        assert await balance(session, AccountRef("brand_refunds"), "XTR") == -50


async def test_two_staff_closing_one_ticket_at_once_close_it_once(harness: Harness) -> None:
    # given Mia's open ticket #1 and a coupon template
    await given_paid_orders(harness)
    await harness.send(MIA, MIA, "/ticket_open 1 wrong I got green tea")
    await harness.send(SAM, SAM, "/coupon_new SORRY10 10.00 CNY")

    async def by_coupon() -> str:
        async with harness.session() as session, session.begin():
            try:
                await resolve_coupon(
                    session, ticket_id=1, actor_id=SAM, code="SORRY10", now=harness.clock()
                )
            except TicketError as exc:
                return exc.reason
        return "ok"

    async def by_reship() -> str:
        async with harness.session() as session, session.begin():
            try:
                await resolve_plain(
                    session,
                    ticket_id=1,
                    actor_id=OWNER,
                    role="staff",
                    resolution="reship",
                    note="",
                    now=harness.clock(),
                )
            except TicketError as exc:
                return exc.reason
        return "ok"

    # when Sam and the owner close it at the same moment
    outcomes = await asyncio.gather(by_coupon(), by_reship(), return_exceptions=True)
    # then exactly one closes it, and the coupon is held only if it won
    wins = [o for o in outcomes if o == "ok"]
    assert len(wins) == 1, outcomes
    row = await ticket_row(harness, 1)
    async with harness.session() as session:
        held = await session.scalar(select(func.count()).select_from(MemberCoupon))
    assert held == (1 if row.resolution == "coupon" else 0)


async def test_the_dashboard_lists_tickets_escaped_for_staff_and_the_leaders_own_groups_only(
    harness: Harness, dashboard: str
) -> None:
    # given Mia's open ticket in Tea Lovers, and a member named with markup
    await given_paid_orders(harness)
    harness.emulator.add_user(MIA, "<b>Mia</b>", username="mia", language_code="en")
    await harness.send(MIA, MIA, "/ticket_open 1 missing one bag")
    # when Sam (staff) opens the tickets page
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(await login_link(harness, SAM), allow_redirects=False) as response:
            assert response.status == 303
        async with http.get(f"{dashboard}/tickets") as response:
            assert response.status == 200
            page = await response.text()
    # then the ticket is listed with its group, kind and status, the name escaped
    assert 'id="table-tickets"' in page
    assert "Tea Lovers" in page and "Missing item" in page and ">open<" in page
    assert "&lt;b&gt;Mia&lt;/b&gt;" in page and "<b>Mia</b>" not in page
    assert "1 opened, 0 closed, 1 open, 0 overdue" in page
    # and Kai, who leads only Coffee Club, sees no Tea Lovers ticket
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(await login_link(harness, KAI), allow_redirects=False) as response:
            assert response.status == 303
        async with http.get(f"{dashboard}/tickets") as response:
            assert response.status == 200
            page = await response.text()
        async with http.get(f"{dashboard}/tickets?community={COFFEE}") as response:
            assert response.status == 200
    assert "Missing item" not in page and "<tbody></tbody>" in page  # Kai reads Chinese
    # and nobody without a session gets the page
    async with (
        aiohttp.ClientSession() as anonymous,
        anonymous.get(f"{dashboard}/tickets") as response,
    ):
        assert response.status == 401


async def test_two_taps_opening_tickets_on_one_order_at_once_open_one(harness: Harness) -> None:
    # given Mia's paid order #1
    await given_paid_orders(harness)
    sessions = harness.runtime.sessions
    postgres = harness.runtime.settings.database_url.startswith("postgresql")

    async def tap(kind: str, hold: asyncio.Event | None = None) -> str:
        async with sessions() as session:
            try:
                async with session.begin():
                    ticket = await open_ticket(
                        session,
                        order_id=1,
                        member_id=MIA,
                        kind=kind,
                        description="",
                        now=harness.clock(),
                        answer_within=timedelta(hours=2),
                        resolve_within=timedelta(hours=24),
                    )
                    if hold is not None:  # keeps its transaction open until told
                        await hold.wait()
            except TicketError as exc:
                return f"{exc.reason} {exc.detail}"
        return f"opened #{ticket.id}"

    if postgres:
        # when the first tap's ticket is inserted but not committed, and the second tap, which
        # saw no open ticket either, waits on the unique index: the index decides at commit
        release = asyncio.Event()
        first = asyncio.create_task(tap("missing", release))
        async with sessions() as probe:
            while not first.done() and not await probe.scalar(  # noqa: ASYNC110
                text("SELECT count(*) FROM pg_locks WHERE locktype = 'transactionid'")
            ):
                await asyncio.sleep(0)
        second = asyncio.create_task(tap("damaged"))
        async with sessions() as probe:
            while not await probe.scalar(  # noqa: ASYNC110
                text("SELECT count(*) FROM pg_locks WHERE NOT granted")
            ):
                await asyncio.sleep(0)
        release.set()
        results = [await first, await second]
    else:
        # when two taps arrive at once (SQLite writes one transaction at a time)
        results = sorted(await asyncio.gather(tap("missing"), tap("damaged")))
    # then one ticket is open and the other tap is told it exists already
    assert results == ["already_open 1", "opened #1"] or results == [
        "opened #1",
        "already_open 1",
    ], results
    async with harness.session() as session:
        assert await session.scalar(select(func.count()).select_from(Ticket)) == 1
    # and Mia, tapping again, reads which ticket to add to
    assert await harness.send(MIA, MIA, "/ticket_open 1 wrong green tea") == [
        "This order already has an open ticket, #1: add to it with /ticket_say 1."
    ]


async def test_the_database_refuses_a_second_open_ticket_on_one_order(harness: Harness) -> None:
    # given Mia's open ticket #1 on order #1
    await given_paid_orders(harness)
    await harness.send(MIA, MIA, "/ticket_open 1 missing one bag")
    row = await ticket_row(harness, 1)
    # when a second open ticket on the order is written past the service's check
    twin = Ticket(
        order_id=1,
        member_id=MIA,
        chat_id=row.chat_id,
        kind="wrong",
        answer_due=row.answer_due,
        resolve_due=row.resolve_due,
    )
    # then the database refuses it
    with pytest.raises(IntegrityError):
        async with harness.session() as session, session.begin():
            session.add(twin)
    # and once #1 is closed, a new ticket on the order may be opened
    await harness.send(SAM, SAM, "/ticket_reship 1 sent again")
    assert (await ticket_row(harness, 1)).status == "closed"
    (opened,) = await harness.send(MIA, MIA, "/ticket_open 1 wrong green tea")
    assert opened.startswith("🛟 Ticket #") and " opened on order #1." in opened  # PostgreSQL
    # spent an id on the refused row


async def test_ticket_photos_show_on_the_dashboard_through_the_bot_until_forgetme(
    harness: Harness, dashboard: str
) -> None:
    # given Mia's open ticket with a photo of the damage
    await given_paid_orders(harness)
    await harness.send(MIA, MIA, "/ticket_open 1 damaged the box was crushed")
    harness.emulator.send_photo(MIA, MIA, PNG, caption="/ticket_say 1 see")
    await harness.feed_pending()
    async with harness.session() as session:
        message = (
            await session.execute(select(TicketMessage).where(TicketMessage.photo_file_id != ""))
        ).scalar_one()
    # when Sam (staff) opens the tickets page
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(await login_link(harness, SAM), allow_redirects=False) as response:
            assert response.status == 303
        async with http.get(f"{dashboard}/tickets?lang=en") as response:
            page = await response.text()
        # then the photo is shown from the dashboard's own address, never Telegram's
        found = re.search(r'<img src="(ticket-photos/\d+-[0-9a-f]{16}\.jpg)"', page)
        assert found is not None, page
        assert "Ticket #1" in page and "api.telegram.org" not in page
        assert harness.runtime.bot.token not in page
        async with http.get(f"{dashboard}/{found.group(1)}") as response:
            assert response.status == 200
            assert await response.read() == PNG
            assert response.headers["Cache-Control"] == "private, no-store"
        # and a guessed address of it is not served
        async with http.get(
            f"{dashboard}/ticket-photos/{message.id}-0123456789abcdef.jpg"
        ) as response:
            assert response.status == 404
    photo = f"{dashboard}/{found.group(1)}"
    # and Kai, who leads only Coffee Club, cannot fetch it; nor can anyone signed out
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(await login_link(harness, KAI), allow_redirects=False) as response:
            assert response.status == 303
        async with http.get(photo) as response:
            assert response.status == 404
    async with aiohttp.ClientSession() as anonymous, anonymous.get(photo) as response:
        assert response.status == 401
    # when Mia asks to be forgotten
    await harness.send(MIA, MIA, "/forgetme")
    await harness.press(MIA, MIA, harness.emulator.last_bot_message(MIA).message_id, index=0)
    # then her photo is erased with her words, and the dashboard no longer shows it
    async with harness.session() as session:
        erased = await session.get(TicketMessage, message.id, populate_existing=True)
    assert erased is not None and (erased.text, erased.photo_file_id) == ("", "")
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
        async with http.get(await login_link(harness, SAM), allow_redirects=False) as response:
            assert response.status == 303
        async with http.get(f"{dashboard}/tickets?lang=en") as response:
            assert "ticket-photos/" not in await response.text()
        async with http.get(photo) as response:
            assert response.status == 404


async def test_a_ticket_not_due_yet_is_not_overdue_in_stats(harness: Harness) -> None:
    # given a morning (the day's period ends at midnight, long after the 2-hour clock)
    harness.clock.now = datetime(2026, 11, 24, 9, 0, tzinfo=UTC)
    await given_paid_orders(harness)
    # when Mia opens a ticket, and Sam reads /stats an hour later
    await harness.send(MIA, MIA, "/ticket_open 1 missing one bag")
    harness.clock.advance(hours=1)
    stats = "\n".join(await harness.send(SAM, SAM, "/stats 1d"))
    # then it is open, not overdue: its answer is due in an hour
    assert "1 opened, 0 closed, 1 open, 0 overdue" in stats, stats
    # and once its clock ran out, it is
    harness.clock.advance(hours=1, minutes=1)
    stats = "\n".join(await harness.send(SAM, SAM, "/stats 1d"))
    assert "1 opened, 0 closed, 1 open, 1 overdue" in stats, stats
