"""Orders in chat: /buy, Telegram invoices and payments, the group's pickup list, refunds."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from functools import partial

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.filters.callback_data import CallbackData
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    CallbackQuery,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Message,
    PreCheckoutQuery,
    ReplyParameters,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from aiogram.utils.keyboard import InlineKeyboardBuilder
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import GROUP, PRIVATE, AsOneself, OpenGroup, RoleFilter
from handlers.views.delivery import ask_address, deliver_keyboard
from handlers.views.labels import ORDER_STATUS, label
from handlers.views.member import ambiguous_text
from handlers.views.order import (
    REFUND_BOOKED,
    CouponCallback,
    Marking,
    order_error_text,
    payment_rules,
    send_invoice,
    shipping_given,
    tell_paid,
)
from handlers.views.pickup import for_whom_text
from handlers.views.product import amount_error, choose_variant_text, find_variant
from handlers.views.refund import refund_due_text
from handlers.views.reservation import (
    cancel_keyboard,
    cap_text,
    held_until_text,
    local_moment,
    reservation_rules,
)
from handlers.views.text import (
    N_,
    BackgroundSender,
    CallbackId,
    CommitHook,
    HandlerSettings,
    RefundWaker,
    default_locale,
    esc,
    esc_name,
    format_money,
    later,
    sentences,
)
from models.order import (
    DELIVERY_SHIP,
    ORDER_AWAITING_PAYMENT,
    ORDER_PAID,
    ORDER_RESERVED,
    Order,
)
from models.product import FULFIL_BOTH, PAYMENT_TELEGRAM
from services.community import CommunityView
from services.coupons import CouponError, check_coupon, held_coupons
from services.ledger import STARS
from services.member import AmbiguousMember, MemberView, find_member, get_member
from services.money import InvalidAmount
from services.order import (
    OrderError,
    OrderRefusal,
    OrderView,
    check_pre_checkout,
    get_order,
    orders_of_member_in_chat,
    pickup_page,
    start_invoice,
)
from services.parsing import parse_amount
from services.payment import take_payment
from services.product import ProductView, VariantView, get_product
from services.refund import refund_now
from services.reservation import ReservationCapReached, recently_expired, reserve
from services.role import Role
from services.validation import number
from services.zones import member_zone

log = logging.getLogger(__name__)
router = Router(name="order")

# why an order could not be placed (/buy); a sell-out with units left names how many
PLACE_ERRORS: dict[str, str] = {
    OrderRefusal.OUT_OF_STOCK: N_("Sorry, it is sold out."),
    OrderRefusal.OVER_CEILING: N_("That order is above the allowed maximum amount."),
}
TOO_FEW_LEFT = N_("Sorry, only {left} left: order fewer.")
CANNOT_PLACE = N_("That order cannot be placed.")

# why Telegram may not take the money, as the member reads it in the payment window
PRE_CHECKOUT_REFUSALS = {
    "unknown_order": N_("I cannot find this order any more. Please order again."),
    "cancelled": N_("This order was cancelled, so it cannot be paid."),
    "already_paid": N_("This order is already paid."),
    "stale_invoice": N_("This invoice is out of date. Please use the newest one."),
    "price_changed": N_("The price has changed. Please order again."),
    "no_shipping": N_("Please choose one of our shipping options for this order."),
}


class OrderAction(StrEnum):
    PAID = "paid"
    PICKED = "picked"
    DONE = "done"  # nothing to do


class OrderCallback(CallbackData, prefix="ord"):
    """A button on the group's pickup list."""

    action: OrderAction
    order_id: CallbackId


class OrderPageCallback(CallbackData, prefix="ordp"):
    """A page button of the group's pickup list: go to `page`, from page `at` shown now."""

    page: int
    at: int


def order_line(order: OrderView, locale: str, i18n: I18n, name: str) -> str:
    status = label(ORDER_STATUS, order.status)
    return (
        f"#{order.id} {esc_name(name)} · {esc_name(order.title)} ×{order.quantity} · "
        f"{format_money(order.total, order.currency, locale)} · {status}"
        + for_whom_text(order.for_whom)
    )


@dataclass(frozen=True)
class _BuyRequest:
    """What /buy asked for: /buy ID [VARIANT] [QUANTITY]."""

    product_id: int
    quantity: int
    variant_name: str


