"""Loyalty as members and staff live it in chat: check-in streaks across a time-zone midnight,
one check-in a day, member days, points for orders and the tier they lead to, refunds taking
them back, and points for a review after pickup (gifts and donations: tests/test_points.py;
the redeem catalog: tests/test_rewards.py; tiers: tests/test_tiers.py)."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlmodel import select

from models.loyalty import CheckIn
from models.review import Review
from models.tiers import MemberTier
from services.ledger import AccountRef, balance
from services.points import points_balance
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness


async def make_staff(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def points_of(harness: Harness, member_id: int) -> int:
    async with harness.session() as session:
        return await points_balance(session, member_id)


async def test_check_in_streaks_follow_the_groups_midnight(harness: Harness) -> None:
    await harness.join_groups()
    assert await harness.send(LEE, TEA, "/settings timezone Asia/Shanghai")
    # 23:30 in Shanghai on 19 November (15:30 UTC)
    harness.clock.now = datetime(2026, 11, 19, 15, 30, tzinfo=UTC)
    assert await harness.send(MIA, TEA, "/checkin") == ["Mia checked in: +5 points. Streak: 1 day."]
    check_in_message = harness.emulator.last_bot_message(TEA)
    assert check_in_message.button_texts == ["✅ Check in"]
    # an hour later it is already the 20th in Shanghai, while still the 19th in UTC
    harness.clock.advance(hours=1)
    assert await harness.send(MIA, TEA, "/checkin") == [
        "Mia checked in: +5 points. Streak: 2 days."
    ]
    # twice on one day: refused kindly, nothing earned
    assert await harness.send(MIA, TEA, "/checkin") == [
        "Mia, you have already checked in today. Streak: 2 days."
    ]
    # day 7 carries the default streak bonus of 20
    for day in range(3, 8):
        harness.clock.advance(days=1)
        replies = await harness.send(MIA, TEA, "/checkin")
        assert replies[0].startswith(f"Mia checked in: +{25 if day == 7 else 5} points.")
    assert replies == [
        "Mia checked in: +25 points. Streak: 7 days. Streak bonus included: 20 points!"
    ]
    # a missed day starts the streak again
    harness.clock.advance(days=2)
    assert await harness.send(MIA, TEA, "/checkin") == ["Mia checked in: +5 points. Streak: 1 day."]
    # another member taps the button under the group's message: a toast, the chat stays quiet
    before = len(harness.emulator.bot_messages(TEA))
    toast = await harness.press(KAI, TEA, check_in_message.message_id, index=0)
    assert toast == "Kai checked in: +5 points. Streak: 1 day."
    assert len(harness.emulator.bot_messages(TEA)) == before
    assert await harness.press(KAI, TEA, check_in_message.message_id, index=0) == (
        "Kai, you have already checked in today. Streak: 1 day."
    )
    assert await points_of(harness, MIA) == 5 * 6 + 25 + 5
    async with harness.session() as session:
        days = (
            (await session.execute(select(CheckIn.day).where(CheckIn.member_id == MIA)))
            .scalars()
            .all()
        )
    assert len(days) == len(set(days)) == 8
    # the statement says where every point came from
    statement = (await harness.send(MIA, MIA, "/points"))[0]
    assert statement.splitlines()[0] == "Your points: 60"
    assert statement.count("Daily check-in") == 8
    assert "+25  Daily check-in" in statement
    # and every movement, with the balance after each, as a file
    assert statement.endswith("Send /points all for every movement as a file.")
    await harness.send(MIA, MIA, "/points all")
    document = harness.emulator.last_bot_message(MIA)
    assert document.kind == "document" and document.raw["caption"] == (
        "Every movement of your points: 8."
    )
    data = harness.emulator.file_bytes(document.raw["document"]["file_id"]).decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(data)))
    assert rows[0] == ["date", "points", "reason", "balance"]
    assert [int(r[1]) for r in rows[1:]] == [5, 5, 5, 5, 5, 5, 25, 5]
    assert [r[2] for r in rows[1:]] == ["Daily check-in"] * 8 and rows[-1][3] == "60"


async def test_member_day_doubles_check_in_points_for_tiers_that_have_it(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await make_staff(harness)
    harness.clock.now = datetime(2026, 11, 8, 4, 0, tzinfo=UTC)
    assert (
        "Member day: day 8 of each month"
        in (await harness.send(LEE, TEA, "/settings member_day 8"))[0]
    )
    assert await harness.send(LEE, TEA, "/settings member_day 31") == [
        "The member day is a day of the month from 1 to 28, or 0 for none."
    ]
    # the Member tier has no double points: a plain check-in
    assert (await harness.send(MIA, TEA, "/checkin"))[0].startswith("Mia checked in: +5 points.")
    # staff give the Member tier double points on the member day
    await harness.send(SAM, SAM, "/tier_set 0 double=yes")
    replies = await harness.send(KAI, TEA, "/checkin")
    assert replies == ["Kai checked in: +10 points. Streak: 1 day. Member day: points doubled."]


async def test_an_order_earns_points_and_a_tier_and_a_refund_takes_them_back(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(MIA, MIA, "/start")
    # staff make Silver reachable at ¥50 of spend
    tiers = await harness.send(SAM, SAM, "/tier_set 1 spend=50")
    assert tiers[0] == "Saved. Members move to their new tier at the next recompute."
    assert "1. Silver: from CN¥50.00 spent in 12 months" in tiers[1]
    assert "   • 1.2× points on orders" in tiers[1]
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 10")
    await harness.send(MIA, TEA, "/buy 1 2")
    me = (await harness.send(MIA, MIA, "/me"))[0]
    assert "Tier: Member" in me and "Spend CN¥50.00 more to reach Silver." in me
    # the leader collects the money at pickup: Mia earns points and moves up
    harness.new_bot_messages(MIA)
    assert await harness.send(LEE, TEA, "/paid @mia") == ["Marked paid for Mia: #1."]
    news = [m.text for m in harness.new_bot_messages(MIA)]
    assert news == [
        "Order #1 earned you 79 points.\nCongratulations! You are now Silver.\n"
        "• 2% off every order\n• 1.2× points on orders\n• Birthday gift: 50 points\n"
        "• Double points on the member day"
    ]
    me = (await harness.send(MIA, MIA, "/me"))[0]
    assert "Tier: Silver" in me and "Points: 79" in me
    assert "Spend in the last 12 months: CN¥79.80" in me
    assert "Spend CN¥1,920.20 more to reach Gold." in me
    # she spends some of the points, then the order is refunded in full
    await harness.send(MIA, MIA, "/donate 30")
    reply = await harness.send(SAM, SAM, "/refund 1")
    assert reply[0].startswith("Refund of CN¥79.80 for order #1 booked;")
    # the 49 points she still held are taken back; the donated 30 stay donated
    assert await points_of(harness, MIA) == 0
    async with harness.session() as session:
        tier = await session.get(MemberTier, MIA)
        assert tier is not None and (tier.rank, tier.spend) == (0, 0)
        assert await balance(session, AccountRef("charity_pool"), "PTS") == 30
    statement = (await harness.send(MIA, MIA, "/points"))[0]
    assert "−49  Points of a refunded order" in statement
    assert "−30  Donated to charity" in statement
    assert "+79  Points for an order" in statement
    assert "Tier: Member" in (await harness.send(MIA, MIA, "/me"))[0]


async def test_a_review_after_pickup_earns_points_once(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(MIA, MIA, "/start")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 9.90 CNY | stock 10")
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(KAI, TEA, "/buy 1")
    assert await harness.send(MIA, MIA, "/review 1 5 Lovely") == [
        "You can review an order once you have picked it up."
    ]
    await harness.send(LEE, TEA, "/paid @mia")
    harness.new_bot_messages(MIA)
    await harness.send(LEE, TEA, "/pickedup @mia")
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "Enjoy! How was order #1? Review it with /review 1 5 and a few words, and earn 10 points."
    ]
    assert await harness.send(MIA, MIA, "/review 1 9 Great") == [
        "Send /review ORDER STARS [words], with 1 to 5 stars, for example /review 12 5 Lovely tea."
    ]
    assert await harness.send(MIA, MIA, "/review 2 5") == ["That is not one of your orders."]
    assert await harness.send(MIA, MIA, "/review 1 5 Lovely <b>tea</b>") == [
        "Thank you for your review! It earned you 10 points. Send up to 5 photos (and one short "
        "video) here to show what you got; once the brand approves them they earn you 50 points."
    ]
    assert await harness.send(MIA, MIA, "/review 1 4") == [
        "You have already reviewed that order. Thank you!"
    ]
    async with harness.session() as session:
        review = await session.get(Review, 1)
    assert review is not None and (review.rating, review.comment) == (5, "Lovely <b>tea</b>")
    assert "+10  Review after pickup" in (await harness.send(MIA, MIA, "/points"))[0]


async def test_one_check_in_a_day_whether_in_private_or_in_the_group(harness: Harness) -> None:
    # given Tea Lovers runs on Shanghai time, and Mia (no time zone of her own) is in it
    await harness.join_groups()
    assert await harness.send(LEE, TEA, "/settings timezone Asia/Shanghai")
    await harness.send(MIA, MIA, "/start")
    # 23:30 UTC on 19 November is 07:30 on the 20th in Shanghai
    harness.clock.now = datetime(2026, 11, 19, 23, 30, tzinfo=UTC)
    assert await harness.send(MIA, TEA, "/checkin") == ["Mia checked in: +5 points. Streak: 1 day."]
    button = harness.emulator.last_bot_message(TEA)
    # when she checks in again in private, and with the group's button, the same moment
    assert await harness.send(MIA, MIA, "/checkin") == [
        "Mia, you have already checked in today. Streak: 1 day."
    ]
    assert await harness.press(MIA, TEA, button.message_id, index=0) == (
        "Mia, you have already checked in today. Streak: 1 day."
    )
    # then it counted once
    assert await points_of(harness, MIA) == 5
    async with harness.session() as session:
        rows = (await session.execute(select(CheckIn).where(CheckIn.member_id == MIA))).all()
    assert len(rows) == 1
    # and the next day in Shanghai, in private, is a new day
    harness.clock.advance(hours=17)  # 16:30 UTC on the 20th: 00:30 on the 21st in Shanghai
    assert await harness.send(MIA, MIA, "/checkin") == [
        "Mia checked in: +5 points. Streak: 2 days."
    ]
