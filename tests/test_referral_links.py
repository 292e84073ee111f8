"""Referrals through group invite links: `/invite` in a group gives a member a personal link
the bot creates with createChatInviteLink, and a newcomer who joins the group through it is
attributed to that member, with the same rules as `/start <code>`: once, never self, never a
bot, never a cycle, never someone the bot knew before; refusals are recorded and everyone who
joins through such a link is welcomed the same way."""

from __future__ import annotations

import re

from sqlmodel import select

from models.referral import Referral, ReferralAttempt, ReferralInviteLink
from tests.conftest import COFFEE, KAI, MIA, OWNER, SAM, TEA, Harness
from tests.test_referral_chat import (
    ANA,
    BEN,
    CAL,
    DOT,
    buy_and_pay,
    make_staff,
    newcomer,
    points_of,
    referral_of,
)

LINK = re.compile(r"https://t\.me/\+\S+")


async def admin_in_tea(harness: Harness) -> None:
    """The bot is an administrator in Tea Lovers, a plain member in Coffee Club, and polls for
    the updates its handlers use (chat_member among them), as it does in production. The owner
    adds it, so Lee leads Tea Lovers and Kai Coffee Club (as with Harness.join_groups)."""
    harness.emulator.add_bot_to_group(TEA, OWNER, status="administrator")
    harness.emulator.add_bot_to_group(COFFEE, OWNER)
    await harness.feed_pending()
    wanted = harness.runtime.dp.resolve_used_update_types()
    assert "chat_member" in wanted
    await harness.runtime.bot.get_updates(allowed_updates=wanted, timeout=0)


async def tea_link_of(harness: Harness, user_id: int) -> str:
    """The member's personal link into Tea Lovers, as the bot sends it to them in private."""
    harness.new_bot_messages(user_id)
    await harness.send(user_id, TEA, "/invite")
    private = [m.text or "" for m in harness.new_bot_messages(user_id)]
    match = LINK.search(" ".join(private))
    assert match is not None, private
    return match.group(0)


async def join(harness: Harness, user_id: int, link: str) -> list[str]:
    """The user joins through the link; returns what the bot then says in Tea Lovers."""
    harness.new_bot_messages(TEA)
    harness.emulator.join_by_link(user_id, link)
    await harness.feed_pending()
    # (a joining bot's own "joined" service message is no message of ours)
    sent = harness.new_bot_messages(TEA)
    return [m.text or "" for m in sent if m.kind != "new_chat_members"]


async def attempts(harness: Harness) -> list[tuple[int, str]]:
    async with harness.session() as session:
        rows = await session.execute(select(ReferralAttempt).order_by(ReferralAttempt.id))
        return [(a.member_id, a.reason) for a in rows.scalars().all()]


async def test_a_newcomer_who_joins_through_a_members_group_link_is_her_referral(
    harness: Harness,
) -> None:
    await admin_in_tea(harness)
    await harness.send(MIA, MIA, "/start")
    # when Mia asks for her link in the group
    replies = await harness.send(MIA, TEA, "/invite")
    # then the group reads that it went to her in private, where her link waits
    assert replies == ["Mia, I sent you your personal invitation link into this group in private."]
    private = harness.emulator.last_bot_message(MIA).text or ""
    assert private.startswith("Your personal invitation link into Tea Lovers: https://t.me/+")
    link = LINK.search(private)
    assert link is not None
    # the bot created it named after her code, and keeps it for her: asking again gives the same
    created = harness.emulator.calls_of("createChatInviteLink")
    async with harness.session() as session:
        stored = (await session.execute(select(ReferralInviteLink))).scalars().all()
    assert [(s.chat_id, s.invite_link) for s in stored] == [(TEA, link.group(0))]
    code = (await harness.send(MIA, MIA, "/invite"))[0].split("start=")[1].split()[0]
    assert created[0]["name"] == f"ref-{code}"
    assert await tea_link_of(harness, MIA) == link.group(0)
    assert len(harness.emulator.calls_of("createChatInviteLink")) == 1
    # when Ana, new to the bot, joins Tea Lovers through it
    newcomer(harness, ANA)
    welcome = await join(harness, ANA, link.group(0))
    # then she is welcomed in the group and attributed to Mia, once
    assert welcome == [
        "Welcome to Tea Lovers, Ana! Send me /start in private to join group-buys, vote on new "
        "products and collect points.\nYou joined through Mia's invitation."
    ]
    referral = await referral_of(harness, ANA)
    assert referral is not None and (referral.referrer_id, referral.status) == (MIA, "pending")
    # and like any referral, Mia's reward waits for Ana's first paid order
    await make_staff(harness)
    await harness.send(SAM, SAM, "/product_add Oolong tea | 100 CNY | stock 100")
    assert await points_of(harness, MIA) == 0
    await buy_and_pay(harness, ANA)
    assert await points_of(harness, MIA) == 100
    assert await attempts(harness) == []


