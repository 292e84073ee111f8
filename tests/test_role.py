"""Roles: the owner grants staff, staff appoint leaders (a group's Telegram admins are only
candidates who apply), suspend, reinstate and remove them; everyone else is refused politely."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import select

from models.audit import AuditEntry
from models.order import Order
from models.role import LeaderDesignation, StaffGrant
from tests.conftest import COFFEE, KAI, LEE, MIA, OWNER, SAM, TEA, Harness

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
    ("/leader_suspend @mia late", "private", "staff", "leader.suspend"),
    ("/leader_reinstate @mia", "group", "staff", "leader.reinstate"),
    ("/leaders", "private", "staff", "leader.list"),
    ("/leader_record @lee", "private", "staff", "leader.record"),
    ("/leader_limit @lee", "private", "staff", "leader.limit"),
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
    assert await harness.send(MIA, COFFEE, "/settings") == [REFUSALS["leader"]]
    # and removing the appointment, with a reason, takes it away again
    assert await harness.send(SAM, TEA, "/leader_remove @mia") == [
        "Add the reason after the name, for example /leader_remove @alice cash not handed over. "
        "The leader is told it."
    ]
    assert await harness.send(SAM, TEA, "/leader_remove @mia moved away") == [
        "Mia (1004) is no longer a leader of Tea Lovers.\nThey have no private chat with me: "
        "please tell them yourself."
    ]
    assert await harness.send(MIA, TEA, "/settings") == [REFUSALS["leader"]]
    async with harness.session() as session:
        row = (
            await session.execute(
                select(LeaderDesignation).where(LeaderDesignation.member_id == MIA)
            )
        ).scalar_one()
    assert (row.status, row.reason, row.decided_by) == ("removed", "moved away", SAM)
    allowed = [(r.action, r.allowed) for r in await audit_rows(harness) if r.actor_id == SAM]
    assert ("leader.designated", True) in allowed and ("leader.removed", True) in allowed


async def test_owner_reads_the_audit_log(harness: Harness) -> None:
    await harness.join_groups()
    await harness.send(MIA, TEA, "/settings")
    await harness.send(LEE, TEA, "/settings")
    log = (await harness.send(OWNER, OWNER, "/audit"))[0]
    assert log.startswith("Privileged actions (newest first, ")
    assert "⛔" in log and "Open group settings" in log
    # the actor by name, with the id it stands for
    assert f"Mia ({MIA}) Open group settings @ Tea Lovers" in log
    # the group it happened in is named by its title, not its id
    assert "Open group settings @ Tea Lovers" in log and str(TEA) not in log
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


async def test_the_audit_log_pages_the_same_actor_and_period(harness: Harness) -> None:
    """Twelve refused /settings by Mia and two by Lee: /audit @mia 7d shows ten of Mia's twelve,
    says so, and More shows the other two, still only Mia's; Previous goes back."""
    await harness.join_groups()
    for _ in range(12):
        await harness.send(MIA, TEA, "/settings")
    for _ in range(2):
        await harness.send(LEE, TEA, "/settings")
    await harness.send(OWNER, OWNER, "/audit @mia 7d")
    first = harness.emulator.last_bot_message(OWNER)
    lines = first.text.splitlines()
    assert lines[0] == "Privileged actions (newest first, 1–10 of 12):"
    assert len(lines) == 11 and all(str(MIA) in line for line in lines[1:])
    assert first.button_texts == ["More ▶️"]
    await harness.press(OWNER, OWNER, first.message_id, index=0)
    second = the_message(harness, OWNER, first.message_id)
    lines = second.text.splitlines()
    assert lines[0] == "Privileged actions (newest first, 11–12 of 12):"
    assert len(lines) == 3 and all(str(MIA) in line for line in lines[1:])
    assert second.button_texts == ["◀️ Previous"]
    await harness.press(OWNER, OWNER, first.message_id, index=0)
    back = the_message(harness, OWNER, first.message_id)
    assert back.text.splitlines()[0] == "Privileged actions (newest first, 1–10 of 12):"


