"""Referrals as the routers share them: the rules from settings, the invitation screen and its
QR code, the list of whom a member invited, and what a referral or group link does when a
member follows it (/start with a code, the group to join). Used by the referral, start,
order, my-orders and menu routers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters.callback_data import CallbackData
from aiogram.types import (
    BufferedInputFile,
    ChatMemberAdministrator,
    ChatMemberOwner,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _
from babel.numbers import format_decimal
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.menu import MenuCallback, MenuScreen, with_back
from handlers.views.perks import points_text
from handlers.views.qrcode import qr_png
from handlers.views.text import (
    N_,
    CallbackId,
    HandlerSettings,
    esc,
    esc_name,
    format_money,
)
from services.member import MemberView, get_member
from services.referral import (
    REFUSED_ALREADY_MEMBER,
    REFUSED_ALREADY_REFERRED,
    REFUSED_CYCLE,
    REFUSED_EXPIRED,
    REFUSED_MALFORMED,
    REFUSED_SELF,
    REFUSED_UNKNOWN,
    Attribution,
    GroupToJoin,
    ReferralRules,
    attribute,
    deep_link,
    group_invite_link,
    groups_to_join,
    invite_link_name,
    member_code,
    member_referrals,
    save_group_invite_link,
)

log = logging.getLogger(__name__)


# what a newcomer reads when their invitation link could not be used
LINK_INVALID = N_(
    "This invitation link is not valid or has expired, but you are welcome all the same."
)


LINK_ALREADY_MEMBER = N_(
    "Invitation links are for people new to the community, and you were already here: "
    "nothing changed. Welcome back!"
)


LINK_OWN = N_("That is your own invitation link. Send /invite to share it with friends.")


REFUSAL_TEXTS = {
    REFUSED_MALFORMED: LINK_INVALID,
    REFUSED_UNKNOWN: LINK_INVALID,
    REFUSED_EXPIRED: LINK_INVALID,
    REFUSED_SELF: LINK_OWN,
    REFUSED_CYCLE: LINK_ALREADY_MEMBER,
    REFUSED_ALREADY_MEMBER: LINK_ALREADY_MEMBER,
    REFUSED_ALREADY_REFERRED: LINK_ALREADY_MEMBER,
}


def rules_from(settings: HandlerSettings) -> ReferralRules:
    """The program's rules as configured."""
    return ReferralRules(
        reward_points=settings.referral_reward_points,
        welcome_points=settings.referral_welcome_points,
        rates=settings.referral_rates,
        daily_limit=settings.referral_daily_limit,
        points_cap=settings.points_daily_caps.get("referral"),
        burst_count=settings.referral_burst_count,
        burst_minutes=settings.referral_burst_minutes,
        timezone=settings.default_timezone,
    )


async def attribute_member(
    session: AsyncSession, member: MemberView, code: str, settings: HandlerSettings, now: datetime
) -> Attribution:
    """Attributes the member to the code under the configured rules (refusals are recorded)."""
    return await attribute(
        session,
        member_id=member.id,
        code=code,
        is_bot=member.is_bot,
        first_seen=member.first_seen,
        now=now,
        rules=rules_from(settings),
    )


class JoinGroupCallback(CallbackData, prefix="jg"):
    """A group a newcomer chose to join after following a referral link."""

    chat: CallbackId


def join_link_keyboard(title: str, link: str) -> InlineKeyboardMarkup:
    """One button that opens the invite link into the group."""
    builder = InlineKeyboardBuilder()
    builder.button(text=_("Join {title}").format(title=title), url=link)
    return builder.as_markup()


def ask_to_be_added(group: GroupToJoin) -> str:
    """Whom to ask when the bot cannot make an invite link into the group."""
    if group.leader_name:
        return _(
            "I cannot make an invitation link into {title}. Ask {leader}, who leads it, to add you."
        ).format(title=esc_name(group.title), leader=esc(group.leader_name))
    return _(
        "I cannot make an invitation link into {title}. Ask one of its admins to add you."
    ).format(title=esc_name(group.title))


async def group_link_for(
    bot: Bot, session: AsyncSession, *, owner_id: int, community_id: int
) -> str | None:
    """The owner's personal invite link into the group: the one saved, or one made now (the
    Bot API call comes after the update's writes committed, as for /invite); None when the
    bot may not make links there."""
    link = await group_invite_link(session, member_id=owner_id, chat_id=community_id)
    if link is not None:
        return link
    created = await create_group_link(bot, community_id, await member_code(session, owner_id))
    if created is None:
        return None
    return await save_group_invite_link(
        session, member_id=owner_id, chat_id=community_id, invite_link=created
    )


