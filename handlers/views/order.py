"""An order's Telegram invoice, as the member reads it (the order router, the group-buy router
and the closing job send it).
Also why an order action was refused, the paid notice (with its review invitation), the
coupon buttons at checkout, how staff mark an order and the amount of a part refund, shared
by the order, coupons, pickup, ticket and group-buy routers."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from aiogram import Bot
from aiogram.filters.callback_data import CallbackData
from aiogram.methods import SendInvoice
from aiogram.types import (
    LabeledPrice,
    Message,
    OrderInfo,
)
from aiogram.utils.i18n import I18n, get_i18n
from aiogram.utils.i18n import gettext as _
from sqlalchemy.ext.asyncio import AsyncSession

from handlers.views.levels import invite_to_buyers_group
from handlers.views.nps import ask_after_pickup
from handlers.views.payment import paid_notices
from handlers.views.perks import points_text
from handlers.views.product import amount_error, photo_url
from handlers.views.referral import rules_from
from handlers.views.text import (
    N_,
    BackgroundSender,
    CallbackId,
    CommitHook,
    HandlerSettings,
    default_locale,
    format_money,
    shorten,
    utf16_length,
)
from models.order import (
    DELIVERY_SHIP,
)
from models.trial import PAYMENT_TRIAL
from services.ledger import STARS
from services.member import MemberView, get_member
from services.order import (
    OrderRefusal,
    OrderView,
    mark_fulfilled,
)
from services.parsing import InvalidAmount, parse_amount
from services.payment import PaidOrder, PaymentRules, pay_order
from services.shipping import ShippingGiven

INVOICE_DESCRIPTION = 255  # characters Telegram takes in an invoice's description
MIN_DESCRIPTION = 24  # less room than this for the product's description: leave it out


def invoice(order: OrderView, settings: HandlerSettings) -> SendInvoice:
    """The invoice for an order, to the member's private chat, in the current locale: the
    order, the product's description where it fits, and its photo where the bot has a public
    address to serve it from."""
    order = order.in_language(get_i18n().current_locale, default_locale())
    token = "" if order.currency == STARS else (settings.provider_token or "")
    description = _("Order #{id}: {title} ×{quantity}").format(
        id=order.id, title=order.title[:200], quantity=order.quantity
    )
    room = INVOICE_DESCRIPTION - utf16_length(description) - 1
    if order.description.strip() and room >= MIN_DESCRIPTION:
        description += "\n" + shorten(order.description, room)
    photo = order.photo
    url = (
        photo_url(settings.public_dashboard_url, order.product_id, photo)
        if order.product_id is not None
        else None
    )
    shipped = order.delivery == DELIVERY_SHIP and order.currency != STARS
    return SendInvoice(
        chat_id=order.member_id,
        title=order.title[:32],
        description=description,
        payload=order.invoice_payload,
        currency=order.currency,
        prices=[LabeledPrice(label=order.title[:32], amount=order.total)],
        provider_token=token,
        photo_url=url,
        photo_width=photo.width if url and photo else None,
        photo_height=photo.height if url and photo else None,
        # a delivery order paid with a provider: Telegram asks the address and the bot answers
        # with the brand's options (Stars invoices ignore these: the bot asks in private)
        need_name=shipped or None,
        need_phone_number=shipped or None,
        need_shipping_address=shipped or None,
        is_flexible=shipped or None,
    )


def shipping_given(option_id: str | None, info: OrderInfo | None) -> ShippingGiven | None:
    """What a pre-checkout query or a payment says of the delivery: the option chosen and the
    address Telegram asked for (one line, country last), or None for a plain invoice."""
    if option_id is None and (info is None or info.shipping_address is None):
        return None
    address = info.shipping_address if info else None
    lines = (
        [
            address.street_line1,
            address.street_line2,
            address.city,
            address.state,
            address.post_code,
            address.country_code,
        ]
        if address
        else []
    )
    return ShippingGiven(
        option_id=option_id,
        name=(info.name or "") if info else "",
        phone=(info.phone_number or "") if info else "",
        address=", ".join(part.strip() for part in lines if part and part.strip()),
    )


# to the member when staff refund an order paid by hand: the money is owed until paid back
REFUND_BOOKED = N_(
    "Order #{order} was refunded: {amount}. Your leader or our staff will give you the money "
    "back, and I will tell you when they have."
)


async def send_invoice(bot: Bot, order: OrderView, settings: HandlerSettings) -> None:
    """Sends the Telegram invoice for an order to the member's private chat."""
    await bot(invoice(order, settings))


class CouponCallback(CallbackData, prefix="cp"):
    """A button offering one of the member's coupons for one of their unpaid orders."""

    coupon_id: CallbackId
    order_id: CallbackId


def payment_rules(settings: HandlerSettings) -> PaymentRules:
    """What a paid order earns, as configured."""
    return PaymentRules(
        points_per_unit=settings.points_per_unit,
        tier_currency=settings.tier_measure,
        referral=rules_from(settings),
    )


def tell_paid(notifier: BackgroundSender, i18n: I18n, paid: PaidOrder, bot: Bot) -> None:
    """Queue what a paid order causes to be told (sent once the update committed), and a first
    buyer's invitation to their buyers' group (its one-time link made after the commit)."""
    for chat_id, text in paid_notices(i18n, paid):
        notifier.send(chat_id, text)
    if paid.buyers_group is not None:
        invite_to_buyers_group(notifier, bot, i18n, paid.buyers_group)


