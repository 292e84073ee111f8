"""Member care on a controlled clock: a birthday gift once a year, tier news up and a gentle
word before a drop, and points that expire oldest first after a week's warning."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col

from bot.care import months_before
from handlers.care import CARE_USAGE
from models.broadcast import BroadcastRecipient
from services.broadcast import set_consent
from services.loyalty import BirthdayError, is_birthday, parse_birthday
from services.points import points_balance
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness

# the promotion policy's default caps, gap and quiet hours (tests/conftest.py UNPACED)
pytestmark = pytest.mark.pacing


async def make_staff(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


async def points_of(harness: Harness, member_id: int) -> int:
    async with harness.session() as session:
        return await points_balance(session, member_id)


def test_birthdays_are_read_as_month_and_day_only() -> None:
    assert parse_birthday("03-14") == (3, 14)
    assert parse_birthday("3/14") == (3, 14)
    assert parse_birthday("0229") == (2, 29)
    for bad in ("13-01", "02-30", "1990-03-14", "march", "", "3-", "٣-١٤"):
        try:
            parse_birthday(bad)
        except BirthdayError:
            continue
        raise AssertionError(f"{bad!r} was accepted")
    # a 29 February birthday is kept on the 28th in a common year
    assert is_birthday(2, 29, date(2027, 2, 28))
    assert not is_birthday(2, 29, date(2028, 2, 28))


def test_months_before_clamps_to_the_end_of_the_month() -> None:
    assert months_before(datetime(2026, 3, 31, tzinfo=UTC), 1) == datetime(2026, 2, 28, tzinfo=UTC)
    assert months_before(datetime(2026, 1, 15, tzinfo=UTC), 13) == datetime(
        2024, 12, 15, tzinfo=UTC
    )


async def test_a_birthday_gift_arrives_once_a_year_on_the_members_own_day(
    harness: Harness,
) -> None:
    await make_staff(harness)
    await harness.send(MIA, MIA, "/start")
    await harness.send(SAM, SAM, "/tier_set 0 birthday=30")
    assert await harness.send(MIA, MIA, "/birthday 31-02") == [
        "31-02 is not a month and day I can read. Try /birthday 03-14."
    ]
    assert await harness.send(MIA, MIA, "/birthday 11-25") == [
        "Saved: your birthday is 11-25. Your tier's birthday gift is 30 points."
    ]
    await harness.send(MIA, MIA, "/timezone Asia/Shanghai")
    # 23:00 UTC on the 24th is already the 25th in Shanghai
    harness.clock.now = datetime(2026, 11, 24, 15, 0, tzinfo=UTC)
    report = await harness.runtime.care.run()
    assert report.birthdays == 0
    harness.clock.now = datetime(2026, 11, 24, 17, 0, tzinfo=UTC)
    harness.new_bot_messages(MIA)
    report = await harness.runtime.care.run()
    await harness.runtime.notifier.drain()
    assert report.birthdays == 1
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "Happy birthday! 🎂 Here is your birthday gift: 30 points."
    ]
    # the job runs every hour: the same day, and the rest of the year, give nothing more
    for hours in (1, 5, 24 * 30):
        harness.clock.advance(hours=hours)
        assert (await harness.runtime.care.run()).birthdays == 0
    assert await points_of(harness, MIA) == 30
    # next year's birthday gives again
    harness.clock.now = datetime(2027, 11, 25, 2, 0, tzinfo=UTC)
    assert (await harness.runtime.care.run()).birthdays == 1
    await harness.runtime.notifier.drain()  # the greeting goes after the gift committed
    assert await points_of(harness, MIA) == 60
    statement = (await harness.send(MIA, MIA, "/points"))[0]
    assert statement.count("Birthday gift") == 2


async def test_a_member_is_told_gently_before_their_tier_drops(harness: Harness) -> None:
    # the order is paid now (the ledger and order history keep real time); the clock then
    # moves on to when that order is about to leave the rolling 12 months
    await harness.join_groups()
    await make_staff(harness)
    for uid in (MIA, KAI):
        await harness.send(uid, uid, "/start")
    await harness.send(SAM, SAM, "/tier_set 1 spend=50")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 60.00 CNY | stock 20")
    # Mia agreed to promotions in private, Kai did not
    async with harness.session() as session, session.begin():
        await set_consent(
            session, member_id=MIA, opted_in=True, wording_version="v1", now=harness.clock.now
        )
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(KAI, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")  # ¥60: Silver
    await harness.send(LEE, TEA, "/paid @kai")
    harness.clock.advance(days=300)
    assert (await harness.runtime.care.run()).warned_drop == 0  # still months away
    harness.clock.advance(days=40)
    harness.new_bot_messages(MIA)
    harness.new_bot_messages(KAI)
    report = await harness.runtime.care.run()
    assert report.warned_drop == 2
    # the word asks for an order: a promotion, which the policy places (quiet hours hold)
    # and sends through the outbox, with the ad label and the Stop button
    async with harness.session() as session:
        rows = {
            row.chat_id: row
            for row in (
                await session.execute(
                    select(BroadcastRecipient).where(
                        col(BroadcastRecipient.chat_id).in_((MIA, KAI))
                    )
                )
            ).scalars()
        }
    assert rows[KAI].status == "skipped" and rows[KAI].reason == "not_opted_in"
    harness.clock.now = max(harness.clock.now, rows[MIA].not_before)
    assert await harness.runtime.broadcasts.pump() == 1
    [note] = harness.new_bot_messages(MIA)
    assert note.text == (
        "📢 Promotion from Community Shop\n"
        "A friendly note: to stay Silver for another month, an order of CN¥50.00 within 30 "
        "days is enough. Thank you for being with us!"
    )
    assert "🔕 Stop promotions" in note.button_texts
    assert harness.new_bot_messages(KAI) == []
    # once a month at most
    harness.clock.advance(days=3)
    assert (await harness.runtime.care.run()).warned_drop == 0
    # after the window passes, the tier falls quietly
    harness.clock.advance(days=30)
    await harness.runtime.care.run()
    assert "Tier: Member" in (await harness.send(MIA, MIA, "/me"))[0]


async def test_points_expire_oldest_first_after_a_weeks_warning(harness: Harness) -> None:
    harness.runtime.settings.points_expiry_months = 12
    await harness.join_groups()
    await harness.send(MIA, MIA, "/start")
    await harness.send(MIA, TEA, "/checkin")  # 5 points, earned now
    await harness.send(MIA, MIA, "/donate 3")  # spends the oldest first
    start = harness.clock.now
    harness.clock.advance(days=100)
    await harness.send(MIA, TEA, "/checkin")  # 5 more, 100 days later
    # five days before the first points turn 12 months old: a warning, nothing expires yet
    harness.clock.now = start + timedelta(days=360)
    harness.new_bot_messages(MIA)
    report = await harness.runtime.care.run()
    await harness.runtime.notifier.drain()
    assert (report.warned_expiry, report.expired) == (1, 0)
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "2 points will expire within a week. Spend them in /rewards."
    ]
    harness.clock.advance(days=1)
    assert (await harness.runtime.care.run()).warned_expiry == 0  # once a week
    # a year on, the 2 left of the oldest 5 expire; the later 5 stay
    harness.clock.now = start + timedelta(days=367)
    report = await harness.runtime.care.run()
    assert report.expired == 2
    assert await points_of(harness, MIA) == 5
    assert (await harness.runtime.care.run()).expired == 0
    assert "−2  Points expired" in (await harness.send(MIA, MIA, "/points"))[0]


async def test_care_rules_welcome_new_members_and_win_back_churned_ones(
    harness: Harness,
) -> None:
    # daytime, so the outbox's quiet hours do not hold the messages back
    harness.clock.now = harness.clock.now.replace(hour=10)
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(MIA, MIA, "/start")
    await harness.send(KAI, KAI, "/start")
    for label in ("🔔 Offers", "✅ Yes, send me offers"):  # Mia accepts offers; Kai does not
        menu = harness.emulator.last_bot_message(MIA)
        await harness.press(MIA, MIA, menu.message_id, index=menu.button_texts.index(label))
    await harness.send(SAM, SAM, "/coupon_new BACK10 10% days=365")
    assert await harness.send(SAM, SAM, "/care_add sleepy | hi") == [
        harness.runtime.i18n.gettext(CARE_USAGE, locale="en")
    ]
    assert await harness.send(SAM, SAM, "/care_add new points=20 | Welcome <b>aboard</b>!") == [
        "Care rule #1 added: members entering new get it once."
    ]
    await harness.send(SAM, SAM, "/care_add churned coupon=BACK10 | We miss you!")
    assert await harness.send(MIA, MIA, "/care_add new | x") == [
        "Sorry, only brand staff can do that."
    ]
    # the first run sorts everyone: new members get the gift at once, and the words through
    # the outbox, which only sends promotions to members who opted in
    harness.new_bot_messages(MIA)
    harness.new_bot_messages(KAI)
    report = await harness.runtime.care.run()
    await harness.runtime.notifier.drain()
    await harness.runtime.broadcasts.pump()
    assert report.cared >= 2
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "A gift from us: 20 points.",
        "📢 Promotion from Community Shop\nWelcome <b>aboard</b>!",
    ]
    assert [m.text for m in harness.new_bot_messages(KAI)] == ["送你一份禮物：20 積分。"]
    assert await points_of(harness, MIA) == 20
    assert (await harness.runtime.care.run()).cared == 0
    # months without an order: at risk, then churned, which brings the win-back coupon
    harness.clock.advance(days=30)
    await harness.runtime.care.run()
    harness.clock.advance(days=100)
    await harness.runtime.care.run()
    await harness.runtime.notifier.drain()
    await harness.runtime.broadcasts.pump()
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "A coupon for you: see /coupons.",
        "📢 Promotion from Community Shop\nWe miss you!",
    ]
    assert "🎟 BACK10" in (await harness.send(MIA, MIA, "/coupons"))[0]
    overview = (await harness.send(SAM, SAM, "/care"))[0]
    assert "churned: " in overview and "#2 any → churned: a coupon “We miss you!”" in overview
    assert await harness.send(SAM, SAM, "/care_off 2") == ["Care rule #2 stopped."]
    assert await harness.send(SAM, SAM, "/care_off 2") == [
        "There is no active care rule #2. /care lists them with their numbers."
    ]
