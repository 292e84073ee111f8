"""What the role routers share about leaders and groups: group names as HTML, the notice a
leader gets when staff suspend, reinstate or remove them, and the creator of a group staff
just added the bot to made its leader (handlers/role.py and handlers/community.py)."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner, ChatMemberUpdated
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.commands import sync_private_commands
from handlers.views.text import BackgroundSender, HandlerSettings, esc, esc_name
from services.community import CommunityView, get_community
from services.member import UserInfo
from services.role import AdminInfo, Role, creator_leads_group, menu_role, resolve_role

log = logging.getLogger(__name__)


def group_name(community: CommunityView | None, community_id: int) -> str:
    """A group's title in bold (its id when it has none)."""
    title = community.title if community is not None and community.title else str(community_id)
    return f"<b>{esc_name(title)}</b>"


async def group_names(session: AsyncSession, community_ids: list[int]) -> str:
    """The groups' names, comma-separated, as HTML."""
    names = [group_name(await get_community(session, c), c) for c in community_ids]
    return ", ".join(names)


def leader_notice(change: str, groups: str, reason: str) -> str:
    """What a leader is told, in the current locale, when staff suspend, reinstate or remove
    them (`groups`: the groups' names as HTML; `reason`: staff's words, escaped here)."""
    return {
        "suspend": _(
            "The brand's staff suspended you as leader of {groups}. Reason: {reason}\n"
            "Until they reinstate you, you cannot open group-buys or mark orders there."
        ),
        "reinstate": _("The brand's staff reinstated you as leader of {groups}."),
        "remove": _("The brand's staff ended your role as leader of {groups}. Reason: {reason}"),
    }[change].format(groups=groups, reason=esc(reason))


def is_admin(status: object) -> bool:
    """True for a chat member who is the group's creator or one of its admins."""
    return isinstance(status, ChatMemberOwner | ChatMemberAdministrator)


async def appoint_creator_if_staff_added(
    event: ChatMemberUpdated,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    now: datetime,
) -> None:
    """Staff or the owner just added the bot to the group: with CREATOR_LEADS_STAFF_ADDED_GROUP
    its Telegram creator leads it at once. The admins are asked of Telegram before anything is
    written (the update's transaction has ended by then), and cached on the way."""
    if not settings.creator_leads_staff_added_group:
        return
    role = await resolve_role(
        session, member_id=event.from_user.id, community_id=None, owner_ids=settings.owner_ids
    )
    if role < Role.STAFF:
        return
    try:
        admins = await bot.get_chat_administrators(event.chat.id)
    except TelegramAPIError as exc:
        log.warning("could not fetch the admins of chat %s: %s", event.chat.id, exc)
        return
    people = [a for a in admins if is_admin(a) and not a.user.is_bot]
    creator = next((a.user for a in people if isinstance(a, ChatMemberOwner)), None)
    leader = await creator_leads_group(
        session,
        community_id=event.chat.id,
        admins=[AdminInfo(user_id=a.user.id, status=a.status) for a in people],
        creator=UserInfo.of(creator) if creator is not None else None,
        appointed_by=event.from_user.id,
        owner_ids=settings.owner_ids,
        default_locale=settings.default_locale,
        now=now,
    )
    if leader is None:
        return
    if not leader.started:
        return  # no private chat to tell them in: they find out when they lead
    with i18n.use_locale(leader.locale):
        notifier.send(
            leader.id,
            _(
                "You lead {group} for the brand now: the brand's staff added me to the group "
                "you created. Send /help there to see what leaders can do."
            ).format(group=f"<b>{esc(event.chat.title or '')}</b>"),
        )
    role = await menu_role(session, member_id=leader.id, owner_ids=settings.owner_ids)
    notifier.send_steps(
        leader.id,
        partial(
            sync_private_commands, bot, i18n, chat_id=leader.id, role=role, locale=leader.locale
        ),
    )