@dataclass(frozen=True)
class _Buyer:
    """Who is buying, where, and what the replies need to know about them."""

    message: Message
    bot: Bot
    member: MemberView
    settings: HandlerSettings
    locale: str
    i18n: I18n
    state: FSMContext
    zone: str  # the reply's clock: the group's, else the member's, else the default
    reader: str  # the zone the member reads in (named when it differs from `zone`)


@router.message(Command("buy"), AsOneself(), OpenGroup())
async def buy(
    message: Message,
    command: CommandObject,
    bot: Bot,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    clock: Callable[[], datetime],
    i18n: I18n,
    state: FSMContext,
    community: CommunityView | None = None,
) -> None:
    """Orders a product: /buy ID [VARIANT] [QUANTITY]; Telegram-paid products get an invoice
    in private, pay-at-pickup ones are held until a deadline."""
    request = _parse_buy(command.args)
    if isinstance(request, str):
        await message.reply(request)
        return
    product = await get_product(session, request.product_id)
    if product is None or not product.active:
        await message.reply(
            _("There is no product #{id}. Send /products to see them.").format(
                id=request.product_id
            )
        )
        return
    variant = find_variant(product, request.variant_name)
    refusal = _cannot_buy(product, variant, request.variant_name, member, settings, locale)
    if refusal is not None:
        await message.reply(refusal)
        return
    online = product.payment_mode == PAYMENT_TELEGRAM
    # a reply in a group is on the group's clock, named when the member reads another zone
    group = community.timezone if community else None
    buyer = _Buyer(
        message=message,
        bot=bot,
        member=member,
        settings=settings,
        locale=locale,
        i18n=i18n,
        state=state,
        zone=(group or member.timezone) or settings.default_timezone,
        reader=member_zone(member.timezone, group, settings.default_timezone),
    )
    order = await _reserve(buyer, session, request, variant, clock())
    if order is None:
        return
    total = format_money(order.total, order.currency, locale)
    offer = await coupon_offer(session, order, locale, clock())
    if order.delivery == DELIVERY_SHIP and (not online or order.currency == STARS):
        # Telegram asks no address for Stars: the bot asks it in private, then invoices
        await _reply_to_ship(buyer, order, total)
        return
    both = product.fulfilment == FULFIL_BOTH  # the member may choose delivery instead
    if both and not online:
        choice = deliver_keyboard(order.id)
        for row in offer.inline_keyboard if offer is not None else []:
            choice.row(*row)
        offer = choice.as_markup()
    discount = (
        " "
        + _("Your tier discount: −{amount}.").format(
            amount=format_money(order.discount, order.currency, locale)
        )
        if order.discount
        else ""
    )
    if not online:
        await _reply_held(buyer, order, total, discount, offer)
        return
    await _invoice(buyer, session, order, discount, offer, both=both)


def _parse_buy(args: str | None) -> _BuyRequest | str:
    """/buy's words as a request, or the reply that says what is wrong with them."""
    words = (args or "").split()
    product_id = number(words[0]) if words else None
    if product_id is None:
        return _("Tell me what to order: /buy ID QUANTITY, for example /buy 3 2.")
    # /buy ID [VARIANT] [QUANTITY]: the variant's name may hold spaces, the quantity is last
    rest = words[1:]
    quantity: int | None = 1
    if rest and number(rest[-1], prefix="") is not None:
        quantity = number(rest.pop(), prefix="")
    variant_name = " ".join(rest)
    if quantity is None or not 1 <= quantity <= 999:
        return _("The quantity must be a whole number from 1 to 999.")
    return _BuyRequest(product_id=product_id, quantity=quantity, variant_name=variant_name)


def _cannot_buy(
    product: ProductView,
    variant: VariantView | None,
    variant_name: str,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
) -> str | None:
    """Why this product cannot be ordered this way now, or None when it can."""
    if variant_name and not product.variants:
        return _("The quantity must be a whole number from 1 to 999.")
    if product.variants and variant is None:
        return choose_variant_text(product, variant_name, locale)
    online = product.payment_mode == PAYMENT_TELEGRAM
    if online and product.currency != STARS and settings.provider_token is None:
        return _("Online payment is not available for this product right now.")
    if online and not member.started:
        return _(
            "Please open a private chat with me first (send me /start), so "
            "I can send you the invoice."
        )
    return None


