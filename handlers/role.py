"""Staff and leaders: the owner grants staff; staff appoint, suspend, reinstate and remove group
leaders; a group's Telegram admins apply to lead it (/lead or its button) and staff approve from
a card."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from functools import partial
from itertools import groupby

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, ChatMemberOwner, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, RoleFilter
from handlers.views.audit import action_label, detail_text
from handlers.views.commands import refresh_private_menu, sync_private_commands
from handlers.views.labels import LEADER_SOURCE, label
from handlers.views.leader import LeadCallback
from handlers.views.member import ambiguous_text
from handlers.views.paging import PAGE_SIZE, PageCallback, page_counter, with_page_row
from handlers.views.role import group_name, group_names, is_admin, leader_notice
from handlers.views.text import (
    N_,
    BackgroundSender,
    CallbackId,
    CommitHook,
    HandlerSettings,
    esc,
    esc_name,
)
from models.base import Clock
from models.role import (
    LEADER_ACTIVE,
    LEADER_APPLIED,
    LEADER_DECLINED,
    LEADER_SUSPENDED,
    SOURCE_STAFF,
)
from services.audit import audit_page, record_action
from services.community import CommunityView, get_community
from services.member import AmbiguousMember, MemberView, find_member, get_member
from services.period import InvalidPeriod, parse_period
from services.role import (
    LeaderError,
    LeaderView,
    Role,
    apply_to_lead,
    appoint_leader,
    chat_admin_status,
    decide_application,
    grant_staff,
    leaders_of,
    menu_role,
    reinstate_leader,
    remove_leader,
    resolve_role,
    revoke_staff,
    staff_ids,
    staff_locales,
    suspend_leader,
)
from services.zones import local_today, show, staff_zone

log = logging.getLogger(__name__)
router = Router(name="role")
GROUP_TYPES = {ChatType.GROUP, ChatType.SUPERGROUP}
STAFF_WELCOME = N_("You are now brand staff. Send /help to see the staff commands.")


def _name(member: MemberView) -> str:
    """The member's name and id, as the reader's language writes them: "Bob (102)", "Bob（102）"."""
    return _("{name} ({id})").format(
        name=f"<b>{esc(member.display_name)}</b>", id=f"<code>{member.id}</code>"
    )


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
    clock: Clock,
    member: MemberView,
) -> None:
    """Makes the named member brand staff and gives them the staff menu."""
    target = await _target(message, command, session)
    if target is None:
        return
    if not await grant_staff(session, member_id=target.id, granted_by=member.id):
        await message.answer(_("{name} is already staff.").format(name=_name(target)))
        return
    await _audit(session, member, message.chat.id, "staff.granted", Role.OWNER, target, now=clock())
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
    settings: HandlerSettings,
    clock: Clock,
    member: MemberView,
) -> None:
    """Ends the named member's staff role and gives them the member menu again."""
    target = await _target(message, command, session)
    if target is None:
        return
    if not await revoke_staff(session, member_id=target.id, revoked_by=member.id):
        await message.answer(_("{name} is not staff.").format(name=_name(target)))
        return
    await _audit(session, member, message.chat.id, "staff.revoked", Role.OWNER, target, now=clock())
    await message.answer(_("{name} is no longer staff.").format(name=_name(target)))
    role = await menu_role(session, member_id=target.id, owner_ids=settings.owner_ids)
    await sync_private_commands(bot, i18n, chat_id=target.id, role=role, locale=target.locale)


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
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
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
    zone = staff_zone(member.timezone, settings.default_timezone)
    if words:
        today = local_today(clock(), zone)
        try:
            period = parse_period(" ".join(words), timezone=zone, today=today)
        except InvalidPeriod:
            await message.answer(
                _("Send /audit, /audit @member, /audit 7d or /audit @member 2026-11-01 2026-11-30.")
            )
            return
        start, end = period.start, period.end
    scope = AuditScope(actor.id if actor else None, start, end)
    text, markup = await _audit_screen(session, scope, 0, _reader(member, settings))
    await message.answer(text, reply_markup=markup)


