"""The weekly digest (bot/digest.py) on a controlled clock, against a small store whose figures
are worked out by hand below.

The brand's time zone is Asia/Shanghai (UTC+8), so its Monday 09:00 is Monday 01:00 UTC. The
digest of Monday 2026-12-07 compares last week W1 (Mon Nov 30 - Sun Dec 6) with W0 (Nov 23-29).

- Tea Lovers (led by Lee): A, B, C and D were first seen on Nov 16; E joins on Dec 2 through A's
  link. Coffee Club: F, first seen on Nov 16.
- Check-ins: A on Nov 24 (W0); A, B, C and E in W1; F once in each week.
- Paid orders in Tea: A on Nov 10, Nov 25 (W0, 15 days later) and Dec 1 (W1, 6 days later);
  B's first on Dec 2 (W1).

The whole brand (staff's digest), W0 -> W1:
  members 5 -> 6; active 2/5 (A, F) = 40% -> 5/6 (A, B, C, E, F) = 83.3%; new members 0 -> 1;
  repurchase 1/1 = 100% -> 1/2 = 50%; median days between orders 15 -> 6;
  discount cost 0 -> 0; fission, referral conversion and coupon redemption undefined in W0.
  Movement (change over the larger value): new members 1, median gap 9/15 = 0.6,
  active (5/6 - 2/5) / (5/6) = 0.52, repurchase 0.5, members 1/6; discount cost 0 (sixth).
Tea alone (Lee's digest): members 4 -> 5; active 1/4 = 25% -> 4/5 = 80% (movement 0.6875);
  new members 0 -> 1; repurchase 100% -> 50%; median gap 15 -> 6.
"""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from PIL import Image
from sqlalchemy import func, select, update

from bot.config import Settings
from bot.digest import WeeklyDigest
from handlers.views.chart import MARGIN, PANEL_GAP, PANEL_HEIGHT, STATS_WIDTH
from models.community import CommunityMember
from models.digest import DigestSend
from models.loyalty import CheckIn
from models.member import Member
from models.order import ORDER_PAID, ORDER_RESERVED, Order, OrderEvent
from models.referral import REFERRAL_PENDING, Referral, ReferralCode
from services.digest import digest_week
from tests.conftest import COFFEE, LEE, MIA, OWNER, TEA, Harness

A, B, C, D, E, F = 2001, 2002, 2003, 2004, 2005, 2006
ZONE = "Asia/Shanghai"


@pytest.fixture
def settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"default_timezone": ZONE, "digest_hour": 9})


def utc(month: int, day: int, hour: int = 4) -> datetime:
    """A moment in UTC (04:00 UTC is noon in Shanghai: the same local day)."""
    return datetime(2026, month, day, hour, tzinfo=UTC)


async def seed(harness: Harness) -> None:
    """The store of the module's docstring."""
    async with harness.session() as session, session.begin():
        # the cast seen while the bot joined the groups (on the real clock) arrive after the
        # weeks looked at, so only the store below counts
        await session.execute(
            update(CommunityMember).values(first_seen_at=utc(12, 7, 1), last_seen_at=utc(12, 7, 1))
        )
        for member in (A, B, C, D, E, F):
            session.add(Member(id=member, first_name=f"m{member}"))
        await session.flush()
        for member, group, first in (
            (A, TEA, utc(11, 16)),
            (B, TEA, utc(11, 16)),
            (C, TEA, utc(11, 16)),
            (D, TEA, utc(11, 16)),
            (E, TEA, utc(12, 2)),
            (F, COFFEE, utc(11, 16)),
        ):
            session.add(
                CommunityMember(
                    community_id=group, member_id=member, first_seen_at=first, last_seen_at=first
                )
            )
        code = ReferralCode(code="a-link", member_id=A)
        session.add(code)
        await session.flush()
        assert code.id is not None
        session.add(
            Referral(
                invitee_id=E,
                referrer_id=A,
                code_id=code.id,
                status=REFERRAL_PENDING,
                community_id=TEA,
                created_at=utc(12, 2),
            )
        )
        for member, group, day in (
            (A, TEA, utc(11, 24)),
            (F, COFFEE, utc(11, 25)),
            (A, TEA, utc(12, 1)),
            (B, TEA, utc(12, 3)),
            (C, TEA, utc(12, 4)),
            (E, TEA, utc(12, 5)),
            (F, COFFEE, utc(12, 1)),
        ):
            session.add(CheckIn(member_id=member, day=day.date(), chat_id=group, created_at=day))
        for member, paid_at in (
            (A, utc(11, 10)),
            (A, utc(11, 25)),
            (A, utc(12, 1)),
            (B, utc(12, 2)),
        ):
            order = Order(
                member_id=member,
                chat_id=TEA,
                title="tea",
                quantity=1,
                unit_price=1000,
                currency="CNY",
                payment_mode="offline",
                status=ORDER_PAID,
                paid_amount=1000,
                created_at=paid_at,
                updated_at=paid_at,
            )
            session.add(order)
            await session.flush()
            assert order.id is not None
            session.add(OrderEvent(order_id=order.id, to_status=ORDER_RESERVED, at=paid_at))
            session.add(
                OrderEvent(
                    order_id=order.id, from_status=ORDER_RESERVED, to_status=ORDER_PAID, at=paid_at
                )
            )


