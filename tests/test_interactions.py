"""The interaction rate (issue #26): members' group messages and button taps are tallied in the
process, written as batched upserts, and read per week as messages + taps per member present.

The hand-computed store (weeks start on Mondays, UTC; W0 = 2026-03-02, W1 = 2026-03-09):
- Tea: M1 and M2 seen from Mar 1, M3 from Mar 10 (so W0 has 2 members, W1 has 3); a bot too.
- Coffee: M4 seen from Mar 1.
- Tea W0: M1 5 messages + 1 tap on Mar 2, M2 2 messages on Mar 8 (Sunday): 8 over 2 members.
- Tea W1: M1 3 taps on Mar 9 written by two processes (1 + 2), M3 4 messages on Mar 15:
  7 over 3 members. The bot's 50 messages never count.
- Coffee W1: M4 6 messages: the brand's W1 is 13 over 4 members.

Tickets and trials in the same store:
- Tea W0: M1 opens T1 on Mar 2 10:00 (answered 2 h later, closed Mar 4), T2 on Mar 3 10:00
  (answered 6 h later, still open) and T3 on Mar 4 (unanswered): 3 opened, median 4.0 h,
  1 of 3 resolved. Coffee W1: M4 opens T4 on Mar 10 (answered in 1 h, closed).
- Trial places: M1 accepts Mar 3 and reports Mar 9, M2 accepts Mar 4 and never reports
  (Tea W0: 1 of 2); M3 declines Mar 10 (not a place); M4 accepts Mar 11 and reports (W1).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from models.community import APPROVAL_APPROVED, Community, CommunityMember
from models.interactions import MemberInteraction
from models.member import Member
from models.order import ORDER_PAID, Order
from models.product import Product
from models.ticket import TICKET_CLOSED, Ticket
from models.trial import INVITE_ACCEPTED, INVITE_DECLINED, Trial, TrialInvite
from services.analytics import Ratio
from services.interactions import add_interactions
from services.metrics import MetricsReport, Slice, metric_rows, metrics_report
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
        await _service(session)
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


def _at(day: int, hour: int = 10) -> datetime:
    return datetime(2026, 3, day, hour, tzinfo=UTC)


async def _service(session: AsyncSession) -> None:
    """The tickets and trial places of the story."""
    product = Product(title="Oolong", price=100, currency="CNY", created_by=M4)
    session.add(product)
    await session.flush()
    assert product.id is not None
    tickets = (
        (M1, G_TEA, 2, 2, 4),
        (M1, G_TEA, 3, 6, None),
        (M1, G_TEA, 4, None, None),
        (M4, G_COFFEE, 10, 1, 10),
    )
    for member, group, day, wait, closed in tickets:
        order = Order(
            member_id=member,
            chat_id=group,
            title="tea",
            quantity=1,
            unit_price=100,
            currency="CNY",
            payment_mode="offline",
            status=ORDER_PAID,
            paid_amount=100,
        )
        session.add(order)
        await session.flush()
        assert order.id is not None
        opened = _at(day)
        session.add(
            Ticket(
                order_id=order.id,
                member_id=member,
                chat_id=group,
                kind="damaged",
                opened_at=opened,
                answer_due=_at(day + 1),
                resolve_due=_at(day + 3),
                answered_at=None if wait is None else _at(day, 10 + wait),
                status=TICKET_CLOSED if closed else "open",
                closed_at=None if closed is None else _at(closed, 18),
            )
        )
    trial = Trial(
        product_id=product.id,
        title="Oolong",
        places=5,
        taken=3,
        aspects=["taste"],
        due_at=_at(20),
        created_by=M4,
    )
    session.add(trial)
    await session.flush()
    assert trial.id is not None
    for member, status, day, reported in (
        (M1, INVITE_ACCEPTED, 3, 9),
        (M2, INVITE_ACCEPTED, 4, None),
        (M3, INVITE_DECLINED, 10, None),
        (M4, INVITE_ACCEPTED, 11, 12),
    ):
        session.add(
            TrialInvite(
                trial_id=trial.id,
                member_id=member,
                status=status,
                invited_at=_at(1),
                answered_at=_at(day),
                reported_at=None if reported is None else _at(reported),
            )
        )


async def tea_and_brand(
    sessions: async_sessionmaker[AsyncSession],
) -> tuple[MetricsReport, MetricsReport]:
    """The three weeks' report of Tea alone, and of the brand."""
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
    return tea, brand


async def test_ticket_and_trial_figures_per_week(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tea, brand = await tea_and_brand(sessions)
    assert [w.tickets_opened for w in tea.weeks] == [3, 0, 0]
    assert [w.first_answer_hours for w in tea.weeks] == [4.0, None, None]
    assert [w.tickets_resolved for w in tea.weeks] == [Ratio(1, 3), Ratio(0, 0), Ratio(0, 0)]
    assert [w.trial_report for w in tea.weeks] == [Ratio(1, 2), Ratio(0, 0), Ratio(0, 0)]
    assert [w.tickets_opened for w in brand.weeks] == [3, 1, 0]
    assert brand.weeks[1].first_answer_hours == 1.0
    assert brand.weeks[1].tickets_resolved == Ratio(1, 1)
    assert brand.weeks[1].trial_report == Ratio(1, 1)
    rows = {(row[0], row[1]): row[2:] for row in metric_rows(tea)}
    assert rows[("2026-03-02", "tickets_opened")] == ("", "", "3")
    assert rows[("2026-03-02", "first_answer_hours")] == ("", "", "4.0")
    assert rows[("2026-03-02", "tickets_resolved")] == (1, 3, "0.3333")
    assert rows[("2026-03-02", "trial_report")] == (1, 2, "0.5000")


async def test_interaction_rate_is_messages_and_taps_per_member_present(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    tea, brand = await tea_and_brand(sessions)
    async with sessions() as session:
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
