"""Broadcasts to the private members of one community: who the bot saw in the group (messages,
buttons, joins, leaves), the wizard's community target, and /forgetme erasing the membership."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from sqlalchemy import select
from sqlmodel import col

from models.broadcast import RECIPIENT_SENT, RECIPIENT_SKIPPED
from models.community import CommunityMember
from services import broadcast as outbox
from services.privacy import collect_member_data
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness
from tests.test_broadcast import tap
from tests.test_broadcast_outbox import MORNING, rows

# the promotion policy's default caps, gap and quiet hours (tests/conftest.py UNPACED)
pytestmark = pytest.mark.pacing

ANA = 3001  # joins Tea Lovers while the bot is there
BEN = 3002  # joins too, never opts in
TEXT = "Tea Lovers' evening: oolong 29.90 CNY until Friday"


async def members_of(harness: Harness, chat_id: int) -> dict[int, datetime | None]:
    """member id -> left_at of everyone the store holds as seen in the chat."""
    async with harness.session() as session:
        found = await session.execute(
            select(CommunityMember).where(col(CommunityMember.community_id) == chat_id)
        )
        return {row.member_id: row.left_at for row in found.scalars()}


async def consent(harness: Harness, *members: int) -> None:
    async with harness.session() as session, session.begin():
        for member_id in members:
            await outbox.set_consent(
                session, member_id=member_id, opted_in=True, wording_version="t", now=MORNING
            )


async def tea_community(harness: Harness) -> None:
    """The bot is in both groups and asked Telegram for chat_member updates, as polling does;
    then people write, tap, join and leave."""
    harness.clock.now = MORNING
    runtime = harness.runtime
    assert "chat_member" in runtime.dp.resolve_used_update_types()
    await runtime.bot.get_updates(allowed_updates=runtime.dp.resolve_used_update_types())
    await harness.join_groups()
    harness.emulator.add_user(ANA, "Ana", language_code="en")
    harness.emulator.add_user(BEN, "Ben", language_code="en")
    for uid in (SAM, MIA, KAI, LEE, ANA, BEN):
        await harness.send(uid, uid, "/start")  # they opened the private chat
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    # the owner, who added the bot, leaves Tea Lovers to its leader, who says hello
    harness.emulator.member_leaves(TEA, OWNER)
    await harness.send(LEE, TEA, "Welcome, everyone")
    await harness.send(MIA, TEA, "Hello tea friends")  # a message
    await harness.send(KAI, TEA, "/checkin")  # a check-in
    harness.emulator.member_joins(TEA, ANA)  # chat_member update and service message
    harness.emulator.member_joins(TEA, BEN)
    await harness.feed_pending()
    await harness.send(OWNER, COFFEE, "Coffee anyone?")  # another group only
    harness.emulator.member_leaves(TEA, KAI)
    await harness.feed_pending()


async def test_the_bot_records_who_it_sees_in_a_community_and_who_left(harness: Harness) -> None:
    await tea_community(harness)
    # then Tea Lovers holds Lee and Mia (wrote), Ana and Ben (joined), Kai and Olivia (who
    # added the bot) as gone; Olivia wrote in Coffee
    tea = await members_of(harness, TEA)
    assert set(tea) == {OWNER, LEE, MIA, KAI, ANA, BEN}
    assert tea[KAI] is not None and tea[OWNER] is not None
    assert [tea[m] for m in (LEE, MIA, ANA, BEN)] == [None, None, None, None]
    assert OWNER in await members_of(harness, COFFEE)
    # and when Kai comes back and writes, he is in again
    harness.emulator.member_joins(TEA, KAI)
    await harness.feed_pending()
    assert (await members_of(harness, TEA))[KAI] is None


async def test_a_broadcast_to_a_community_reaches_its_opted_in_members_once(
    harness: Harness,
) -> None:
    # given Tea Lovers' members, of whom Mia and Ana opted in (and Kai and Olivia, who left);
    # Ben and Lee never did
    await tea_community(harness)
    await consent(harness, MIA, ANA, KAI, OWNER)
    # when Sam picks the community in the wizard
    await harness.send(SAM, SAM, "/broadcast")
    await harness.send(SAM, SAM, TEXT)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "⏭ Skip", user=SAM)
    await tap(harness, SAM, "Members of a community…", user=SAM)
    listed = harness.emulator.last_bot_message(SAM)
    assert listed.button_texts == ["Coffee Club", "Tea Lovers", "⬅️ Back", "✖️ Cancel"]
    await tap(harness, SAM, "Tea Lovers", user=SAM)
    await tap(harness, SAM, "Now", user=SAM)
    # then the summary counts the opted-in members still in the group, Ben and Lee as skipped
    summary = harness.emulator.last_bot_message(SAM).text or ""
    assert "It reaches 2 chats: 0 groups and 2 members." in summary
    assert "Skipped: 2 (not opted in)." in summary
    assert "First delivery 2026-11-23 10:00, last 2026-11-23 10:00 (UTC)" in summary
    await tap(harness, SAM, "✅ Confirm", user=SAM)
    # and when Ana says /stop before it goes out, she is skipped at once
    await harness.send(ANA, ANA, "/stop")
    await harness.runtime.broadcasts.pump()
    got = {
        uid: sum(1 for m in harness.emulator.bot_messages(uid) if TEXT in (m.text or ""))
        for uid in (MIA, ANA, BEN, KAI, LEE, OWNER)
    }
    assert got == {MIA: 1, ANA: 0, BEN: 0, KAI: 0, LEE: 0, OWNER: 0}
    by_chat = await rows(harness, 1)
    assert by_chat[MIA].status == RECIPIENT_SENT
    assert (by_chat[ANA].status, by_chat[ANA].reason) == (RECIPIENT_SKIPPED, "not_opted_in")
    assert by_chat.keys() == {MIA, ANA, BEN, LEE}
    await harness.runtime.broadcasts.housekeeping()
    assert (await harness.send(SAM, SAM, "/broadcast status 1"))[0].startswith(
        "Broadcast #1 (members of Tea Lovers): done"  # the group by its name, not its id
    )


async def test_a_community_broadcast_keeps_the_weekly_cap_and_quiet_hours(
    harness: Harness,
) -> None:
    await tea_community(harness)
    await consent(harness, MIA)
    rules = harness.runtime.settings.pacing_rules()  # 2 a week per member, 4 h apart

    async def plan(start: datetime) -> datetime:
        async with harness.session() as session, session.begin():
            _broadcast_id, summary = await outbox.create_broadcast(
                session,
                draft=outbox.Draft(
                    text=TEXT, targets=f"community:{TEA}", scheduled_at=start, created_by=SAM
                ),
                rules=rules,
                default_timezone="UTC",
            )
        assert summary.members == 1 and summary.earliest is not None
        return summary.earliest

    # a drop at 23:00 waits for the end of quiet hours (22:00-08:00 in Mia's zone, UTC)
    night = MORNING.replace(hour=23)
    assert await plan(night) == night.replace(hour=8) + timedelta(days=1)
    # a second one keeps the 4 h gap; a third waits until the first is 7 days old
    assert await plan(night) == night.replace(hour=12) + timedelta(days=1)
    assert await plan(night) == night.replace(hour=8) + timedelta(days=8)


async def test_forgetme_erases_the_community_membership(harness: Harness) -> None:
    await tea_community(harness)
    async with harness.session() as session:
        held = await collect_member_data(session, member_id=MIA, now=MORNING)
    assert [row["community_id"] for row in held.tables["community_member"]] == [TEA]
    # when Mia asks to be forgotten and confirms
    await harness.send(MIA, MIA, "/forgetme")
    question = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, question.message_id, index=0)
    # then no group remembers her, and writing in the group again does not record her
    assert MIA not in await members_of(harness, TEA)
    await harness.send(MIA, TEA, "still here")
    assert MIA not in await members_of(harness, TEA)
    assert ANA in await members_of(harness, TEA)
