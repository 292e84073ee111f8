"""Pickup from the leader's private sheet: /sheet, its marking buttons, its pages, and
"Remind unpaid"."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import refusal_text
from handlers.order import Marking, order_error_text
from handlers.text import (
    N_,
    BackgroundSender,
    CommitHook,
    HandlerSettings,
    esc,
    esc_name,
    format_money,
)
from handlers.views.pickup import SheetCallback, clamp, sheet_keyboard, sheet_text
from models.groupbuy import GROUPBUY_FORMED
from models.product import PAYMENT_TELEGRAM
from services.audit import record_action
from services.member import MemberView
from services.order import OrderError
from services.pickup import (
    Reminded,
    Reminders,
    may_run_pickup,
    pickup_sheet,
    remind_unpaid,
    runs_pickups,
)
from services.pickup import sheet_order as find_sheet_order
from services.role import Role
from services.validation import number

router = Router(name="pickup")
PRIVATE = F.chat.type == ChatType.PRIVATE
NOT_YOURS = N_(
    "Only the leader who opened group-buy #{id}, or the brand's staff, can run its pickup."
)


async def _allowed(
    session: AsyncSession, settings: HandlerSettings, member: MemberView, gb_id: int, action: str
) -> bool:
    """Whether the member may run this group-buy's pickup; audited either way."""
    allowed = await may_run_pickup(
        session, groupbuy_id=gb_id, member_id=member.id, owner_ids=settings.owner_ids
    )
    await record_action(
        session,
        actor_id=member.id,
        chat_id=member.id,
        action=action,
        allowed=allowed,
        required_role=Role.LEADER.name.lower(),
        detail=f"group-buy #{gb_id}",
    )
    return allowed


@router.message(Command("sheet"), PRIVATE)
async def sheet_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
) -> None:
    """Shows the pickup sheet of a formed group-buy again: /sheet GROUPBUY_ID."""
    words = (command.args or "").split()
    gb_id = number(words[0]) if len(words) == 1 else None
    if gb_id is None:  # who may use /sheet at all: a leader of a group now, or staff
        allowed = await runs_pickups(session, member_id=member.id, owner_ids=settings.owner_ids)
        await record_action(
            session,
            actor_id=member.id,
            chat_id=message.chat.id,
            action="pickup.sheet",
            allowed=allowed,
            required_role=Role.LEADER.name.lower(),
            detail=" ".join(words)[:200],
        )
        await message.answer(
            _("Tell me which group-buy: /sheet ID, for example /sheet 4.")
            if allowed
            else refusal_text(Role.LEADER)
        )
        return
    await show_sheet(message, session, settings, member, gb_id, locale)


async def show_sheet(
    message: Message,
    session: AsyncSession,
    settings: HandlerSettings,
    member: MemberView,
    gb_id: int,
    locale: str,
) -> None:
    """Sends the first page of a formed group-buy's pickup sheet to its leader or staff (by
    /sheet, or by the group's "Open the pickup sheet" button); anyone else is refused."""
    if not await _allowed(session, settings, member, gb_id, "pickup.sheet"):
        await message.answer(_(NOT_YOURS).format(id=gb_id))
        return
    sheet = await pickup_sheet(session, gb_id)
    if sheet is None:
        await message.answer(_("There is no group-buy #{id}.").format(id=gb_id))
        return
    if sheet.status != GROUPBUY_FORMED:
        await message.answer(
            _("Group-buy #{id} has not formed, so there is nothing to pick up.").format(id=gb_id)
        )
        return
    await message.answer(sheet_text(sheet, 0, locale), reply_markup=sheet_keyboard(sheet, 0))


def reminder_text(reminded: Reminded, title: str, place: str) -> str:
    """The reminder a member gets in private, in the current locale."""
    locale = reminded.locale
    orders = ", ".join(
        f"#{order.id} ×{order.quantity} {format_money(order.total, order.currency, locale)}"
        for order in reminded.orders
    )
    by_invoice = all(order.payment_mode == PAYMENT_TELEGRAM for order in reminded.orders)
    text = (
        _(
            "A reminder from your leader: {title} is waiting for your payment ({orders}). Pay with "
            "the invoice I sent you."
        )
        if by_invoice
        else _(
            "A reminder from your leader: {title} is waiting for your payment ({orders}). "
            "Pay your leader at pickup."
        )
    ).format(title=esc_name(title), orders=orders)
    if place:
        text += "\n" + _("Pickup: {place}").format(place=esc(place))
    return text


def reminders_summary(reminders: Reminders) -> str:
    """What the leader reads after tapping "Remind unpaid"."""
    parts = [_("Reminders sent: {count}.").format(count=len(reminders.sent))]
    if reminders.already:
        parts.append(_("Reminded before, so not again: {count}.").format(count=reminders.already))
    if reminders.unreachable:
        parts.append(
            _(
                "Could not be reached (they never started a private chat with me): {count}, "
                "{names}."
            ).format(count=len(reminders.unreachable), names=", ".join(reminders.unreachable))
        )
    return "\n".join(parts)


@router.callback_query(SheetCallback.filter(), F.message.chat.type == ChatType.PRIVATE)
async def sheet_button(
    query: CallbackQuery,
    callback_data: SheetCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
    after_commit: CommitHook,
    locale: str,
) -> None:
    """Marks the order a sheet button names, turns the page or reminds the unpaid, then edits
    the sheet in place: the same orders stay on the same rows."""
    gb_id = callback_data.groupbuy_id
    action = callback_data.action
    if not await _allowed(session, settings, member, gb_id, f"pickup.{action}"[:64]):
        await query.answer(_(NOT_YOURS).format(id=gb_id), show_alert=True)
        return
    toast = None
    if action in ("paid", "picked"):
        order = await find_sheet_order(session, groupbuy_id=gb_id, order_id=callback_data.order_id)
        if order is None:
            await query.answer(_("There is no such order in this group-buy."), show_alert=True)
            return
        marking = Marking(settings, notifier, i18n, clock(), bot, after_commit)
        try:
            await marking.mark_one(session, action, order.id, member.id)
        except OrderError as exc:
            await query.answer(order_error_text(exc.reason, exc.detail), show_alert=True)
            return
        toast = _("Done.")
    elif action == "remind":
        reminders = await remind_unpaid(session, groupbuy_id=gb_id, actor_id=member.id)
        if reminders is None:
            await query.answer(_("There is no group-buy #{id}.").format(id=gb_id), show_alert=True)
            return
        for reminded in reminders.sent:
            with i18n.use_locale(reminded.locale):
                text = reminder_text(
                    reminded,
                    reminders.sheet.title,
                    " · ".join(
                        p for p in (reminders.sheet.pickup_point, reminders.sheet.pickup_time) if p
                    ),
                )
            notifier.send(reminded.member_id, text)
        notifier.send(member.id, reminders_summary(reminders))
    elif action == "done":
        toast = _("Nothing to do for this order.")
    sheet = await pickup_sheet(session, gb_id)
    if sheet is None:
        await query.answer(_("There is no group-buy #{id}.").format(id=gb_id), show_alert=True)
        return
    after_commit.add(partial(query.answer, toast))
    if query.message is not None and action in ("paid", "picked", "page"):
        page = clamp(sheet, callback_data.page)
        after_commit.add(
            partial(
                bot.edit_message_text,
                text=sheet_text(sheet, page, locale),
                chat_id=query.message.chat.id,
                message_id=query.message.message_id,
                reply_markup=sheet_keyboard(sheet, page),
            )
        )
