"""One promotion policy on every channel (services/policy.py): a week on a controlled clock in
which three broadcasts, a drop and two pre-sales go to the same two groups, Tea Lovers in
Asia/Shanghai and Coffee Club in Europe/London. The weekly cap (3), the minimum gap (4 h) and
the quiet hours (22:00-08:00 in each group's zone) hold for the cards as for the broadcasts; a
card that cannot go now is scheduled there for its first allowed moment (staff are told until
when and why) and posted then by the card poster, once; one that cannot go before its deadline
is refused."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlmodel import col

from bot.db import create_engine, create_session_factory
from models.broadcast import POST_CONTENT, Broadcast, BroadcastRecipient
from models.groupbuy import GroupBuyPost
from models.policy import ScheduledPost
from services.broadcast import BroadcastError, Draft, create_broadcast
from services.groupbuy import open_groupbuy
from services.policy import KIND_CONTENT, KIND_DROP, decide, schedule_cards
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness, make_settings
from tests.test_broadcast import tap
from tests.test_poll_chat import create_poll, poll_ids, vote

# the promotion policy's default caps, gap and quiet hours (tests/conftest.py UNPACED)
pytestmark = pytest.mark.pacing

MONDAY = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # 18:00 in Shanghai, 10:00 in London


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=UTC)


async def two_zones(harness: Harness) -> None:
    """Tea Lovers lives in Asia/Shanghai, Coffee Club in Europe/London; Sam is staff."""
    harness.clock.now = MONDAY
    await harness.join_groups()
    await harness.send(LEE, TEA, "/settings timezone Asia/Shanghai")
    await harness.send(KAI, COFFEE, "/settings timezone Europe/London")
    for uid in (SAM, MIA, LEE, KAI):
        await harness.send(uid, uid, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Jasmine tea | 39.90 CNY | stock 100")


async def broadcast(harness: Harness, text: str) -> dict[int, datetime]:
    """Sam broadcasts to every group now; the slot each group's row got."""
    settings = harness.runtime.settings
    async with harness.session() as session, session.begin():
        broadcast_id, _plan = await create_broadcast(
            session,
            draft=Draft(
                text=text, targets="groups", scheduled_at=harness.clock.now, created_by=SAM
            ),
            rules=settings.pacing_rules(),
            default_timezone=settings.default_timezone,
        )
    async with harness.session() as session:
        rows = await session.execute(
            select(BroadcastRecipient).where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
        )
        return {row.chat_id: row.not_before for row in rows.scalars()}


async def cards(harness: Harness) -> dict[int, set[int]]:
    """The groups each group-buy's card was posted in."""
    async with harness.session() as session:
        posts = (await session.execute(select(GroupBuyPost))).scalars()
        found: dict[int, set[int]] = {}
        for post in posts:
            found.setdefault(post.groupbuy_id, set()).add(post.chat_id)
        return found


async def closed_poll(harness: Harness) -> int:
    """A poll in both groups that Jasmine won, closed."""
    poll = await create_poll(harness, points="0")
    assert poll.id is not None
    copies = await poll_ids(harness, poll.id)
    await vote(harness, MIA, copies[TEA], [0])
    await harness.send(SAM, SAM, f"/poll_close {poll.id}")
    return poll.id


async def posted_cards(harness: Harness) -> dict[int, set[int]]:
    """The groups each group-buy's card is really in (its message recorded)."""
    async with harness.session() as session:
        rows = await session.execute(
            select(GroupBuyPost).where(col(GroupBuyPost.message_id).is_not(None))
        )
        found: dict[int, set[int]] = {}
        for post in rows.scalars():
            found.setdefault(post.groupbuy_id, set()).add(post.chat_id)
        return found


def card_messages(harness: Harness, chat_id: int) -> list[str]:
    """The group-buy cards the bot posted in the group so far."""
    return [
        m.text or ""
        for m in harness.emulator.bot_messages(chat_id)
        if (m.text or "").startswith("🛒")
    ]


async def run_poster(harness: Harness, when: datetime) -> int:
    """The card poster's sweep at `when` (as its date job would run it)."""
    harness.clock.now = when
    return await harness.runtime.poster.close_due()


