"""One promotion policy on every channel (services/policy.py): a week on a controlled clock in
which three broadcasts, a drop and two pre-sales go to the same two groups, Tea Lovers in
Asia/Shanghai and Coffee Club in Europe/London. The weekly cap (3), the minimum gap (4 h) and
the quiet hours (22:00-08:00 in each group's zone) hold for the cards as for the broadcasts; a
card that cannot go now is not posted there and staff are told until when and why."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from sqlmodel import col

from models.broadcast import BroadcastRecipient
from models.groupbuy import GroupBuy, GroupBuyPost
from services.broadcast import Draft, create_broadcast
from services.policy import KIND_CONTENT, KIND_DROP, decide
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
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


async def test_a_week_of_promotions_keeps_the_cap_the_gap_and_each_groups_quiet_hours(
    harness: Harness,
) -> None:
    await two_zones(harness)
    drop = "/drop 1 3d min=3 stock=10 pickup=Shop A"
    # Monday 10:00 UTC: the first broadcast goes to both groups at once
    assert await broadcast(harness, "First tasting") == {TEA: MONDAY, COFFEE: MONDAY}
    # Monday 22:30 UTC: a drop finds both groups in their quiet hours (06:30 in Shanghai,
    # 22:30 in London): nothing opens, and Sam is told until when in each, in his zone (UTC)
    harness.clock.now = at(23, 22, 30)
    assert await harness.send(SAM, SAM, drop) == [
        "Not posted: the promotion policy holds it back in every group.\n"
        "• Coffee Club: quiet hours there until 2026-11-24 08:00 UTC.\n"
        "• Tea Lovers: quiet hours there until 2026-11-24 00:00 UTC.\n"
        "Send it again from then to reach these groups."
    ]
    async with harness.session() as session:
        assert (await session.execute(select(GroupBuy))).first() is None
    # Tuesday 03:00 UTC: 11:00 in Shanghai, 03:00 in London: the card goes to Tea Lovers only
    harness.clock.now = at(24, 3)
    assert await harness.send(SAM, SAM, drop) == [
        "Group-buy #1 posted in 1 group.\n\n"
        "Not posted in these groups now (the promotion policy):\n"
        "• Coffee Club: quiet hours there until 2026-11-24 08:00 UTC.\n"
        "Send it again from then to reach these groups."
    ]
    assert await cards(harness) == {1: {TEA}}
    # Tuesday 10:00 and Wednesday 10:00: two more broadcasts. Tea Lovers has had the first
    # broadcast, the drop and the second: the third waits for next week, when the first
    # leaves its 7 days; Coffee Club gets all three at once
    harness.clock.now = at(24, 10)
    assert await broadcast(harness, "Second tasting") == {TEA: at(24, 10), COFFEE: at(24, 10)}
    harness.clock.now = at(25, 10)
    assert await broadcast(harness, "Third tasting") == {TEA: at(30, 10), COFFEE: at(25, 10)}
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
    # Thursday: the first pre-sale is a fifth promotion in Tea Lovers and a fourth in Coffee
    # Club: refused in both, each with the moment its cap allows one more
    harness.clock.now = at(26, 10)
    first = await closed_poll(harness)
    assert await harness.send(SAM, SAM, f"/poll_presale {first} 1 3d min=5") == [
        "Not posted: the promotion policy holds it back in every group.\n"
        "• Coffee Club: its weekly cap (3) of promotions is used up, allowed from "
        "2026-11-30 10:00 UTC.\n"
        "• Tea Lovers: its weekly cap (3) of promotions is used up, allowed from "
        "2026-12-01 03:00 UTC.\n"
        "Send it again from then to reach these groups."
    ]
    # Friday: a second pre-sale is refused the same way; nothing but the drop was opened
    harness.clock.now = at(27, 10)
    second = await closed_poll(harness)
    replies = await harness.send(SAM, SAM, f"/poll_presale {second} 1 3d min=5")
    assert replies[0].startswith("Not posted: the promotion policy holds it back in every group.")
    assert await cards(harness) == {1: {TEA}}
    # next Monday 10:00 UTC, Coffee Club's first broadcast has left its week: the second
    # pre-sale opens there, while Tea Lovers still waits for its own week to turn
    harness.clock.now = at(30, 10)
    replies = await harness.send(SAM, SAM, f"/poll_presale {second} 1 3d min=5")
    assert replies[-1] == (
        "Pre-sale group-buy #2 of Jasmine opened in 1 group.\n\n"
        "Not posted in these groups now (the promotion policy):\n"
        "• Tea Lovers: its weekly cap (3) of promotions is used up, allowed from "
        "2026-12-01 03:00 UTC.\n"
        "Send it again from then to reach these groups."
    )
    assert await cards(harness) == {1: {TEA}, 2: {COFFEE}}
    # and the promotions calendar shows Sam each group's week: what went out, what waits
    # (the sender did not run in this test: the broadcasts' rows are still waiting)
    assert await harness.send(SAM, SAM, "/promotions") == [
        "Promotions per group, 7 days back and 7 days ahead:\n"
        "\n"
        "Coffee Club: 3 of 3 this week\n"
        "  ⏳ 2026-11-24 10:00 UTC: broadcast #2, scheduled\n"
        "  ⏳ 2026-11-25 10:00 UTC: broadcast #3, scheduled\n"
        "  ✓ 2026-11-30 10:00 UTC: pre-sale, group-buy #2\n"
        "\n"
        "Tea Lovers: 3 of 3 this week\n"
        "  ✓ 2026-11-24 03:00 UTC: drop, group-buy #1\n"
        "  ⏳ 2026-11-24 10:00 UTC: broadcast #2, scheduled\n"
        "  ⏳ 2026-11-30 10:00 UTC: broadcast #3, scheduled"
    ]


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
