"""Referrals in chat: /invite with a link and a QR code, attribution on /start <code>,
/referrals and group leaderboards (staff's campaigns, held referrals and program stats:
handlers/referral_admin.py)."""

from __future__ import annotations

from aiogram import Bot, F, Router
from aiogram.filters import JOIN_TRANSITION, ChatMemberUpdatedFilter, Command
from aiogram.types import (
    CallbackQuery,
    ChatMemberUpdated,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, AsOneself, OpenGroup
from handlers.views.referral import (
    JoinGroupCallback,
    ask_to_be_added,
    attribute_member,
    attributed_lines,
    create_group_link,
    group_link_for,
    invite_screen,
    join_link_keyboard,
    referrals_screen,
    send_invitation,
)
from handlers.views.text import (
    BackgroundSender,
    HandlerSettings,
    counted,
    esc,
    esc_name,
)
from models.base import Clock
from services.community import CommunityView
from services.member import MemberView
from services.referral import (
    code_of_invite_link,
    group_invite_link,
    group_to_join,
    leaderboard,
    member_code,
    save_group_invite_link,
    toggle_leaderboard,
)

router = Router(name="referral")


@router.callback_query(JoinGroupCallback.filter())
async def join_group_button(
    query: CallbackQuery,
    callback_data: JoinGroupCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
) -> None:
    """Gives the newcomer the invite link into the group they chose, or whom to ask."""
    found = await group_to_join(session, invitee_id=member.id, community_id=callback_data.chat)
    if found is None:
        await query.answer(_("That group is not open any more."), show_alert=True)
        return
    owner_id, group = found
    link = await group_link_for(bot, session, owner_id=owner_id, community_id=group.community_id)
    await query.answer()
    if query.message is None:
        return
    if link is None:
        await bot.send_message(query.message.chat.id, ask_to_be_added(group))
        return
    await bot.send_message(
        query.message.chat.id,
        _("Tap below to join {title}.").format(title=esc_name(group.title)),
        reply_markup=join_link_keyboard(group.title, link),
    )


@router.chat_member(ChatMemberUpdatedFilter(JOIN_TRANSITION), F.invite_link, OpenGroup())
async def joined_through_link(
    event: ChatMemberUpdated,
    session: AsyncSession,
    member: MemberView | None,
    community: CommunityView | None,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    clock: Clock,
) -> None:
    """Welcomes someone who joined the group through a member's invite link, attributing
    them to that member as /start with the code would (refusals are recorded, not shown)."""
    link = event.invite_link
    if (
        member is None
        or community is None
        or link is None
        or event.new_chat_member.user.id != member.id
    ):
        return
    code = await code_of_invite_link(session, chat_id=community.id, invite_link=link.invite_link)
    if code is None:  # the group's own links are not referrals
        return
    outcome = await attribute_member(session, member, code, settings, clock())
    if member.is_bot:
        return
    if member.started:  # came from the Join button after /start <code>: already with us
        welcome = _("Welcome to {title}, {name}!")
    else:
        welcome = _(
            "Welcome to {title}, {name}! Send me /start in private to join group-buys, "
            "vote on new products and collect points."
        )
    lines = [welcome.format(title=esc_name(community.title), name=esc(member.display_name))]
    if outcome.refused is None:
        lines += await attributed_lines(session, outcome, community.locale)
    notifier.send(community.id, "\n".join(lines))  # queued once the update commits


@router.message(Command("invite"), PRIVATE)
async def invite(message: Message, bot: Bot, session: AsyncSession, member: MemberView) -> None:
    """Shows the member's link and code, a forwardable invitation, and a QR code of the link."""
    screen = await invite_screen(bot, session, member)
    await message.answer(screen.text, reply_markup=screen.markup)
    await send_invitation(message, member, screen)


def group_link_text(title: str, link: str) -> str:
    return _(
        "Your personal invitation link into {title}: {link}\n"
        "Friends who join through it count as your invitations. You are rewarded when a "
        "friend pays their first order."
    ).format(title=esc_name(title), link=link)


@router.message(Command("invite"), GROUP, AsOneself(), OpenGroup())
async def invite_in_group(
    message: Message,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView,
    i18n: I18n,
    notifier: BackgroundSender,
) -> None:
    """Gives the member a personal invite link into this group (in private once they started
    the bot); friends who join through it count as the member's invitations."""
    link = await group_invite_link(session, member_id=member.id, chat_id=community.id)
    if link is None:
        created = await create_group_link(bot, community.id, await member_code(session, member.id))
        if created is None:
            await message.reply(
                _(
                    "I cannot create invite links in {title}. A group admin can make me an "
                    "administrator with the right to invite users via link, then try again."
                ).format(title=esc_name(community.title))
            )
            return
        link = await save_group_invite_link(
            session, member_id=member.id, chat_id=community.id, invite_link=created
        )
    if not member.started:
        await message.reply(group_link_text(community.title, link))
        return
    with i18n.use_locale(member.locale):  # the member's language in private, not the group's
        text = group_link_text(community.title, link)
    notifier.send(member.id, text)  # queued once the update commits
    await message.reply(
        _("{name}, I sent you your personal invitation link into this group in private.").format(
            name=esc(member.display_name)
        )
    )


@router.message(Command("referrals"), PRIVATE)
async def referrals(message: Message, session: AsyncSession, member: MemberView) -> None:
    """Shows how many friends the member invited, where they stand, and what they earned."""
    text, markup = await referrals_screen(session, member)
    await message.answer(text, reply_markup=markup)


@router.message(Command("leaderboard_optin"), PRIVATE)
async def leaderboard_optin(message: Message, session: AsyncSession, member: MemberView) -> None:
    """Shows or hides the member's name on group leaderboards (hidden by default)."""
    if await toggle_leaderboard(session, member_id=member.id):
        await message.answer(
            _(
                "Your name now shows on group leaderboards. "
                "Send /leaderboard_optin again to hide it."
            )
        )
    else:
        await message.answer(
            _("Your name is hidden on group leaderboards. Send /leaderboard_optin to show it.")
        )


@router.message(Command("leaderboard"), GROUP)
async def group_leaderboard(
    message: Message, session: AsyncSession, community: CommunityView
) -> None:
    """The group's top inviters by friends who paid a first order here."""
    rows = await leaderboard(session, community_id=community.id)
    if not rows:
        await message.answer(
            _(
                "No invited friend has ordered in this group yet. "
                "Send /invite to me in private to get your link."
            )
        )
        return
    lines = [_("<b>Top inviters in {title}</b>").format(title=esc_name(community.title))]
    for rank, row in enumerate(rows, start=1):
        name = esc_name(row.name) if row.name is not None else _("a member")
        lines.append(
            _("{rank}. {name}: {friends}").format(
                rank=rank, name=name, friends=counted("friend", row.qualified)
            )
        )
    await message.answer("\n".join(lines))
