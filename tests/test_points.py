"""Points rules at the service level, under concurrency, on SQLite and on PostgreSQL: points
never go negative, a reward's stock is never oversold, a day has one check-in, caps hold; and
in chat, gifts between members, their daily cap, donations and the charity pool."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from models.loyalty import CheckIn
from models.points import PointsDay
from models.rewards import Redemption, Reward
from services.loyalty import check_in, order_points
from services.member import UserInfo, record_member
from services.points import (
    PointsError,
    award,
    claw_back,
    gift,
    points_balance,
)
from services.rewards import add_reward, redeem
from services.tiers import DEFAULT_TIERS
from tests.conftest import KAI, LEE, MIA, SAM, TEA, Harness, make_settings
from tests.test_loyalty import make_staff, points_of

NOW = datetime(2026, 11, 21, 12, 0, tzinfo=UTC)
TODAY = date(2026, 11, 21)


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(make_settings(database_url=database_url))
    yield create_session_factory(engine)
    await engine.dispose()


async def seed(sessions: async_sessionmaker[AsyncSession], members: int) -> None:
    async with sessions() as session, session.begin():
        for uid in range(1, members + 1):
            await record_member(session, user=UserInfo(uid, f"m{uid}"), default_locale="en")


async def grant(sessions: async_sessionmaker[AsyncSession], member: int, points: int) -> None:
    async with sessions() as session, session.begin():
        await award(
            session, member_id=member, reason="checkin", points=points, key=f"seed:{member}",
            day=TODAY,
        )  # fmt: skip


async def retrying(
    sessions: async_sessionmaker[AsyncSession],
    work: Callable[[AsyncSession], Awaitable[str]],
) -> str:
    """One unit of work in its own transaction, retried when the database says try again
    (SQLite busy, PostgreSQL serialization), as the bot's update handling is."""
    for _attempt in range(50):
        try:
            async with sessions() as session, session.begin():
                return await work(session)
        except (OperationalError, DBAPIError) as exc:
            if "locked" in str(exc) or "serializ" in str(exc) or "deadlock" in str(exc):
                await asyncio.sleep(0.01)
                continue
            raise
    raise AssertionError("gave up retrying")


async def test_concurrent_redeems_never_drive_points_negative_nor_oversell(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    # given a member with 100 points and a 30-point reward with 10 in stock, and another
    # member with plenty
    await seed(sessions, 2)
    await grant(sessions, 1, 100)
    await grant(sessions, 2, 1_000)
    async with sessions() as session, session.begin():
        reward = await add_reward(session, title="Cup", cost=30, stock=10, created_by=1)

    async def attempt(member: int, tap: int) -> str:
        async def work(session: AsyncSession) -> str:
            try:
                await redeem(
                    session,
                    reward_id=reward.id,
                    member_id=member,
                    key=f"tap:{member}:{tap}",
                    now=NOW,
                )
            except PointsError as exc:
                return exc.reason
            return "ok"

        return await retrying(sessions, work)

    # when both tap 12 times at once
    outcomes = await asyncio.gather(
        *(attempt(member, tap) for tap in range(12) for member in (1, 2))
    )
    # then member 1 redeemed exactly 3 (90 points), the stock of 10 was never oversold
    async with sessions() as session:
        first = await points_balance(session, 1)
        second = await points_balance(session, 2)
        row = await session.get(Reward, reward.id)
        taken = dict(
            (
                await session.execute(
                    select(Redemption.member_id, func.count()).group_by(Redemption.member_id)
                )
            ).all()
        )
    assert row is not None and row.stock == 0
    assert taken[1] == 3 and first == 10
    assert taken[1] + taken[2] == 10 and second == 1_000 - 30 * taken[2]
    assert outcomes.count("ok") == 10
    assert set(outcomes) <= {"ok", "not_enough", "out_of_stock"}


async def test_concurrent_check_ins_of_one_day_count_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, 1)

    async def attempt() -> str:
        async def work(session: AsyncSession) -> str:
            result = await check_in(
                session,
                member_id=1,
                chat_id=1,
                now=NOW,
                timezone="Asia/Shanghai",
                base_points=5,
                streak_bonus={},
                cap=None,
            )
            return "new" if result.new else "again"

        return await retrying(sessions, work)

    outcomes = await asyncio.gather(*(attempt() for _ in range(10)))
    assert sorted(outcomes) == ["again"] * 9 + ["new"]
    async with sessions() as session:
        assert await points_balance(session, 1) == 5
        count = (await session.execute(select(func.count()).select_from(CheckIn))).scalar_one()
    assert count == 1