async def ready(harness: Harness) -> WeeklyDigest:
    """The groups joined (Lee leads Tea), the owner and Lee have started the bot, the store
    seeded; the clock on Monday Dec 7, 00:30 UTC."""
    harness.clock.now = utc(12, 7, 0) + timedelta(minutes=30)
    await harness.join_groups()
    for user in (OWNER, LEE, MIA):
        await harness.send(user, user, "/start")
    await seed(harness)
    for chat in (OWNER, LEE, MIA):
        harness.new_bot_messages(chat)
    return harness.runtime.digest


async def digests(harness: Harness, chat: int) -> list[str]:
    """The digests that reached the chat since the last look (their captions)."""
    await harness.runtime.notifier.drain()
    return [
        message.text or message.raw.get("caption", "")
        for message in harness.new_bot_messages(chat)
        if message.kind == "photo"
    ]


def test_the_digest_is_due_from_monday_nine_in_the_brands_zone() -> None:
    # Monday 08:59 in Shanghai is Monday 00:59 UTC: not yet; 09:00 is; the rest of the week
    # catches up, and the next Monday before nine is nobody's due
    assert digest_week(utc(12, 7, 0) + timedelta(minutes=59), timezone=ZONE, hour=9) is None
    assert str(digest_week(utc(12, 7, 1), timezone=ZONE, hour=9)) == "2026-12-07"
    assert str(digest_week(utc(12, 13, 15), timezone=ZONE, hour=9)) == "2026-12-07"
    # Sunday 20:00 UTC is already Monday 04:00 in Shanghai: before nine, nothing
    assert digest_week(utc(12, 13, 20), timezone=ZONE, hour=9) is None


async def test_monday_digest_goes_once_with_the_numbers_that_moved_most(
    harness: Harness,
) -> None:
    job = await ready(harness)
    # given Monday 08:30 in Shanghai: nothing goes yet
    run = await job.run()
    assert run.sent == 0 and run.week is None
    assert await digests(harness, OWNER) == []
    # when the clock reaches 09:00 in Shanghai (01:00 UTC)
    harness.clock.now = utc(12, 7, 1)
    run = await job.run()
    # then the owner (staff) and Lee (Tea's leader) get one digest each; Mia, a member, none
    assert run.sent == 2
    [staff] = await digests(harness, OWNER)
    assert staff.splitlines() == [
        "📈 Weekly digest for the whole brand, week 2026-11-30 – 2026-12-06",
        "The numbers that moved most against the week before:",
        "1. New members: 1 (▲ 1; 0 the week before)",
        "2. Median days between orders: 6 (▼ 9; 15 the week before)",
        "3. Active rate: 83.3% (▲ 43.3 pp; 40% the week before)",
        "4. Repurchase rate: 50% (▼ 50 pp; 100% the week before)",
        "5. Members: 6 (▲ 1; 5 the week before)",
        "Send /digest off to stop these, /stats for more.",
    ]
    # Lee reads 简体中文 and sees Tea Lovers' own figures only
    [lee] = await digests(harness, LEE)
    assert lee.splitlines() == [
        "📈 Tea Lovers 的每周摘要，2026-11-30 – 2026-12-06",
        "与前一周相比变化最大的数字：",
        "1. 新成员：1（▲ 1；前一周 0）",
        "2. 活跃率：80%（▲ 55 个百分点；前一周 25%）",
        "3. 两次下单间隔天数中位数：6（▼ 9；前一周 15）",
        "4. 复购率：50%（▼ 50 个百分点；前一周 100%）",
        "5. 成员：5（▲ 1；前一周 4）",
        "发送 /digest off 可停止接收，/stats 查看更多。",
    ]
    assert await digests(harness, MIA) == []
    # the chart is a PNG with a line per number, and the button stops the digest
    [photo] = [m for m in harness.emulator.bot_messages(OWNER) if m.kind == "photo"]
    image = Image.open(io.BytesIO(harness.emulator.file_bytes(photo.raw["photo"][-1]["file_id"])))
    image.load()
    assert image.format == "PNG" and image.width == STATS_WIDTH
    assert image.height == MARGIN * 2 + 40 + 5 * (PANEL_HEIGHT + PANEL_GAP)  # five panels
    assert len(image.getcolors(maxcolors=100_000) or []) > 10  # drawn, not a blank canvas
    assert photo.reply_markup is not None
    [[button]] = photo.reply_markup["inline_keyboard"]
    assert button["text"] == "🔕 Stop the weekly digest"
    # when the sweep comes again, an hour later, and a second scheduler runs too
    again = await job.run()
    harness.clock.now += timedelta(hours=1)
    other = WeeklyDigest(
        sessions=harness.runtime.sessions,
        readers=harness.runtime.readers,
        bot=harness.runtime.bot,
        notifier=harness.runtime.notifier,
        i18n=harness.runtime.i18n,
        settings=harness.runtime.settings,
        clock=harness.clock,
    )
    twice = await other.run()
    # then nobody gets a second digest that week: one row per person and week
    assert again.sent == twice.sent == 0
    assert await digests(harness, OWNER) == [] and await digests(harness, LEE) == []
    async with harness.session() as session:
        rows = (await session.execute(select(func.count()).select_from(DigestSend))).scalar()
    assert rows == 2