def the_message(harness: Harness, chat: int, message_id: int) -> Any:
    """The message as the chat shows it now (after any edits)."""
    return next(m for m in harness.emulator.messages(chat) if m.message_id == message_id)


async def test_admin_list_is_cached_then_fetched_again_when_stale(harness: Harness) -> None:
    # the owner adding the bot fetched each group's admins once (to appoint its creator)
    await harness.join_groups()
    assert len(harness.emulator.calls_of("getChatAdministrators")) == 2
    await harness.send(LEE, TEA, "/settings")
    await harness.send(LEE, TEA, "/settings")
    # two privileged commands later, the cached list still serves
    assert len(harness.emulator.calls_of("getChatAdministrators")) == 2
    # when Kai is promoted in Tea Lovers, the cached list still says he is not an admin
    harness.emulator.set_member_status(TEA, KAI, "administrator")
    assert await harness.send(KAI, TEA, "/settings") == [REFUSALS["leader"]]
    # once the cache is older than ADMIN_CACHE_SECONDS, the list is fetched again: Kai is a
    # Telegram admin now, which makes him a candidate who may apply, never a leader
    harness.runtime.settings.admin_cache_seconds = 0
    assert await harness.send(KAI, TEA, "/settings") == [ADMIN_REFUSAL]
    assert len(harness.emulator.calls_of("getChatAdministrators")) == 3


# ---------------------------------------------------------------- appointed leaders ----

ADMIN_REFUSAL = (
    "Sorry, only the leaders of this group can do that. Leaders are appointed by the brand: as "
    "an admin of this group, you can apply with /lead or the button."
)
SUSPENDED_REFUSAL = (
    "Sorry, your role as leader of this group is suspended. The brand's staff told you why in "
    "private; ask them to review it."
)


async def leader_row(harness: Harness, member_id: int, community_id: int) -> LeaderDesignation:
    async with harness.session() as session:
        return (
            await session.execute(
                select(LeaderDesignation).where(
                    LeaderDesignation.member_id == member_id,
                    LeaderDesignation.community_id == community_id,
                )
            )
        ).scalar_one()


