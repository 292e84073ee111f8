"""An order's Telegram invoice, as the member reads it (the order router, the group-buy router
and the closing job send it)."""

from __future__ import annotations

from aiogram.methods import SendInvoice
from aiogram.types import LabeledPrice, OrderInfo
from aiogram.utils.i18n import get_i18n
from aiogram.utils.i18n import gettext as _

from handlers.views.product import photo_url
from handlers.views.text import HandlerSettings, default_locale, shorten, utf16_length
from models.order import DELIVERY_SHIP
from services.ledger import STARS
from services.order import OrderView
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
