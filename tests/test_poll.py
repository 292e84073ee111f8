"""Poll rules at the service level: parsing, one ballot per member whatever the concurrency,
one reward per poll under the daily cap, and closing once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from models.poll import PollBallot
from services.member import UserInfo, record_member
from services.points import points_balance
from services.poll import (
    PollError,
    close_poll,
    create_poll,
    due_polls,
    get_poll,
    parse_closing,
    parse_options,
    record_answer,
    record_post,
    tally,
)
from tests.conftest import make_settings

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
GROUPS = (-1001, -1002, -1003)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


async def seed(sessions: async_sessionmaker[AsyncSession], *, points: int = 5) -> int:
    """Members 1..3 and a poll posted in three groups (native ids tg-<group>); its id."""
    async with sessions() as session, session.begin():
        for uid in (1, 2, 3):
            await record_member(session, user=UserInfo(uid, f"m{uid}"), default_locale="en")
        poll = await create_poll(
            session,
            question="Which flavour?",
            options=("Jasmine", "Osmanthus", "Lychee"),
            allows_multiple=True,
            anonymous=False,
            closes_at=NOW + timedelta(days=3),
            points_per_vote=points,
            tier_weighted=False,
            created_by=1,
            now=NOW,
        )
        for i, chat in enumerate(GROUPS):
            await record_post(
                session, poll_id=poll.id, chat_id=chat, telegram_poll_id=f"tg{i}", message_id=i
            )
    return poll.id


async def answer(
    sessions: async_sessionmaker[AsyncSession],
    copy: int,
    member: int,
    options: list[int],
    *,
    cap: int | None = 100,
    now: datetime = NOW,
) -> None:
    async with sessions() as session, session.begin():
        await record_answer(
            session,
            telegram_poll_id=f"tg{copy}",
            member_id=member,
            option_ids=options,
            now=now,
            points_cap=cap,
        )


def test_options_and_closing_times_are_checked() -> None:
    assert parse_options("Jasmine | Osmanthus\nLychee") == ("Jasmine", "Osmanthus", "Lychee")
    for bad, reason in [
        ("one", "too_few_options"),
        ("|".join(str(i) for i in range(13)), "too_many_options"),
        ("a|" + "b" * 101, "option_too_long"),
        ("Tea|TEA", "duplicate_options"),
    ]:
        with pytest.raises(PollError) as refused:
            parse_options(bad)
        assert refused.value.reason == reason
    assert parse_closing("3d", now=NOW, timezone="UTC") == NOW + timedelta(days=3)
    assert parse_closing("2026-11-22 20:00", now=NOW, timezone="Asia/Shanghai") == datetime(
        2026, 11, 22, 12, 0, tzinfo=UTC
    )
    with pytest.raises(PollError) as refused:
        parse_closing("2026-11-20 20:00", now=NOW, timezone="UTC")
    assert refused.value.reason == "closing_past"


async def test_concurrent_answers_from_one_member_across_groups_leave_one_ballot(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    poll_id = await seed(sessions)
    # when member 1 answers in all three groups at once, many times over
    plan = [(copy, [copy]) for copy in range(3)] * 8
    await asyncio.gather(*(answer(sessions, copy, 1, options) for copy, options in plan))
    async with sessions() as session:
        rows = list(
            (
                await session.execute(select(PollBallot).where(PollBallot.poll_id == poll_id))
            ).scalars()
        )
        balance = await points_balance(session, 1)
    # then one ballot holds one of their answers, and the reward was paid once
    assert len(rows) == 1 and rows[0].options in (1, 2, 4)
    assert balance == 5


async def test_votes_change_retract_and_close_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    poll_id = await seed(sessions)
    await answer(sessions, 0, 1, [0, 2])
    await answer(sessions, 1, 2, [1])
    await answer(sessions, 1, 2, [2])  # changed
    await answer(sessions, 2, 3, [1])
    await answer(sessions, 2, 3, [])  # retracted
    await answer(sessions, 0, 2, [])  # a retraction in a copy without their ballot
    # votes for options that do not exist change nothing
    await answer(sessions, 0, 3, [7])
    async with sessions() as session, session.begin():
        poll = await get_poll(session, poll_id)
        assert poll is not None
        result = await tally(session, poll)
    assert result.raw == (1, 0, 2) and result.voters == 2 and result.winner == 2
    # closing: the sweep and staff racing close it once
    async with sessions() as session:
        assert await due_polls(session, now=NOW + timedelta(days=3)) == [poll_id]

    async def close() -> bool:
        async with sessions() as session, session.begin():
            return await close_poll(session, poll_id=poll_id, now=NOW) is not None

    assert sorted(await asyncio.gather(close(), close(), close())) == [False, False, True]
    # a vote after closing is ignored
    await answer(sessions, 1, 1, [1])
    async with sessions() as session:
        ballot = (
            await session.execute(select(PollBallot).where(PollBallot.member_id == 1))
        ).scalar_one()
    assert ballot.options == 0b101


async def test_the_vote_reward_respects_the_daily_cap(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, points=30)
    await answer(sessions, 0, 1, [0], cap=20)
    async with sessions() as session:
        assert await points_balance(session, 1) == 20
