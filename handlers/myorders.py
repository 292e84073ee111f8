"""A member's own orders in private: /orders (and the /start menu's button) lists them a page at
a time, with the button each needs: Pay, Cancel, Review, the pickup code as a QR code, and the
choice of a pickup point when the group has several."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

from aiogram import Bot, F, Router
from aiogram.filters import Command
from aiogram.types import BufferedInputFile, CallbackQuery, Message
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import PRIVATE
from handlers.views.groupbuy_join import REFUSALS as GROUPBUY_REFUSALS
from handlers.views.myorders import (
    MyOrderAction,
    MyOrderCallback,
    orders_screen,
    point_line,
    points_keyboard,
    stars_keyboard,
)
from handlers.views.order import invoice
from handlers.views.perks import REVIEW_ERRORS, REVIEW_USAGE, photos_hint, points_text
from handlers.views.qrcode import qr_png
from handlers.views.reservation import cancel_error_text
from handlers.views.text import (
    N_,
    CardToucher,
    CommitHook,
    HandlerSettings,
    esc,
    esc_name,
    later,
    sentences,
)
from models.base import Clock
from models.order import ORDER_FULFILLED
from services.groupbuy import GroupBuyError, GroupBuyRefusal
from services.ledger import STARS
from services.loyalty import ReviewError, review_order
from services.member import MemberView
from services.myorders import KIND_ORDER, KIND_PLACE, cancel_mine, invoice_mine
from services.order import OrderError, OrderRefusal, OrderView, get_order
from services.pickup import PickupError, choose_point, get_point, offered_points

router = Router(name="myorders")


@router.message(Command("orders"), PRIVATE)
async def my_orders_command(
    message: Message,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    locale: str,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Shows the member their orders and group-buy places, newest first, with their buttons."""
    text, keyboard = await orders_screen(session, i18n, locale, member, settings, clock())
    await message.answer(text, reply_markup=keyboard)


@router.callback_query(
    MyOrderCallback.filter(F.action.in_({MyOrderAction.OPEN, MyOrderAction.PAGE}))
)
async def page_button(
    query: CallbackQuery,
    callback_data: MyOrderCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    locale: str,
    settings: HandlerSettings,
    clock: Clock,
) -> None:
    """Opens the list (from the /start menu) or turns its page (More, Back) in place."""
    offset = callback_data.value if callback_data.action == MyOrderAction.PAGE else 0
    text, keyboard = await orders_screen(session, i18n, locale, member, settings, clock(), offset)
    await query.answer()
    message = query.message
    if message is None:
        return
    if callback_data.action == MyOrderAction.OPEN:
        await bot.send_message(message.chat.id, text, reply_markup=keyboard)
        return
    await bot.edit_message_text(
        text=text,
        chat_id=message.chat.id,
        message_id=message.message_id,
        reply_markup=keyboard,
    )


# why the member's order cannot be paid now; the rest are a reservation's (cancel_error_text)
PAY_ERRORS: dict[str, str] = {
    OrderRefusal.NOT_YOURS: N_("That is not one of your orders."),
    OrderRefusal.NOT_OPEN: N_(
        "That order is not waiting for payment any more. Send /orders to see it now."
    ),
    OrderRefusal.OFFLINE_ORDER: N_("You pay this order to your leader at pickup."),
}


def refusal_text(exc: OrderError | GroupBuyError) -> str:
    """Why the member's order cannot be paid or cancelled now, in their words."""
    if isinstance(exc, GroupBuyError):
        return _(GROUPBUY_REFUSALS.get(exc.reason, GROUPBUY_REFUSALS[GroupBuyRefusal.CLOSED]))
    text = PAY_ERRORS.get(exc.reason)
    return _(text) if text else cancel_error_text(exc.reason)


async def _own_order(
    query: CallbackQuery, session: AsyncSession, member: MemberView, order_id: int
) -> OrderView | None:
    """The member's own order the button names; else None, the tap answered with why not."""
    order = await get_order(session, order_id)
    if order is None or order.member_id != member.id:
        await query.answer(_("That is not one of your orders."), show_alert=True)
        return None
    return order