async def test_a_week_of_promotions_keeps_the_cap_the_gap_and_each_groups_quiet_hours(
    harness: Harness,
) -> None:
    await two_zones(harness)
    drop = "/drop 1 3d min=3 stock=10 pickup=Shop A"
    # Monday 10:00 UTC: the first broadcast goes to both groups at once
    assert await broadcast(harness, "First tasting") == {TEA: MONDAY, COFFEE: MONDAY}
    # Monday 22:30 UTC: a drop finds both groups in their quiet hours (06:30 in Shanghai,
    # 22:30 in London): it opens, and its cards are scheduled for each group's morning; Sam
    # is told until when in each, in his zone (UTC)
    harness.clock.now = at(23, 22, 30)
    assert await harness.send(SAM, SAM, drop) == [
        "Group-buy #1 posted in 0 groups.\n\n"
        "Scheduled: posted there at the first time the promotion policy allows:\n"
        "• Coffee Club: quiet hours there until 2026-11-24 08:00 UTC.\n"
        "• Tea Lovers: quiet hours there until 2026-11-24 00:00 UTC."
    ]
    assert await posted_cards(harness) == {}
    assert await run_poster(harness, at(23, 23, 59)) == 0  # still quiet in both
    # 08:00 in Shanghai: the card reaches Tea Lovers, once however often the poster runs,
    # even two sweeps at the same moment (as two scheduler processes would)
    harness.clock.now = at(24, 0)
    poster = harness.runtime.poster
    assert sorted(await asyncio.gather(poster.close_due(), poster.close_due())) == [0, 1]
    assert await run_poster(harness, at(24, 0, 1)) == 0
    assert await posted_cards(harness) == {1: {TEA}}
    assert len(card_messages(harness, TEA)) == 1
    assert card_messages(harness, COFFEE) == []
    # 08:00 in London: Coffee Club's card
    assert await run_poster(harness, at(24, 8)) == 1
    assert await posted_cards(harness) == {1: {TEA, COFFEE}}
    assert len(card_messages(harness, COFFEE)) == 1
    # Tuesday 10:00: the second broadcast; Coffee Club waits out the 4 h gap after its card
    harness.clock.now = at(24, 10)
    assert await broadcast(harness, "Second tasting") == {TEA: at(24, 10), COFFEE: at(24, 12)}
    # Wednesday 10:00: the third broadcast is the fourth promotion in both groups: it waits
    # for next week, when the first broadcast leaves its 7 days
    harness.clock.now = at(25, 10)
    assert await broadcast(harness, "Third tasting") == {TEA: at(30, 10), COFFEE: at(30, 10)}
    # content is not a promotion: the policy lets it go now whatever the caps
    settings = harness.runtime.settings
    async with harness.session() as session:
        for kind, free in ((KIND_CONTENT, True), (KIND_DROP, False)):
            verdicts = await decide(
                session,
                kind=kind,
                chat_ids=[TEA, COFFEE],
                now=harness.clock.now,
                rules=settings.pacing_rules(),
                default_timezone=settings.default_timezone,
            )
            assert [v.now for v in verdicts] == [free, free]
    # Thursday: the first pre-sale is the fifth promotion: it opens, and its cards are
    # scheduled for next week, each at the moment its group's cap allows one more
    harness.clock.now = at(26, 10)
    first = await closed_poll(harness)
    assert await harness.send(SAM, SAM, f"/poll_presale {first} 1 14d min=5") == [
        "Pre-sale group-buy #2 of Jasmine opened in 0 groups.\n\n"
        "Scheduled: posted there at the first time the promotion policy allows:\n"
        "• Coffee Club: its weekly cap (3) of promotions is used up, allowed from "
        "2026-12-01 08:00 UTC.\n"
        "• Tea Lovers: its weekly cap (3) of promotions is used up, allowed from "
        "2026-12-01 00:00 UTC."
    ]
    # Friday: a second pre-sale with a short deadline cannot go before it ends: refused
    harness.clock.now = at(27, 10)
    second = await closed_poll(harness)
    assert await harness.send(SAM, SAM, f"/poll_presale {second} 1 2d min=5") == [
        "Not posted: the promotion policy holds it back in every group.\n"
        "• Coffee Club: its weekly cap (3) of promotions is used up, allowed from "
        "2026-12-01 12:00 UTC.\n"
        "• Tea Lovers: its weekly cap (3) of promotions is used up, allowed from "
        "2026-12-01 10:00 UTC.\n"
        "Send it again from then to reach these groups."
    ]
    assert set(await cards(harness)) == {1, 2}  # the second pre-sale opened nothing
    # the promotions calendar shows Sam each group's week: what went out, what waits
    # (the broadcast sender did not run in this test: the broadcasts' rows still wait)
    assert await harness.send(SAM, SAM, "/promotions") == [
        "Promotions per group, 7 days back and 7 days ahead:\n"
        "\n"
        "Coffee Club: 3 of 3 this week\n"
        "  ⏳ 2026-11-23 10:00 UTC: broadcast #1, scheduled\n"
        "  ✓ 2026-11-24 08:00 UTC: drop, group-buy #1\n"
        "  ⏳ 2026-11-24 12:00 UTC: broadcast #2, scheduled\n"
        "  ⏳ 2026-11-30 10:00 UTC: broadcast #3, scheduled\n"
        "  ⏳ 2026-12-01 08:00 UTC: pre-sale, group-buy #2, scheduled\n"
        "\n"
        "Tea Lovers: 3 of 3 this week\n"
        "  ⏳ 2026-11-23 10:00 UTC: broadcast #1, scheduled\n"
        "  ✓ 2026-11-24 00:00 UTC: drop, group-buy #1\n"
        "  ⏳ 2026-11-24 10:00 UTC: broadcast #2, scheduled\n"
        "  ⏳ 2026-11-30 10:00 UTC: broadcast #3, scheduled\n"
        "  ⏳ 2026-12-01 00:00 UTC: pre-sale, group-buy #2, scheduled"
    ]
    # next week the poster posts the first pre-sale's cards at their times, each once
    assert await run_poster(harness, at(30, 23)) == 0
    assert await run_poster(harness, datetime(2026, 12, 1, 0, 0, tzinfo=UTC)) == 1
    assert await run_poster(harness, datetime(2026, 12, 1, 8, 0, tzinfo=UTC)) == 1
    assert await run_poster(harness, datetime(2026, 12, 1, 9, 0, tzinfo=UTC)) == 0
    assert await posted_cards(harness) == {1: {TEA, COFFEE}, 2: {TEA, COFFEE}}
    assert len(card_messages(harness, TEA)) == len(card_messages(harness, COFFEE)) == 2