async def shop_with_staff(harness: Harness) -> None:
    """The bot in both groups, Sam staff, everyone started, one product on sale."""
    await harness.join_groups()
    for user in (OWNER, SAM, LEE, MIA, KAI):
        await harness.send(user, user, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(SAM, SAM, "/product_add Oolong tea | 39.90 CNY | stock 100")


async def order_status(harness: Harness, order_id: int) -> str:
    async with harness.session() as session:
        order = await session.get(Order, order_id)
    assert order is not None
    return order.status


async def test_a_telegram_admin_applies_with_lead_and_leads_once_staff_approve(
    harness: Harness,
) -> None:
    # given Mia is a Telegram admin of Tea Lovers, but nobody appointed her
    harness.emulator.set_member_status(TEA, MIA, "administrator")
    await shop_with_staff(harness)
    await harness.send(KAI, TEA, "/buy 1")  # order #1, Kai's, to pay at pickup
    # when she tries to open a group-buy or mark Kai's order paid
    assert await harness.send(MIA, TEA, "/groupbuy 1 24h min=2") == [ADMIN_REFUSAL]
    refusal = harness.emulator.last_bot_message(TEA)
    assert refusal.button_texts == ["🙋 Apply to lead"]
    assert await harness.send(MIA, TEA, "/paid @kai") == [ADMIN_REFUSAL]
    forged = await harness.press(
        MIA, TEA, refusal.message_id, callback_data="ord:paid:1", force=True
    )
    # then she is refused politely, with the way to apply, and nothing is marked
    assert forged == ADMIN_REFUSAL
    assert await order_status(harness, 1) == "reserved"

    # when a plain member of the group tries to apply
    assert await harness.send(KAI, TEA, "/lead") == [
        "Only this group's admins may apply to lead it. If you would like to run a group for "
        "the brand, talk to its staff."
    ]
    # and Mia applies
    harness.new_bot_messages(SAM)
    harness.new_bot_messages(OWNER)
    assert await harness.send(MIA, TEA, "/lead") == [
        "Thank you, Mia! Your application to lead this group is with the brand's staff. I will "
        "say here when they decide."
    ]
    # then staff and the owner each get a card to approve or decline
    cards = [harness.new_bot_messages(SAM), harness.new_bot_messages(OWNER)]
    for card in cards:
        assert [m.text for m in card] == [
            "🙋 Mia (1004), an admin of Tea Lovers, asks to lead it.\nAs its leader they could "
            "open group-buys there, mark orders paid and picked up, and earn leader commission."
        ]
        assert card[0].button_texts == ["✅ Approve", "✖️ Decline"]
    # and applying again, by command or button, sends no second card
    assert await harness.send(MIA, TEA, "/lead") == [
        "Your application is already with the brand's staff."
    ]
    answer = await harness.press(MIA, TEA, refusal.message_id, index=0)
    assert answer == "Your application is already with the brand's staff."
    assert harness.new_bot_messages(SAM) == []

    # when Mia forges the Approve button in her own chat
    approve = cards[0][0].buttons[0][0]["callback_data"]
    mine = harness.emulator.last_bot_message(MIA).message_id
    forged = await harness.press(MIA, MIA, mine, callback_data=approve, force=True)
    # then she is refused and still no leader
    assert forged == "Sorry, only brand staff can do that."
    assert (await leader_row(harness, MIA, TEA)).status == "applied"

    # when Sam approves from his card
    harness.new_bot_messages(TEA)
    assert await harness.press(SAM, SAM, cards[0][0].message_id, index=0) == "Done."
    # then the card says so, the group is told, and the owner's card is decided already
    assert next(
        m for m in harness.emulator.bot_messages(SAM) if m.message_id == cards[0][0].message_id
    ).text == ("✅ Approved by Sam: Mia (1004) leads Tea Lovers.")
    assert [m.text for m in harness.new_bot_messages(TEA)] == [
        "Mia (1004) now leads this group for the brand."
    ]
    again = await harness.press(OWNER, OWNER, cards[1][0].message_id, index=1)
    assert again == "This application was already approved."
    row = await leader_row(harness, MIA, TEA)
    assert (row.status, row.source, row.decided_by) == ("active", "application", SAM)
    # and her private menu now offers her leader commands
    assert {"sheet", "stats", "redeem"} <= set(private_menu(harness, MIA))

    # and now Mia leads Tea Lovers: the same commands work
    assert await harness.send(MIA, TEA, "/paid @kai") == ["Marked paid for Kai: #1."]
    opened = await harness.send(MIA, TEA, "/groupbuy 1 24h min=2")
    assert opened and not any("Sorry" in text for text in opened)
    assert await harness.send(MIA, TEA, "/lead") == ["You already lead this group."]
    actions = [(r.action, r.actor_id, r.allowed) for r in await audit_rows(harness)]
    assert ("leader.apply", KAI, False) in actions
    assert ("leader.apply", MIA, True) in actions
    assert ("leader.approved", SAM, True) in actions
    assert ("leader.decide", MIA, False) in actions  # the forged button


def private_menu(harness: Harness, user_id: int) -> list[str]:
    """The commands of the menu Telegram shows the user in their private chat with the bot."""
    menu = harness.emulator.commands.get((f'{{"chat_id": {user_id}, "type": "chat"}}', ""), [])
    return [c["command"] for c in menu]


async def test_staff_suspend_a_telegram_admin_leader_who_is_refused_at_once(
    harness: Harness,
) -> None:
    # given Lee, creator and appointed leader of Tea Lovers, with an order list open
    await shop_with_staff(harness)
    await harness.runtime.notifier.drain()
    # (his private menu has his leader commands: the sheet, /stats, /redeem ...)
    assert {"sheet", "stats", "redeem"} <= set(private_menu(harness, LEE))
    await harness.send(MIA, TEA, "/buy 1")  # order #1
    await harness.send(LEE, TEA, "/orders")
    orders_card = harness.emulator.last_bot_message(TEA).message_id
    # when Sam suspends him without a reason, then with one
    assert await harness.send(SAM, SAM, "/leader_suspend @lee") == [
        "Add the reason after the name, for example /leader_suspend @alice cash not handed over. "
        "The leader is told it."
    ]
    harness.new_bot_messages(LEE)
    assert await harness.send(SAM, SAM, "/leader_suspend @lee cash <not> handed over") == [
        "Lee (1003) is suspended as leader of Tea Lovers.\nI told them in private."
    ]
    # then Lee is told why, in his language
    (told,) = harness.new_bot_messages(LEE)
    assert "Tea Lovers" in (told.text or "") and "cash <not> handed over" in (told.text or "")
    # and is refused at once: commands and buttons, Telegram creator or not
    assert await harness.send(LEE, TEA, "/groupbuy 1 24h min=2") == [SUSPENDED_REFUSAL]
    assert await harness.send(LEE, TEA, "/paid @mia") == [SUSPENDED_REFUSAL]
    answer = await harness.press(LEE, TEA, orders_card, callback_data="ord:paid:1", force=True)
    assert answer == SUSPENDED_REFUSAL
    assert await order_status(harness, 1) == "reserved"
    # and cannot apply his way back
    assert await harness.send(LEE, TEA, "/lead") == [
        "Your role as leader of this group is suspended; the brand's staff will review it."
    ]
    # and his private menu is a member's again
    assert "sheet" not in private_menu(harness, LEE) and "start" in private_menu(harness, LEE)
    # and staff see it in /leaders
    listing = (await harness.send(SAM, SAM, "/leaders"))[0]
    assert "Tea Lovers\n• Lee (1003) — suspended: cash <not> handed over" in listing
    kai = "Coffee Club\n• Kai (1005) — leads (its creator, appointed when staff added me)"
    assert kai in listing
    # suspending twice changes nothing
    assert await harness.send(SAM, SAM, "/leader_suspend @lee again") == [
        "Lee (1003) is not an active leader of any group."
    ]

    # when Sam reinstates him in the group itself
    assert await harness.send(SAM, TEA, "/leader_reinstate @lee") == [
        "Lee (1003) leads Tea Lovers again.\nI told them in private."
    ]
    assert await harness.send(LEE, TEA, "/paid @mia") == ["Marked paid for Mia: #1."]
    assert "sheet" in private_menu(harness, LEE)

    # when Sam removes him
    assert await harness.send(SAM, SAM, "/leader_remove @lee stepped down") == [
        "Lee (1003) is no longer a leader of Tea Lovers.\nI told them in private."
    ]
    # then his menu loses the leader commands, and as any Telegram admin he is offered to
    # apply again, and may
    assert "sheet" not in private_menu(harness, LEE)
    assert await harness.send(LEE, TEA, "/settings") == [ADMIN_REFUSAL]
    assert (await harness.send(LEE, TEA, "/lead"))[0].startswith("Thank you, Lee!")
    actions = [(r.action, r.detail) for r in await audit_rows(harness) if r.actor_id == SAM]
    assert ("leader.suspended", f"{LEE}: cash <not> handed over") in actions
    assert ("leader.reinstated", f"{LEE}") in actions
    assert ("leader.removed", f"{LEE}: stepped down") in actions


async def test_the_creator_of_a_group_staff_added_leads_it_at_once(harness: Harness) -> None:
    # given Lee and Kai created their groups, and the owner adds the bot to both
    await harness.send(LEE, LEE, "/start")
    harness.new_bot_messages(LEE)
    await harness.join_groups()
    # then each creator leads their own group, and only it
    assert (await harness.send(LEE, TEA, "/settings"))[0].startswith("Settings of Tea Lovers")
    assert (await harness.send(KAI, COFFEE, "/settings"))[0].startswith("Settings of Coffee")
    assert await harness.send(KAI, TEA, "/settings") == [REFUSALS["leader"]]
    # and Lee, who has a private chat with the bot, is told (in Simplified Chinese)
    (told,) = harness.new_bot_messages(LEE)
    assert "Tea Lovers" in (told.text or "")
    row = await leader_row(harness, LEE, TEA)
    assert (row.status, row.source, row.designated_by) == ("active", "creator", OWNER)
    appointed = [r for r in await audit_rows(harness) if r.action == "leader.appointed"]
    assert sorted((r.actor_id, r.chat_id, r.detail) for r in appointed) == sorted(
        [(OWNER, TEA, f"{LEE}: creator"), (OWNER, COFFEE, f"{KAI}: creator")]
    )
    # and the group's admins were fetched once, outside the update's transaction (strict mode)
    assert len(harness.emulator.calls_of("getChatAdministrators")) == 2


async def test_a_creator_who_adds_the_bot_themselves_only_applies(harness: Harness) -> None:
    # given Lee adds the bot to his own group: he is no staff
    harness.emulator.add_bot_to_group(TEA, LEE)
    await harness.feed_pending()
    greeting = harness.emulator.last_bot_message(TEA)
    assert greeting.button_texts == ["🙋 申请当团长"]  # in Lee's language: he added the bot
    # then he leads nothing until staff approve him
    assert await harness.send(LEE, TEA, "/settings") == [ADMIN_REFUSAL]
    answer = await harness.press(LEE, TEA, greeting.message_id, index=0)
    assert answer is not None and answer.startswith("Thank you, Lee!")
    assert (await leader_row(harness, LEE, TEA)).status == "applied"


async def test_with_the_setting_off_the_creator_of_a_staff_added_group_must_apply(
    harness: Harness,
) -> None:
    harness.runtime.settings.creator_leads_staff_added_group = False
    await harness.join_groups()
    assert await harness.send(LEE, TEA, "/settings") == [ADMIN_REFUSAL]
    async with harness.session() as session:
        assert (await session.execute(select(LeaderDesignation))).first() is None


async def test_staff_who_missed_the_card_decide_from_leaders(harness: Harness) -> None:
    # given Mia, a Telegram admin, applied before Sam was made staff
    harness.emulator.set_member_status(TEA, MIA, "administrator")
    await harness.join_groups()
    assert (await harness.send(MIA, TEA, "/lead"))[0].startswith("Thank you, Mia!")
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    # when Sam lists the leaders
    listing, card = await harness.send(SAM, SAM, "/leaders")
    # then the application is listed, and comes again as a card he declines
    assert "Tea Lovers\n• Lee (1003) — leads" in listing
    assert "• Mia (1004) — applied, waiting for staff" in listing
    assert card.startswith("🙋 Mia (1004), an admin of Tea Lovers, asks to lead it.")
    harness.new_bot_messages(TEA)
    message = harness.emulator.last_bot_message(SAM)
    assert await harness.press(SAM, SAM, message.message_id, index=1) == "Done."
    assert [m.text for m in harness.new_bot_messages(TEA)] == [
        "The brand's staff did not appoint Mia (1004) as leader of this group."
    ]
    assert (await leader_row(harness, MIA, TEA)).status == "declined"
    assert await harness.send(MIA, TEA, "/settings") == [ADMIN_REFUSAL]


async def test_zh_a_name_with_its_id_is_written_with_full_width_brackets(harness: Harness) -> None:
    # given Coffee Club speaks 简体中文
    await harness.join_groups()
    await harness.send(SAM, SAM, "/start")
    await harness.send(OWNER, OWNER, "/grant_staff @sam")
    await harness.send(OWNER, COFFEE, "/settings language zh_Hans")
    harness.emulator.send_message(MIA, COFFEE, "大家好")
    await harness.feed_pending()
    # when Sam appoints Mia there, the reply reads Mia（1004）, not Mia (1004)
    replies = await harness.send(SAM, COFFEE, "/leader_add @mia")
    assert replies == ["Mia（1004）现在是本群团长。"]
