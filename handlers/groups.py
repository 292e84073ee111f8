"""Groups the brand approves: /groups lists them for staff with the actions that fit, and the
buttons (on that list and on the review card) approve, decline, suspend and reinstate."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, RoleFilter
from handlers.views.groupbuy import announce
from handlers.views.groups import GroupAction, GroupCallback, group_name, state_name
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.paging import PAGE_SIZE, PageCallback, page_counter, with_page_row
from handlers.views.staff_card import decision_keyboard
from handlers.views.text import N_, BackgroundSender, CommitHook, HandlerSettings, RefundWaker
from models.base import Clock
from models.community import (
    APPROVAL_APPROVED,
    APPROVAL_DECLINED,
    APPROVAL_PENDING,
    APPROVAL_SUSPENDED,
)
from services.community import get_community
from services.groups import (
    ACTIONS,
    APPROVE,
    DECLINE,
    LISTED_STATES,
    REINSTATE,
    SUSPEND,
    Decision,
    GroupError,
    GroupLine,
    GroupRefusal,
    decide,
    list_groups,
    own_open_groupbuys,
)
from services.member import MemberView
from services.role import Role

log = logging.getLogger(__name__)
router = Router(name="groups")
TITLE_IN_BUTTON = 24  # characters of a group's title on a button

SECTION_TITLES = {
    APPROVAL_PENDING: N_("⏳ Waiting for approval ({count})"),
    APPROVAL_APPROVED: N_("✅ Approved ({count})"),
    APPROVAL_SUSPENDED: N_("⏸ Suspended ({count})"),
    APPROVAL_DECLINED: N_("✖️ Declined ({count})"),
}
# what staff are told once a decision is made
DONE = {
    APPROVE: N_("✅ {group} is approved. I have told the group."),
    DECLINE: N_("✖️ {group} is declined. I have told the group."),
    SUSPEND: N_("⏸ {group} is suspended. Open group-buys cancelled and refunded: {count}."),
    REINSTATE: N_("▶️ {group} is approved again. I have told the group."),
}
# what the group is told, in its language
GROUP_TOLD = {
    APPROVE: N_(
        "🎉 The brand has approved this group! Leaders can now open group-buys here, and "
        "everyone can join them, check in and collect points. Send /help to see how."
    ),
    DECLINE: N_(
        "The brand has decided not to run group-buys in this group, so group-buys, check-ins, "
        "points and referral rewards are not available here. Thank you for your interest."
    ),
    SUSPEND: N_(
        "The brand has paused business in this group for now: open group-buys are cancelled "
        "and every prepayment is refunded. Check-ins, points and referral rewards are paused too."
    ),
    REINSTATE: N_(
        "The brand has reopened this group: group-buys, check-ins and points are available "
        "here again."
    ),
}


def groups_text(lines: list[GroupLine]) -> str:
    """The /groups list, by approval state."""
    if not lines:
        return _("I am not in any group yet. Add me to a group: as staff, it is approved at once.")
    parts = [_("<b>Groups</b>")]
    for state in LISTED_STATES:
        found = [line for line in lines if line.approval == state]
        if not found:
            continue
        parts.append("")
        parts.append(_(SECTION_TITLES[state]).format(count=len(found)))
        for line in found:
            text = "• " + group_name(line.title, line.id)
            if line.open_groupbuys:
                text += " · " + _("open group-buys: {count}").format(count=line.open_groupbuys)
            parts.append(text)
    return "\n".join(parts)


def groups_keyboard(lines: list[GroupLine]) -> InlineKeyboardMarkup | None:
    """One row per group with the actions that fit its state."""
    builder = InlineKeyboardBuilder()
    widths = []
    for line in lines:
        title = line.title[:TITLE_IN_BUTTON]
        buttons: list[tuple[str, GroupAction]] = []
        if line.approval in (APPROVAL_PENDING, APPROVAL_DECLINED):
            buttons.append((_("✅ Approve {title}").format(title=title), GroupAction.APPROVE))
        if line.approval == APPROVAL_PENDING:
            buttons.append((_("✖️ Decline"), GroupAction.DECLINE))
        if line.approval == APPROVAL_APPROVED:
            buttons.append((_("⏸ Suspend {title}").format(title=title), GroupAction.ASK))
        if line.approval == APPROVAL_SUSPENDED:
            buttons.append((_("▶️ Reinstate {title}").format(title=title), GroupAction.REINSTATE))
        for text, action in buttons:
            builder.button(
                text=text, callback_data=GroupCallback(action=action, community_id=line.id)
            )
        widths.append(len(buttons))
    if not widths:
        return None
    builder.adjust(*widths)
    return builder.as_markup()


@router.message(Command("groups"), PRIVATE, RoleFilter(Role.STAFF, "group.list"))
async def groups_command(message: Message, session: AsyncSession) -> None:
    """Lists the groups by approval state, with a button for each action that fits, a page at
    a time."""
    text, markup = await groups_page(session, 0)
    await message.answer(text, reply_markup=markup)


async def groups_page(
    session: AsyncSession, offset: int
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of /groups: its counter, its groups and their buttons, Back / More."""
    page = await list_groups(session, limit=PAGE_SIZE, offset=offset)
    text = groups_text(page.items)
    if page.total:
        text = _("Groups: {counter}").format(counter=page_counter(page)) + "\n" + text
    builder = InlineKeyboardBuilder()
    keyboard = groups_keyboard(page.items)
    if keyboard is not None:
        builder.attach(InlineKeyboardBuilder.from_markup(keyboard))
    return text, with_page_row(builder, "groups", page)