async def start_with_code(
    message: Message,
    *,
    code: str,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    now: datetime,
) -> None:
    """After the welcome: attribute the newcomer to the code, tell them what it did, and show
    the way into a group: the inviter's, or a choice of the brand's open groups."""
    outcome = await attribute_member(session, member, code, settings, now)
    if outcome.refused is not None:
        text = REFUSAL_TEXTS.get(outcome.refused)
        if text is not None:
            await message.answer(_(text))
        return
    lines = await attributed_lines(session, outcome, member.locale)
    choice = await groups_to_join(session, invitee_id=member.id)
    markup: InlineKeyboardMarkup | None = None
    if choice.of_inviter:
        group = choice.groups[0]
        link = await group_link_for(
            bot, session, owner_id=choice.link_owner, community_id=group.community_id
        )
        if link is None:
            lines.append(ask_to_be_added(group))
        else:
            lines.append(_("Tap below to join {title}.").format(title=esc_name(group.title)))
            markup = join_link_keyboard(group.title, link)
    elif choice.groups:
        lines.append(_("Choose a group to join:"))
        builder = InlineKeyboardBuilder()
        for group in choice.groups:
            builder.button(
                text=group.title, callback_data=JoinGroupCallback(chat=group.community_id)
            )
        builder.adjust(1)
        markup = builder.as_markup()
    await message.answer("\n".join(lines), reply_markup=markup)


async def attributed_lines(session: AsyncSession, outcome: Attribution, locale: str) -> list[str]:
    """Who the newcomer joined through, and their welcome gift if any."""
    if outcome.referrer_id is not None:
        referrer = await get_member(session, outcome.referrer_id)
        name = referrer.display_name if referrer else str(outcome.referrer_id)
        lines = [_("You joined through {name}'s invitation.").format(name=esc_name(name))]
    else:
        lines = [_("You joined through {campaign}.").format(campaign=esc(outcome.campaign or ""))]
    if outcome.welcome_points:
        lines.append(
            _("Welcome gift: {points}.").format(points=points_text(outcome.welcome_points, locale))
        )
    return lines


@dataclass(frozen=True, slots=True)
class InviteScreen:
    """The member's invitation: the screen (link, code, buttons), then what follows it."""

    text: str
    markup: InlineKeyboardMarkup
    code: str
    link: str


async def invite_screen(bot: Bot, session: AsyncSession, member: MemberView) -> InviteScreen:
    """The member's link and code, with 👥 My referrals and ⬅️ Back to the main menu (/invite,
    and 🤝 Invite friends in the menu)."""
    code = await member_code(session, member.id)
    me = await bot.me()
    link = deep_link(me.username or "", code)
    text = _(
        "<b>Invite friends</b>\n"
        "Your code: <code>{code}</code>\n"
        "Your link: {link}\n\n"
        "Forward the next message to friends, or let them scan the QR code. You are "
        "rewarded when a friend pays their first order. /referrals shows how it goes."
    ).format(code=code, link=link)
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("👥 My referrals"), callback_data=MenuCallback(action=MenuScreen.REFERRALS)
    )
    return InviteScreen(text, with_back(builder), code, link)


async def send_invitation(target: Message, member: MemberView, screen: InviteScreen) -> None:
    """Under the invite screen: the invitation to forward, and the QR code of the link."""
    code, link = screen.code, screen.link
    await target.answer(
        _(
            "{name} invites you to our member community: join group-buys with one tap, vote "
            "on new products and collect points. Start here: {link}\n"
            "Disclosure: {name} may be rewarded when you join and order."
        ).format(name=esc(member.display_name), link=link)
    )
    await target.answer_photo(
        BufferedInputFile(qr_png(link), filename=f"invite_{code}.png"),
        caption=_("Scan to join: {link}").format(link=link),
    )


async def create_group_link(bot: Bot, chat_id: int, code: str) -> str | None:
    """A new invite link into the group, named after the code; None when the bot may not
    create one (it asks first: only an owner or an admin with the right to invite can)."""
    try:
        me = await bot.get_chat_member(chat_id, bot.id)
        allowed = isinstance(me, ChatMemberOwner) or (
            isinstance(me, ChatMemberAdministrator) and me.can_invite_users
        )
        if not allowed:
            return None
        created = await bot.create_chat_invite_link(chat_id, name=invite_link_name(code))
    except TelegramAPIError as exc:
        log.info("no invite link in %s: %s", chat_id, exc)
        return None
    return created.invite_link


async def referrals_screen(
    session: AsyncSession, member: MemberView
) -> tuple[str, InlineKeyboardMarkup]:
    """Friends invited, where they stand and what they earned, with ⬅️ Back to Invite friends
    (/referrals, and 👥 My referrals under the invite screen)."""
    locale = member.locale
    back = with_back(None, MenuScreen.INVITE)
    summary = await member_referrals(session, member.id)
    if summary.invited == 0:
        return _("You have not invited anyone yet. Send /invite to get your link."), back
    lines = [
        _("<b>Your referrals</b>"),
        _("Invited: {count}").format(count=format_decimal(summary.invited, locale=locale)),
        _("Qualified (paid a first order): {count}").format(
            count=format_decimal(summary.qualified, locale=locale)
        ),
        _("Waiting for a first order: {count}").format(
            count=format_decimal(summary.pending, locale=locale)
        ),
        _("Rewarded: {count}").format(count=format_decimal(summary.rewarded, locale=locale)),
        _("Points earned: {points}").format(points=points_text(summary.points, locale)),
    ]
    for asset, value in sorted(summary.commission_available.items()):
        if value:
            lines.append(
                _("Commission available: {amount}").format(
                    amount=format_money(value, asset, locale)
                )
            )
    for asset, value in sorted(summary.commission_pending.items()):
        if value > 0:
            lines.append(
                _("Commission pending (released after the refund window): {amount}").format(
                    amount=format_money(value, asset, locale)
                )
            )
    return "\n".join(lines), back