@dataclass(frozen=True, slots=True)
class AuditScope:
    """What /audit was asked for: one actor's actions, within [start, end), or all of them.
    Its page buttons carry it as `audit.<actor>.<start>.<end>` (epoch seconds in base 36), so
    More shows more of the same list."""

    actor_id: int | None
    start: datetime | None
    end: datetime | None

    def page_name(self) -> str:
        def moment(at: datetime | None) -> str:
            return "" if at is None else _base36(int(at.timestamp()))

        actor = "" if self.actor_id is None else str(self.actor_id)
        return f"{AUDIT_PAGES}.{actor}.{moment(self.start)}.{moment(self.end)}"

    @classmethod
    def of_page_name(cls, name: str) -> AuditScope | None:
        parts = name.split(".")
        if len(parts) != 4 or parts[0] != AUDIT_PAGES:
            return None
        try:
            actor = int(parts[1]) if parts[1] else None
            start, end = (
                datetime.fromtimestamp(int(part, 36), UTC) if part else None for part in parts[2:]
            )
        except (ValueError, OverflowError, OSError):
            return None
        return cls(actor, start, end)


AUDIT_PAGES = "audit"


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    text = ""
    while True:
        number, digit = divmod(number, 36)
        text = digits[digit] + text
        if not number:
            return text


def _reader(member: MemberView, settings: HandlerSettings) -> tuple[str, str | None]:
    """The zone a staff report is shown in, and the reader's own zone (None: not set)."""
    return staff_zone(member.timezone, settings.default_timezone), member.timezone


