"""An order's Telegram invoice, as the member reads it (the order router, the group-buy router
and the closing job send it)."""

from __future__ import annotations

from aiogram.methods import SendInvoice
from aiogram.types import LabeledPrice
from aiogram.utils.i18n import gettext as _

from handlers.text import HandlerSettings
from services.ledger import STARS
from services.order import OrderView


def invoice(order: OrderView, settings: HandlerSettings) -> SendInvoice:
    """The invoice for an order, to the member's private chat, in the current locale."""
    token = "" if order.currency == STARS else (settings.provider_token or "")
    return SendInvoice(
        chat_id=order.member_id,
        title=order.title[:32],
        description=_("Order #{id}: {title} ×{quantity}").format(
            id=order.id, title=order.title[:200], quantity=order.quantity
        ),
        payload=order.invoice_payload,
        currency=order.currency,
        prices=[LabeledPrice(label=order.title[:32], amount=order.total)],
        provider_token=token,
    )