@router.callback_query(
    PageCallback.filter(F.name == "groups"), RoleFilter(Role.STAFF, "group.list")
)
async def groups_more(
    query: CallbackQuery, callback_data: PageCallback, session: AsyncSession
) -> None:
    """Back or More under /groups."""
    text, markup = await groups_page(session, callback_data.offset)
    await query.answer()
    if isinstance(query.message, Message):
        await query.message.edit_text(text, reply_markup=markup)


REFUSALS: dict[str, str] = {
    GroupRefusal.UNKNOWN: N_("I do not know that group."),
    GroupRefusal.LEFT: N_(
        "I am no longer in {group}, so nothing was changed. Add me to the group again first."
    ),
    GroupRefusal.ALREADY: N_("{group} is already {state}. Nothing was changed."),
    GroupRefusal.WRONG_STATE: N_(
        "{group} is {state}: that cannot be done now. Send /groups to see what can."
    ),
    GroupRefusal.BAD_ACTION: N_("That button is not valid any more. Send /groups."),
}


@router.callback_query(
    GroupCallback.filter(F.action == GroupAction.ASK), RoleFilter(Role.STAFF, "group.review")
)
async def suspend_asked(
    query: CallbackQuery, callback_data: GroupCallback, session: AsyncSession
) -> None:
    """Asks staff to confirm a suspension, saying how many group-buys it cancels."""
    community = await get_community(session, callback_data.community_id)
    if community is None:
        await query.answer(_(REFUSALS[GroupRefusal.UNKNOWN]), show_alert=True)
        return
    count = len(await own_open_groupbuys(session, community_id=community.id))
    keyboard = decision_keyboard(
        _("⏸ Yes, suspend it"),
        GroupCallback(action=GroupAction.SUSPEND, community_id=community.id),
        _("Keep it open"),
        GroupCallback(action=GroupAction.KEEP, community_id=community.id),
    )
    await query.answer()
    if query.message is not None:
        await query.message.answer(
            _(
                "Suspend {group}? Its open group-buys ({count}) will be cancelled, every "
                "prepayment refunded and their members told. Until you reinstate it, it gets no "
                "group-buys, check-ins, points or referral rewards."
            ).format(group=group_name(community.title, community.id), count=count),
            reply_markup=keyboard,
        )


@router.callback_query(
    GroupCallback.filter(F.action == GroupAction.KEEP), RoleFilter(Role.STAFF, "group.review")
)
async def suspend_kept(query: CallbackQuery) -> None:
    """The suspension was not confirmed: nothing changes."""
    await query.answer(_("Nothing was changed."))
    if isinstance(query.message, Message):
        try:
            await query.message.edit_reply_markup(reply_markup=None)
        except TelegramAPIError as exc:
            log.info("suspension question not cleared: %s", exc)


@router.callback_query(
    GroupCallback.filter(F.action.in_(set(ACTIONS))), RoleFilter(Role.STAFF, "group.review")
)
async def decide_button(
    query: CallbackQuery,
    callback_data: GroupCallback,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    clock: Clock,
    notifier: BackgroundSender,
    after_commit: CommitHook,
    refunder: RefundWaker,
) -> None:
    """Approves, declines, suspends or reinstates the group, once; the group is told."""
    community = await get_community(session, callback_data.community_id)
    try:
        decision = await decide(
            session,
            community_id=callback_data.community_id,
            action=callback_data.action,
            actor_id=member.id,
            now=clock(),
            tier_currency=settings.tier_measure,
            default_locale=settings.default_locale,
        )
    except GroupError as exc:
        text = _(REFUSALS.get(exc.reason, REFUSALS[GroupRefusal.BAD_ACTION])).format(
            group=group_name(community.title, community.id) if community else "",
            state=state_name(exc.state),
        )
        await query.answer(_("Nothing was changed."))
        if query.message is not None:
            await query.message.answer(text)
        return
    _tell_group(decision, i18n, notifier)
    for closing in decision.closings:
        announce(
            bot,
            i18n,
            closing,
            clock(),
            notifier=notifier,
            after_commit=after_commit,
            settings=settings,
            refunder=refunder,
        )
    done = _(DONE[decision.action]).format(
        group=group_name(decision.community.title, decision.community.id),
        count=len(decision.closings),
    )
    await query.answer(_("Done."))
    if query.message is None:
        return
    if callback_data.card and isinstance(query.message, Message):
        try:  # the review card shows the decision instead of its buttons
            await query.message.edit_text(query.message.html_text + "\n\n" + done)
            return
        except TelegramAPIError as exc:
            log.info("review card not updated: %s", exc)
    await query.message.answer(done)


def _tell_group(decision: Decision, i18n: I18n, notifier: BackgroundSender) -> None:
    """The group hears the decision in its language, once the decision committed."""
    community = decision.community
    notifier.send(community.id, i18n.gettext(GROUP_TOLD[decision.action], locale=community.locale))