async def _audit_screen(
    session: AsyncSession, scope: AuditScope, offset: int, reader: tuple[str, str | None]
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of the privileged actions in scope, newest first, their count, Previous / More."""
    page = await audit_page(
        session,
        limit=PAGE_SIZE,
        offset=offset,
        actor_id=scope.actor_id,
        start=scope.start,
        end=scope.end,
    )
    lines = [_("Privileged actions (newest first, {counter}):").format(counter=page_counter(page))]
    if not page.items:
        lines = [_("Privileged actions (newest first):"), _("None in that range.")]
    for row in page.items:
        mark = "✅" if row.allowed else "⛔"
        where = ""  # where it happened: the group's title when known, else its id
        if row.chat_id is not None:
            where = f" @ {esc(row.chat_title)}" if row.chat_title else f" @{row.chat_id}"
        detail = f" {esc(detail_text(row.detail))}" if row.detail else ""
        who = f"<code>{row.actor_id}</code>"
        if row.actor_name:  # "Bob (102)", "Bob（102）": the name, and the id it stands for
            who = _("{name} ({id})").format(name=esc_name(row.actor_name), id=who)
        lines.append(
            f"{mark} {esc(show(row.at, reader[0], reader=reader[1]))} {who} "
            f"{esc(action_label(row.action))}{where}{detail}"
        )
    return "\n".join(lines), with_page_row(None, scope.page_name(), page)


@router.callback_query(
    PageCallback.filter(F.name.startswith(AUDIT_PAGES + ".")), RoleFilter(Role.OWNER, "audit.read")
)
async def audit_more(
    query: CallbackQuery,
    callback_data: PageCallback,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
) -> None:
    """Previous or More under /audit: the same actor and period, another page."""
    scope = AuditScope.of_page_name(callback_data.name)
    if scope is None or not isinstance(query.message, Message):
        await query.answer()
        return
    text, markup = await _audit_screen(
        session, scope, callback_data.offset, _reader(member, settings)
    )
    await query.answer()
    with contextlib.suppress(TelegramBadRequest):  # the same page again
        await query.message.edit_text(text, reply_markup=markup)


# ---------------------------------------------------------------- leaders ----------------

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


class LeaderDecisionAction(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"


class LeaderDecision(CallbackData, prefix="ldr"):
    """A staff button on an application card."""

    action: LeaderDecisionAction
    leader_id: CallbackId


def _decision_keyboard(leader_id: int) -> InlineKeyboardMarkup:
    builder = InlineKeyboardBuilder()
    builder.button(
        text=_("✅ Approve"),
        callback_data=LeaderDecision(action=LeaderDecisionAction.APPROVE, leader_id=leader_id),
    )
    builder.button(
        text=_("✖️ Decline"),
        callback_data=LeaderDecision(action=LeaderDecisionAction.DECLINE, leader_id=leader_id),
    )
    builder.adjust(2)
    return builder.as_markup()


async def _audit_leader(
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
    try:
        found = await find_member(session, words[0])
    except AmbiguousMember as exc:
        await message.reply(ambiguous_text(exc))
        return None, ""
    if found is None:
        await message.reply(
            _(
                "I don't know that user yet. Ask them to send /start to me (or to write in one "
                "of our groups), then try again."
            )
        )
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
    target = await _target(message, command, session)
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
        await message.reply(_(LEADER_ERRORS[exc.reason]).format(name=_name(target)))
        return
    await _audit(
        session, member, community.id, "leader.designated", Role.STAFF, target, now=clock()
    )
    await refresh_private_menu(bot, i18n, session, settings, after_commit, target)
    await message.reply(_("{name} is now a leader of this group.").format(name=_name(target)))


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
        await message.reply(text.format(name=_name(target), where=place))
        return
    reason = " ".join(reason.split())
    for community_id in changed:
        await _audit_leader(
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
    }[change].format(name=_name(target), groups=groups)
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
    if change == "suspend":
        return await suspend_leader(
            session,
            member_id=target_id,
            community_id=where,
            staff_id=staff_id,
            reason=reason,
            now=now,
        )
    if change == "reinstate":
        return await reinstate_leader(
            session, member_id=target_id, community_id=where, staff_id=staff_id, now=now
        )
    return await remove_leader(
        session,
        member_id=target_id,
        community_id=where,
        staff_id=staff_id,
        reason=reason,
        now=now,
    )


@router.message(Command("leader_suspend"), RoleFilter(Role.STAFF, "leader.suspend"))
async def leader_suspend(
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
    """Suspends a leader, with a reason they are told: in a group, there; in private, everywhere."""
    refresh = partial(refresh_private_menu, bot, i18n, session, settings, after_commit)
    await _change_leader(
        message, command, session, member, community, notifier, i18n, "suspend", clock(), refresh
    )


@router.message(Command("leader_reinstate"), RoleFilter(Role.STAFF, "leader.reinstate"))
async def leader_reinstate(
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
    """Lifts a leader's suspension: in a group, there; in private, everywhere."""
    refresh = partial(refresh_private_menu, bot, i18n, session, settings, after_commit)
    await _change_leader(
        message, command, session, member, community, notifier, i18n, "reinstate", clock(), refresh
    )


@router.message(Command("leader_remove"), RoleFilter(Role.STAFF, "leader.remove"))
async def leader_remove(
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
    """Ends a leader's appointment, with a reason they are told: in a group, there; in
    private, in every group they lead."""
    refresh = partial(refresh_private_menu, bot, i18n, session, settings, after_commit)
    await _change_leader(
        message, command, session, member, community, notifier, i18n, "remove", clock(), refresh
    )


REASON_IN_LIST = 100  # characters of a suspension's reason in /leaders (the leader was told all)


def _leader_line(leader: LeaderView, member: MemberView | None) -> str:
    name = _name(member) if member is not None else f"<code>{leader.member_id}</code>"
    if leader.status == LEADER_ACTIVE:
        source = label(LEADER_SOURCE, leader.source or SOURCE_STAFF)
        state = _("leads ({source})").format(source=source)
    elif leader.status == LEADER_SUSPENDED:
        reason = leader.reason or ""
        if len(reason) > REASON_IN_LIST:
            reason = reason[: REASON_IN_LIST - 1] + "…"
        state = _("suspended: {reason}").format(reason=esc(reason))
    else:  # an open application
        state = _("applied, waiting for staff")
    return f"• {name} — {state}"


async def leaders_page(
    session: AsyncSession, community: CommunityView | None, offset: int
) -> tuple[str, InlineKeyboardMarkup | None, list[LeaderView]]:
    """A page of /leaders (in a group: its own): the count, the leaders by group, Back / More;
    and the open applications on the page."""
    page = await leaders_of(
        session, community_id=community.id if community else None, limit=PAGE_SIZE, offset=offset
    )
    if not page.total:
        return (
            _(
                "No group has a leader yet. Staff appoint one with /leader_add in the group, "
                "or approve a group admin who applied with /lead."
            ),
            None,
            [],
        )
    blocks = [_("Leaders by group ({counter}):").format(counter=page_counter(page))]
    for community_id, in_group in groupby(page.items, key=lambda leader: leader.community_id):
        lines = [group_name(await get_community(session, community_id), community_id)]
        for leader in in_group:
            lines.append(_leader_line(leader, await get_member(session, leader.member_id)))
        blocks.append("\n".join(lines))
    blocks.append(
        _(
            "A leader's record (pickups, refunds, complaints, cash): /leader_record @name. "
            "Limits: /leader_limit @name."
        )
    )
    applied = [leader for leader in page.items if leader.status == LEADER_APPLIED]
    return "\n\n".join(blocks), with_page_row(None, "leaders", page), applied


async def _send_application_cards(
    target: Message, session: AsyncSession, applied: list[LeaderView]
) -> None:
    """Open applications come again as cards, for staff who missed theirs."""
    for leader in applied:
        applicant = await get_member(session, leader.member_id)
        group = await get_community(session, leader.community_id)
        if applicant is None or group is None:
            continue
        status = await chat_admin_status(
            session, member_id=leader.member_id, community_id=leader.community_id
        )
        await target.answer(
            _application_card(applicant, group, creator=status == "creator"),
            reply_markup=_decision_keyboard(leader.id),
        )


@router.message(Command("leaders"), RoleFilter(Role.STAFF, "leader.list"))
async def list_leaders(
    message: Message, session: AsyncSession, community: CommunityView | None = None
) -> None:
    """Each group's leaders, suspended leaders and open applications (in a group: its own), a
    page at a time with their count; each open application on the page then comes again as a
    card to approve or decline."""
    text, markup, applied = await leaders_page(session, community, 0)
    await message.answer(text, reply_markup=markup)
    await _send_application_cards(message, session, applied)


@router.callback_query(
    PageCallback.filter(F.name == "leaders"), RoleFilter(Role.STAFF, "leader.list")
)
async def leaders_more(
    query: CallbackQuery,
    callback_data: PageCallback,
    session: AsyncSession,
    community: CommunityView | None = None,
) -> None:
    """Back or More under /leaders: the same message shows the other page; its open
    applications come as cards below."""
    text, markup, applied = await leaders_page(session, community, callback_data.offset)
    await query.answer()
    if isinstance(query.message, Message):
        with contextlib.suppress(TelegramBadRequest):  # the same page again
            await query.message.edit_text(text, reply_markup=markup)
        await _send_application_cards(query.message, session, applied)


def _application_card(applicant: MemberView, community: CommunityView, *, creator: bool) -> str:
    """What staff read on an application's card, above Approve and Decline."""
    card = (
        _("🙋 {name}, the creator of {group}, asks to lead it.")
        if creator
        else _("🙋 {name}, an admin of {group}, asks to lead it.")
    ).format(name=_name(applicant), group=group_name(community, community.id))
    return (
        card
        + "\n"
        + _(
            "As its leader they could open group-buys there, mark orders paid and picked up, "
            "and earn leader commission."
        )
    )


async def _apply(
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    member: MemberView,
    community: CommunityView,
    now: datetime,
) -> str:
    """A group admin applies to lead the group: staff get a card once it committed. Returns
    what to tell the applicant."""
    role = await resolve_role(
        session, member_id=member.id, community_id=None, owner_ids=settings.owner_ids
    )
    if role >= Role.STAFF:
        return _("You are brand staff: you can already do everything a leader does here.")
    try:  # asked of Telegram now, not the cache: a right just given or taken counts
        status = await bot.get_chat_member(community.id, member.id)
    except TelegramAPIError as exc:
        log.warning("could not check %s in chat %s: %s", member.id, community.id, exc)
        return _("I could not check your admin rights just now. Please try again in a minute.")
    if not is_admin(status):
        await _audit_leader(
            session,
            member.id,
            community.id,
            "leader.apply",
            "admin",
            member.id,
            allowed=False,
            now=now,
        )
        return _(
            "Only this group's admins may apply to lead it. If you would like to run a group "
            "for the brand, talk to its staff."
        )
    try:
        applied = await apply_to_lead(
            session, community_id=community.id, member_id=member.id, now=now
        )
    except LeaderError as exc:
        return {
            "leader": _("You already lead this group."),
            "applied": _("Your application is already with the brand's staff."),
            "suspended": _(
                "Your role as leader of this group is suspended; the brand's staff will review it."
            ),
        }[exc.reason]
    await _audit_leader(
        session, member.id, community.id, "leader.apply", "admin", member.id, now=now
    )
    creator = isinstance(status, ChatMemberOwner)
    for staff_id, locale in await staff_locales(
        session, owner_ids=settings.owner_ids, default_locale=settings.default_locale
    ):
        with i18n.use_locale(locale):
            card = _application_card(member, community, creator=creator)
            notifier.send(staff_id, card, reply_markup=_decision_keyboard(applied.id))
    return _(
        "Thank you, {name}! Your application to lead this group is with the brand's staff. "
        "I will say here when they decide."
    ).format(name=esc(member.display_name))


@router.message(Command("lead"), GROUP)
async def lead_command(
    message: Message,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    member: MemberView,
    community: CommunityView,
    clock: Clock,
) -> None:
    """A group admin applies to lead this group; anyone else is told who may."""
    text = await _apply(bot, i18n, session, settings, notifier, member, community, clock())
    await message.reply(text)


@router.callback_query(LeadCallback.filter(), F.message.chat.type.in_(GROUP_TYPES))
async def lead_button(
    query: CallbackQuery,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    member: MemberView,
    community: CommunityView,
    clock: Clock,
    after_commit: CommitHook,
) -> None:
    """The "Apply to lead" button: as /lead, answered in a popup."""
    text = await _apply(bot, i18n, session, settings, notifier, member, community, clock())
    after_commit.add(partial(query.answer, text, show_alert=True))


@router.callback_query(LeaderDecision.filter(), RoleFilter(Role.STAFF, "leader.decide"))
async def decide_button(
    query: CallbackQuery,
    callback_data: LeaderDecision,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    notifier: BackgroundSender,
    clock: Clock,
    after_commit: CommitHook,
) -> None:
    """Staff approve or decline an application from its card; the group hears the outcome."""
    approve = callback_data.action == LeaderDecisionAction.APPROVE
    try:
        leader = await decide_application(
            session,
            leader_id=callback_data.leader_id,
            approve=approve,
            staff_id=member.id,
            now=clock(),
        )
    except LeaderError as exc:
        if exc.leader is None:
            await query.answer(_("There is no such application."), show_alert=True)
            return
        decided = {
            LEADER_ACTIVE: _("This application was already approved."),
            LEADER_DECLINED: _("This application was already declined."),
        }.get(exc.leader.status, _("This application was already decided."))
        await query.answer(decided, show_alert=True)
        return
    applicant = await get_member(session, leader.member_id)
    if approve and applicant is not None:  # their leader commands, in their private menu
        await refresh_private_menu(bot, i18n, session, settings, after_commit, applicant)
    community = await get_community(session, leader.community_id)
    name = _name(applicant) if applicant else f"<code>{leader.member_id}</code>"
    action = "leader.approved" if approve else "leader.declined"
    await _audit_leader(
        session, member.id, leader.community_id, action, "staff", leader.member_id, now=clock()
    )
    with i18n.use_locale(community.locale if community else i18n.current_locale):
        told = (
            _("{name} now leads this group for the brand.")
            if approve
            else _("The brand's staff did not appoint {name} as leader of this group.")
        ).format(name=name)
    notifier.send(leader.community_id, told)
    verdict = (
        _("✅ Approved by {staff}: {name} leads {group}.")
        if approve
        else _("✖️ Declined by {staff}: {name} does not lead {group}.")
    ).format(
        staff=esc(member.display_name),
        name=name,
        group=group_name(community, leader.community_id),
    )
    after_commit.add(partial(query.answer, _("Done.")))
    if query.message is not None:
        after_commit.add(
            partial(
                bot.edit_message_text,
                text=verdict,
                chat_id=query.message.chat.id,
                message_id=query.message.message_id,
            )
        )