async def _reserve(
    buyer: _Buyer,
    session: AsyncSession,
    request: _BuyRequest,
    variant: VariantView | None,
    now: datetime,
) -> OrderView | None:
    """Hold the units for the member; None once the refusal is replied."""
    message, settings, locale = buyer.message, buyer.settings, buyer.locale
    try:
        return await reserve(
            session,
            member_id=buyer.member.id,
            chat_id=message.chat.id,
            product_id=request.product_id,
            quantity=request.quantity,
            max_total=settings.max_order_amount,
            rules=reservation_rules(settings),
            now=now,
            variant_id=variant.id if variant is not None else None,
        )
    except ReservationCapReached as exc:
        await message.reply(
            cap_text(buyer.i18n, locale, exc.held, buyer.zone, buyer.reader),
            reply_markup=cancel_keyboard(buyer.i18n, locale, exc.held),
        )
        return None
    except OrderError as exc:
        if exc.reason == OrderRefusal.OUT_OF_STOCK and exc.detail not in ("", "0"):
            text = _(TOO_FEW_LEFT).format(left=exc.detail)
        else:
            text = _(PLACE_ERRORS.get(exc.reason, CANNOT_PLACE))
        await message.reply(text)
        return None


async def _reply_to_ship(buyer: _Buyer, order: OrderView, total: str) -> None:
    """A reserved order to deliver: the address is asked in private (or how to give it)."""
    member = buyer.member
    await buyer.message.reply(
        _("Order #{id} reserved: {title} ×{quantity}, {total}.").format(
            id=order.id, title=esc(order.title), quantity=order.quantity, total=total
        )
        + " "
        + (
            _("I will ask your delivery address in private.")
            if member.started
            else _("Send me /start in private, then /address {id} for the delivery.").format(
                id=order.id
            )
        )
    )
    if member.started:
        await ask_address(buyer.bot, buyer.state, member, order.id, buyer.i18n)


async def _reply_held(
    buyer: _Buyer,
    order: OrderView,
    total: str,
    discount: str,
    offer: InlineKeyboardMarkup | None,
) -> None:
    """A reserved pay-at-pickup order: what it costs and until when it is held."""
    locale, settings = buyer.locale, buyer.settings
    held = held_until_text(buyer.i18n, locale, order, buyer.zone, buyer.reader)
    if held and settings.reservation_reminder_hours and not buyer.member.started:
        held = sentences(held, _("Send me /start in private, and I will remind you before then."))
    await buyer.message.reply(
        _("Order #{id} reserved: {title} ×{quantity}, {total}. Pay your leader at pickup.").format(
            id=order.id,
            title=esc_name(order.in_language(locale, default_locale()).title),
            quantity=order.quantity,
            total=total,
        )
        + discount
        + ("\n" + held if held else ""),
        reply_markup=offer,
    )


async def _invoice(
    buyer: _Buyer,
    session: AsyncSession,
    order: OrderView,
    discount: str,
    offer: InlineKeyboardMarkup | None,
    *,
    both: bool,
) -> None:
    """A reserved order paid in Telegram: the invoice in private, then the coupons and the
    delivery choice it may use."""
    bot, member, i18n, message = buyer.bot, buyer.member, buyer.i18n, buyer.message
    order = await start_invoice(session, order_id=order.id, member_id=member.id)
    with i18n.use_locale(member.locale):  # the invoice goes to the member's private chat
        await send_invoice(bot, order, buyer.settings)
    if message.chat.type != ChatType.PRIVATE:
        await message.reply(
            _("Order #{id} reserved. I sent you the invoice in private.").format(id=order.id)
            + discount
        )
    if offer is not None:
        await bot.send_message(
            member.id,
            _("You have coupons for order #{id}. Tap one to use it; a new invoice follows.").format(
                id=order.id
            ),
            reply_markup=offer,
        )
    if both:
        with i18n.use_locale(member.locale):
            await bot.send_message(
                member.id,
                _("Rather have order #{id} delivered? Tap below; a new invoice follows.").format(
                    id=order.id
                ),
                reply_markup=deliver_keyboard(order.id).as_markup(),
            )


