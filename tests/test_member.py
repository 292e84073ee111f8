"""Members by @username: the name belongs to whoever holds it now, and a look-up that still
matches several members is refused with a hint to use the numeric id. A member recorded from an
update: the row and the sighting in the group, in as few statements as the database allows."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, event, select, update
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from bot.db import create_engine, create_session_factory
from models.community import CommunityMember
from models.member import Member
from services.community import ChatInfo, record_context
from services.idempotency import Claim
from services.member import AmbiguousMember, UserInfo, find_member, get_member, record_member
from services.role import grant_staff, is_staff, revoke_staff
from tests.conftest import LEE, MIA, OWNER, SAM, TEA, Harness, make_settings

NIA = 2001  # a newcomer who takes the name Mia gave up


@pytest.fixture
async def engine(database_url: str) -> AsyncIterator[AsyncEngine]:
    engine = create_engine(make_settings(database_url=database_url))
    yield engine
    await engine.dispose()


@contextmanager
def counted(engine: AsyncEngine) -> Iterator[list[str]]:
    """The SQL statements run on the engine in the block (transaction control left out)."""
    statements: list[str] = []

    def spot(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if not statement.lstrip().upper().startswith(("BEGIN", "COMMIT", "ROLLBACK")):
            statements.append(statement)

    event.listen(engine.sync_engine, "before_cursor_execute", spot)
    try:
        yield statements
    finally:
        event.remove(engine.sync_engine, "before_cursor_execute", spot)


async def seen(
    sessions: async_sessionmaker[AsyncSession], uid: int, first_name: str, username: str | None
) -> None:
    async with sessions() as session, session.begin():
        await record_member(
            session, user=UserInfo(uid, first_name, username=username), default_locale="en"
        )


async def test_a_member_seen_with_a_name_takes_it_from_whoever_held_it(
    engine: AsyncEngine,
) -> None:
    sessions = create_session_factory(engine)
    # given Mia was seen as @mia, then gave the name up and has not been seen since
    await seen(sessions, MIA, "Mia", "mia")
    # when Nia is seen with it (in another case, as Telegram names are case-insensitive)
    await seen(sessions, NIA, "Nia", "Mia")
    # then the name is Nia's alone, and a look-up finds her
    async with sessions() as session:
        old = await get_member(session, MIA)
        found = await find_member(session, "@MIA")
    assert old is not None and old.username is None
    assert found is not None and found.id == NIA


async def test_the_name_is_cleared_only_when_it_changed(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    # a new member with a name: the read, the upsert, and the clearing of the name elsewhere
    with counted(engine) as statements:
        await seen(sessions, MIA, "Mia", "mia")
    assert len(statements) == 3
    # the common path, a known member unchanged: one read, nothing more
    with counted(engine) as statements:
        await seen(sessions, MIA, "Mia", "mia")
    assert len(statements) == 1
    # another field changed: the read and the upsert, no clearing
    with counted(engine) as statements:
        await seen(sessions, MIA, "Mia Chen", "mia")
    assert len(statements) == 2
    # the name changed: the clearing follows the upsert in the same transaction
    with counted(engine) as statements:
        await seen(sessions, MIA, "Mia Chen", "mia_tea")
    assert len(statements) == 3 and statements[-1].lstrip().upper().startswith("UPDATE MEMBER")
    # a member without a name clears nothing
    with counted(engine) as statements:
        await seen(sessions, NIA, "Nia", None)
    assert len(statements) == 2


async def test_a_name_still_held_by_several_members_is_ambiguous(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    await seen(sessions, MIA, "Mia", "mia")
    await seen(sessions, NIA, "Nia", "nia")
    async with sessions() as session, session.begin():  # legacy rows from before the clearing
        await session.execute(update(Member).where(Member.id == NIA).values(username="MIA"))
    async with sessions() as session:
        with pytest.raises(AmbiguousMember) as ambiguous:
            await find_member(session, "@mia")
        by_id = await find_member(session, str(NIA))
    assert {member.id for member in ambiguous.value.candidates} == {MIA, NIA}
    assert by_id is not None and by_id.first_name == "Nia"


async def test_a_leader_reaches_whoever_holds_the_name_now(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY")
    await harness.send(MIA, TEA, "/buy 1")
    # given Mia renames herself, and Nia, new in the group, takes the name @mia
    harness.emulator.add_user(MIA, "Mia", username="mia_tea", language_code="en")
    harness.emulator.add_user(NIA, "Nia", username="mia", language_code="en")
    harness.emulator.member_joins(TEA, NIA)
    await harness.feed_pending()
    await harness.send(NIA, TEA, "hello")
    # then /paid @mia is about Nia, who ordered nothing; Mia is reached by her new name
    assert await harness.send(LEE, TEA, "/paid @mia") == [
        "Nia has no orders here waiting for that."
    ]
    # the bot learns Mia's new name once it sees her again
    assert await harness.send(LEE, TEA, "/paid @mia_tea") == [
        "Tell me whose orders: /paid @username, or reply to their message."
    ]
    await harness.send(MIA, TEA, "hi")
    assert await harness.send(LEE, TEA, "/paid @mia_tea") == ["Marked paid for Mia: #1."]


async def test_an_ambiguous_name_is_refused_with_a_hint_to_use_the_id(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 35.90 CNY")
    await harness.send(MIA, TEA, "/buy 1")
    harness.emulator.add_user(NIA, "Nia", username="nia", language_code="en")
    harness.emulator.member_joins(TEA, NIA)
    await harness.feed_pending()
    await harness.send(NIA, TEA, "hello")
    # given legacy data where Nia's row still holds @mia too
    async with harness.session() as session, session.begin():
        await session.execute(update(Member).where(Member.id == NIA).values(username="mia"))
    # when the leader marks @mia paid, the bot will not guess
    replies = await harness.send(LEE, TEA, "/paid @mia")
    assert len(replies) == 1
    assert replies[0].startswith("Several members have used @mia, so I cannot tell which one")
    assert "Mia (1004)" in replies[0] and "Nia (2001)" in replies[0]
    assert replies[0].endswith(
        "Use the numeric id instead of the @username, or reply to one of their messages."
    )
    # and the numeric id works
    assert await harness.send(LEE, TEA, f"/paid {MIA}") == ["Marked paid for Mia: #1."]
    # so does a staff command that names a member
    assert (await harness.send(SAM, SAM, "/gift @mia 5"))[0].startswith("Several members")


async def context(
    sessions: async_sessionmaker[AsyncSession], update_id: int, uid: int, now: datetime
) -> None:
    async with sessions() as session, session.begin():
        await record(session, update_id, uid, now)


async def record(session: AsyncSession, update_id: int, uid: int, now: datetime) -> None:
    """What the bot records of an update from the member in Tea Lovers."""
    await record_context(
        session,
        user=UserInfo(uid, f"M{uid}", language_code="en"),
        chat=ChatInfo(TEA, "Tea lovers", "supergroup"),
        started=False,
        default_locale="en",
        default_timezone="UTC",
        now=now,
        claim=Claim(update_id),
    )


async def test_whether_the_member_is_staff_is_read_with_the_update(engine: AsyncEngine) -> None:
    sessions = create_session_factory(engine)
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)
    await context(sessions, 1, OWNER, now)
    async with sessions() as session:
        async with session.begin():
            # given an update from Mia, who is no staff
            await record(session, 2, MIA, now)
            # then asking whether she is costs no statement of its own
            with counted(engine) as statements:
                assert not await is_staff(session, MIA)
            assert statements == []
            # and once she is made staff in the same transaction, she is
            await grant_staff(session, member_id=MIA, granted_by=OWNER)
            assert await is_staff(session, MIA)
        # a later transaction asks the database again
        async with session.begin():
            with counted(engine) as statements:
                assert await is_staff(session, MIA)
            assert len(statements) == 1
    async with sessions() as session, session.begin():
        # her next update knows she is staff; about anyone else, the database is asked
        await record(session, 3, MIA, now)
        with counted(engine) as statements:
            assert await is_staff(session, MIA)
            assert not await is_staff(session, NIA)
        assert len(statements) == 1
        # and a revocation in the transaction is seen at once
        await revoke_staff(session, member_id=MIA, revoked_by=OWNER)
        assert not await is_staff(session, MIA)


async def test_a_new_member_in_a_known_group_is_recorded_with_their_sighting(
    engine: AsyncEngine,
) -> None:
    sessions = create_session_factory(engine)
    now = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
    postgres = engine.dialect.name == "postgresql"
    # the group's first update records it (and its first member)
    await context(sessions, 1, MIA, now)
    # when a member the bot has never seen taps in the known group
    with counted(engine) as statements:
        await context(sessions, 2, NIA, now)
    # then their row and their sighting are written: on PostgreSQL with the claim in the read
    # and the sighting in the member's upsert (two statements), on SQLite one each (four)
    assert len(statements) == (2 if postgres else 4), statements
    # a member forgotten at their request is not sighted when they only appear in the group
    async with sessions() as session, session.begin():
        await session.execute(update(Member).where(Member.id == NIA).values(forgotten_at=now))
        await session.execute(delete(CommunityMember).where(CommunityMember.member_id == NIA))
    await context(sessions, 3, NIA, now + timedelta(days=1))
    async with sessions() as session:
        sightings = (await session.execute(select(CommunityMember))).scalars().all()
    assert {(s.member_id, s.community_id, s.first_seen_at) for s in sightings} == {(MIA, TEA, now)}
    # and once they are no longer forgotten, their next tap in the group sights them again
    async with sessions() as session, session.begin():
        await session.execute(update(Member).where(Member.id == NIA).values(forgotten_at=None))
    await context(sessions, 4, NIA, now + timedelta(days=1))
    async with sessions() as session:
        mine = (
            await session.execute(select(CommunityMember).where(CommunityMember.member_id == NIA))
        ).scalar_one()
    assert mine.last_seen_at == now + timedelta(days=1)