async def test_opting_out_by_button_and_back_in_by_command(harness: Harness) -> None:
    job = await ready(harness)
    harness.clock.now = utc(12, 7, 1)
    await job.run()
    assert len(await digests(harness, LEE)) == 1
    [photo] = [m for m in harness.emulator.bot_messages(OWNER) if m.kind == "photo"]
    # when the owner taps the digest's button
    assert photo.reply_markup is not None
    [[button]] = photo.reply_markup["inline_keyboard"]
    answer = await harness.press(
        OWNER, OWNER, photo.message_id, callback_data=button["callback_data"]
    )
    assert answer == "Weekly digest stopped."
    assert [m.text for m in harness.new_bot_messages(OWNER)][-1] == (
        "You do not get the weekly digest. Send /digest on to get it again."
    )
    # then next Monday only Lee gets one
    harness.clock.now = utc(12, 14, 1)
    assert (await job.run()).sent == 1
    assert await digests(harness, OWNER) == []
    assert len(await digests(harness, LEE)) == 1
    # when the owner sends /digest on, the Monday after brings theirs again
    assert await harness.send(OWNER, OWNER, "/digest") == [
        "You do not get the weekly digest. Send /digest on to get it again."
    ]
    assert await harness.send(OWNER, OWNER, "/digest on") == [
        "You get the weekly digest on Monday morning: the five numbers that moved most, "
        "with a chart. Send /digest off to stop it."
    ]
    harness.clock.now = utc(12, 21, 1)
    assert (await job.run()).sent == 2
    assert len(await digests(harness, OWNER)) == 1
    # Lee, in Chinese, stops it with /digest 关闭; a member may not use /digest at all
    assert await harness.send(LEE, LEE, "/digest 关闭") == [
        "你不会收到每周摘要。发送 /digest on 可重新接收。"
    ]
    assert await harness.send(MIA, MIA, "/digest off") == [
        "Sorry, only group leaders and brand staff can do that."
    ]
    assert await harness.send(OWNER, OWNER, "/digest maybe") == ["Send /digest on or /digest off."]


async def test_a_digest_refused_in_passing_is_sent_again_once(harness: Harness) -> None:
    # given Monday 09:00 in Shanghai, and Telegram failing the next two photos with a 502
    job = await ready(harness)
    harness.runtime.notifier.retry_seconds = (0.0, 0.0, 0.0)
    harness.clock.now = utc(12, 7, 1)
    harness.emulator.inject_fault("sendPhoto", status=502, count=2)
    # when the digest goes out, and the sweep comes again
    assert (await job.run()).sent == 2
    await harness.runtime.notifier.drain()
    assert (await job.run()).sent == 0
    # then both readers have their digest all the same, once each
    [staff] = await digests(harness, OWNER)
    assert staff.startswith("📈 Weekly digest for the whole brand")
    assert len(await digests(harness, LEE)) == 1
    assert await digests(harness, OWNER) == []


async def test_a_brand_without_members_gets_no_page_of_zeros(harness: Harness) -> None:
    # given a new brand: the owner started the bot, no group and no member yet
    harness.clock.now = utc(12, 7, 1)
    await harness.send(OWNER, OWNER, "/start")
    harness.new_bot_messages(OWNER)
    # when Monday's digest falls due, and the sweep comes again
    job = harness.runtime.digest
    assert (await job.run()).sent == 0
    assert (await job.run()).sent == 0
    # then nothing reaches the owner: every number is zero in both weeks
    assert await digests(harness, OWNER) == []
