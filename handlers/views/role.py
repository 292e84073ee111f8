"""What the role routers share about members, leaders and groups: a member's name and the
member a command is about, the audit of a role change, group names as HTML, the notice a
leader gets when staff suspend, reinstate or remove them, and the creator of a group staff
just added the bot to made its leader (handlers/role.py and handlers/community.py)."""

from __future__ import annotations

import logging
from datetime import datetime
from functools import partial

from aiogram import Bot
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import CommandObject
from aiogram.types import ChatMemberAdministrator, ChatMemberOwner, ChatMemberUpdated, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.commands import sync_private_commands
from handlers.views.member import named_member, unknown_text
from handlers.views.text import BackgroundSender, HandlerSettings, esc, esc_name
from services.audit import record_action
from services.community import CommunityView, get_community
from services.member import MemberView, UserInfo, get_member
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


def member_name(member: MemberView) -> str:
    """The member's name and id, as the reader's language writes them: "Bob (102)", "Bob（102）"."""
    return _("{name} ({id})").format(
        name=f"<b>{esc(member.display_name)}</b>", id=f"<code>{member.id}</code>"
    )


async def command_target(
    message: Message, command: CommandObject, session: AsyncSession
) -> MemberView | None:
    """The member a command is about: the replied-to user, or an id / @username argument.

    Replies with what to fix and returns None when there is no such member.
    """
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and not command.args:
        found = await get_member(session, reply.from_user.id)
        if found is None:
            await message.reply(unknown_text())
        return found
    if command.args:
        return await named_member(session, command.args.split()[0], message.reply)
    await message.reply(
        _(
            "Tell me who: reply to one of their messages, or add their numeric id or "
            "@username, for example /{command} @alice."
        ).format(command=command.command)
    )
    return None


async def audit_role_change(
    session: AsyncSession,
    actor: MemberView,
    chat_id: int,
    action: str,
    required: Role,
    target: MemberView,
    *,
    now: datetime,
) -> None:
    """Records a role change that was made, naming who it was about."""
    await record_action(
        session,
        actor_id=actor.id,
        chat_id=chat_id,
        action=action,
        allowed=True,
        now=now,
        required_role=required.name.lower(),
        detail=str(target.id),
    )


async def audit_leader_change(
    session: AsyncSession,
    actor_id: int,
    community_id: int,
    action: str,
    required: str,
    target_id: int,
    reason: str = "",
    *,
    now: datetime,
    allowed: bool = True,
) -> None:
    """Records a leader appointment, application or change: who, which group, about whom."""
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=community_id,
        action=action,
        allowed=allowed,
        now=now,
        required_role=required,
        detail=f"{target_id}" + (f": {reason}" if reason else ""),
    )
