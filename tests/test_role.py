"""Roles: the owner grants staff, staff designate leaders, everyone else is refused politely."""

from __future__ import annotations

import pytest
from sqlmodel import select

from models.audit import AuditEntry
from models.role import LeaderDesignation, StaffGrant
from tests.conftest import KAI, LEE, MIA, OWNER, SAM, TEA, Harness

REFUSALS = {
    "owner": "Sorry, only the owner of this bot can do that.",
    "staff": "Sorry, only brand staff can do that.",
    "leader": "Sorry, only the leaders of this group can do that.",
}

# every privileged command of the foundation: (command, where, role it needs, audit action)
PRIVILEGED = [
    ("/grant_staff @mia", "private", "owner", "staff.grant"),
    ("/revoke_staff @mia", "private", "owner", "staff.revoke"),
    ("/audit", "private", "owner", "audit.read"),
    ("/staff", "private", "staff", "staff.list"),
    ("/leader_add @mia", "group", "staff", "leader.designate"),
    ("/leader_remove @mia", "group", "staff", "leader.remove"),
    ("/settings", "group", "leader", "community.settings"),
]


async def audit_rows(harness: Harness) -> list[AuditEntry]:
    async with harness.session() as session:
        return list((await session.execute(select(AuditEntry).order_by(AuditEntry.id))).scalars())


@pytest.mark.parametrize(("command", "where", "role", "action"), PRIVILEGED)
async def test_a_member_is_refused_every_privileged_command(
    harness: Harness, command: str, where: str, role: str, action: str
) -> None:
    await harness.join_groups()
    await harness.send(MIA, MIA, "/start")
    chat = MIA if where == "private" else TEA
    # when Mia, a plain member, tries it
    replies = await harness.send(MIA, chat, command)
    # then she gets the polite refusal and nothing else
    assert replies == [REFUSALS[role]]
    # and the refusal is audited: who, what, where, refused
    rows = [r for r in await audit_rows(harness) if r.action == action]
    assert [(r.actor_id, r.chat_id, r.allowed, r.required_role) for r in rows] == [
        (MIA, chat, False, role)
    ]
    assert rows[0].at is not None and rows[0].at.tzinfo is not None


# Lee's Telegram app is in Simplified Chinese: in private he is refused in his language
REFUSALS_ZH_HANS = {
    "owner": "抱歉，只有本机器人的所有者可以这样做。",
    "staff": "抱歉，只有品牌员工可以这样做。",
}


@pytest.mark.parametrize(
    ("command", "where", "role", "action"), [p for p in PRIVILEGED if p[2] != "leader"]
)
async def test_a_group_leader_is_refused_staff_and_owner_commands(
    harness: Harness, command: str, where: str, role: str, action: str
) -> None:
    await harness.join_groups()
    chat = LEE if where == "private" else TEA
    expected = REFUSALS_ZH_HANS[role] if where == "private" else REFUSALS[role]
    assert await harness.send(LEE, chat, command) == [expected]
    rows = [r for r in await audit_rows(harness) if r.action == action]
    assert [(r.actor_id, r.allowed) for r in rows] == [(LEE, False)]


async def test_owner_grants_and_revokes_staff(harness: Harness) -> None:
    await harness.send(SAM, SAM, "/start")
    # when the owner grants Sam by @username
    replies = await harness.send(OWNER, OWNER, "/grant_staff @Sam")
    assert replies == ["Sam (1002) is now brand staff."]
    # then Sam is told, gets the staff menu, and may list staff
    assert harness.emulator.last_bot_message(SAM).text.startswith("You are now brand staff.")
    menu = harness.emulator.commands[(f'{{"chat_id": {SAM}, "type": "chat"}}', "")]
    assert "staff" in [c["command"] for c in menu]
    assert "grant_staff" not in [c["command"] for c in menu]
    listing = await harness.send(SAM, SAM, "/staff")
    assert listing == ["Brand staff:\n• Sam (1002)"]
    # granting twice changes nothing
    assert await harness.send(OWNER, OWNER, f"/grant_staff {SAM}") == [
        "Sam (1002) is already staff."
    ]
    # when the owner revokes Sam
    assert await harness.send(OWNER, OWNER, "/revoke_staff 1002") == [
        "Sam (1002) is no longer staff."
    ]
    # then Sam is refused again and his menu is a member's
    assert await harness.send(SAM, SAM, "/staff") == [REFUSALS["staff"]]
    menu = harness.emulator.commands[(f'{{"chat_id": {SAM}, "type": "chat"}}', "")]
    assert "staff" not in [c["command"] for c in menu]
    async with harness.session() as session:
        grant = await session.get(StaffGrant, SAM)
    assert grant is not None and grant.revoked_by == OWNER and grant.revoked_at is not None