async def coupon_offer(
    session: AsyncSession, order: OrderView, locale: str, now: datetime
) -> InlineKeyboardMarkup | None:
    """Buttons for the member's coupons that this order can use, best saving first."""
    row = await session.get(Order, order.id)
    assert row is not None
    usable = []
    for coupon in await held_coupons(session, order.member_id, now):
        try:
            off = await check_coupon(
                session, coupon=coupon, order=row, member_id=order.member_id, now=now
            )
        except CouponError:
            continue
        usable.append((off, coupon))
    if not usable:
        return None
    builder = InlineKeyboardBuilder()
    seen = set()
    for off, coupon in sorted(usable, key=lambda pair: -pair[0]):
        if coupon.template.code in seen:
            continue
        seen.add(coupon.template.code)
        builder.button(
            text=_("🎟 Use {code} (−{amount})").format(
                code=coupon.template.code, amount=format_money(off, order.currency, locale)
            ),
            callback_data=CouponCallback(coupon_id=coupon.id, order_id=order.id),
        )
    builder.adjust(1)
    return builder.as_markup()


@router.pre_checkout_query()
async def pre_checkout(
    query: PreCheckoutQuery, session: AsyncSession, i18n: I18n, member: MemberView
) -> None:
    """Lets Telegram take the money only for a valid, unchanged, unpaid order."""
    reason = await check_pre_checkout(
        session,
        payload=query.invoice_payload,
        member_id=query.from_user.id,
        currency=query.currency,
        total_amount=query.total_amount,
        shipping=shipping_given(query.shipping_option_id, query.order_info),
    )
    if reason is None:
        await query.answer(ok=True)
        return
    refusal = PRE_CHECKOUT_REFUSALS.get(reason, PRE_CHECKOUT_REFUSALS["unknown_order"])
    await query.answer(ok=False, error_message=i18n.gettext(refusal, locale=member.locale))


@router.message(F.successful_payment)
async def successful_payment(
    message: Message,
    bot: Bot,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    notifier: BackgroundSender,
    refunder: RefundWaker,
    after_commit: CommitHook,
    clock: Callable[[], datetime],
) -> None:
    """Settles the order once per charge; money that cannot settle anything goes back.

    Everything the payment causes (the order paid, its points, tier and referral reward, or
    the refund it is owed) commits before the member is told: a thank-you that Telegram fails
    to deliver never takes the payment back."""
    payment = message.successful_payment
    assert payment is not None
    taken = await take_payment(
        session,
        payload=payment.invoice_payload,
        member_id=member.id,
        currency=payment.currency,
        amount=payment.total_amount,
        charge_id=payment.telegram_payment_charge_id,
        provider_charge_id=payment.provider_payment_charge_id or "",
        shipping=shipping_given(payment.shipping_option_id, payment.order_info),
        rules=payment_rules(settings),
        now=clock(),
        owner_ids=settings.owner_ids,
        default_locale=settings.default_locale,
    )
    outcome = taken.payment
    if not outcome.created:
        log.info("payment %s was already recorded", outcome.charge_id)
        return
    money = format_money(outcome.amount, outcome.currency, locale)
    if taken.paid is not None:
        notifier.send(
            message.chat.id,
            _("Thank you! Order #{id} is paid: {amount}.").format(
                id=taken.paid.order.id, amount=money
            ),
        )
        tell_paid(notifier, i18n, taken.paid, bot)
        return
    if taken.star_refund:
        # the refunder sends the Stars back once this commits, and tells the member
        after_commit.add(later(refunder.wake))
        return
    # a provider payment: staff pay it back by hand
    notifier.send(
        message.chat.id,
        _(
            "This order could no longer be paid. Your {amount} will be refunded; our staff have "
            "been told."
        ).format(amount=money),
    )
    order_id = outcome.order.id if outcome.order else 0
    for staff in taken.staff:
        text = refund_due_text(
            i18n,
            staff.locale,
            order_id=order_id,
            member=member.display_name,
            amount=outcome.amount,
            currency=outcome.currency,
        )
        notifier.send(staff.id, text)


PICKUP_PAGE = 10  # orders per page of the group's list


def order_row_button(order: OrderView, name: str) -> InlineKeyboardButton:
    """The one button of an order's row: what the order needs next, naming the member and the
    order, so a tap never lands on a neighbour's order."""
    if order.status in (ORDER_RESERVED, ORDER_AWAITING_PAYMENT):
        if order.payment_mode == PAYMENT_TELEGRAM:  # the member pays it with the invoice
            text, action = _("⏳ Pays by invoice · {name} #{id}"), OrderAction.DONE
        else:
            text, action = _("✅ Paid · {name} #{id}"), OrderAction.PAID
    elif order.status == ORDER_PAID:
        text, action = _("📦 Picked up · {name} #{id}"), OrderAction.PICKED
    else:
        text, action = _("✔️ Done · {name} #{id}"), OrderAction.DONE
    return InlineKeyboardButton(
        text=text.format(name=name[:24], id=order.id),
        callback_data=OrderCallback(action=action, order_id=order.id).pack(),
    )


