"""Role filters: the server-side check in front of every privileged handler."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import UTC, datetime

from aiogram import Bot, F
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Filter
from aiogram.types import (
    CallbackQuery,
    ChatMemberAdministrator,
    ChatMemberOwner,
    ChatMemberUpdated,
    InlineKeyboardMarkup,
    Message,
)
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.leader import apply_keyboard
from handlers.views.text import N_, HandlerSettings
from models.community import APPROVAL_DECLINED, APPROVAL_SUSPENDED
from models.role import LEADER_SUSPENDED
from services.audit import record_action
from services.community import CommunityView
from services.member import MemberView
from services.role import (
    AdminInfo,
    Role,
    admins_stale,
    get_leader,
    is_chat_admin,
    resolve_role,
    sync_admins,
)

log = logging.getLogger(__name__)

# the chat a message comes from: a private chat with the bot, or a group (supergroups too)
PRIVATE = F.chat.type == ChatType.PRIVATE
GROUP = F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})


async def refresh_admins(
    bot: Bot, session: AsyncSession, settings: HandlerSettings, community: CommunityView
) -> None:
    """Fetch the group's Telegram admins when the cache is stale; keep the old list on error."""
    if not await admins_stale(
        session, community_id=community.id, max_age_seconds=settings.admin_cache_seconds
    ):
        return
    try:
        admins = await bot.get_chat_administrators(community.id)
    except TelegramAPIError as exc:
        log.warning("could not fetch admins of chat %s: %s", community.id, exc)
        return
    await sync_admins(
        session,
        community_id=community.id,
        admins=[
            AdminInfo(user_id=admin.user.id, status=admin.status)
            for admin in admins
            if isinstance(admin, ChatMemberOwner | ChatMemberAdministrator)
            and not admin.user.is_bot
        ],
    )


async def current_role(
    bot: Bot,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    community: CommunityView | None,
) -> Role:
    """The member's role where the update happened, fetching group admins when needed."""
    if community is not None:
        await refresh_admins(bot, session, settings, community)
    return await resolve_role(
        session,
        member_id=member.id,
        community_id=community.id if community else None,
        owner_ids=settings.owner_ids,
    )


def refusal_text(required: Role, *, private: bool = False) -> str:
    """The polite refusal for an action that needs the given role (in private there is no
    "this group" to name)."""
    if required is Role.OWNER:
        return _("Sorry, only the owner of this bot can do that.")
    if required is Role.STAFF:
        return _("Sorry, only brand staff can do that.")
    if private:
        return _("Sorry, only group leaders and brand staff can do that.")
    return _("Sorry, only the leaders of this group can do that.")


