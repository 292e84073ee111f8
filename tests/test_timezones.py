"""One time-zone policy (services/zones.py), end to end: a group's zone for what happens in the
group, the member's (else their group's, else DEFAULT_TIMEZONE) in private, the reader's pick
(else DEFAULT_TIMEZONE) for staff reports; a time in another zone than the reader's names it."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from sqlmodel import col

from bot.config import Settings
from handlers.groupbuy import GroupBuyCallback
from models.audit import AuditEntry
from models.groupbuy import GroupBuy
from services.period import InvalidPeriod, parse_period
from services.zones import group_zone, member_zone, show, staff_zone
from tests.conftest import COFFEE, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_broadcast_outbox import make_harness
from tests.test_rewards import ask_to_redeem, given_a_catalog
from tgemu import Emulator

# the promotion policy's default caps, gap and quiet hours (tests/conftest.py UNPACED)
pytestmark = pytest.mark.pacing

# 15:00 UTC on a Monday: 23:00 in Shanghai (its quiet hours, 22:00-08:00), 15:00 in UTC (none)
SHANGHAI_NIGHT = datetime(2026, 11, 23, 15, 0, tzinfo=UTC)
# 20:00 UTC on the 23rd is already 04:00 on the 24th in Shanghai
SHANGHAI_TOMORROW = datetime(2026, 11, 23, 20, 0, tzinfo=UTC)


async def tap(harness: Harness, chat: int, label: str, *, user: int) -> str | None:
    last = harness.emulator.last_bot_message(chat)
    assert label in last.button_texts, (label, last.button_texts)
    return await harness.press(user, chat, last.message_id, index=last.button_texts.index(label))


async def latest_audit_time(harness: Harness, zone: str) -> str:
    """When the newest audit row before this call was written, on the clock of `zone`."""
    async with harness.session() as session:
        at = (await session.execute(select(func.max(col(AuditEntry.at))))).scalar_one()
    return at.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%d %H:%M")


def last_text(harness: Harness, chat: int) -> str:
    return harness.emulator.last_bot_message(chat).text or ""


async def shanghai_tea_group(harness: Harness) -> None:
    """Tea Lovers speaks zh_Hans and lives in Asia/Shanghai; Coffee Club stays in UTC."""
    await harness.join_groups()
    await harness.send(LEE, TEA, "/settings language zh_Hans")
    await harness.send(LEE, TEA, "/settings timezone Asia/Shanghai")
    for uid in (SAM, MIA, LEE):
        await harness.send(uid, uid, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")


def test_the_fallback_chain_and_the_named_zone() -> None:
    assert group_zone("Asia/Shanghai", "UTC") == "Asia/Shanghai"
    assert group_zone(None, "Europe/Berlin") == "Europe/Berlin"
    assert member_zone("Europe/London", "Asia/Shanghai", "UTC") == "Europe/London"
    assert member_zone(None, "Asia/Shanghai", "UTC") == "Asia/Shanghai"
    assert member_zone(None, None, "UTC") == "UTC"
    assert staff_zone(None, "Asia/Shanghai") == "Asia/Shanghai"
    assert staff_zone("Europe/London", "Asia/Shanghai") == "Europe/London"
    # the reader's own zone is not named; another one is, with offsets read as people write them
    assert show(SHANGHAI_NIGHT, "Asia/Shanghai", reader="Asia/Shanghai") == "2026-11-23 23:00"
    assert show(SHANGHAI_NIGHT, "Asia/Shanghai", reader=None) == "2026-11-23 23:00 Asia/Shanghai"
    assert show(SHANGHAI_NIGHT, "Etc/GMT-8", reader="UTC", pattern="%H:%M") == "23:00 UTC+8"


def test_periods_read_dates_as_people_type_them() -> None:
    today = date(2026, 12, 6)
    zone = "Asia/Shanghai"
    month = parse_period("11月1日至11月30日", timezone=zone, today=today)
    assert (month.first, month.last) == (date(2026, 11, 1), date(2026, 11, 30))
    assert parse_period("11月1日到11月30日", timezone=zone, today=today) == month
    assert parse_period("Nov 1 to Nov 30", timezone=zone, today=today) == month
    assert parse_period("2026-11-01..2026-11-30", timezone=zone, today=today) == month
    week = parse_period("7天", timezone=zone, today=today)
    assert (week.first, week.last) == (date(2026, 11, 30), today)
    assert parse_period("7 days", timezone=zone, today=today) == week
    # a day without a year is the last one that came, not the next
    new_year = parse_period("12月31日", timezone=zone, today=today)
    assert (new_year.first, new_year.last) == (date(2025, 12, 31), date(2025, 12, 31))
    assert parse_period("2026年11月1日", timezone=zone, today=today).first == date(2026, 11, 1)
    for bad in ("1d12h", "3天后", "2026-13-01", "11月1日至", "someday"):
        try:
            parse_period(bad, timezone=zone, today=today)
        except InvalidPeriod:
            continue
        raise AssertionError(bad)


async def test_zh_a_broadcast_held_by_quiet_hours_tells_the_sender_until_when_and_why(
    harness: Harness,
) -> None:
    # given Tea Lovers in Asia/Shanghai at 23:00 local time, and Lee (简体中文) made staff
    harness.clock.now = SHANGHAI_NIGHT
    await shanghai_tea_group(harness)
    await harness.send(OWNER, OWNER, "/grant_staff @lee")
    # when Lee broadcasts to all groups, Now
    await harness.send(LEE, LEE, "/broadcast")
    await harness.send(LEE, LEE, "周六下午品茶会，欢迎来店里坐坐")
    await tap(harness, LEE, "⏭ 跳过", user=LEE)
    await tap(harness, LEE, "⏭ 跳过", user=LEE)
    await tap(harness, LEE, "所有群组", user=LEE)
    # (the question names the zone a typed time is read in: Lee picked none, so the brand's)
    assert last_text(harness, LEE) == (
        "什么时候发？点“现在”，或发送类似 2026-12-01 10:00 的时间（你的时区 UTC）。"
    )
    await tap(harness, LEE, "现在", user=LEE)
    # then the summary says Tea Lovers waits for its quiet hours, until 08:00 Shanghai time
    summary = last_text(harness, LEE)
    assert "最早 2026-11-23 15:00 送达，最晚 2026-11-24 00:00（UTC）。" in summary
    assert "免打扰时段至 2026-11-24 08:00 Asia/Shanghai，届时再发：1 个聊天。" in summary
    assert "within the pacing rules" not in summary
    # and so does the answer to Confirm
    await tap(harness, LEE, "✅ 确认", user=LEE)
    scheduled = last_text(harness, LEE)
    assert "免打扰时段至 2026-11-24 08:00 Asia/Shanghai，届时再发：1 个聊天。" in scheduled
    # and Coffee Club (UTC, daytime) gets it now, Tea Lovers only at 08:00 Shanghai time
    assert await harness.runtime.broadcasts.pump() == 1
    assert last_text(harness, COFFEE).startswith("周六下午品茶会")
    assert not last_text(harness, TEA).startswith("周六下午品茶会")
    harness.clock.now = datetime(2026, 11, 24, 0, 0, 1, tzinfo=UTC)
    assert await harness.runtime.broadcasts.pump() == 1
    assert last_text(harness, TEA).startswith("周六下午品茶会")


async def test_a_member_without_a_zone_gets_the_quiet_hours_of_her_group(
    harness: Harness,
) -> None:
    # given Mia set no zone, was first seen in Tea Lovers (Shanghai), and said yes to offers
    harness.clock.now = SHANGHAI_NIGHT
    await shanghai_tea_group(harness)
    await harness.send(MIA, TEA, "/help")
    await tap(harness, MIA, "🔔 Offers", user=MIA)
    await tap(harness, MIA, "✅ Yes, send me offers", user=MIA)
    # when Sam (no zone either: the brand's, UTC) sends members an offer, Now
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "Tea tasting on Saturday")
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "Members who opted in", user=SAM)
    await tap(harness, SAM, "Now", user=SAM)
    # then he is told it waits for Mia's quiet hours, in her group's zone, named
    summary = last_text(harness, SAM)
    assert "First delivery 2026-11-24 00:00, last 2026-11-24 00:00 (UTC)." in summary
    assert "Held back by quiet hours until 2026-11-24 08:00 Asia/Shanghai: 1 chat." in summary
    await tap(harness, SAM, "✅ Confirm", user=SAM)
    # and nothing reaches her at 23:00 her time, but at 08:00
    assert await harness.runtime.broadcasts.pump() == 0
    harness.clock.now = datetime(2026, 11, 24, 0, 0, 1, tzinfo=UTC)
    assert await harness.runtime.broadcasts.pump() == 1
    assert last_text(harness, MIA).startswith(
        "📢 Promotion from Community Shop\nTea tasting on Saturday"
    )


@pytest.mark.unpaced  # two drops a few minutes apart: the deadlines, not the pacing
async def test_the_drop_wizard_reads_the_deadline_in_the_staff_members_zone(
    harness: Harness,
) -> None:
    # given Sam set /timezone Asia/Shanghai
    harness.clock.now = SHANGHAI_NIGHT
    await shanghai_tea_group(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 20")
    await harness.send(SAM, SAM, "/timezone Asia/Shanghai")
    # (stock 10 of 20, so the one-line /drop below has some left)
    # when he opens a drop step by step, closing 2026-11-25 20:00
    await harness.send(SAM, SAM, "/drop")
    await tap(harness, SAM, "#1 Oolong tea · CN¥39.90", user=SAM)
    ask = await harness.send(SAM, SAM, "2026-11-25 20:00")
    assert ask  # the next question
    for answer in ("2", "10", "2", "/skip", "/skip", "/skip"):
        await harness.send(SAM, SAM, answer)
    await tap(harness, SAM, "All groups", user=SAM)
    await harness.send(SAM, SAM, "/skip")
    await harness.send(SAM, SAM, "/skip")  # delivered as the product is
    # then the summary reads it back in his zone, and it closes at 12:00 UTC
    assert "Closes 2026-11-25 20:00 (Asia/Shanghai time)" in last_text(harness, SAM)
    await tap(harness, SAM, "✅ Confirm", user=SAM)
    async with harness.session() as session:
        gb = await session.get(GroupBuy, 1)
    assert gb is not None
    assert gb.deadline.astimezone(UTC) == datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
    # and the one-line /drop reads it the same way
    one_line = await harness.send(SAM, SAM, "/drop 1 2026-11-26 20:00 min=2 stock=5")
    assert one_line == ["Group-buy #2 posted in 2 groups."], one_line
    async with harness.session() as session:
        second = await session.get(GroupBuy, 2)
    assert second is not None
    assert second.deadline.astimezone(UTC) == datetime(2026, 11, 26, 12, 0, tzinfo=UTC)


async def test_my_orders_show_a_deadline_in_the_members_zone_else_the_groups_named(
    harness: Harness,
) -> None:
    # given a group-buy in Tea Lovers (Shanghai) closing at 20:00 Beijing time, Mia in it
    harness.clock.now = SHANGHAI_NIGHT
    await shanghai_tea_group(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 20")
    await harness.send(LEE, TEA, "/groupbuy 1 2026-11-25 20:00 min=3")
    card = harness.emulator.last_bot_message(TEA).message_id
    await harness.press(MIA, TEA, card, index=0)
    # when Mia, who set no zone, reads her orders
    await harness.send(MIA, MIA, "/orders")
    # then the deadline is in the group's zone, and the zone is named
    assert "the group-buy closes 11-25 20:00 Asia/Shanghai" in last_text(harness, MIA)
    # and once she sets her own zone, it is on her clock, not named
    await harness.send(MIA, MIA, "/timezone Europe/Berlin")
    await harness.send(MIA, MIA, "/orders")
    text = last_text(harness, MIA)
    assert "the group-buy closes 11-25 13:00\n" in text + "\n"
    assert "Asia/Shanghai" not in text


async def test_a_card_opened_in_private_is_on_the_members_group_clock_named(
    harness: Harness,
) -> None:
    # given a group-buy in Tea Lovers (Shanghai) closing at 20:00 there; Mia, no zone, seen there
    harness.clock.now = SHANGHAI_NIGHT
    await shanghai_tea_group(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 20")
    await harness.send(LEE, TEA, "/groupbuy 1 2026-11-25 20:00 min=3")
    await harness.send(MIA, TEA, "/help")
    # when she opens its card in private (a broadcast's button)
    menu = harness.emulator.last_bot_message(MIA)
    details = GroupBuyCallback(action="details", groupbuy_id=1).pack()
    await harness.press(MIA, MIA, menu.message_id, callback_data=details, force=True)
    # then its times are Shanghai's, and the card says so
    card = last_text(harness, MIA)
    assert "Ends 11-25 20:00" in card
    assert card.endswith("Times on this card are Asia/Shanghai time.")
    # and once she picks her own zone, the card is on her clock with nothing more to say
    await harness.send(MIA, MIA, "/timezone Europe/Berlin")
    await harness.press(MIA, MIA, menu.message_id, callback_data=details, force=True)
    card = last_text(harness, MIA)
    assert "Ends 11-25 13:00" in card
    assert card.endswith("Join it with the button under its card in your group.")


async def test_timezone_without_one_set_says_which_zone_is_used_and_how_to_set_one(
    harness: Harness,
) -> None:
    harness.clock.now = SHANGHAI_NIGHT
    await shanghai_tea_group(harness)
    # a member never seen in a group: the brand's zone
    assert await harness.send(SAM, SAM, "/timezone") == [
        "You have not set a time zone, so I show you times in UTC, the brand's. "
        "Set yours with /timezone Asia/Shanghai or /timezone UTC+8."
    ]
    # a member seen in Tea Lovers: that group's zone, in her language
    await harness.send(LEE, TEA, "/help")
    assert await harness.send(LEE, LEE, "/timezone") == [
        "你还没有设置时区，所以时间按你所在群的时区 Asia/Shanghai 显示。"
        "用 /timezone 北京、/timezone Asia/Shanghai 或 /timezone UTC+8 设置你的时区。"
    ]
    await harness.send(LEE, LEE, "/timezone 北京")
    assert await harness.send(LEE, LEE, "/timezone") == [
        "你的时区：Asia/Shanghai。用 /timezone Asia/Shanghai 修改。"
    ]


async def test_staff_reports_share_one_day_boundary_on_the_injected_clock(
    harness: Harness,
) -> None:
    # given 20:00 UTC on the 23rd, which is the 24th in Shanghai, and staff in Shanghai
    harness.clock.now = SHANGHAI_TOMORROW
    await shanghai_tea_group(harness)
    await harness.send(SAM, SAM, "/timezone Asia/Shanghai")
    await harness.send(OWNER, OWNER, "/timezone Asia/Shanghai")
    # then /export, /referral_stats and /stats all take "today" as the 24th
    exported = await harness.send(SAM, SAM, "/export 1d")
    assert exported[0].startswith("Ledger entries from 2026-11-24 to 2026-11-24"), exported
    referrals = await harness.send(SAM, SAM, "/referral_stats 1d")
    assert referrals[0].startswith("Referrals from 2026-11-24 to 2026-11-24")
    stats = await harness.send(SAM, SAM, "/stats 1d")
    assert any("Nov 24, 2026 to Nov 24, 2026 (Asia/Shanghai)" in text for text in stats), stats
    # and dates typed in Chinese are read too
    month = await harness.send(SAM, SAM, "/export 11月1日至11月30日")
    assert month[0].startswith("Ledger entries from 2026-11-01 to 2026-11-30"), month
    # and /audit shows its times on the owner's clock (his pick: not named), rows written at
    # the injected clock's time (04:00 on the 24th in Shanghai), so "7d" finds them
    assert await latest_audit_time(harness, "Asia/Shanghai") == "2026-11-24 04:00"
    audit = await harness.send(OWNER, OWNER, "/audit")
    assert f"✅ 2026-11-24 04:00 Sam ({SAM}) " in audit[0], audit
    assert not re.search(r"\d\d:\d\d (UTC|Asia/Shanghai) ", audit[0]), audit
    week = await harness.send(OWNER, OWNER, "/audit @sam 7d")
    assert f"✅ 2026-11-24 04:00 Sam ({SAM}) " in week[0], week


async def test_staff_reports_without_a_pick_use_the_brands_zone(
    emulator: Emulator, settings: Settings
) -> None:
    # given DEFAULT_TIMEZONE=Asia/Shanghai and staff who set no zone, at 04:00 Shanghai time
    harness = await make_harness(emulator, settings, default_timezone="Asia/Shanghai")
    try:
        harness.clock.now = SHANGHAI_TOMORROW
        await harness.join_groups()
        await harness.send(SAM, SAM, "/start")
        await harness.send(OWNER, OWNER, "/grant_staff @sam")
        # then the reports' day is the brand's
        exported = await harness.send(SAM, SAM, "/export 1d")
        assert exported[0].startswith("Ledger entries from 2026-11-24 to 2026-11-24"), exported
        referrals = await harness.send(SAM, SAM, "/referral_stats 1d")
        assert referrals[0].startswith("Referrals from 2026-11-24 to 2026-11-24")
        # and /audit names the brand's zone, which the owner never picked
        audit = await harness.send(OWNER, OWNER, "/audit")
        assert await latest_audit_time(harness, "Asia/Shanghai") == "2026-11-24 04:00"
        assert f"✅ 2026-11-24 04:00 Asia/Shanghai Olivia ({OWNER}) " in audit[0], audit
    finally:
        await harness.runtime.close()


async def test_a_staff_members_broadcast_question_names_the_zone_she_picked(
    harness: Harness,
) -> None:
    await shanghai_tea_group(harness)
    await harness.send(SAM, SAM, "/timezone UTC+8")
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, "Tea tasting on Saturday")
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "All groups", user=SAM)
    assert last_text(harness, SAM) == (
        "When? Tap Now, or send a time like 2026-12-01 10:00 (your time zone, UTC+8)."
    )
    # and a time it cannot read is refused naming the same zone
    refused = await harness.send(SAM, SAM, "someday")
    assert refused[0].endswith("(your time zone, UTC+8), or tap Now."), refused


async def test_a_coupons_expiry_is_on_the_readers_clock_named_when_not_theirs(
    harness: Harness,
) -> None:
    # given 23:00 on the 23rd in Shanghai; Sam (staff) picked Asia/Shanghai, Mia picked UTC,
    # Lee picked none and was seen in Tea Lovers (Shanghai, 简体中文)
    harness.clock.now = SHANGHAI_NIGHT
    await shanghai_tea_group(harness)
    await harness.send(SAM, SAM, "/timezone Asia/Shanghai")
    await harness.send(MIA, MIA, "/timezone UTC")
    await harness.send(LEE, TEA, "/help")
    # when Sam creates a coupon for one day: it lasts to the end of tomorrow on his clock
    created = await harness.send(SAM, SAM, "/coupon_new TEA10 10% days=1")
    assert created == [
        "Coupon TEA10 created: 10% off, until 2026-11-24 23:59. "
        "Give it with /coupon_grant TEA10 @member."
    ]
    # then Mia reads it on her own clock (UTC, not named)
    harness.new_bot_messages(MIA)
    await harness.send(SAM, SAM, "/coupon_grant TEA10 @mia")
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "You received coupon TEA10: 10% off, until 2026-11-24 15:59. See /coupons."
    ]
    assert (
        "🎟 TEA10: 10% off, until 2026-11-24 15:59" in (await harness.send(MIA, MIA, "/coupons"))[0]
    )
    # and Lee, who picked no zone, on his group's clock, named
    harness.new_bot_messages(LEE)
    await harness.send(SAM, SAM, "/coupon_grant TEA10 @lee")
    [notice] = [m.text for m in harness.new_bot_messages(LEE)]
    assert "2026-11-24 23:59 Asia/Shanghai" in notice, notice


async def test_the_rewards_to_hand_over_are_on_the_staff_members_clock(
    harness: Harness,
) -> None:
    # given Mia redeemed a Tea sample at 23:00 on the 23rd in Shanghai
    harness.clock.now = SHANGHAI_NIGHT
    await given_a_catalog(harness)
    question = await ask_to_redeem(harness)
    await harness.press(MIA, MIA, question, index=0)
    redeemed = harness.clock.now
    # then Sam, with no zone picked, reads it on the brand's clock (UTC), named
    listing = await harness.send(SAM, SAM, "/fulfil")
    moment = redeemed.strftime("%Y-%m-%d %H:%M")
    assert listing[0].splitlines()[1] == f"#1 Mia: Tea sample, redeemed {moment} UTC"
    # and once he picks Asia/Shanghai, on his clock, not named
    await harness.send(SAM, SAM, "/timezone Asia/Shanghai")
    local = redeemed.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%Y-%m-%d %H:%M")
    listing = await harness.send(SAM, SAM, "/fulfil")
    assert listing[0].splitlines()[1] == f"#1 Mia: Tea sample, redeemed {local}"