async def pickup_list(
    session: AsyncSession,
    i18n: I18n,
    community: CommunityView,
    page: int = 0,
    order_ids: list[int] | None = None,
) -> tuple[str, InlineKeyboardMarkup | None]:
    """A page of the group's pickup list: a line and a row of buttons per order.

    `order_ids`: the orders the page showed (after a tap), shown again in the same rows
    whatever happened to them meanwhile, so no button changes the order it names."""
    listing = await pickup_page(
        session, chat_id=community.id, offset=page * PICKUP_PAGE, limit=PICKUP_PAGE, ids=order_ids
    )
    pages = max(1, -(-listing.total // PICKUP_PAGE))
    if not listing.orders and page > 0 and not order_ids:  # fewer pages than when it was shown
        return await pickup_list(session, i18n, community, pages - 1)
    if not listing.orders:
        return _("No open orders in this group."), None
    page = min(page, pages - 1)
    lines = [_("<b>Orders in {title}</b>").format(title=esc_name(community.title))]
    if pages > 1:
        lines.append(
            _("Open orders: {count} · page {page} of {pages}").format(
                count=listing.total, page=page + 1, pages=pages
            )
        )
    builder = InlineKeyboardBuilder()
    for order in listing.orders:
        name = listing.names.get(order.member_id, str(order.member_id))
        lines.append(order_line(order, community.locale, i18n, name))
        builder.row(order_row_button(order, name))
    nav = []
    if page > 0:
        nav.append(
            InlineKeyboardButton(
                text=_("◀ Back"), callback_data=OrderPageCallback(page=page - 1, at=page).pack()
            )
        )
    if page + 1 < pages:
        nav.append(
            InlineKeyboardButton(
                text=_("More ▶ {page} of {pages}").format(page=page + 2, pages=pages),
                callback_data=OrderPageCallback(page=page + 1, at=page).pack(),
            )
        )
    if nav:
        builder.row(*nav)
    return "\n".join(lines), builder.as_markup()


def listed_orders(markup: InlineKeyboardMarkup | None) -> tuple[list[int], int]:
    """The orders a pickup list's message shows, in its rows' order, and its page (read from
    its buttons)."""
    found: list[int] = []
    page = 0
    for row in markup.inline_keyboard if markup else []:
        for button in row:
            data = button.callback_data or ""
            if data.startswith(OrderCallback.__prefix__ + ":"):
                order_id = OrderCallback.unpack(data).order_id
                if order_id not in found:
                    found.append(order_id)
            elif data.startswith(OrderPageCallback.__prefix__ + ":"):
                page = OrderPageCallback.unpack(data).at
    return found, page


@router.message(Command("orders"), GROUP, RoleFilter(Role.LEADER, "order.list"))
async def orders_command(
    message: Message, session: AsyncSession, i18n: I18n, community: CommunityView
) -> None:
    """Shows the group's open orders with buttons to mark them paid and picked up."""
    text, keyboard = await pickup_list(session, i18n, community)
    await message.answer(text, reply_markup=keyboard)


@router.callback_query(
    OrderCallback.filter(),
    F.message.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}),
    OpenGroup(settling=True),
    RoleFilter(Role.LEADER, "order.mark"),
)
async def order_button(
    query: CallbackQuery,
    callback_data: OrderCallback,
    bot: Bot,
    session: AsyncSession,
    i18n: I18n,
    community: CommunityView,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    clock: Callable[[], datetime],
    after_commit: CommitHook,
) -> None:
    """Marks the order a button names paid or picked up, then edits the list in place with
    the same orders in the same rows.

    The toast and the list's edit are carried out after the commit, each on its own: one that
    Telegram fails is counted and never stops the other, nor the member's notice."""
    if callback_data.action not in (OrderAction.PAID, OrderAction.PICKED):
        await query.answer(_("Nothing to do for this order."))
        return
    order = await get_order(session, callback_data.order_id)
    if order is None or order.chat_id != community.id:
        await query.answer(_("There is no such order in this group."), show_alert=True)
        return
    marking = Marking(settings, notifier, i18n, clock(), bot, after_commit)
    try:
        await marking.mark_one(session, callback_data.action, order.id, query.from_user.id)
    except OrderError as exc:
        await query.answer(order_error_text(exc.reason, exc.detail), show_alert=True)
        return
    after_commit.add(partial(query.answer, _("Done.")))
    if isinstance(query.message, Message):
        shown, page = listed_orders(query.message.reply_markup)
        text, keyboard = await pickup_list(session, i18n, community, page, shown or None)
        after_commit.add(
            partial(
                bot.edit_message_text,
                text=text,
                chat_id=community.id,
                message_id=query.message.message_id,
                reply_markup=keyboard,
            )
        )


