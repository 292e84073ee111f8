"""Applications to lead a group (/lead and its button) with staff's decision on each card,
and the leaders' list (/leaders) that shows the pending ones."""

from __future__ import annotations

import contextlib
import logging
from datetime import datetime
from enum import StrEnum
from functools import partial
from itertools import groupby

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.exceptions import TelegramAPIError, TelegramBadRequest
from aiogram.filters import Command
from aiogram.filters.callback_data import CallbackData
from aiogram.types import CallbackQuery, ChatMemberOwner, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, RoleFilter
from handlers.views.commands import refresh_private_menu
from handlers.views.labels import LEADER_SOURCE, label
from handlers.views.leader import LeadCallback
from handlers.views.paging import PAGE_SIZE, PageCallback, page_counter, with_page_row
from handlers.views.role import (
    audit_leader_change,
    group_name,
    is_admin,
    member_name,
)
from handlers.views.staff_card import decision_keyboard
from handlers.views.text import (
    BackgroundSender,
    CallbackId,
    CommitHook,
    HandlerSettings,
    esc,
)
from models.base import Clock
from models.role import (
    LEADER_ACTIVE,
    LEADER_APPLIED,
    LEADER_DECLINED,
    LEADER_SUSPENDED,
    SOURCE_STAFF,
)
from services.community import CommunityView, get_community
from services.member import MemberView, get_member
from services.role import (
    LeaderError,
    LeaderView,
    Role,
    apply_to_lead,
    chat_admin_status,
    decide_application,
    leaders_of,
    resolve_role,
    staff_locales,
)

log = logging.getLogger(__name__)
router = Router(name="role_apply")
GROUP_TYPES = {ChatType.GROUP, ChatType.SUPERGROUP}


class LeaderDecisionAction(StrEnum):
    APPROVE = "approve"
    DECLINE = "decline"


class LeaderDecision(CallbackData, prefix="ldr"):
    """A staff button on an application card."""

    action: LeaderDecisionAction
    leader_id: CallbackId


def _decision_keyboard(leader_id: int) -> InlineKeyboardMarkup:
    return decision_keyboard(
        _("✅ Approve"),
        LeaderDecision(action=LeaderDecisionAction.APPROVE, leader_id=leader_id),
        _("✖️ Decline"),
        LeaderDecision(action=LeaderDecisionAction.DECLINE, leader_id=leader_id),
    )


REASON_IN_LIST = 100  # characters of a suspension's reason in /leaders (the leader was told all)


def _leader_line(leader: LeaderView, member: MemberView | None) -> str:
    name = member_name(member) if member is not None else f"<code>{leader.member_id}</code>"
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
    ).format(name=member_name(applicant), group=group_name(community, community.id))
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
        await audit_leader_change(
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
    await audit_leader_change(
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
    name = member_name(applicant) if applicant else f"<code>{leader.member_id}</code>"
    action = "leader.approved" if approve else "leader.declined"
    await audit_leader_change(
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