async def test_a_leaders_own_group_buys_count_against_the_leader_cap_not_the_groups(
    harness: Harness,
) -> None:
    await two_zones(harness)
    # given the brand's three promotions of the week in Tea Lovers
    for day in (23, 24, 25):
        harness.clock.now = at(day, 10)
        await broadcast(harness, f"Tasting {day}")
    # when Lee, its leader, opens his own group-buys there, five in a day
    harness.clock.now = at(26, 10)
    for n in range(1, 6):
        posted = await harness.send(LEE, TEA, f"/groupbuy 1 2d min=2 stock=5 pickup=Shop {n}")
        assert posted[0].startswith("🛒 Jasmine tea"), posted
    # then all five are posted (the brand's cap is not his), and the sixth waits a week
    assert set(await cards(harness)) == {1, 2, 3, 4, 5}
    assert await harness.send(LEE, TEA, "/groupbuy 1 2d min=2 stock=5") == [
        "Not posted: the promotion policy holds it back in every group.\n"
        "• Tea Lovers: the weekly cap (5) of a leader's own group-buys is used up, allowed "
        "from 2026-12-03 10:00 UTC.\n"
        "Send it again from then to reach these groups."
    ]


async def test_two_staff_posting_at_once_cannot_both_take_the_caps_last_place(
    harness: Harness, database_url: str
) -> None:
    # given two promotions this week in Tea Lovers: one place left under its cap of 3
    await two_zones(harness)
    harness.clock.now = at(23, 1)  # 09:00 in Shanghai
    await broadcast(harness, "First tasting")
    harness.clock.now = at(23, 5)
    await broadcast(harness, "Second tasting")
    now = at(23, 9, 30)
    rules = harness.runtime.settings.pacing_rules()
    zone = harness.runtime.settings.default_timezone
    # two workers of their own, as two webhook processes would be
    engines = [create_engine(make_settings(database_url=database_url)) for _ in range(2)]

    async def drop(sessions: async_sessionmaker[AsyncSession]) -> bool:
        """One staff member's drop into Tea Lovers: decide, dawdle, open, schedule the card."""
        async with sessions() as session, session.begin():
            [verdict] = await decide(
                session, kind=KIND_DROP, chat_ids=[TEA], now=now, rules=rules, default_timezone=zone
            )
            await asyncio.sleep(0.2)  # the other drop decides meanwhile
            gb = await open_groupbuy(
                session,
                product_id=1,
                opened_by=SAM,
                chat_ids=[TEA],
                min_count=1,
                stock_cap=5,
                per_member_limit=1,
                deadline=now + timedelta(days=14),
                now=now,
            )
            await schedule_cards(
                session, kind=KIND_DROP, groupbuy_id=gb.id, verdicts=[verdict], now=now
            )
            return verdict.now

    # when both post at the same moment
    try:
        outcomes = await asyncio.gather(*(drop(create_session_factory(e)) for e in engines))
    finally:
        for engine in engines:
            await engine.dispose()
    # then one takes the last place now, and the other waits for next week
    assert sorted(outcomes) == [False, True]
    async with harness.session() as session:
        due = sorted((await session.execute(select(col(ScheduledPost.due_at)))).scalars().all())
    assert due == [now, at(30, 1)]