@router.callback_query(
    OrderPageCallback.filter(),
    F.message.chat.type.in_({ChatType.GROUP, ChatType.SUPERGROUP}),
    OpenGroup(settling=True),
    RoleFilter(Role.LEADER, "order.list"),
)
async def order_page(
    query: CallbackQuery,
    callback_data: OrderPageCallback,
    bot: Bot,
    session: AsyncSession,
    i18n: I18n,
    community: CommunityView,
    after_commit: CommitHook,
) -> None:
    """Turns the group's pickup list to another page, in place."""
    after_commit.add(partial(query.answer))
    if isinstance(query.message, Message):
        text, keyboard = await pickup_list(session, i18n, community, max(callback_data.page, 0))
        after_commit.add(
            partial(
                bot.edit_message_text,
                text=text,
                chat_id=community.id,
                message_id=query.message.message_id,
                reply_markup=keyboard,
            )
        )


async def _mark_member(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    community: CommunityView,
    action: str,
    marking: Marking,
) -> MemberView | None:
    """Marks the member's orders here; the member, or None when nothing was marked. The
    leader's confirmation follows the commit through the notifier, so a passing failure of
    Telegram delays it instead of losing it."""
    target = await _whose_orders(message, command, session)
    if target is None:
        return None
    actor = message.from_user.id if message.from_user else 0
    if target.id == actor:
        await message.reply(order_error_text("own_order" if action == "paid" else "own_pickup"))
        return None
    statuses = (ORDER_RESERVED, ORDER_AWAITING_PAYMENT) if action == "paid" else (ORDER_PAID,)
    orders = await orders_of_member_in_chat(
        session, chat_id=community.id, member_id=target.id, statuses=statuses
    )
    if action == "paid":  # Telegram orders are paid with their invoice, never by hand
        orders = [order for order in orders if order.payment_mode != PAYMENT_TELEGRAM]
    if not orders:
        await _reply_nothing_to_mark(message, session, community, target, action, marking.now)
        return None
    done: list[OrderView] = []
    for order in orders:
        try:
            done.append(await marking.mark(session, action, order.id, actor))
        except OrderError as exc:  # a limit on the leader: what was marked before it stays
            await message.reply(order_error_text(exc.reason, exc.detail))
            if not done:
                return None
            break
    if action == "picked":
        await marking.picked_up(session, target, done)
    ids = ", ".join(f"#{order.id}" for order in done)
    text = (
        _("Marked paid for {name}: {orders}.")
        if action == "paid"
        else _("Marked picked up for {name}: {orders}.")
    )
    marking.notifier.send(
        message.chat.id,
        text.format(name=esc(target.display_name), orders=ids),
        reply_parameters=ReplyParameters(
            message_id=message.message_id, allow_sending_without_reply=True
        ),
    )
    return target


async def _whose_orders(
    message: Message, command: CommandObject, session: AsyncSession
) -> MemberView | None:
    """The member named after the command or replied to; None once the refusal is replied."""
    reference = (command.args or "").split()
    reply = message.reply_to_message
    target = None
    if reference:
        try:
            target = await find_member(session, reference[0])
        except AmbiguousMember as exc:
            await message.reply(ambiguous_text(exc))
            return None
    elif reply is not None and reply.from_user is not None:
        target = await get_member(session, reply.from_user.id)
    if target is None:
        await message.reply(
            _("Tell me whose orders: /{command} @username, or reply to their message.").format(
                command=command.command
            )
        )
        return None
    return target


