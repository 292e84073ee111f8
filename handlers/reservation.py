"""A member's pay-at-pickup reservations: /reservations lists them with their deadlines, and a
cancel button (under that list, the reminder, or the refusal of one too many) gives one up."""

from __future__ import annotations

from functools import partial

from aiogram import Bot, Router
from aiogram.filters import Command
from aiogram.types import CallbackQuery, InlineKeyboardMarkup, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import AsOneself
from handlers.views.reservation import (
    ReservationCallback,
    cancel_error_text,
    cancel_keyboard,
    reservation_line,
)
from handlers.views.text import CommitHook, HandlerSettings
from services.community import CommunityView
from services.member import MemberView
from services.order import OrderError
from services.reservation import cancel_reservation, open_reservations
from services.zones import member_zone

router = Router(name="reservation")


@router.message(Command("reservations"), AsOneself())
async def reservations_command(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    locale: str,
    settings: HandlerSettings,
    community: CommunityView | None = None,
) -> None:
    """Lists the member's open pay-at-pickup reservations, until when each is held, with a
    button to cancel each."""
    held = await open_reservations(session, member_id=member.id)
    if not held:
        await message.reply(_("You hold no reservations to pay at pickup."))
        return
    group = community.timezone if community else None
    zone = (group or member.timezone) or settings.default_timezone
    reader = member_zone(member.timezone, group, settings.default_timezone)
    lines = [_("Your reservations to pay at pickup:")]
    lines += [reservation_line(i18n, locale, order, zone, reader) for order in held]
    if settings.reservation_hours:
        lines.append(_("Pay your leader at pickup before the time shown, or it is released."))
    await message.reply("\n".join(lines), reply_markup=cancel_keyboard(i18n, locale, held))


def without_button(markup: InlineKeyboardMarkup | None, data: str) -> InlineKeyboardMarkup:
    """The keyboard less the button that carried `data`."""
    rows = [
        [button for button in row if button.callback_data != data]
        for row in (markup.inline_keyboard if markup is not None else [])
    ]
    return InlineKeyboardMarkup(inline_keyboard=[row for row in rows if row])


@router.callback_query(ReservationCallback.filter())
async def cancel_button(
    query: CallbackQuery,
    callback_data: ReservationCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    after_commit: CommitHook,
) -> None:
    """The member cancels one of their own reservations; its button goes away once done."""
    try:
        order = await cancel_reservation(
            session, order_id=callback_data.order_id, member_id=member.id
        )
    except OrderError as exc:
        await query.answer(cancel_error_text(exc.reason), show_alert=True)
        return
    after_commit.add(
        partial(
            query.answer,
            _("Reservation #{id} cancelled; its stock is back on sale.").format(id=order.id),
        )
    )
    message = query.message
    if isinstance(message, Message):
        after_commit.add(
            partial(
                bot.edit_message_reply_markup,
                chat_id=message.chat.id,
                message_id=message.message_id,
                reply_markup=without_button(message.reply_markup, query.data or ""),
            )
        )
