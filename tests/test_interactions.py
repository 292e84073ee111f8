"""The interaction rate (issue #26): members' group messages and button taps are tallied in the
process, written as batched upserts, and read per week as messages + taps per member present.

The hand-computed store (weeks start on Mondays, UTC; W0 = 2026-03-02, W1 = 2026-03-09):
- Tea: M1 and M2 seen from Mar 1, M3 from Mar 10 (so W0 has 2 members, W1 has 3); a bot too.
- Coffee: M4 seen from Mar 1.
- Tea W0: M1 5 messages + 1 tap on Mar 2, M2 2 messages on Mar 8 (Sunday): 8 over 2 members.
- Tea W1: M1 3 taps on Mar 9 written by two processes (1 + 2), M3 4 messages on Mar 15:
  7 over 3 members. The bot's 50 messages never count.
- Coffee W1: M4 6 messages: the brand's W1 is 13 over 4 members.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from models.community import APPROVAL_APPROVED, Community, CommunityMember
from models.interaction import MemberInteraction
from models.member import Member
from services.analytics import Ratio
from services.interactions import add_interactions
from services.metrics import Slice, metric_rows, metrics_report
from tests.conftest import LEE, MIA, OWNER, TEA, Harness, make_settings

G_TEA, G_COFFEE = -2001, -2002
M1, M2, M3, M4, BOT = 11, 12, 13, 14, 19
NOW = datetime(2026, 3, 16, 12, tzinfo=UTC)  # Monday of W2


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    factory = create_session_factory(engine)
    async with factory() as session, session.begin():
        for group in (G_TEA, G_COFFEE):
            session.add(Community(id=group, title=str(group), approval=APPROVAL_APPROVED))
        for member in (M1, M2, M3, M4, BOT):
            session.add(Member(id=member, first_name=f"m{member}", is_bot=member == BOT))
        await session.flush()
        for group, member, day in (
            (G_TEA, M1, 1),
            (G_TEA, M2, 1),
            (G_TEA, M3, 10),
            (G_TEA, BOT, 1),
            (G_COFFEE, M4, 1),
        ):
            first = datetime(2026, 3, day, 8, tzinfo=UTC)
            session.add(
                CommunityMember(
                    community_id=group, member_id=member, first_seen_at=first, last_seen_at=first
                )
            )
    # two processes flush their own tallies: the second adds to the first
    async with factory() as session, session.begin():
        await add_interactions(
            session,
            counts={
                (G_TEA, M1, date(2026, 3, 2)): (5, 1),
                (G_TEA, M2, date(2026, 3, 8)): (2, 0),
                (G_TEA, M1, date(2026, 3, 9)): (0, 1),
                (G_TEA, BOT, date(2026, 3, 9)): (50, 0),
                (G_COFFEE, M4, date(2026, 3, 12)): (6, 0),
            },
        )
    async with factory() as session, session.begin():
        await add_interactions(
            session,
            counts={(G_TEA, M1, date(2026, 3, 9)): (0, 2), (G_TEA, M3, date(2026, 3, 15)): (4, 0)},
        )
    yield factory
    await engine.dispose()


async def test_interaction_rate_is_messages_and_taps_per_member_present(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        tea = await metrics_report(
            session,
            now=NOW,
            timezone="UTC",
            currency="CNY",
            part=Slice(scope=frozenset({G_TEA})),
            weeks=3,
        )
        brand = await metrics_report(session, now=NOW, timezone="UTC", currency="CNY", weeks=3)
        stored = (
            await session.execute(
                select(MemberInteraction.messages, MemberInteraction.taps).where(
                    MemberInteraction.member_id == M1, MemberInteraction.day == date(2026, 3, 9)
                )
            )
        ).one()
    assert tuple(stored) == (0, 3)  # the two flushes added up
    assert [w.start for w in tea.weeks] == [date(2026, 3, 2), date(2026, 3, 9), date(2026, 3, 16)]
    assert [w.interaction_rate for w in tea.weeks] == [Ratio(8, 2), Ratio(7, 3), Ratio(0, 3)]
    assert [w.interaction_rate for w in brand.weeks] == [Ratio(8, 3), Ratio(13, 4), Ratio(0, 4)]
    # the other figures keep their meaning: members present are the same denominator
    assert [w.members for w in tea.weeks] == [2, 3, 3]
    rows = {(row[0], row[1]): row[2:] for row in metric_rows(tea)}
    assert rows[("2026-03-09", "interaction_rate")] == (7, 3, "2.3333")


async def test_group_messages_and_taps_of_members_are_tallied_then_flushed(
    harness: Harness,
) -> None:
    await harness.join_groups()
    day = harness.clock().date()
    # given Mia writes twice in Tea Lovers and taps a button there, Lee writes once, and
    # Mia writes to the bot in private (not a group: not counted)
    await harness.send(MIA, TEA, "hello")
    await harness.send(MIA, TEA, "anyone tried the oolong?")
    await harness.send(LEE, TEA, "yes!")
    await harness.send(MIA, MIA, "/start")
    card = harness.emulator.bot_messages(TEA)[-1].message_id
    await harness.press(MIA, TEA, card, callback_data="nothing:here", force=True)
    runtime = harness.runtime
    # then nothing was written per update; the tally holds them
    async with runtime.sessions() as session:
        assert (await session.execute(select(MemberInteraction))).all() == []
    assert runtime.interactions.counts[(TEA, MIA, day)] == [2, 1]
    # when the periodic flush runs, one upsert writes them
    await runtime.interactions.run()
    await harness.send(MIA, TEA, "one more")
    await runtime.interactions.run()
    assert runtime.interactions.counts == {}
    async with runtime.sessions() as session:
        rows = {
            (r.community_id, r.member_id, r.day): (r.messages, r.taps)
            for (r,) in (await session.execute(select(MemberInteraction))).all()
        }
    assert rows[(TEA, MIA, day)] == (3, 1)
    assert rows[(TEA, LEE, day)] == (1, 0)
    assert not any(member == OWNER for _c, member, _d in rows)  # adding the bot is no message


async def test_the_tally_is_written_when_the_process_stops(
    harness: Harness, database_url: str
) -> None:
    await harness.join_groups()
    await harness.send(MIA, TEA, "bye for now")
    day = harness.clock().date()
    # when the process shuts down before any periodic flush
    await harness.runtime.close()
    # then the count is in the store
    engine = create_engine(make_settings(database_url=database_url))
    try:
        async with create_session_factory(engine)() as session:
            row = await session.get(MemberInteraction, (TEA, MIA, day))
            assert row is not None and (row.messages, row.taps) == (1, 0)
    finally:
        await engine.dispose()


async def test_a_failed_flush_keeps_its_counts_for_the_next(harness: Harness) -> None:
    counter = harness.runtime.interactions
    day = harness.clock().date()
    # a row for a day the column cannot hold makes the write fail
    counter.add(community_id=TEA, member_id=MIA, day=day, tap=False)
    counter.counts[(TEA, MIA, "not a day")] = [1, 0]  # type: ignore[index]
    with pytest.raises(Exception):  # noqa: B017
        await counter.run()
    assert counter.counts[(TEA, MIA, day)] == [1, 0]
