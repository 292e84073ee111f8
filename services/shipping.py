"""What a provider payment says of a delivery (the option chosen in the invoice and the address
Telegram asked), and what it does to the order: read by services/order/ when it checks and
books the payment, kept apart from services/delivery.py, which builds on orders."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from models.delivery import ShippingOption
from models.order import DELIVERY_SHIP, Order
from services.ledger import STARS

# how long what a member types may be (the columns' sizes); never empty
NAME_MAX, PHONE_MAX, ADDRESS_MAX = 64, 32, 300


@dataclass(frozen=True, slots=True)
class ShippingGiven:
    """What a provider payment says of the delivery: the option chosen and the address."""

    option_id: str | None
    name: str = ""
    phone: str = ""
    address: str = ""  # one line: street, city, post code, country


async def shipping_for_payment(
    session: AsyncSession, row: Order, given: ShippingGiven | None
) -> tuple[int, dict[str, object]] | None:
    """The shipping cost and the order's delivery columns a provider payment sets, or None when
    the payment does not name an option this order can take (the payment is then refused at
    pre-checkout, or owed back)."""
    if row.delivery != DELIVERY_SHIP or row.currency == STARS:
        return (0, {}) if given is None or given.option_id is None else None
    if given is None or not (given.option_id or "").isdigit():
        return None
    option = await session.get(ShippingOption, int(given.option_id or "0"))
    if option is None or not option.active or option.currency != row.currency:
        return None
    return option.price, {
        "shipping_option_id": option.id,
        "shipping_cost": option.price,
        "ship_name": given.name[:NAME_MAX],
        "ship_phone": given.phone[:PHONE_MAX],
        "ship_address": given.address[:ADDRESS_MAX],
    }