async def test_a_check_in_streak_day_is_held_under_the_daily_cap(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Day 2 of a streak would earn 5 + 40 = 45 points; the check-in cap of 30 holds it there,
    the day's row and the ledger agree, and the result says it was capped."""
    await seed(sessions, 1)
    results = []
    for day in range(2):
        async with sessions() as session, session.begin():
            results.append(
                await check_in(
                    session,
                    member_id=1,
                    chat_id=1,
                    now=NOW + timedelta(days=day),
                    timezone="Asia/Shanghai",
                    base_points=5,
                    streak_bonus={2: 40},
                    cap=30,
                )
            )
    first, second = results
    assert (first.points, first.capped) == (5, False)
    assert (second.streak, second.bonus, second.points, second.capped) == (2, 40, 30, True)
    async with sessions() as session:
        assert await points_balance(session, 1) == 35
        rows = (await session.execute(select(CheckIn.points).order_by(CheckIn.day))).all()
    assert [r[0] for r in rows] == [5, 30]


async def test_a_daily_cap_holds_under_concurrent_grants(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, 1)

    async def attempt(n: int) -> str:
        async def work(session: AsyncSession) -> str:
            granted = await award(
                session,
                member_id=1,
                reason="vote",
                points=7,
                key=f"vote:{n}",
                day=TODAY,
                cap=30,
            )
            return str(granted.points)

        return await retrying(sessions, work)

    outcomes = await asyncio.gather(*(attempt(n) for n in range(10)))
    # 4 full grants of 7, one of the remaining 2, the rest nothing: never above 30
    assert sorted(int(o) for o in outcomes) == [0] * 5 + [2] + [7] * 4
    async with sessions() as session:
        assert await points_balance(session, 1) == 30
        day = await session.get(PointsDay, (1, "vote", TODAY))
    assert day is not None and day.total == 30


async def test_the_same_grant_at_once_takes_its_room_under_the_cap_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, 1)

    async def attempt() -> str:
        async def work(session: AsyncSession) -> str:
            granted = await award(
                session, member_id=1, reason="vote", points=7, key="vote:poll-1", day=TODAY,
                cap=30,
            )  # fmt: skip
            return "new" if granted.created else "again"

        return await retrying(sessions, work)

    # one vote's points delivered five times at once are granted once
    outcomes = await asyncio.gather(*(attempt() for _ in range(5)))
    assert sorted(outcomes) == ["again"] * 4 + ["new"]
    async with sessions() as session:
        assert await points_balance(session, 1) == 7
        day = await session.get(PointsDay, (1, "vote", TODAY))
    # and the day's counter holds those 7 only, leaving 23 of the 30 for other votes
    assert day is not None and day.total == 7


async def test_gifts_refuse_self_overdraft_and_bad_amounts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, 2)
    await grant(sessions, 1, 10)
    for sender, recipient, points, reason in (
        (1, 1, 5, "self"),
        (1, 2, 11, "not_enough"),
        (1, 2, 0, "bad_amount"),
        (1, 2, -4, "bad_amount"),
    ):
        async with sessions() as session, session.begin():
            with pytest.raises(PointsError) as refused:
                await gift(
                    session,
                    sender_id=sender,
                    recipient_id=recipient,
                    points=points,
                    key=f"g:{points}",
                    day=TODAY,
                    daily_cap=100,
                )
            assert refused.value.reason == reason
    async with sessions() as session:
        assert (await points_balance(session, 1), await points_balance(session, 2)) == (10, 0)


async def test_a_claw_back_takes_only_what_is_left(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await seed(sessions, 1)
    await grant(sessions, 1, 4)
    async with sessions() as session, session.begin():
        assert await claw_back(session, member_id=1, points=10, key="cb", order_id=1) == 4
        assert await claw_back(session, member_id=1, points=10, key="cb", order_id=1) == 4
        assert await points_balance(session, 1) == 0


def test_order_points_use_whole_units_the_rate_and_the_tier() -> None:
    member, silver = DEFAULT_TIERS[0], DEFAULT_TIERS[1]
    assert (
        order_points(paid=7980, currency="CNY", points_per_unit=1, tier=member, doubled=False) == 79
    )
    assert (
        order_points(paid=7980, currency="CNY", points_per_unit=1, tier=silver, doubled=False) == 94
    )
    assert (
        order_points(paid=7980, currency="CNY", points_per_unit=2, tier=silver, doubled=True) == 378
    )
    assert (
        order_points(paid=500, currency="JPY", points_per_unit=1, tier=member, doubled=False) == 500
    )
    assert (
        order_points(paid=50, currency="XTR", points_per_unit=1, tier=member, doubled=False) == 50
    )


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
        "I don't know that user yet. Ask them to send /start to me (or to write in one of our "
        "groups), then try again."
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