async def test_group_links_refuse_self_cycle_bots_and_people_known_before(
    harness: Harness,
) -> None:
    await admin_in_tea(harness)
    for user_id in (ANA, BEN, DOT):
        newcomer(harness, user_id)
    await harness.send(MIA, MIA, "/start")
    mia = await tea_link_of(harness, MIA)
    # Ana joins through Mia's link and gets her own
    await join(harness, ANA, mia)
    await harness.send(ANA, ANA, "/start")
    ana = await tea_link_of(harness, ANA)
    # (each of them has started the bot, so the welcome does not ask them to)
    plain_welcome = "Welcome to Tea Lovers, {name}!"
    # when Ana leaves and rejoins through Mia's link: already referred, welcomed all the same
    harness.emulator.set_member_status(TEA, ANA, "left")
    assert await join(harness, ANA, mia) == [plain_welcome.format(name="Ana")]
    # Mia leaves and rejoins through Ana's link: a cycle
    harness.emulator.set_member_status(TEA, MIA, "left")
    assert await join(harness, MIA, ana) == [plain_welcome.format(name="Mia")]
    # Ben, who wrote to the bot before, joins through Mia's link: already a member
    await harness.send(BEN, BEN, "/start")
    assert await join(harness, BEN, mia) == [plain_welcome.format(name="Ben")]
    # Mia leaves again and rejoins through her own link: herself
    harness.emulator.set_member_status(TEA, MIA, "left")
    await join(harness, MIA, mia)
    # a bot joining through a member's link: refused, and no welcome for it
    harness.emulator.add_user(CAL, "Cal", username="cal_bot", is_bot=True)
    assert await join(harness, CAL, mia) == []
    # then only Ana's referral exists, and every refusal is recorded with its reason
    async with harness.session() as session:
        referrals = (await session.execute(select(Referral))).scalars().all()
    assert [(r.invitee_id, r.referrer_id) for r in referrals] == [(ANA, MIA)]
    assert await attempts(harness) == [
        (ANA, "already_referred"),
        (MIA, "cycle"),
        (BEN, "already_member"),
        (MIA, "self"),
        (CAL, "bot"),
    ]
    # and a newcomer through the group's own link (not a member's) is no referral at all
    own = await harness.runtime.bot.create_chat_invite_link(TEA)
    assert await join(harness, DOT, own.invite_link) == []
    assert await referral_of(harness, DOT) is None
    assert len(await attempts(harness)) == 5


async def test_without_the_right_to_invite_the_member_reads_why(harness: Harness) -> None:
    await admin_in_tea(harness)
    await harness.send(MIA, MIA, "/start")
    # in Coffee Club the bot is a plain member: it cannot create links
    assert await harness.send(MIA, COFFEE, "/invite") == [
        "I cannot create invite links in Coffee Club. A group admin can make me an "
        "administrator with the right to invite users via link, then try again."
    ]
    # in the group's language (Kai's Coffee Club set to Traditional Chinese)
    await harness.send(KAI, COFFEE, "/settings language zh_Hant")
    assert (await harness.send(MIA, COFFEE, "/invite"))[0].startswith("我無法在Coffee Club")
    # the bot asked for its rights rather than be refused by Telegram
    assert harness.emulator.calls_of("createChatInviteLink") == []
    async with harness.session() as session:
        assert (await session.execute(select(ReferralInviteLink))).scalars().all() == []


async def test_a_member_who_never_started_the_bot_gets_the_link_in_the_group(
    harness: Harness,
) -> None:
    await admin_in_tea(harness)
    # Kai never opened a private chat with the bot
    replies = await harness.send(KAI, TEA, "/invite")
    assert len(replies) == 1
    assert replies[0].startswith("Your personal invitation link into Tea Lovers: https://t.me/+")


async def test_a_forgotten_members_group_link_no_longer_attributes(harness: Harness) -> None:
    await admin_in_tea(harness)
    await harness.send(MIA, MIA, "/start")
    link = await tea_link_of(harness, MIA)
    # when Mia asks to be forgotten and confirms
    await harness.send(MIA, MIA, "/forgetme")
    question = harness.emulator.last_bot_message(MIA)
    await harness.press(MIA, MIA, question.message_id, index=0)
    # then her old link is only a way into the group: no referral, no referral welcome
    newcomer(harness, ANA)
    assert await join(harness, ANA, link) == []
    assert await referral_of(harness, ANA) is None
    async with harness.session() as session:
        assert (await session.execute(select(ReferralInviteLink))).scalars().all() == []


async def test_the_join_message_arriving_before_the_join_update_changes_nothing(
    harness: Harness,
) -> None:
    # Telegram does not order the "joined" service message and the chat_member update
    await admin_in_tea(harness)
    await harness.send(MIA, MIA, "/start")
    link = await tea_link_of(harness, MIA)
    newcomer(harness, ANA)
    harness.new_bot_messages(TEA)
    # when Ana's join reaches the bot service message first
    harness.emulator.join_by_link(ANA, link)
    joined, service = harness.emulator.pop_updates()
    assert "message" in service and "chat_member" in joined
    for update in (service, joined):
        await harness.runtime.dp.feed_raw_update(harness.runtime.bot, update)
    await harness.runtime.notifier.drain()
    # then she is still a newcomer attributed to Mia, and welcomed as such
    referral = await referral_of(harness, ANA)
    assert referral is not None and referral.referrer_id == MIA
    assert [m.text for m in harness.new_bot_messages(TEA) if m.kind != "new_chat_members"] == [
        "Welcome to Tea Lovers, Ana! Send me /start in private to join group-buys, vote on new "
        "products and collect points.\nYou joined through Mia's invitation."
    ]
