"""Waitlists: the sold-out card's "Notify me" button, leaving the line, and accepting an
offer of freed units in private (the offers themselves come from bot/waitlist.py)."""

from __future__ import annotations

import logging

from aiogram import Bot, F, Router
from aiogram.exceptions import TelegramAPIError
from aiogram.types import CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.groupbuy_join import REFUSALS, prepay, refusal_text
from handlers.views.jielong import lines_text
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.myorders import pay_keyboard
from handlers.views.text import (
    N_,
    BackgroundSender,
    CardToucher,
    CommitHook,
    HandlerSettings,
    default_locale,
    esc_name,
    format_money,
    later,
)
from handlers.views.waitlist import LEAVE, WaitlistAction, WaitlistCallback, item_title
from models.base import Clock
from models.product import PAYMENT_TELEGRAM
from services.groupbuy import GroupBuyError
from services.member import MemberView
from services.waitlist import (
    WaitlistError,
    WaitlistRefusal,
    accept_offer,
    join_waitlist,
    leave_waitlist,
)

log = logging.getLogger(__name__)
router = Router(name="waitlist")

WAITLIST_REFUSALS: dict[str, str] = {
    WaitlistRefusal.CLOSED: REFUSALS["closed"],
    WaitlistRefusal.NOT_SOLD_OUT: N_("It is not sold out: join it with the buttons on its card."),
    WaitlistRefusal.NOT_WAITING: N_("You are not on this waitlist."),
    WaitlistRefusal.NOT_YOURS: N_("This offer is not yours."),
    WaitlistRefusal.LAPSED: N_(
        "Sorry, this offer lapsed and passed to the next member waiting: nothing was booked. "
        "Join the waitlist again from the card if you still want it."
    ),
    WaitlistRefusal.BOOKED: N_("You already accepted this offer."),
    WaitlistRefusal.CHOOSE_VARIANT: N_(
        "Tap the 🔔 button of the sold-out item you want on the card."
    ),
}


def waitlist_refusal(exc: WaitlistError) -> str:
    return _(WAITLIST_REFUSALS.get(exc.reason, WAITLIST_REFUSALS[WaitlistRefusal.CLOSED]))


@router.callback_query(WaitlistCallback.filter(F.action == WaitlistAction.WAIT))
async def wait_button(
    query: CallbackQuery,
    callback_data: WaitlistCallback,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    notifier: BackgroundSender,
    after_commit: CommitHook,
) -> None:
    """Puts the member on a sold-out group-buy's waitlist; a popup says their place."""
    with i18n.use_locale(member.locale):  # a popup is the member's alone
        if not member.started:
            first = _(
                "Start a private chat with me first, so that I can write to you when units "
                "are freed; then tap again."
            )
            await query.answer(first, show_alert=True)
            return
        chat_id = query.message.chat.id if query.message else member.id
        try:
            place = await join_waitlist(
                session,
                groupbuy_id=callback_data.groupbuy_id,
                member_id=member.id,
                chat_id=chat_id,
                now=clock(),
                variant_id=callback_data.variant_id or None,
            )
        except WaitlistError as exc:
            await query.answer(waitlist_refusal(exc), show_alert=True)
            return
        text = _(
            "You are #{position} on the waitlist. When units are freed I offer them in private, "
            "in turn."
        ).format(position=place)
        leave = WaitlistCallback(
            action=WaitlistAction.LEAVE,
            groupbuy_id=callback_data.groupbuy_id,
            variant_id=callback_data.variant_id,
        )
        builder = InlineKeyboardBuilder()
        builder.button(text=_(LEAVE), callback_data=leave)
        notifier.send(member.id, text, reply_markup=builder.as_markup())
    after_commit.add(lambda: query.answer(text, show_alert=True))


@router.callback_query(WaitlistCallback.filter(F.action == WaitlistAction.LEAVE))
async def leave_button(
    query: CallbackQuery,
    callback_data: WaitlistCallback,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    after_commit: CommitHook,
) -> None:
    """Takes the member off the waitlist."""
    with i18n.use_locale(member.locale):
        try:
            await leave_waitlist(
                session,
                groupbuy_id=callback_data.groupbuy_id,
                member_id=member.id,
                now=clock(),
                variant_id=callback_data.variant_id or None,
            )
        except WaitlistError as exc:
            refused = waitlist_refusal(exc)
            await query.answer(refused, show_alert=True)
            if exc.reason == WaitlistRefusal.NOT_WAITING:  # it ended, or was left before
                await _settle(query, refused)
            return
        left = _("You left the waitlist.")

    async def told() -> None:
        await query.answer(left, show_alert=True)
        await _settle(query, left)

    after_commit.add(told)


async def _settle(query: CallbackQuery, outcome: str) -> None:
    """Once the member is off the line, the message they tapped says so instead of their old
    place (or an offer), without its buttons: an old message no longer offers what does not
    apply."""
    if not isinstance(query.message, Message):
        return
    try:
        await query.message.edit_text(outcome)  # no reply_markup: the buttons go
    except TelegramAPIError as exc:  # too old to edit, or already settled
        log.info("waitlist message not settled: %s", exc)


@router.callback_query(WaitlistCallback.filter(F.action == WaitlistAction.ACCEPT))
async def accept_button(
    query: CallbackQuery,
    callback_data: WaitlistCallback,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    clock: Clock,
    cards: CardToucher,
    notifier: BackgroundSender,
    settings: HandlerSettings,
    after_commit: CommitHook,
) -> None:
    """Books the offered units as Join does; a lapsed offer books nothing and says so."""
    with i18n.use_locale(member.locale):
        try:
            accepted = await accept_offer(
                session,
                entry_id=callback_data.entry_id,
                offer_no=callback_data.offer_no,
                member_id=member.id,
                now=clock(),
            )
        except WaitlistError as exc:
            await query.answer(waitlist_refusal(exc), show_alert=True)
            return
        except GroupBuyError as exc:
            await query.answer(refusal_text(exc), show_alert=True)
            return
        gb = accepted.groupbuy
        title = item_title(gb.in_language(member.locale, default_locale()).title, accepted.item)
        if accepted.taken:
            text = _(
                "Sorry, someone else booked those units first. You stay first on the "
                "waitlist for the next ones freed."
            )
        elif accepted.lines is not None:
            text = _("Your order in {title}: {lines}").format(
                title=esc_name(gb.in_language(member.locale, default_locale()).title),
                lines=lines_text(accepted.lines.lines, gb.currency, member.locale),
            )
            after_commit.add(later(cards.touch, gb.id))
        elif accepted.joined is not None:
            text = _("You joined {title}: quantity {quantity}, you are #{position}.").format(
                title=title,
                quantity=accepted.joined.quantity,
                position=accepted.joined.position,
            )
            after_commit.add(later(cards.touch, gb.id))
            if gb.payment_mode == PAYMENT_TELEGRAM:
                await prepay(bot, i18n, session, settings, member, gb.id, accepted.chat_id)
        else:
            order = accepted.order
            assert order is not None
            text = _("Booked for you: order #{id}, {title} ×{quantity}, {total}.").format(
                id=order.id,
                title=title,
                quantity=order.quantity,
                total=format_money(order.total, order.currency, member.locale),
            )
            if order.payment_mode == PAYMENT_TELEGRAM:
                notifier.send(
                    member.id,
                    _("Pay for it here:"),
                    reply_markup=pay_keyboard(i18n, member.locale, order.id),
                )
            else:
                text += " " + _("Pay your leader at pickup.")
        after_commit.add(lambda: query.answer())
        notifier.send(member.id, text)