def _edit_later(
    after_commit: CommitHook, query: CallbackQuery, edit: Callable[..., Any], **fields: Any
) -> None:
    """Once the update committed, edits the message tapped (`edit`: a Bot method taking chat_id
    and message_id) with `fields`; nothing when Telegram did not send the message."""
    message = query.message
    if message is not None:
        after_commit.add(
            partial(edit, chat_id=message.chat.id, message_id=message.message_id, **fields)
        )


@router.callback_query(MyOrderCallback.filter(F.action == MyOrderAction.PAY))
async def pay_button(
    query: CallbackQuery,
    callback_data: MyOrderCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    after_commit: CommitHook,
) -> None:
    """Sends a fresh invoice for the member's unpaid order (once the update committed)."""
    found = await get_order(session, callback_data.id)
    if (
        found is not None
        and found.member_id == member.id
        and found.currency != STARS
        and settings.provider_token is None
    ):
        await query.answer(
            _("Online payment is not available for this product right now."), show_alert=True
        )
        return
    try:
        order = await invoice_mine(session, order_id=callback_data.id, member_id=member.id)
    except OrderError as exc:
        await query.answer(refusal_text(exc), show_alert=True)
        return
    toast = _("Here is a new invoice for order #{id}; earlier ones no longer work.").format(
        id=order.id
    )
    after_commit.add(partial(query.answer, toast))
    # the invoice is rendered now, in the member's language, and sent once this committed
    after_commit.add(partial(bot, invoice(order, settings)))


@router.callback_query(
    MyOrderCallback.filter(F.action.in_({MyOrderAction.CANCEL, MyOrderAction.LEAVE}))
)
async def cancel_button(
    query: CallbackQuery,
    callback_data: MyOrderCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    locale: str,
    settings: HandlerSettings,
    cards: CardToucher,
    after_commit: CommitHook,
    clock: Clock,
) -> None:
    """Withdraws the member's own unpaid order or group-buy place, then shows the list again."""
    kind = KIND_PLACE if callback_data.action == MyOrderAction.LEAVE else KIND_ORDER
    now = clock()
    try:
        done = await cancel_mine(
            session, kind=kind, item_id=callback_data.id, member_id=member.id, now=now
        )
    except (OrderError, GroupBuyError) as exc:
        await query.answer(refusal_text(exc), show_alert=True)
        return
    toast = (
        _("You left group-buy #{id}.").format(id=callback_data.id)
        if done.order_id is None
        else _("Order #{id} cancelled; its stock is back on sale.").format(id=done.order_id)
    )
    after_commit.add(partial(query.answer, toast))
    if done.groupbuy_id is not None:
        after_commit.add(later(cards.touch, done.groupbuy_id))
    if query.message is not None:
        text, keyboard = await orders_screen(
            session, i18n, locale, member, settings, now, callback_data.value
        )
        _edit_later(after_commit, query, bot.edit_message_text, text=text, reply_markup=keyboard)


@router.callback_query(MyOrderCallback.filter(F.action == MyOrderAction.REVIEW))
async def review_button(
    query: CallbackQuery,
    callback_data: MyOrderCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
) -> None:
    """Asks for the stars of an order the member picked up (the same review as /review)."""
    order = await _own_order(query, session, member, callback_data.id)
    if order is None:
        return
    await query.answer()
    await bot.send_message(
        member.id,
        _(
            "How was order #{id}, {title}? Tap the stars. To add a few words, send "
            "/review {id} 5 and your words instead."
        ).format(id=order.id, title=esc_name(order.title)),
        reply_markup=stars_keyboard(order.id),
    )


