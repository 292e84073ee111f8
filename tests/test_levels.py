"""Layered communities: staff make a group VIP or core and say who may join; the bot approves
the join requests of members who qualify and declines the others, telling them why in private;
a group nearing GROUP_SIZE_LIMIT warns its leader and staff once per crossing."""

from __future__ import annotations

from pathlib import Path

import pytest
from aiogram.exceptions import TelegramBadRequest, TelegramForbiddenError
from sqlmodel import select

from bot.cli.playground import run_playground
from models.audit import AuditEntry
from models.community import JOIN_INVITE, JOIN_TIER, LEVEL_CORE, LEVEL_VIP, Community
from models.tiers import MemberTier
from tests.conftest import LEE, MIA, OWNER, SAM, Harness, make_settings
from tests.test_order import make_staff
from tests.test_playground import in_order

VIP = -1001000000020  # "Tea VIP", Lee's inner circle
ZOE = 1020  # a newcomer who never wrote to the bot


async def vip_group(harness: Harness) -> None:
    """Sam is staff; the owner adds the bot to Tea VIP as an administrator; Mia is Gold."""
    await harness.join_groups()
    await make_staff(harness)
    harness.emulator.add_user(ZOE, "Zoe", username="zoe", language_code="en")
    harness.emulator.add_group(VIP, "Tea VIP", creator=LEE, members=[OWNER])
    harness.emulator.add_bot_to_group(VIP, OWNER, status="administrator")
    await harness.feed_pending()
    for user in (MIA, LEE):
        await harness.send(user, user, "/start")
    async with harness.session() as session, session.begin():
        session.add(MemberTier(member_id=MIA, rank=2, spend=300_000))
    for chat in (SAM, MIA, LEE, ZOE, VIP):
        harness.new_bot_messages(chat)


async def community(harness: Harness, chat_id: int) -> Community:
    async with harness.session() as session:
        row = await session.get(Community, chat_id)
    assert row is not None
    return row


async def audited(harness: Harness, action: str) -> list[AuditEntry]:
    async with harness.session() as session:
        rows = await session.execute(select(AuditEntry).where(AuditEntry.action == action))
    return list(rows.scalars().all())


def member_status(harness: Harness, chat_id: int, user_id: int) -> str:
    return harness.emulator.get_member_status(chat_id, user_id)


async def test_a_gold_member_is_approved_and_a_newcomer_declined_with_the_reason(
    harness: Harness,
) -> None:
    await vip_group(harness)
    # when Sam makes Tea VIP a VIP group for Gold and above
    replies = await harness.send(SAM, SAM, f"/group_level {VIP} vip gold")
    assert replies == [
        f"Tea VIP ({VIP}) is now a group of level VIP. Members of tier Gold and above may join."
    ]
    row = await community(harness, VIP)
    assert (row.level, row.join_rule, row.join_min_rank) == (LEVEL_VIP, JOIN_TIER, 2)
    assert [a.actor_id for a in await audited(harness, "group.level_set")] == [SAM]

    # when Mia (Gold) and Zoe (new, never wrote to the bot) ask to join
    harness.emulator.request_to_join(VIP, MIA)
    harness.emulator.request_to_join(VIP, ZOE)
    await harness.feed_pending()

    # then Mia is in, and told so
    assert member_status(harness, VIP, MIA) == "member"
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "Welcome! Your request to join Tea VIP (VIP group) is approved."
    ]
    # and Zoe is declined, not removed, and told why and what would qualify her
    assert member_status(harness, VIP, ZOE) == "left"
    assert [m.text for m in harness.new_bot_messages(ZOE)] == [
        "Sorry, I could not approve your request to join this group.\n"
        "Tea VIP is a VIP group for members of tier Gold and above; your tier is Member. "
        "Reach Gold with your orders (see /me), then ask to join again."
    ]
    assert [c["user_id"] for c in harness.emulator.calls_of("approveChatJoinRequest")] == [MIA]
    assert [c["user_id"] for c in harness.emulator.calls_of("declineChatJoinRequest")] == [ZOE]
    assert harness.emulator.calls_of("banChatMember") == []
    # and both decisions are on record
    assert [a.actor_id for a in await audited(harness, "group.join_approved")] == [MIA]
    assert [a.actor_id for a in await audited(harness, "group.join_declined")] == [ZOE]


