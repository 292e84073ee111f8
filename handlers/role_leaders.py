"""Staff change a group's leaders: designate one (/leader_add), suspend, reinstate or remove
one (/leader_suspend, /leader_reinstate, /leader_remove), telling the leader why."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import partial

from aiogram import Bot, Router
from aiogram.filters import Command, CommandObject
from aiogram.types import Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, RoleFilter
from handlers.views.commands import refresh_private_menu
from handlers.views.member import named_member
from handlers.views.role import (
    audit_leader_change,
    audit_role_change,
    command_target,
    group_name,
    group_names,
    leader_notice,
    member_name,
)
from handlers.views.text import (
    N_,
    BackgroundSender,
    CommitHook,
    HandlerSettings,
)
from models.base import Clock
from services.community import CommunityView
from services.member import MemberView, get_member
from services.role import (
    LeaderError,
    Role,
    appoint_leader,
    reinstate_leader,
    remove_leader,
    suspend_leader,
)

router = Router(name="role_leaders")


LEADER_ERRORS = {
    "leader": N_("{name} already leads this group."),
    "suspended": N_(
        "{name} is suspended as leader of this group. Lift it with /leader_reinstate, "
        "or end it with /leader_remove."
    ),
    "no_reason": N_(
        "Add the reason after the name, for example /{command} @alice cash not handed over. "
        "The leader is told it."
    ),
    "reason_too_long": N_("The reason can be at most 500 characters. Send a shorter one."),
}


# the audit action of each change staff make to a leader
CHANGE_ACTIONS = {
    "suspend": "leader.suspended",
    "reinstate": "leader.reinstated",
    "remove": "leader.removed",
}


async def _target_and_reason(
    message: Message, command: CommandObject, session: AsyncSession
) -> tuple[MemberView | None, str]:
    """The member a command is about and the words after them: `/cmd @alice words` or
    `/cmd words` in reply to one of their messages. Replies with what to fix when there is
    no such member."""
    words = (command.args or "").split(maxsplit=1)
    reply = message.reply_to_message
    named = bool(words) and (words[0].startswith("@") or words[0].lstrip("-").isdecimal())
    if not named and reply is not None and reply.from_user is not None:
        return await get_member(session, reply.from_user.id), command.args or ""
    if not named:
        await message.reply(
            _(
                "Tell me who: reply to one of their messages, or add their numeric id or "
                "@username, for example /{command} @alice."
            ).format(command=command.command)
        )
        return None, ""
    found = await named_member(session, words[0], message.reply)
    if found is None:
        return None, ""
    return found, words[1] if len(words) > 1 else ""


@router.message(Command("leader_add"), GROUP, RoleFilter(Role.STAFF, "leader.designate"))
async def leader_add(
    message: Message,
    command: CommandObject,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView,
    settings: HandlerSettings,
    clock: Clock,
    after_commit: CommitHook,
) -> None:
    """Appoints the named member a leader of this group (an open application is approved)."""
    target = await command_target(message, command, session)
    if target is None:
        return
    try:
        await appoint_leader(
            session,
            community_id=community.id,
            member_id=target.id,
            appointed_by=member.id,
            now=clock(),
        )
    except LeaderError as exc:
        await message.reply(_(LEADER_ERRORS[exc.reason]).format(name=member_name(target)))
        return
    await audit_role_change(
        session, member, community.id, "leader.designated", Role.STAFF, target, now=clock()
    )
    await refresh_private_menu(bot, i18n, session, settings, after_commit, target)
    await message.reply(_("{name} is now a leader of this group.").format(name=member_name(target)))


async def _change_leader(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    community: CommunityView | None,
    notifier: BackgroundSender,
    i18n: I18n,
    change: str,
    now: datetime,
    refresh: Callable[[MemberView], Awaitable[None]],
) -> None:
    """Suspends, reinstates or removes the named leader in this group (in private: in every
    group they lead), tells them why, audits each group changed, and gives them the private
    menu of the role they keep (`refresh`)."""
    target, reason = await _target_and_reason(message, command, session)
    if target is None:
        return
    where = community.id if community is not None else None
    try:
        changed = await _apply_leader_change(
            session, change, target.id, where, staff_id=member.id, reason=reason, now=now
        )
    except LeaderError as exc:
        await message.reply(_(LEADER_ERRORS[exc.reason]).format(command=command.command))
        return
    if not changed:
        text = {
            "suspend": _("{name} is not an active leader of {where}."),
            "reinstate": _("{name} is not suspended as leader of {where}."),
            "remove": _("{name} is not a leader of {where}."),
        }[change]
        place = group_name(community, where) if where is not None else _("any group")
        await message.reply(text.format(name=member_name(target), where=place))
        return
    reason = " ".join(reason.split())
    for community_id in changed:
        await audit_leader_change(
            session,
            member.id,
            community_id,
            f"leader.{change}ed".replace("ee", "e"),
            "staff",
            target.id,
            reason if change != "reinstate" else "",
            now=now,
        )
    groups = await group_names(session, changed)
    await refresh(target)
    done = {
        "suspend": _("{name} is suspended as leader of {groups}."),
        "reinstate": _("{name} leads {groups} again."),
        "remove": _("{name} is no longer a leader of {groups}."),
    }[change].format(name=member_name(target), groups=groups)
    if not target.started:
        await message.reply(
            done + "\n" + _("They have no private chat with me: please tell them yourself.")
        )
        return
    with i18n.use_locale(target.locale):
        told = leader_notice(change, groups, reason)
    notifier.send(target.id, told)
    await message.reply(done + "\n" + _("I told them in private."))


async def _apply_leader_change(
    session: AsyncSession,
    change: str,
    target_id: int,
    where: int | None,
    *,
    staff_id: int,
    reason: str,
    now: datetime,
) -> list[int]:
    """Suspend, reinstate or remove the leader in `where` (None: every group they lead): the
    groups changed."""
    if change == "reinstate":
        return await reinstate_leader(
            session, member_id=target_id, community_id=where, staff_id=staff_id, now=now
        )
    end = suspend_leader if change == "suspend" else remove_leader
    return await end(
        session,
        member_id=target_id,
        community_id=where,
        staff_id=staff_id,
        reason=reason,
        now=now,
    )


@router.message(Command("leader_suspend"), RoleFilter(Role.STAFF, "leader.suspend"))
@router.message(Command("leader_reinstate"), RoleFilter(Role.STAFF, "leader.reinstate"))
@router.message(Command("leader_remove"), RoleFilter(Role.STAFF, "leader.remove"))
async def leader_change(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    i18n: I18n,
    clock: Clock,
    after_commit: CommitHook,
    community: CommunityView | None = None,
) -> None:
    """/leader_suspend, /leader_reinstate, /leader_remove: suspends a leader, lifts the
    suspension or ends the appointment, with a reason they are told: in a group, there; in
    private, in every group they lead."""
    change = command.command.removeprefix("leader_")
    refresh = partial(refresh_private_menu, bot, i18n, session, settings, after_commit)
    await _change_leader(
        message, command, session, member, community, notifier, i18n, change, clock(), refresh
    )
