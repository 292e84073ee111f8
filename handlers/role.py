"""Staff and leaders: the owner grants staff; staff designate group leaders."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.commands import sync_private_commands
from handlers.filters import RoleFilter
from handlers.text import N_, HandlerSettings, esc
from handlers.views.member import ambiguous_text
from services.audit import recent_actions, record_action
from services.community import CommunityView
from services.member import AmbiguousMember, MemberView, find_member, get_member
from services.period import InvalidPeriod, parse_period
from services.role import (
    Role,
    designate_leader,
    grant_staff,
    remove_leader,
    revoke_staff,
    staff_ids,
)

log = logging.getLogger(__name__)
router = Router(name="role")
PRIVATE = F.chat.type == ChatType.PRIVATE
GROUP = F.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP})
STAFF_WELCOME = N_("You are now brand staff. Send /help to see the staff commands.")


def _name(member: MemberView) -> str:
    return f"<b>{esc(member.display_name)}</b> (<code>{member.id}</code>)"


async def _target(
    message: Message, command: CommandObject, session: AsyncSession
) -> MemberView | None:
    """The member a command is about: the replied-to user, or an id / @username argument.

    Replies with what to fix and returns None when there is no such member.
    """
    reply = message.reply_to_message
    if reply is not None and reply.from_user is not None and not command.args:
        found = await get_member(session, reply.from_user.id)
    elif command.args:
        try:
            found = await find_member(session, command.args.split()[0])
        except AmbiguousMember as exc:
            await message.reply(ambiguous_text(exc))
            return None
    else:
        await message.reply(
            _(
                "Tell me who: reply to one of their messages, or add their numeric id or "
                "@username, for example /{command} @alice."
            ).format(command=command.command)
        )
        return None
    if found is None:
        await message.reply(
            _(
                "I don't know that user yet. Ask them to send /start to me (or to write in one "
                "of our groups), then try again."
            )
        )
    return found


async def _audit(
    session: AsyncSession,
    actor: MemberView,
    chat_id: int,
    action: str,
    required: Role,
    target: MemberView,
) -> None:
    """Records a role change that was made, naming who it was about."""
    await record_action(
        session,
        actor_id=actor.id,
        chat_id=chat_id,
        action=action,
        allowed=True,
        required_role=required.name.lower(),
        detail=str(target.id),
    )


async def _notify(bot: Bot, i18n: I18n, member: MemberView, text: str) -> None:
    """Tells the member in private, in their language; fine if they never opened the chat."""
    try:
        with i18n.use_locale(member.locale):
            await bot.send_message(member.id, i18n.gettext(text))
    except TelegramAPIError as exc:
        log.info("could not notify member %s: %s", member.id, exc)


@router.message(Command("grant_staff"), PRIVATE, RoleFilter(Role.OWNER, "staff.grant"))
async def grant_staff_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
) -> None:
    """Makes the named member brand staff and gives them the staff menu."""
    target = await _target(message, command, session)
    if target is None:
        return
    if not await grant_staff(session, member_id=target.id, granted_by=member.id):
        await message.answer(_("{name} is already staff.").format(name=_name(target)))
        return
    await _audit(session, member, message.chat.id, "staff.granted", Role.OWNER, target)
    await message.answer(_("{name} is now brand staff.").format(name=_name(target)))
    await _notify(bot, i18n, target, STAFF_WELCOME)
    await sync_private_commands(bot, i18n, chat_id=target.id, role=Role.STAFF, locale=target.locale)


@router.message(Command("revoke_staff"), PRIVATE, RoleFilter(Role.OWNER, "staff.revoke"))
async def revoke_staff_command(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
) -> None:
    """Ends the named member's staff role and gives them the member menu again."""
    target = await _target(message, command, session)
    if target is None:
        return
    if not await revoke_staff(session, member_id=target.id, revoked_by=member.id):
        await message.answer(_("{name} is not staff.").format(name=_name(target)))
        return
    await _audit(session, member, message.chat.id, "staff.revoked", Role.OWNER, target)
    await message.answer(_("{name} is no longer staff.").format(name=_name(target)))
    await sync_private_commands(
        bot, i18n, chat_id=target.id, role=Role.MEMBER, locale=target.locale
    )


