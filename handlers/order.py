"""Orders in chat: /buy, Telegram invoices and payments (the leaders' pickup list and refunds:
handlers/order_admin.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime

from aiogram import Bot, F, Router
from aiogram.enums import ChatType
from aiogram.filters import Command, CommandObject
from aiogram.fsm.context import FSMContext
from aiogram.types import (
    InlineKeyboardMarkup,
    Message,
    PreCheckoutQuery,
)
from aiogram.utils.i18n import I18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.filters import AsOneself, OpenGroup
from handlers.views.delivery import ask_address, deliver_keyboard
from handlers.views.keyboard import InlineKeyboardBuilder
from handlers.views.order import (
    CouponCallback,
    payment_rules,
    send_invoice,
    shipping_given,
    tell_paid,
)
from handlers.views.product import choose_variant_text, find_variant
from handlers.views.refund import refund_due_text
from handlers.views.reservation import (
    cancel_keyboard,
    cap_text,
    held_until_text,
    reservation_rules,
)
from handlers.views.text import (
    N_,
    BackgroundSender,
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
    Order,
)
from models.product import FULFIL_BOTH, PAYMENT_TELEGRAM
from services.community import CommunityView
from services.coupons import CouponError, check_coupon, held_coupons
from services.ledger import STARS
from services.member import MemberView
from services.order import (
    OrderError,
    OrderRefusal,
    OrderView,
    check_pre_checkout,
    start_invoice,
)
from services.payment import take_payment
from services.product import ProductView, VariantView, get_product
from services.reservation import ReservationCapReached, reserve
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
