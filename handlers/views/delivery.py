"""How delivery reads: why a delivery action was refused, and what the member is told when
their order is shipped or delivered (in chat and from the dashboard alike)."""

from __future__ import annotations

from aiogram.utils.i18n import gettext as _

from handlers.text import N_, esc
from handlers.views.labels import Labels
from services.delivery import DeliveryError
from services.tables import SHIP_DELIVERED, SHIP_SHIPPED, SHIP_WAITING

# what to fix, by the reason services/delivery.py gives
DELIVERY_REFUSALS = {
    "not_found": N_("There is no such order of yours for delivery."),
    "not_yours": N_("That order is not yours."),
    "pickup_only": N_("This product is picked up only; it cannot be delivered."),
    "pickup_order": N_("Order #{detail} is picked up, not delivered."),
    "not_open": N_("This order is closed, so its delivery cannot change."),
    "not_paid": N_("Order #{detail} is not paid yet: it is shipped once paid."),
    "already_shipped": N_("This order was already shipped (tracking number {detail})."),
    "no_address": N_("Order #{detail} has no address yet: the member has not given it."),
    "no_option": N_("There is no shipping option #{detail}. Send /shipping_options to see them."),
    "no_options": N_("We do not deliver orders in {detail} yet."),
    "not_shipped_there": N_("Sorry, we do not ship to {detail}."),
    "changed_meanwhile": N_("The order changed meanwhile. Please try again."),
    "name_empty": N_("Please write the recipient's name."),
    "name_too_long": N_("The name is too long. Characters allowed: {detail}."),
    "phone_empty": N_("Please write a phone number."),
    "phone_too_long": N_("The phone number is too long. Characters allowed: {detail}."),
    "phone_invalid": N_("That does not look like a phone number: digits, +, spaces and dashes."),
    "address_empty": N_("Please write the address."),
    "address_too_long": N_("The address is too long. Characters allowed: {detail}."),
    "carrier": N_("The carrier's name is empty or too long. Characters allowed: {detail}."),
    "tracking": N_("The tracking number must be letters, digits and dashes, at most {detail}."),
    "countries": N_("Countries are two-letter codes separated by commas, like CN, HK."),
    "option_name": N_("The option's name must be 1 to 64 characters."),
    "option_price": N_("The price must be zero (free) or more."),
}
# what the member is told when staff ship, in the member's language
SHIPPED = N_("Order #{id} is on its way: {carrier}, tracking number {tracking}.")
DELIVERED = N_("Order #{id} was delivered. Thank you!")
# where a delivery order stands, as the dashboard's deliveries table reads it
DELIVERY_STATES: Labels = {
    SHIP_WAITING: N_("to ship"),
    SHIP_SHIPPED: N_("shipped"),
    SHIP_DELIVERED: N_("delivered"),
}


def refusal(exc: DeliveryError) -> str:
    """The localized reason a delivery action was refused."""
    text = DELIVERY_REFUSALS.get(exc.reason, DELIVERY_REFUSALS["not_found"])
    return _(text).format(detail=esc(exc.detail))


def shipped_notice(text: str, *, order_id: int, carrier: str, tracking: str) -> str:
    """SHIPPED or DELIVERED, translated in the current locale, for the member."""
    return _(text).format(id=order_id, carrier=esc(carrier), tracking=esc(tracking))