@router.message(Command("staff"), PRIVATE, RoleFilter(Role.STAFF, "staff.list"))
async def list_staff(message: Message, session: AsyncSession) -> None:
    """Lists the current brand staff."""
    ids = await staff_ids(session)
    if not ids:
        await message.answer(_("There is no staff yet. The owner adds staff with /grant_staff."))
        return
    lines = [_("Brand staff:")]
    for member_id in ids:
        found = await get_member(session, member_id)
        lines.append("• " + (_name(found) if found else f"<code>{member_id}</code>"))
    await message.answer("\n".join(lines))


@router.message(Command("audit"), PRIVATE, RoleFilter(Role.OWNER, "audit.read"))
async def audit_log(
    message: Message, command: CommandObject, session: AsyncSession, settings: HandlerSettings
) -> None:
    """Shows privileged actions, allowed and refused, newest first: /audit [@actor] [period]."""
    words = (command.args or "").split()
    actor = None
    if words and (words[0].startswith("@") or words[0].lstrip("-").isdecimal()):
        try:
            actor = await find_member(session, words[0])
        except AmbiguousMember as exc:
            await message.answer(ambiguous_text(exc))
            return
        if actor is None:
            await message.answer(_("I do not know that member."))
            return
        words = words[1:]
    start = end = None
    if words:
        today = datetime.now(UTC).astimezone(ZoneInfo(settings.default_timezone)).date()
        try:
            period = parse_period(" ".join(words), timezone=settings.default_timezone, today=today)
        except InvalidPeriod:
            await message.answer(
                _("Send /audit, /audit @member, /audit 7d or /audit @member 2026-11-01 2026-11-30.")
            )
            return
        start, end = period.start, period.end
    rows = await recent_actions(
        session, limit=30, actor_id=actor.id if actor else None, start=start, end=end
    )
    lines = [_("Privileged actions (newest first):")]
    if not rows:
        lines.append(_("None in that range."))
    for row in rows:
        mark = "✅" if row.allowed else "⛔"
        where = f" @{row.chat_id}" if row.chat_id is not None else ""
        detail = f" {esc(row.detail)}" if row.detail else ""
        lines.append(
            f"{mark} {row.at:%Y-%m-%d %H:%M} UTC <code>{row.actor_id}</code> "
            f"{esc(row.action)}{where}{detail}"
        )
    await message.answer("\n".join(lines))


@router.message(Command("leader_add"), GROUP, RoleFilter(Role.STAFF, "leader.designate"))
async def leader_add(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView,
) -> None:
    """Designates the named member a leader of this group."""
    target = await _target(message, command, session)
    if target is None:
        return
    added = await designate_leader(
        session, community_id=community.id, member_id=target.id, designated_by=member.id
    )
    if not added:
        await message.reply(
            _("{name} is already a leader of this group.").format(name=_name(target))
        )
        return
    await _audit(session, member, community.id, "leader.designated", Role.STAFF, target)
    await message.reply(_("{name} is now a leader of this group.").format(name=_name(target)))


@router.message(Command("leader_remove"), GROUP, RoleFilter(Role.STAFF, "leader.remove"))
async def leader_remove(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView,
) -> None:
    """Withdraws a leader designation in this group."""
    target = await _target(message, command, session)
    if target is None:
        return
    if not await remove_leader(session, community_id=community.id, member_id=target.id):
        await message.reply(
            _("{name} was not designated a leader here (Telegram admins always are).").format(
                name=_name(target)
            )
        )
        return
    await _audit(session, member, community.id, "leader.removed", Role.STAFF, target)
    await message.reply(_("{name} is no longer a leader of this group.").format(name=_name(target)))
