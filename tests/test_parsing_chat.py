"""Input as a Chinese-speaking leader types it, end to end in a zh_Hans group: a deadline of
明天晚上8点, price tiers typed with full-width punctuation, a time zone named 北京; the card
shows the deadline and a countdown in days and hours."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlmodel import select

from models.groupbuy import GroupBuy, GroupBuyTier
from models.member import Member
from tests.conftest import KAI, LEE, OWNER, SAM, TEA, Harness

SHANGHAI = ZoneInfo("Asia/Shanghai")


async def a_chinese_group_with_a_product(harness: Harness) -> None:
    """Tea Lovers speaks Simplified Chinese on Beijing time; staff Sam adds a ¥39.90 tea."""
    await harness.join_groups()
    await harness.send(LEE, TEA, "/settings language zh_Hans")
    saved = await harness.send(LEE, TEA, "/settings timezone 北京")
    assert saved[0].startswith("已保存。") and "时区：Asia/Shanghai" in saved[0]
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")


async def test_a_leader_opens_a_groupbuy_as_she_would_say_it(harness: Harness) -> None:
    await a_chinese_group_with_a_product(harness)
    # when Lee opens a group-buy closing tomorrow at 8 in the evening, tiers typed on an IME
    await harness.send(LEE, TEA, "/groupbuy 1 明天晚上8点 tiers=１０：３５．９０，２０：３２．９０")
    # then it closes at 20:00 Beijing time tomorrow, with both tiers
    now = harness.clock.now.astimezone(SHANGHAI)
    tomorrow_8pm = datetime.combine(now.date() + timedelta(days=1), time(20, 0), SHANGHAI)
    async with harness.session() as session:
        [gb] = (await session.execute(select(GroupBuy))).scalars().all()
        tiers = (await session.execute(select(GroupBuyTier))).scalars().all()
    assert gb.deadline.replace(tzinfo=gb.deadline.tzinfo or ZoneInfo("UTC")) == tomorrow_8pm
    assert sorted((t.min_units, t.unit_price) for t in tiers) == [(10, 3590), (20, 3290)]
    # and the card says so in Chinese
    card = harness.emulator.last_bot_message(TEA).text or ""
    assert card.startswith("🛒 Oolong tea\n当前价格：¥39.90")
    assert "  ▫️ 满 10 件：¥35.90" in card and "  ▫️ 满 20 件：¥32.90" in card
    days, rest = divmod(int((tomorrow_8pm - now).total_seconds()) // 60, 24 * 60)
    hours, minutes = divmod(rest, 60)
    units = [f"{days} 天"] if days else []
    units += [f"{hours} 小时"] if hours else []
    units += [f"{minutes} 分钟"] if not days and (minutes or not hours) else []
    assert f"截止 {tomorrow_8pm:%m-%d} 20:00（还剩 {' '.join(units)}）" in card


async def test_a_tier_typed_with_a_full_width_colon_between_ascii_digits(
    harness: Harness,
) -> None:
    # the issue's own words: 明天晚上8点 and 10：35.90, as a Chinese IME types them
    await a_chinese_group_with_a_product(harness)
    replies = await harness.send(LEE, TEA, "/groupbuy 1 明天晚上8点 tiers=10：35.90")
    assert replies[0].startswith("🛒 Oolong tea\n当前价格：¥39.90"), replies
    assert "  ▫️ 满 10 件：¥35.90" in replies[0]
    async with harness.session() as session:
        tiers = (await session.execute(select(GroupBuyTier))).scalars().all()
    assert [(t.min_units, t.unit_price) for t in tiers] == [(10, 3590)]


async def test_a_card_counts_down_in_days_and_hours(harness: Harness) -> None:
    await a_chinese_group_with_a_product(harness)
    await harness.send(LEE, TEA, "/groupbuy 1 26天13小时")
    card = harness.emulator.last_bot_message(TEA).text or ""
    assert "（还剩 26 天 13 小时）" in card
    # an unreadable deadline is refused, naming the part, with Chinese examples
    replies = await harness.send(LEE, TEA, "/groupbuy 1 明天晚上")
    assert replies == [
        "看不懂时间晚上。可以这样写：3天、24小时、明天晚上8点、周六上午10点，或 12月31日20:00。"
    ]
    replies = await harness.send(LEE, TEA, "/groupbuy 1 3天 tiers=10：三十")
    assert replies[0].startswith("看不懂阶梯价10:三十。")


async def test_members_and_staff_set_their_time_zone_by_city_or_offset(
    harness: Harness,
) -> None:
    await harness.join_groups()
    # Lee (Simplified Chinese) names a city, Kai (Traditional) an offset, Sam (staff) a country
    await harness.send(LEE, LEE, "/start")
    assert await harness.send(LEE, LEE, "/timezone 北京") == ["你的时区已设为 Asia/Shanghai。"]
    await harness.send(KAI, KAI, "/start")
    assert (await harness.send(KAI, KAI, "/timezone UTC+8"))[0].endswith("UTC+8。")
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    assert await harness.send(SAM, SAM, "/timezone Singapore") == [
        "Your time zone is now Asia/Singapore."
    ]
    assert await harness.send(SAM, SAM, "/timezone 火星") == [
        "火星 is not a time zone I know. Write a city, a country or an offset, like Singapore, "
        "London, Asia/Shanghai or UTC+8."
    ]
    # a long paste is named cut short, so the refusal still fits one message
    pasted = "Asia/" + "Shanghai" * 600
    (refusal,) = await harness.send(SAM, SAM, f"/timezone {pasted}")
    assert refusal.startswith("Asia/ShanghaiShanghai") and "… is not a time zone I know." in refusal
    assert len(refusal) < 300
    async with harness.session() as session:
        zones = {m.id: m.timezone for m in (await session.execute(select(Member))).scalars()}
    assert (zones[LEE], zones[KAI], zones[SAM]) == ("Asia/Shanghai", "Etc/GMT-8", "Asia/Singapore")


async def test_a_leader_opens_a_groupbuy_with_chinese_option_keys(harness: Harness) -> None:
    await a_chinese_group_with_a_product(harness)
    # when Lee writes every option with its Chinese key, some with a full-width ＝
    replies = await harness.send(
        LEE,
        TEA,
        "/groupbuy 1 截止＝明天晚上8点 成团=20件 库存＝50 限购=3 阶梯＝１０：３５．９０ "
        "自提=A店，周六 10:00",
    )
    assert replies[0].startswith("🛒 Oolong tea\n当前价格：¥39.90"), replies
    # then each option took effect, as if typed in English
    now = harness.clock.now.astimezone(SHANGHAI)
    tomorrow_8pm = datetime.combine(now.date() + timedelta(days=1), time(20, 0), SHANGHAI)
    async with harness.session() as session:
        [gb] = (await session.execute(select(GroupBuy))).scalars().all()
        tiers = (await session.execute(select(GroupBuyTier))).scalars().all()
    assert gb.deadline.replace(tzinfo=gb.deadline.tzinfo or ZoneInfo("UTC")) == tomorrow_8pm
    assert (gb.min_kind, gb.min_count, gb.stock_cap, gb.per_member_limit) == ("units", 20, 50, 3)
    assert gb.pickup_point == "A店，周六 10:00"
    assert [(t.min_units, t.unit_price) for t in tiers] == [(10, 3590)]


async def test_chinese_refusals_and_help_show_the_chinese_keys(harness: Harness) -> None:
    await a_chinese_group_with_a_product(harness)
    # a refusal's example uses the keys Lee types
    replies = await harness.send(LEE, TEA, "/groupbuy 1 3天 阶梯=10：三十")
    assert replies == ["看不懂阶梯价10:三十。请写成 阶梯=10:35.90,30:32.90（件数：价格）。"]
    usage = (await harness.send(LEE, TEA, "/groupbuy 1"))[0]
    assert "成团=5 库存=50 限购=3 阶梯=10:35.90 自提=A店" in usage
    assert not {"min=", "stock=", "limit=", "tiers=", "pickup="} & set(usage.split())
    # and so does /help, under /groupbuy
    help_text = (await harness.send(LEE, TEA, "/help"))[0]
    assert "/groupbuy 3 24h 成团=5 库存=50 限购=3 阶梯=10:35.90,30:32.90 自提=A店" in help_text