async def test_an_invitation_only_core_group_admits_whom_staff_invited(harness: Harness) -> None:
    await vip_group(harness)
    assert await harness.send(SAM, SAM, f"/group_level {VIP} core invite") == [
        f"Tea VIP ({VIP}) is now a group of level core. "
        "Only members you invite may join (/group_invite)."
    ]
    row = await community(harness, VIP)
    assert (row.level, row.join_rule) == (LEVEL_CORE, JOIN_INVITE)

    # when Mia asks to join without an invitation, Gold as she is
    harness.emulator.request_to_join(VIP, MIA)
    await harness.feed_pending()
    # then she is declined and told how to get in
    assert member_status(harness, VIP, MIA) == "left"
    told = [m.text or "" for m in harness.new_bot_messages(MIA)]
    assert told == [
        "Sorry, I could not approve your request to join this group.\n"
        "Tea VIP is a core group open by invitation only. Ask the brand's staff or your "
        "group leader for an invitation, then ask to join again."
    ]

    # when Sam invites her (twice) and she asks again
    assert await harness.send(SAM, SAM, f"/group_invite {VIP} @mia") == [
        f"Mia is invited to Tea VIP ({VIP}): I will approve their join request."
    ]
    assert await harness.send(SAM, SAM, f"/group_invite {VIP} @mia") == [
        "They are invited to that group already."
    ]
    harness.emulator.request_to_join(VIP, MIA)
    await harness.feed_pending()
    # then she is in
    assert member_status(harness, VIP, MIA) == "member"
    assert [m.text for m in harness.new_bot_messages(MIA)] == [
        "Welcome! Your request to join Tea VIP (core group) is approved."
    ]


async def test_group_level_explains_bad_input_and_changes_nothing(harness: Harness) -> None:
    await vip_group(harness)
    usage = (await harness.send(SAM, SAM, "/group_level"))[0]
    assert usage.startswith("Send /group_level GROUP LEVEL [WHO]")
    assert await harness.send(SAM, SAM, "/group_level tea vip") == [usage]
    assert await harness.send(SAM, SAM, f"/group_level {VIP} vip gold extra") == [usage]
    assert await harness.send(SAM, SAM, f"/group_level {VIP} platinum") == [
        "“platinum” is not a level: use open, vip or core."
    ]
    assert await harness.send(SAM, SAM, f"/group_level {VIP} vip <b>emerald</b>") == [
        "“<b>emerald</b>” is neither a tier nor a rule: use a tier's name (see /tiers), "
        "invite or paid."
    ]
    assert await harness.send(SAM, SAM, "/group_level -1009999 vip gold") == [
        "I do not know that group. Send /groups to see the groups and their ids."
    ]
    # a member is refused politely, and nothing changed
    refused = await harness.send(MIA, MIA, f"/group_level {VIP} vip gold")
    assert len(refused) == 1 and "Tea VIP" not in refused[0]
    row = await community(harness, VIP)
    assert (row.level, row.join_rule) == ("open", "")
    assert await audited(harness, "group.level_set") == []


