"""Member perks as members and staff live them in chat: check-in streaks across a time-zone
midnight, points for orders and the tier they lead to, refunds taking them back, gifts,
donations and the redeem catalog."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

from sqlmodel import select

from models.loyalty import CheckIn
from models.review import Review
from models.rewards import Redemption, Reward
from models.tiers import MemberTier
from services.ledger import AccountRef, balance
from services.points import points_balance
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness


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


async def test_gifts_are_capped_never_to_oneself_and_never_beyond_the_balance(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await harness.send(MIA, MIA, "/start")
    await harness.send(LEE, LEE, "/start")
    await harness.send(MIA, TEA, "/checkin")  # 5 points
    assert await harness.send(MIA, MIA, "/gift @lee 6") == [
        "You do not have enough points for that."
    ]
    assert await harness.send(MIA, MIA, "/gift @mia 1") == ["You cannot give points to yourself."]
    assert await harness.send(MIA, MIA, "/gift @lee -3") == [
        "The number of points must be a whole number from 1 to 1,000,000,000."
    ]
    assert await harness.send(MIA, MIA, "/gift @nobody 3") == [
        "I do not know that member yet. They need to talk to me or in a group first."
    ]
    assert await harness.send(MIA, MIA, "/gift") == [
        "Send /gift @username 50, or reply to someone's message with /gift 50. Add signed at "
        "the end to be named to them; without it they read that a member gave them points."
    ]
    harness.new_bot_messages(LEE)
    assert await harness.send(MIA, MIA, "/gift @lee 3 signed") == ["You gave 3 points to Lee."]
    # Lee reads it in his language, named as Mia signed it
    assert [m.text for m in harness.new_bot_messages(LEE)] == ["Mia送了你 3 积分。查看 /points。"]
    assert (await points_of(harness, MIA), await points_of(harness, LEE)) == (2, 3)


async def test_the_daily_gift_cap_holds(harness: Harness) -> None:
    harness.runtime.settings.gift_daily_cap = 4
    await harness.join_groups()
    await harness.send(MIA, TEA, "/checkin")
    await harness.send(KAI, TEA, "/checkin")
    assert await harness.send(MIA, TEA, "/gift @kai 3") == ["You gave 3 points to Kai."]
    assert await harness.send(MIA, TEA, "/gift @kai 2") == [
        "That is more than you may give away today (at most 4 points a day)."
    ]
    assert (await points_of(harness, MIA), await points_of(harness, KAI)) == (2, 8)


async def test_members_redeem_rewards_while_stock_and_points_last(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    assert await harness.send(MIA, MIA, "/rewards") == ["There are no rewards to redeem yet."]
    assert await harness.send(MIA, MIA, "/reward_add Tea cup | 5 | 1") == [
        "Sorry, only brand staff can do that."
    ]
    assert await harness.send(SAM, SAM, "/reward_add Tea cup | five") == [
        "Send /reward_add Title | points | stock, for example /reward_add Tea cup | 500 | 20. "
        "Add | coupon CODE to give a coupon instead of a thing."
    ]
    assert await harness.send(SAM, SAM, "/reward_add Tea <cup> | 5 | 1") == [
        "Reward #1 added: Tea <cup> for 5 points."
    ]
    await harness.send(MIA, TEA, "/checkin")
    await harness.send(KAI, COFFEE, "/checkin")
    catalog = (await harness.send(MIA, MIA, "/rewards"))[0]
    assert "#1 Tea <cup>: 5 points (1 left)" in catalog
    menu = harness.emulator.last_bot_message(MIA)
    assert menu.button_texts == ["Redeem Tea <cup>", "⬅️ Back"]
    await harness.press(MIA, MIA, menu.message_id, index=0)
    question = harness.emulator.last_bot_message(MIA)
    assert question.text == "Redeem “Tea <cup>” for 5 points? You will have 0 points left."
    assert await harness.press(MIA, MIA, question.message_id, index=0) == "Redeemed."
    assert harness.emulator.last_bot_message(MIA).text == (
        "You redeemed Tea <cup> for 5 points (redemption #1). Our staff will hand it to you "
        "and I will tell you when they have. You have 0 points left."
    )
    # the last one is gone: Kai is told, and keeps his points
    await harness.send(KAI, KAI, "/rewards")
    kai_menu = harness.emulator.last_bot_message(KAI)
    assert kai_menu.button_texts == ["⬅️ 返回"]  # no Redeem: only the way back
    await harness.send(SAM, SAM, "/reward_add Tea pot | 50")
    await harness.send(KAI, KAI, "/rewards")
    kai_menu = harness.emulator.last_bot_message(KAI)
    # Kai reads Traditional Chinese
    assert await harness.press(KAI, KAI, kai_menu.message_id, index=0) == (
        "「Tea pot」需要 50 積分，你只有 5 積分。"
    )
    assert await points_of(harness, KAI) == 5
    async with harness.session() as session:
        rewards = (await session.execute(select(Reward).order_by(Reward.id))).scalars().all()
        redemptions = (await session.execute(select(Redemption))).scalars().all()
    assert [r.stock for r in rewards] == [0, None]
    assert [(r.member_id, r.cost) for r in redemptions] == [(MIA, 5)]
    # staff take a reward out of the catalog
    assert await harness.send(SAM, SAM, "/reward_off 2") == ["Reward #2 is no longer offered."]
    assert await harness.send(SAM, SAM, "/reward_off 9") == [
        "There is no reward #9. /rewards lists them with their numbers."
    ]
    assert "Tea pot" not in (await harness.send(KAI, KAI, "/rewards"))[0]


async def test_donations_fill_the_charity_pool_staff_report_on(harness: Harness) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(MIA, TEA, "/checkin")
    assert await harness.send(MIA, MIA, "/donate 6") == ["You do not have enough points for that."]
    assert await harness.send(MIA, MIA, "/donate lots") == [
        "Send /donate 100 to give 100 of your points to the community's charity pool."
    ]
    assert await harness.send(MIA, MIA, "/donate 4") == [
        "Thank you! You donated 4 points to the charity pool."
    ]
    assert await harness.send(MIA, MIA, "/charity") == ["Sorry, only brand staff can do that."]
    assert await harness.send(SAM, SAM, "/charity") == [
        "The charity pool holds 4 points donated by members."
    ]


async def test_tiers_are_shown_translated_and_bad_tier_changes_are_refused(
    harness: Harness,
) -> None:
    await make_staff(harness)
    tiers = (await harness.send(LEE, LEE, "/tiers"))[0]
    # Lee reads Simplified Chinese: the default tiers' names are translated
    assert tiers.splitlines()[:3] == ["会员等级", "", "0. 普通会员：12 个月内消费满 ¥0.00"]
    assert "2. 黄金会员：12 个月内消费满 ¥2,000.00" in tiers
    assert await harness.send(SAM, SAM, "/tier_set 2 spend=10") == [
        "Each tier must need more spend than the tier below it."
    ]
    assert await harness.send(SAM, SAM, "/tier_set 9 name=Jade") == [
        "Tiers are numbered from 0 up, without gaps, at most 7."
    ]
    assert await harness.send(SAM, SAM, "/tier_set 1 multiplier=20") == [
        "The points multiplier must be from 1 to 10, like 1.5."
    ]
    assert await harness.send(SAM, SAM, "/tier_set 1 colour=red") == [
        "Send /tier_set RANK name=Gold spend=2000 discount=5 multiplier=1.5 birthday=200 vip=yes "
        "double=yes (any of them)."
    ]
    saved = await harness.send(SAM, SAM, "/tier_set 4 name=Black_Card spend=50000 vip=yes")
    assert "4. Black Card: from CN¥50,000.00 spent in 12 months" in saved[1]
    assert await harness.send(MIA, MIA, "/tier_set 1 spend=1") == [
        "Sorry, only brand staff can do that."
    ]


async def test_a_vip_window_admits_only_the_named_tier_and_above_until_it_ends(
    harness: Harness,
) -> None:
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(SAM, SAM, "/tier_set 1 spend=50")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 60.00 CNY | stock 20")
    await harness.send(MIA, MIA, "/start")
    await harness.send(LEE, LEE, "/start")
    # Mia becomes Silver with a first order
    await harness.send(MIA, TEA, "/buy 1")
    await harness.send(LEE, TEA, "/paid @mia")
    harness.clock.now = datetime(2026, 11, 21, 4, 0, tzinfo=UTC)
    assert await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=5 vip=2h:nobody") == [
        "Write the VIP window as vip=2h for the VIP tiers, vip=2h:gold for Gold and above "
        "(see /tiers), or vip=2h:vip / vip=2h:core for the members of the VIP or core groups."
    ]
    assert await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=5 vip=30h:silver") == [
        "The VIP window must end before the deadline."
    ]
    await harness.send(LEE, TEA, "/groupbuy 1 24h min=2 stock=5 vip=2h:silver")
    card = harness.emulator.last_bot_message(TEA)
    assert "👑 VIP early access until 11-21 06:00" in card.text
    # Lee (a Member) must wait; Mia (Silver) joins at once
    refusal = await harness.press(LEE, TEA, card.message_id, index=0)
    assert refusal == "06:00 前仅限 VIP 会员优先参团，之后所有人都可参加。用 /me 查看你的等级。"
    assert await harness.press(MIA, TEA, card.message_id, index=0) == "You are #1, quantity 1."
    # when the window ends, everyone may join
    harness.clock.advance(hours=2)
    assert await harness.press(LEE, TEA, card.message_id, index=0) == "你是第 2 位，数量 1。"


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


async def test_tiers_can_be_reached_by_points_earned_instead(harness: Harness) -> None:
    harness.runtime.settings.tier_basis = "points"
    await harness.join_groups()
    await make_staff(harness)
    await harness.send(MIA, MIA, "/start")
    saved = await harness.send(SAM, SAM, "/tier_set 1 spend=12")
    assert "1. Silver: from 12 points earned in 12 months" in saved[1]
    await harness.send(MIA, TEA, "/checkin")
    me = (await harness.send(MIA, MIA, "/me"))[0]
    assert "Earn 12 points more to reach Silver." in me  # nothing recomputed yet
    await harness.send(MIA, MIA, "/donate 5")  # giving points away does not undo earning them
    harness.clock.advance(days=1)
    await harness.send(MIA, TEA, "/checkin")
    harness.clock.advance(days=1)
    await harness.send(MIA, TEA, "/checkin")  # 15 earned in all
    await harness.runtime.care.run()
    me = (await harness.send(MIA, MIA, "/me"))[0]
    assert "Tier: Silver" in me and "Points earned in the last 12 months: 15 points" in me


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