async def compose(harness: Harness, text: str) -> str:
    """Sam writes a broadcast to every group, to go now; the summary he reads."""
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, text)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "All groups", user=SAM)
    await tap(harness, SAM, "Now", user=SAM)
    return harness.emulator.last_bot_message(SAM).text or ""


async def test_content_is_not_counted_and_content_that_sells_is_offered_as_a_promotion(
    harness: Harness,
) -> None:
    # given the week's three promotions in both groups
    await two_zones(harness)
    for day in (23, 24, 25):
        harness.clock.now = at(day, 10)
        await broadcast(harness, f"Tasting {day}")
    # when Sam writes a how-to: as a promotion it would wait for next week
    summary = await compose(harness, "How to brew jasmine tea: 80°C water, 3 minutes.")
    assert "Kind: promotion, counted against each chat's weekly cap and labelled." in summary
    assert "First delivery 2026-11-30 10:00" in summary
    # as content it goes now, and the caps do not count it
    await tap(harness, SAM, "📚 Send as content (not counted)", user=SAM)
    summary = harness.emulator.last_bot_message(SAM).text or ""
    assert "Kind: content, not counted against the weekly caps." in summary
    assert "First delivery 2026-11-25 10:00, last 2026-11-25 10:00" in summary
    await tap(harness, SAM, "✅ Confirm", user=SAM)
    async with harness.session() as session:
        content = await session.execute(select(Broadcast).order_by(col(Broadcast.id).desc()))
        stored = content.scalars().first()
        assert stored is not None and stored.post_kind == POST_CONTENT
        rows = await session.execute(
            select(BroadcastRecipient).where(col(BroadcastRecipient.broadcast_id) == stored.id)
        )
        assert {row.chat_id: row.not_before for row in rows.scalars()} == {
            TEA: at(25, 10),
            COFFEE: at(25, 10),
        }
    # and the next promotion still finds three, not four, promotions this week
    assert await broadcast(harness, "Fourth tasting") == {TEA: at(30, 10), COFFEE: at(30, 10)}
    # when a "how-to" carries a price and a discount, it is refused as content, with why
    await compose(harness, "Brew it well: jasmine tea, 8折 this week, 39.90 元")
    await tap(harness, SAM, "📚 Send as content (not counted)", user=SAM)
    refused = harness.emulator.last_bot_message(SAM)
    assert (refused.text or "").endswith(
        "⛔ It reads as a promotion, so it cannot go as content:\n"
        "• a price: 39.90 元\n"
        "• a discount: 8折"
    )
    assert "✅ Confirm" not in refused.button_texts
    # and offered as a promotion, which Sam may confirm
    await tap(harness, SAM, "📣 Send as a promotion", user=SAM)
    offered = harness.emulator.last_bot_message(SAM)
    assert "Kind: promotion" in (offered.text or "") and "✅ Confirm" in offered.button_texts
    # the service refuses it as content whatever the wizard says
    settings = harness.runtime.settings
    async with harness.session() as session, session.begin():
        with pytest.raises(BroadcastError) as refusal:
            await create_broadcast(
                session,
                draft=Draft(
                    text='Read <a href="https://shop.example.com/item/7">our guide</a>',
                    targets="groups",
                    scheduled_at=harness.clock.now,
                    created_by=SAM,
                    post_kind=POST_CONTENT,
                ),
                rules=settings.pacing_rules(),
                default_timezone=settings.default_timezone,
            )
    assert refusal.value.code == "reads_as_promotion"