async def _reply_nothing_to_mark(
    message: Message,
    session: AsyncSession,
    community: CommunityView,
    target: MemberView,
    action: str,
    now: datetime,
) -> None:
    """Nothing of the member's waits for that mark: say so, naming a reservation that expired
    unpaid (its stock went back on sale) when there is one."""
    expired = (
        await recently_expired(session, chat_id=community.id, member_id=target.id, now=now)
        if action == "paid"
        else []
    )
    if expired and expired[0].expires_at is not None:
        await message.reply(
            _(
                "{name}'s reservation #{id} expired unpaid at {time}, and its stock went "
                "back on sale. If they pay now, they order again with /buy and you mark the "
                "new order paid."
            ).format(
                name=esc(target.display_name),
                id=expired[0].id,
                time=local_moment(expired[0].expires_at, community.timezone),
            )
        )
        return
    await message.reply(
        _("{name} has no orders here waiting for that.").format(name=esc(target.display_name))
    )


@router.message(
    Command("paid"), GROUP, OpenGroup(settling=True), RoleFilter(Role.LEADER, "order.mark")
)
async def paid_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    community: CommunityView,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    i18n: I18n,
    clock: Callable[[], datetime],
    bot: Bot,
    after_commit: CommitHook,
) -> None:
    """Marks every unpaid order of a member in this group as paid (offline payment)."""
    marking = Marking(settings, notifier, i18n, clock(), bot, after_commit)
    await _mark_member(message, command, session, community, "paid", marking)


@router.message(
    Command("pickedup"), GROUP, OpenGroup(settling=True), RoleFilter(Role.LEADER, "order.mark")
)
async def pickedup_command(
    message: Message,
    command: CommandObject,
    session: AsyncSession,
    community: CommunityView,
    settings: HandlerSettings,
    notifier: BackgroundSender,
    i18n: I18n,
    clock: Callable[[], datetime],
    bot: Bot,
    after_commit: CommitHook,
) -> None:
    """Marks every paid order of a member in this group as picked up."""
    marking = Marking(settings, notifier, i18n, clock(), bot, after_commit)
    await _mark_member(message, command, session, community, "picked", marking)


@router.message(Command("refund"), PRIVATE, RoleFilter(Role.STAFF, "order.refund"))
async def refund_command(
    message: Message,
    command: CommandObject,
    i18n: I18n,
    session: AsyncSession,
    member: MemberView,
    settings: HandlerSettings,
    locale: str,
    notifier: BackgroundSender,
    refunder: RefundWaker,
    after_commit: CommitHook,
    clock: Callable[[], datetime],
) -> None:
    """Refunds an order fully, or partly with an amount: /refund ID [AMOUNT]."""
    words = (command.args or "").split()
    order_id = number(words[0]) if 1 <= len(words) <= 2 else None
    if order_id is None:
        await message.answer(
            _(
                "Send /refund ORDER_ID for a full refund, or /refund ORDER_ID "
                "AMOUNT for part of it, for example /refund 12 10.50."
            )
        )
        return
    order = await get_order(session, order_id)
    if order is None:
        await message.answer(_("There is no such order."))
        return
    amount = None
    if len(words) == 2:
        try:
            amount = parse_amount(
                words[1], order.currency, locale=locale, ceiling=settings.max_order_amount
            )
        except InvalidAmount as exc:
            await message.answer(amount_error(exc.reason))
            return
    try:
        outcome = await refund_now(
            session,
            order_id=order.id,
            actor_id=member.id,
            amount=amount,
            tier_currency=settings.tier_measure,
            now=clock(),
        )
    except OrderError as exc:
        await message.answer(order_error_text(exc.reason))
        return
    money = format_money(outcome.amount, order.currency, locale)
    if outcome.star_charge_id is not None:
        # the refunder sends the Stars back once this commits, and tells the member
        after_commit.add(later(refunder.wake))
        await message.answer(
            _(
                "Refund of {amount} for order #{id} booked; Telegram is sending the Stars back "
                "to the member now."
            ).format(amount=money, id=order.id)
        )
        return
    buyer = await get_member(session, order.member_id)
    if buyer is not None and buyer.started:
        # the money goes back by hand: the member hears again once it has (/refund_paid)
        text = i18n.gettext(REFUND_BOOKED, locale=buyer.locale).format(
            order=order.id, amount=format_money(outcome.amount, order.currency, buyer.locale)
        )
        notifier.send(buyer.id, text)
    await message.answer(
        _(
            "Refund of {amount} for order #{id} booked; the ledger shows it as owed to the "
            "member. Once they have their money back, send /refund_paid {id}. The group's "
            "leader may pay it from the cash they hold and send /refund_paid {id} in the group."
        ).format(amount=money, id=order.id)
    )
