"""Pickup from the leader's private sheet: /sheet, its marking buttons, its pages, and
"Remind unpaid" (pickup points, their keepers and pickup by code: handlers/pickup_points.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from functools import partial

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.types import (
    CallbackQuery,
    Message,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE, refusal_text
from handlers.views.order import Marking, order_error_text
from handlers.views.pickup import (
    NOT_YOURS,
    SheetAction,
    SheetCallback,
    clamp,
    may_run_it,
    sheet_keyboard,
    sheet_text,
    show_sheet,
)
from handlers.views.pickup_points import audited
from handlers.views.text import (
    BackgroundSender,
    CommitHook,
    HandlerSettings,
    esc,
    esc_name,
    format_money,
)
from models.product import PAYMENT_TELEGRAM
from services.member import MemberView
from services.order import OrderError
from services.pickup import (
    Reminded,
    Reminders,
    pickup_sheet,
    remind_unpaid,
    runs_pickups,
)
from services.pickup import sheet_order as find_sheet_order
from services.role import Role
from services.validation import number

router = Router(name="pickup")


@router.message(Command("sheet"), PRIVATE)
async def sheet_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    clock: Callable[[], datetime],
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
) -> None:
    """Shows the pickup sheet of a formed group-buy again: /sheet GROUPBUY_ID."""
    words = (command.args or "").split()
    gb_id = number(words[0]) if len(words) == 1 else None
    if gb_id is None:  # who may use /sheet at all: a leader of a group now, or staff
        allowed = await runs_pickups(session, member_id=member.id, owner_ids=settings.owner_ids)
        await audited(
            session, member, message.chat.id, "pickup.sheet", allowed, " ".join(words), now=clock()
        )
        await message.answer(
            _("Tell me which group-buy: /sheet ID, for example /sheet 4.")
            if allowed
            else refusal_text(Role.LEADER, private=message.chat.type == ChatType.PRIVATE)
        )
        return
    await show_sheet(message, session, settings, member, gb_id, locale, now=clock())


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
    if not await may_run_it(session, settings, member, gb_id, f"pickup.{action}"[:64], now=clock()):
        await query.answer(_(NOT_YOURS).format(id=gb_id), show_alert=True)
        return
    toast = None
    if action in (SheetAction.PAID, SheetAction.PICKED):
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
    elif action == SheetAction.REMIND:
        reminders = await remind_unpaid(session, groupbuy_id=gb_id, actor_id=member.id, now=clock())
        if reminders is None:
            await query.answer(_("There is no group-buy #{id}.").format(id=gb_id), show_alert=True)
            return
        for reminded in reminders.sent:
            # the product and pickup texts in the member's language, when given
            read = reminders.sheet.in_language(reminded.locale, i18n.default_locale)
            with i18n.use_locale(reminded.locale):
                text = reminder_text(
                    reminded,
                    read.title,
                    " · ".join(p for p in (read.pickup_point, read.pickup_time) if p),
                )
            notifier.send(reminded.member_id, text)
        notifier.send(member.id, reminders_summary(reminders))
    elif action == SheetAction.DONE:
        toast = _("Nothing to do for this order.")
    sheet = await pickup_sheet(session, gb_id)
    if sheet is None:
        await query.answer(_("There is no group-buy #{id}.").format(id=gb_id), show_alert=True)
        return
    after_commit.add(partial(query.answer, toast))
    if query.message is not None and action in (
        SheetAction.PAID,
        SheetAction.PICKED,
        SheetAction.PAGE,
    ):
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


# -- pickup points, keepers, pickup by code (核销) ------------------------------------------