async def leader_refusal(
    session: AsyncSession, member: MemberView, community: CommunityView
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The refusal of a leader action in a group, said to whom it is for: a suspended leader
    learns they are suspended; a Telegram admin who is no leader, that they can apply."""
    leader = await get_leader(session, community_id=community.id, member_id=member.id)
    if leader is not None and leader.status == LEADER_SUSPENDED:
        return (
            _(
                "Sorry, your role as leader of this group is suspended. The brand's staff "
                "told you why in private; ask them to review it."
            ),
            None,
        )
    if await is_chat_admin(session, member_id=member.id, community_id=community.id):
        return (
            _(
                "Sorry, only the leaders of this group can do that. Leaders are appointed by "
                "the brand: as an admin of this group, you can apply with /lead or the button."
            ),
            apply_keyboard(),
        )
    return refusal_text(Role.LEADER), None


AS_YOURSELF = N_(
    "You are writing as a channel or as an anonymous admin, so I cannot tell who you are: "
    "group-buys, orders, check-ins, points, gifts, invitations and suggestions belong to a "
    "person. Write as yourself and send it again."
)


def sent_as_chat(event: object) -> bool:
    """Whether a message speaks for a chat (a channel, or a group's anonymous admins) rather
    than for the person who typed it. Telegram sends such a message from one stand-in user
    for everyone who writes that way (GroupAnonymousBot, Channel_Bot), so who typed it is
    unknown."""
    return isinstance(event, Message) and event.sender_chat is not None


class AsOneself(Filter):
    """Put in front of every commercial action a message can start (/buy, /checkin, /gift,
    /invite, /suggest, ...): a message sent as a channel or as an anonymous admin carries one
    stand-in user for everyone who writes that way, so it is refused, telling them to act as
    themselves. Button presses always come from the person, so only messages are checked."""

    async def __call__(self, event: Message | CallbackQuery) -> bool:
        if not sent_as_chat(event):
            return True
        assert isinstance(event, Message)
        await event.reply(_(AS_YOURSELF))
        return False


class RoleFilter(Filter):
    """Passes when the user holds `role` here; otherwise refuses politely. Both are audited."""

    def __init__(self, role: Role, action: str) -> None:
        self.role = role
        self.action = action

    async def __call__(
        self,
        event: Message | CallbackQuery,
        bot: Bot,
        session: AsyncSession,
        settings: HandlerSettings,
        member: MemberView | None = None,
        community: CommunityView | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),  # the app's domain clock
    ) -> bool | dict[str, Role]:
        if member is None:
            return False
        if sent_as_chat(event):  # whoever wrote it, the stand-in user holds no role
            await record_action(
                session,
                actor_id=member.id,
                chat_id=event.chat.id if isinstance(event, Message) else None,
                action=self.action,
                allowed=False,
                now=clock(),
                required_role=self.role.name.lower(),
                detail="sent as a chat",
            )
            assert isinstance(event, Message)
            await event.reply(_(AS_YOURSELF))
            return False
        role = await current_role(
            bot, session, settings, member, community if self.role is Role.LEADER else None
        )
        allowed = role >= self.role
        chat = (
            event.chat
            if isinstance(event, Message)
            else (event.message.chat if event.message else None)
        )
        await record_action(
            session,
            actor_id=member.id,
            chat_id=chat.id if chat else None,
            action=self.action,
            allowed=allowed,
            now=clock(),
            required_role=self.role.name.lower(),
        )
        if allowed:
            return {"role": role}
        text, keyboard = refusal_text(self.role, private=community is None), None
        if self.role is Role.LEADER and community is not None:
            text, keyboard = await leader_refusal(session, member, community)
        if isinstance(event, CallbackQuery):
            await event.answer(text, show_alert=True)
        else:
            await event.reply(text, reply_markup=keyboard)
        return False


# why a group is not open for business, as its members and leaders are told
NOT_OPEN = {
    APPROVAL_SUSPENDED: N_(
        "The brand has paused business in this group for now: group-buys, check-ins, points "
        "and referral rewards are not available here. Your leader will hear from the brand."
    ),
    APPROVAL_DECLINED: N_(
        "This group is not one of the brand's approved groups, so group-buys, check-ins, "
        "points and referral rewards are not available here."
    ),
}
NOT_YET_OPEN = N_(
    "This group is not open for group-buys, check-ins, points and referral rewards yet: the "
    "brand is reviewing it. Everyone here will hear from me once it is approved."
)


def not_open_text(community: CommunityView) -> str:
    """The polite refusal in a group that is not open for business (in the current locale)."""
    return _(NOT_OPEN.get(community.approval, NOT_YET_OPEN))


class OpenGroup(Filter):
    """The one gate of everything commercial done in a group (group-buys, /buy, check-ins,
    points, referral links): passes outside groups and in groups open for business (approved,
    the bot in them); elsewhere tells the user why, once, and stops. A join through an invite
    link is stopped silently (no referral is attributed).

    `settling` also lets a suspended group through: what was sold before the suspension is
    still paid for and picked up."""

    def __init__(self, *, settling: bool = False) -> None:
        self.settling = settling

    async def __call__(
        self,
        event: Message | CallbackQuery | ChatMemberUpdated,
        community: CommunityView | None = None,
    ) -> bool:
        if community is None or community.is_open:
            return True
        if self.settling and community.approval == APPROVAL_SUSPENDED:
            return True
        if isinstance(event, CallbackQuery):
            await event.answer(not_open_text(community), show_alert=True)
        elif isinstance(event, Message):
            await event.reply(not_open_text(community))
        return False