@router.callback_query(MyOrderCallback.filter(F.action == MyOrderAction.RATE))
async def rate_button(
    query: CallbackQuery,
    callback_data: MyOrderCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    after_commit: CommitHook,
    clock: Clock,
) -> None:
    """Records the member's stars for the order, as /review does, and thanks them."""
    try:
        earned = await review_order(
            session,
            order_id=callback_data.id,
            member_id=member.id,
            rating=callback_data.value,
            comment="",
            points=settings.review_points,
            cap=settings.points_daily_caps.get("review"),
            now=clock(),
        )
    except ReviewError as exc:
        await query.answer(_(REVIEW_ERRORS.get(exc.reason, REVIEW_USAGE)), show_alert=True)
        return
    text = _("Thank you for your review!")
    if earned:
        earned_text = _("It earned you {points}.").format(points=points_text(earned, member.locale))
        text = sentences(text, earned_text)
    after_commit.add(partial(query.answer))
    text = sentences(text, photos_hint(settings, member.locale))
    after_commit.add(partial(bot.send_message, member.id, text))
    _edit_later(after_commit, query, bot.edit_message_reply_markup, reply_markup=None)


@router.callback_query(MyOrderCallback.filter(F.action == MyOrderAction.CODE))
async def code_button(
    query: CallbackQuery,
    callback_data: MyOrderCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    locale: str,
) -> None:
    """Sends the member the QR code of their order's pickup code, to show the keeper."""
    order = await _own_order(query, session, member, callback_data.id)
    if order is None:
        return
    if order.pickup_code is None or order.picked_up_at is not None:
        await query.answer(_("That order has no pickup code to show now."), show_alert=True)
        return
    caption = [
        _("Order #{id} {title} ×{quantity}").format(
            id=order.id, title=esc_name(order.title), quantity=order.quantity
        ),
        _("Pickup code: <code>{code}</code>").format(code=order.pickup_code),
    ]
    point = await get_point(session, order.pickup_point_id) if order.pickup_point_id else None
    if point is None:
        offered = await offered_points(session, order_id=order.id)
        point = offered[0] if len(offered) == 1 else None
    if point is not None:
        caption.append(point_line(i18n, locale, point.name, point.address))
    caption.append(_("Show this to the keeper at pickup, or tell them the code."))
    await query.answer()
    await bot.send_photo(
        member.id,
        BufferedInputFile(qr_png(order.pickup_code), filename=f"pickup_{order.id}.png"),
        caption="\n".join(caption),
    )


@router.callback_query(MyOrderCallback.filter(F.action == MyOrderAction.POINT))
async def point_button(
    query: CallbackQuery,
    callback_data: MyOrderCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    i18n: I18n,
    locale: str,
) -> None:
    """Lists the pickup points the member's order can be collected at, a button each."""
    order = await _own_order(query, session, member, callback_data.id)
    if order is None:
        return
    offered = await offered_points(session, order_id=order.id)
    if not offered:
        await query.answer(_("This order's group has no pickup points."), show_alert=True)
        return
    lines = [_("Where will you pick up order #{id}? Tap a point:").format(id=order.id)]
    for point in offered:
        line = "• " + point_line(i18n, locale, point.name, point.address)
        if point.hours:
            line += " · " + esc(point.hours)
        lines.append(line)
    await query.answer()
    await bot.send_message(
        member.id, "\n".join(lines), reply_markup=points_keyboard(order.id, offered)
    )


@router.callback_query(MyOrderCallback.filter(F.action == MyOrderAction.PICK))
async def pick_button(
    query: CallbackQuery,
    callback_data: MyOrderCallback,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    after_commit: CommitHook,
) -> None:
    """Records the pickup point the member tapped for their order."""
    try:
        point = await choose_point(
            session, order_id=callback_data.id, member_id=member.id, point_id=callback_data.value
        )
    except PickupError as exc:
        text = {
            "not_yours": _("That is not one of your orders."),
            "no_point": _("That pickup point is not offered for this order any more."),
        }.get(exc.reason, "")
        if not text:
            picked = exc.order is not None and exc.order.status == ORDER_FULFILLED
            text = (
                _("That order was picked up already; its point cannot change.")
                if picked
                else _("That order is no longer waiting for pickup.")
            )
        await query.answer(text, show_alert=True)
        return
    done = _("You will pick up order #{id} at {point}.").format(
        id=callback_data.id, point=esc_name(point.name)
    )
    after_commit.add(partial(query.answer))
    _edit_later(after_commit, query, bot.edit_message_text, text=done, reply_markup=None)