async def test_grant_needs_someone_the_bot_knows(harness: Harness) -> None:
    assert (await harness.send(OWNER, OWNER, "/grant_staff"))[0].startswith("Tell me who:")
    unknown = await harness.send(OWNER, OWNER, "/grant_staff @nobody_here")
    assert unknown[0].startswith("I don't know that user yet.")
    async with harness.session() as session:
        assert (await session.execute(select(StaffGrant))).first() is None


async def test_staff_designate_a_leader_who_may_then_use_settings(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    # given Mia wrote in the group, Sam replies to her message with /leader_add
    harness.emulator.send_message(MIA, TEA, "hello everyone")
    await harness.feed_pending()
    mia_message = harness.emulator.messages(TEA)[-1]
    replies = await harness.send(
        SAM, TEA, "/leader_add", reply_to_message_id=mia_message.message_id
    )
    assert replies == ["Mia (1004) is now a leader of this group."]
    # then Mia may open the settings of Tea Lovers, but not of Coffee Club
    assert (await harness.send(MIA, TEA, "/settings"))[0].startswith("Settings of Tea Lovers")
    from tests.conftest import COFFEE

    assert await harness.send(MIA, COFFEE, "/settings") == [REFUSALS["leader"]]
    # and removing the designation takes it away again
    assert await harness.send(SAM, TEA, "/leader_remove @mia") == [
        "Mia (1004) is no longer a leader of this group."
    ]
    assert await harness.send(MIA, TEA, "/settings") == [REFUSALS["leader"]]
    async with harness.session() as session:
        assert (await session.execute(select(LeaderDesignation))).first() is None
    allowed = [(r.action, r.allowed) for r in await audit_rows(harness) if r.actor_id == SAM]
    assert ("leader.designated", True) in allowed and ("leader.removed", True) in allowed


async def test_owner_reads_the_audit_log(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(MIA, TEA, "/settings")
    await harness.send(LEE, TEA, "/settings")
    log = (await harness.send(OWNER, OWNER, "/audit"))[0]
    assert log.startswith("Privileged actions (newest first):")
    assert "⛔" in log and "community.settings" in log and str(MIA) in log
    # by actor and time range
    mine = (await harness.send(OWNER, OWNER, "/audit @mia 7d"))[0].splitlines()
    assert len(mine) == 2 and str(MIA) in mine[1] and str(LEE) not in mine[1]
    assert (await harness.send(OWNER, OWNER, "/audit @mia 2020-01-01 2020-01-31"))[0].endswith(
        "None in that range."
    )
    assert await harness.send(OWNER, OWNER, "/audit @mia lately") == [
        "Send /audit, /audit @member, /audit 7d or /audit @member 2026-11-01 2026-11-30."
    ]
    assert await harness.send(OWNER, OWNER, "/audit @nobody") == ["I do not know that member."]


async def test_admin_list_is_cached_then_fetched_again_when_stale(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(LEE, TEA, "/settings")
    await harness.send(LEE, TEA, "/settings")
    # the admin list was fetched once for two privileged commands
    assert len(harness.emulator.calls_of("getChatAdministrators")) == 1
    # when Kai is promoted in Tea Lovers, the cached list still says he is not an admin
    harness.emulator.set_member_status(TEA, KAI, "administrator")
    assert await harness.send(KAI, TEA, "/settings") == [REFUSALS["leader"]]
    # once the cache is older than ADMIN_CACHE_SECONDS, the list is fetched again
    harness.runtime.settings.admin_cache_seconds = 0
    assert (await harness.send(KAI, TEA, "/settings"))[0].startswith("Settings of Tea Lovers")
    assert len(harness.emulator.calls_of("getChatAdministrators")) == 2
