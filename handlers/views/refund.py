"""What members and staff are told about a Stars refund, in their own locale."""

from __future__ import annotations

from aiogram.utils.i18n import I18n

from handlers.views.text import N_, esc, format_money
from models.order import REFUND_BY_STAFF, REFUND_GROUPBUY, REFUND_MEMBERSHIP, REFUND_UNPAYABLE

# to the member once Telegram sent the Stars back, by why they went back
RETURNED = {
    REFUND_BY_STAFF: N_("Order #{order} was refunded: {amount}."),
    REFUND_UNPAYABLE: N_(
        "This order could no longer be paid, so your {amount} went straight back to you."
    ),
    REFUND_GROUPBUY: N_("Your prepayment of {amount} for order #{order} went back to you."),
    REFUND_MEMBERSHIP: N_("Your membership payment of {amount} went back to you."),
}
# to the member when Telegram refused for good and staff pay it back by hand
OWED = N_("Your {amount} for order #{order} will be refunded by our staff; they have been told.")
REFUND_DUE = N_(
    "Refund due: order #{order} of {member}, {amount}. The payment provider needs you to pay "
    "it back; the ledger already shows it as owed."
)


def returned_text(
    i18n: I18n, locale: str, *, reason: str, order_id: int | None, amount: int, currency: str
) -> str:
    """The member's notice that their Stars went back."""
    template = RETURNED.get(reason, RETURNED[REFUND_BY_STAFF])
    return i18n.gettext(template, locale=locale).format(
        order=order_id or 0, amount=format_money(amount, currency, locale)
    )


def owed_text(i18n: I18n, locale: str, *, order_id: int | None, amount: int, currency: str) -> str:
    """The member's notice that staff will pay the refund back by hand."""
    return i18n.gettext(OWED, locale=locale).format(
        order=order_id or 0, amount=format_money(amount, currency, locale)
    )


def refund_due_text(
    i18n: I18n, locale: str, *, order_id: int | None, member: str, amount: int, currency: str
) -> str:
    """The staff notice that a refund must be paid by hand."""
    return i18n.gettext(REFUND_DUE, locale=locale).format(
        order=order_id or 0, member=esc(member), amount=format_money(amount, currency, locale)
    )