def invite_review(
    notifier: BackgroundSender,
    i18n: I18n,
    settings: HandlerSettings,
    member: MemberView,
    order_ids: list[int],
) -> None:
    """Invite the member to review what they picked up (reviews earn points)."""
    if not member.started or not settings.review_points or not order_ids:
        return
    with i18n.use_locale(member.locale):
        notifier.send(
            member.id,
            _(
                "Enjoy! How was order #{id}? Review it with /review {id} 5 and a few words, "
                "and earn {points}."
            ).format(id=order_ids[0], points=points_text(settings.review_points, member.locale)),
        )


@dataclass(frozen=True, slots=True)
class Marking:
    """What marking orders needs besides the session: the rules, ways to tell, the time."""

    settings: HandlerSettings
    notifier: BackgroundSender
    i18n: I18n
    now: datetime
    bot: Bot
    after_commit: CommitHook

    async def mark(
        self, session: AsyncSession, action: str, order_id: int, actor_id: int
    ) -> OrderView:
        """One order paid (with all it earns, told once committed) or picked up (without
        what a pickup tells: see `picked_up`)."""
        if action == "paid":
            paid = await pay_order(
                session,
                order_id=order_id,
                actor_id=actor_id,
                rules=payment_rules(self.settings),
                now=self.now,
            )
            tell_paid(self.notifier, self.i18n, paid, self.bot)
            return paid.order
        return await mark_fulfilled(session, order_id=order_id, actor_id=actor_id, now=self.now)

    async def picked_up(
        self, session: AsyncSession, buyer: MemberView, orders: list[OrderView]
    ) -> None:
        """What a pickup tells, the same from a button, a sheet or /pickedup: the member is
        invited to review what they picked up, and asked how likely they would recommend us."""
        if not orders:
            return
        # a trial order is reported on through its trial, and earns no review points
        bought = [o.id for o in orders if o.payment_mode != PAYMENT_TRIAL]
        invite_review(self.notifier, self.i18n, self.settings, buyer, bought)
        await ask_after_pickup(
            self.bot,
            self.i18n,
            session,
            buyer.id,
            community_id=orders[0].chat_id,
            now=self.now,
            settings=self.settings,
            after_commit=self.after_commit,
        )

    async def mark_one(
        self, session: AsyncSession, action: str, order_id: int, actor_id: int
    ) -> OrderView:
        """One order marked as a button does it: paid, or picked up with what a pickup tells."""
        order = await self.mark(session, action, order_id, actor_id)
        if action == "picked":
            buyer = await get_member(session, order.member_id)
            if buyer is not None:
                await self.picked_up(session, buyer, [order])
        return order


# why an order cannot change so, as leaders and staff read it (order_error_text)
ORDER_ERRORS: dict[str, str] = {
    OrderRefusal.NOT_PAID: N_("That order is not paid yet."),
    OrderRefusal.ALREADY_PAID: N_("That order is already paid."),
    OrderRefusal.ALREADY_REFUNDED: N_("That order has already been refunded in full."),
    OrderRefusal.BAD_TRANSITION: N_("That order cannot change that way any more."),
    OrderRefusal.CHANGED_MEANWHILE: N_("Someone changed that order just now. Please look again."),
    OrderRefusal.NOT_FOUND: N_("There is no such order in this group."),
    OrderRefusal.REFUND_TOO_LARGE: N_("That is more than what is left to refund on this order."),
    OrderRefusal.PARTIAL_STARS_REFUND: N_("Telegram Stars payments can only be refunded in full."),
    OrderRefusal.BAD_AMOUNT: N_("The amount must be more than zero."),
    OrderRefusal.PAID_IN_TELEGRAM: N_(
        "That order is paid in Telegram, with the invoice the member got."
    ),
    OrderRefusal.EXPIRED: N_(
        "That reservation expired unpaid and its stock went back on sale. If the member pays "
        "now, they order again with /buy and you mark the new order paid."
    ),
    OrderRefusal.OWN_ORDER: N_(
        "You cannot mark your own order paid: another leader or staff must confirm the money."
    ),
    OrderRefusal.OWN_PICKUP: N_(
        "You cannot mark your own order picked up: another leader or staff must confirm it."
    ),
}


# the limit is named in it, formatted
OVER_CASH_LIMIT = N_(
    "This order is more than the brand's staff let you mark paid by hand: your limit is "
    "{limit} an order. Ask the brand's staff to collect and mark this one."
)


CANNOT_CHANGE = N_("That cannot be done with this order.")


def order_error_text(reason: str, detail: str = "") -> str:
    """What to tell about an order that cannot change so (`detail`: the refusal's detail)."""
    if reason == OrderRefusal.OVER_CASH_LIMIT:
        limit, _sep, currency = detail.partition(" ")
        return _(OVER_CASH_LIMIT).format(
            limit=format_money(int(limit or 0), currency, get_i18n().current_locale)
        )
    return _(ORDER_ERRORS.get(reason, CANNOT_CHANGE))


async def refund_part(
    message: Message, words: list[str], currency: str, *, locale: str, ceiling: int
) -> tuple[bool, int | None]:
    """The amount after the ID of /refund or /ticket_refund (None: refund what is left): `given`
    is False once the member was told why the amount is not one."""
    if len(words) != 2:
        return True, None
    try:
        return True, parse_amount(words[1], currency, locale=locale, ceiling=ceiling)
    except InvalidAmount as exc:
        await message.answer(amount_error(exc.reason))
        return False, None