async def test_a_group_nearing_its_size_limit_warns_its_leader_and_staff_once(
    harness: Harness,
) -> None:
    await vip_group(harness)
    assert harness.runtime.settings.group_size_limit == 500  # warned from 450 members
    for user_id in range(5000, 5447):  # with Lee, the owner and the bot: 450
        harness.emulator.set_member_status(VIP, user_id, "member")
    for chat in (LEE, SAM, OWNER):
        harness.new_bot_messages(chat)
    warning = (
        f"👥 Tea VIP ({VIP}) has 450 members, close to the limit of 500 a group should hold. "
        "Consider opening the next group now and inviting new members there."
    )

    # when the size job runs twice
    assert await harness.runtime.sizes.run() == 1
    assert await harness.runtime.sizes.run() == 0
    # then the leader (in Chinese) and each staff member were warned once, and the count kept
    assert [m.text for m in harness.new_bot_messages(SAM)] == [warning]
    assert [m.text for m in harness.new_bot_messages(OWNER)] == [warning]
    lee = [m.text or "" for m in harness.new_bot_messages(LEE)]
    assert len(lee) == 1 and "450" in lee[0] and "500" in lee[0]
    row = await community(harness, VIP)
    assert (row.member_count, row.size_warned) == (450, True)

    # when two leave, the job runs, they come back and it runs again: a new crossing, warned
    for user_id in (5000, 5001):
        harness.emulator.set_member_status(VIP, user_id, "left")
    assert await harness.runtime.sizes.run() == 0
    assert (await community(harness, VIP)).size_warned is False
    for user_id in (5000, 5001):
        harness.emulator.set_member_status(VIP, user_id, "member")
    assert await harness.runtime.sizes.run() == 1
    assert [m.text for m in harness.new_bot_messages(SAM)] == [warning]


async def test_stats_count_groups_and_members_per_level(harness: Harness) -> None:
    await vip_group(harness)
    await harness.send(SAM, SAM, f"/group_level {VIP} vip gold")
    assert await harness.runtime.sizes.run() == 0  # the member counts are read
    # when Sam asks for /stats
    harness.new_bot_messages(SAM)
    harness.emulator.send_message(SAM, SAM, "/stats")
    await harness.feed_pending()
    texts = [m.text or "" for m in harness.new_bot_messages(SAM)]
    # then the report ends with groups and members per level (Tea VIP: Lee, the owner, the bot)
    assert any(
        text.endswith(
            "Members per level\nopen: 2 groups, 11 members\nVIP: 1 group, 3 members\n"
            "core: 0 groups, 0 members"
        )
        for text in texts
    )


async def test_the_playground_asks_to_join_a_vip_group(tmp_path: Path) -> None:
    script = tmp_path / "vip.txt"
    script.write_text(
        "\n".join(
            [
                ":chat tea",
                ":promote bot",
                ":chat private",
                "/group_level -100100 vip gold",
                ":request erin tea",
                ":request bob nowhere",
            ]
        ),
        encoding="utf-8",
    )
    lines: list[str] = []
    assert await run_playground(make_settings(), script=script, write=lines.append) == 0
    transcript = "\n".join(lines)
    in_order(
        transcript,
        [
            "is now a group of level VIP. Members of tier Gold and above may join.",
            "(erin asks to join Tea Lovers)",
            "“Tea Lovers”是VIP群，面向等级达到“黄金会员”或更高的会员",
            ":request NAME GROUP, e.g. :request erin tea",
        ],
    )


async def test_the_emulator_answers_join_requests_as_telegram_does(harness: Harness) -> None:
    await vip_group(harness)
    bot = harness.runtime.bot
    # a request no one made cannot be answered
    with pytest.raises(TelegramBadRequest, match="HIDE_REQUESTER_MISSING"):
        await bot.decline_chat_join_request(VIP, ZOE)
    # while Zoe's request is pending the bot may write to her; once answered, no more
    harness.emulator.request_to_join(VIP, ZOE)
    harness.emulator.pop_updates()
    await bot.send_message(ZOE, "hello")
    await bot.decline_chat_join_request(VIP, ZOE)
    with pytest.raises(TelegramForbiddenError):
        await bot.send_message(ZOE, "hello again")
    assert harness.emulator.get_member_status(VIP, ZOE) == "left"
