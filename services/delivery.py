"""Delivery (配送): shipping options, the address a member gives, shipping with a tracking
number, and the list of orders to ship.

An order is delivered instead of picked up when its product says so, or its group-buy's own
mode, which overrides the product's (or the member chose it where both are offered). Its
address comes with a provider payment (Telegram asks it in the invoice and the bot answers the
shipping query with the brand's options), or, for Stars and offline orders, from a short
exchange in private (Telegram never asks an address for Stars). What delivery costs is part of
the order's total and booked with it (services/order/).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.delivery import ShippingOption
from models.groupbuy import GroupBuy
from models.order import (
    DELIVERY_PICKUP,
    DELIVERY_SHIP,
    EVENT_SHIPPED,
    OPEN_STATUSES,
    ORDER_FULFILLED,
    ORDER_PAID,
    Order,
    OrderEvent,
)
from models.product import FULFIL_BOTH, PAYMENT_TELEGRAM, Product
from services.audit import record_action
from services.db import rowcount
from services.errors import Refused
from services.ledger import STARS
from services.order import OrderView, order_view
from services.shipping import ADDRESS_MAX, NAME_MAX, PHONE_MAX

CARRIER_MAX, TRACKING_MAX = 32, 64
OPTION_NAME_MAX = 64
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_PAYLOAD = re.compile(r"^order:(\d{1,18}):v\d{1,9}$")  # an invoice's (services/order/)
_TRACKING = re.compile(r"^[A-Za-z0-9][A-Za-z0-9-]*$")


class DeliveryError(Refused):
    """A delivery action that cannot be done; `reason` is a stable code handlers translate."""


class DeliveryRefusal(StrEnum):
    """The reasons a DeliveryError gives (its `reason`); the handlers map each to a message."""

    COUNTRIES = "countries"
    OPTION_NAME = "option_name"
    OPTION_PRICE = "option_price"
    NO_OPTION = "no_option"
    NOT_FOUND = "not_found"
    NOT_OPEN = "not_open"
    NO_OPTIONS = "no_options"
    NOT_SHIPPED_THERE = "not_shipped_there"
    NAME_EMPTY = "name_empty"
    NAME_TOO_LONG = "name_too_long"
    PHONE_EMPTY = "phone_empty"
    PHONE_TOO_LONG = "phone_too_long"
    PHONE_INVALID = "phone_invalid"
    ADDRESS_EMPTY = "address_empty"
    ADDRESS_TOO_LONG = "address_too_long"
    NOT_YOURS = "not_yours"
    PICKUP_ONLY = "pickup_only"
    PICKUP_ORDER = "pickup_order"
    ALREADY_SHIPPED = "already_shipped"
    CHANGED_MEANWHILE = "changed_meanwhile"
    CARRIER = "carrier"
    TRACKING = "tracking"
    NOT_PAID = "not_paid"
    NO_ADDRESS = "no_address"


@dataclass(frozen=True, slots=True)
class ShippingOptionView:
    """A shipping option as plain values (price in minor units of `currency`)."""

    id: int
    name: str
    price: int
    currency: str
    countries: tuple[str, ...]  # empty: everywhere

    def ships_to(self, country: str) -> bool:
        return not self.countries or country.upper() in self.countries


def _view(row: ShippingOption) -> ShippingOptionView:
    assert row.id is not None
    countries = tuple(c for c in row.countries.split(",") if c)
    return ShippingOptionView(row.id, row.name, row.price, row.currency, countries)


def parse_countries(text: str) -> tuple[str, ...]:
    """'CN, HK' -> ('CN', 'HK'); DeliveryError("countries") for anything but 2-letter codes."""
    codes = tuple(dict.fromkeys(part.strip().upper() for part in text.split(",") if part.strip()))
    if not codes or not all(_COUNTRY.match(code) for code in codes) or len(codes) > 60:
        raise DeliveryError(DeliveryRefusal.COUNTRIES, text[:40])
    return codes


async def add_shipping_option(
    session: AsyncSession,
    *,
    name: str,
    price: int,
    currency: str,
    countries: tuple[str, ...] = (),
    actor_id: int,
    now: datetime,
) -> ShippingOptionView:
    """Staff add a way to ship at a price (0: free), to some countries or everywhere."""
    name = " ".join(name.split())
    if not name or len(name) > OPTION_NAME_MAX:
        raise DeliveryError(DeliveryRefusal.OPTION_NAME)
    if type(price) is not int or price < 0:
        raise DeliveryError(DeliveryRefusal.OPTION_PRICE)
    row = ShippingOption(
        name=name,
        price=price,
        currency=currency,
        countries=",".join(countries),
        created_by=actor_id,
    )
    session.add(row)
    await session.flush()
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=actor_id,
        action="delivery.option_add",
        allowed=True,
        now=now,
        detail=f"option {row.id} {price} {currency}",
    )
    return _view(row)


async def remove_shipping_option(
    session: AsyncSession, *, option_id: int, actor_id: int, now: datetime
) -> ShippingOptionView:
    """Staff stop offering an option; orders shipped with it still name it."""
    result = await session.execute(
        update(ShippingOption)
        .where(col(ShippingOption.id) == option_id, col(ShippingOption.active).is_(True))
        .values(active=False)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise DeliveryError(DeliveryRefusal.NO_OPTION, str(option_id))
    row = await session.get(ShippingOption, option_id, populate_existing=True)
    assert row is not None
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=actor_id,
        action="delivery.option_remove",
        allowed=True,
        now=now,
        detail=f"option {option_id}",
    )
    return _view(row)


async def shipping_options(
    session: AsyncSession, *, currency: str | None = None
) -> list[ShippingOptionView]:
    """The active options, cheapest first (of one currency when given)."""
    query = select(ShippingOption).where(col(ShippingOption.active).is_(True))
    if currency is not None:
        query = query.where(col(ShippingOption.currency) == currency)
    rows = (
        await session.execute(query.order_by(col(ShippingOption.price), col(ShippingOption.id)))
    ).scalars()
    return [_view(row) for row in rows]


async def _order_of(session: AsyncSession, order_id: int) -> Order:
    row = await session.get(Order, order_id, populate_existing=True)
    if row is None:
        raise DeliveryError(DeliveryRefusal.NOT_FOUND, str(order_id))
    return row


async def options_for_invoice(
    session: AsyncSession, *, payload: str, member_id: int, country: str
) -> list[ShippingOptionView]:
    """What the brand offers to ship the delivery order of an invoice (its payload) to
    `country` (a shipping query); DeliveryError when the order is not one, or nothing ships
    there."""
    match = _PAYLOAD.match(payload)
    row = await session.get(Order, int(match.group(1))) if match else None
    if row is None or row.member_id != member_id or row.delivery != DELIVERY_SHIP:
        raise DeliveryError(DeliveryRefusal.NOT_FOUND)
    if row.status not in OPEN_STATUSES:
        raise DeliveryError(DeliveryRefusal.NOT_OPEN, str(row.id))
    offered = await shipping_options(session, currency=row.currency)
    if not offered:
        raise DeliveryError(DeliveryRefusal.NO_OPTIONS, row.currency)
    reachable = [option for option in offered if option.ships_to(country)]
    if not reachable:
        raise DeliveryError(DeliveryRefusal.NOT_SHIPPED_THERE, country)
    return reachable


def _bounded(value: str, most: int, empty: DeliveryRefusal, too_long: DeliveryRefusal) -> str:
    """A tidied part of an address as kept: DeliveryError `empty` when there is nothing,
    `too_long` (naming the limit) past `most` characters."""
    if not value:
        raise DeliveryError(empty)
    if len(value) > most:
        raise DeliveryError(too_long, str(most))
    return value


def check_name(text: str) -> str:
    """The recipient's name as kept (spaces tidied); DeliveryError when empty or too long."""
    name = " ".join(text.split())
    return _bounded(name, NAME_MAX, DeliveryRefusal.NAME_EMPTY, DeliveryRefusal.NAME_TOO_LONG)


def check_phone(text: str) -> str:
    """A phone number as kept: digits (five at least), +, brackets, spaces and dashes."""
    phone = " ".join(text.split())
    _bounded(phone, PHONE_MAX, DeliveryRefusal.PHONE_EMPTY, DeliveryRefusal.PHONE_TOO_LONG)
    if sum(ch.isdigit() for ch in phone) < 5 or not re.fullmatch(r"[0-9+()\- ]+", phone):
        raise DeliveryError(DeliveryRefusal.PHONE_INVALID)
    return phone


def check_lines(text: str) -> str:
    """The address lines as kept (blank lines dropped, spaces tidied); never empty."""
    address = "\n".join(" ".join(line.split()) for line in text.splitlines() if line.strip())
    return _bounded(
        address, ADDRESS_MAX, DeliveryRefusal.ADDRESS_EMPTY, DeliveryRefusal.ADDRESS_TOO_LONG
    )


def check_address(name: str, phone: str, address: str) -> tuple[str, str, str]:
    """The whole address as kept; DeliveryError naming the first part to fix."""
    return check_name(name), check_phone(phone), check_lines(address)


async def choose_delivery(session: AsyncSession, *, order_id: int, member_id: int) -> OrderView:
    """The member chose delivery for an unpaid order of a product (or group-buy) offered both
    ways; the version is bumped, so an invoice sent before (without an address) is out of
    date."""
    row = await _order_of(session, order_id)
    if row.member_id != member_id:
        raise DeliveryError(DeliveryRefusal.NOT_YOURS, str(order_id))
    product = await session.get(Product, row.product_id) if row.product_id else None
    mode = product.fulfilment if product is not None else ""
    # a group-buy's order follows the group-buy's own mode when it has one
    groupbuy = await session.get(GroupBuy, row.groupbuy_id) if row.groupbuy_id else None
    if groupbuy is not None and groupbuy.fulfilment:
        mode = groupbuy.fulfilment
    if mode != FULFIL_BOTH:
        raise DeliveryError(DeliveryRefusal.PICKUP_ONLY, str(order_id))
    if row.delivery == DELIVERY_SHIP:
        return order_view(row)
    result = await session.execute(
        update(Order)
        .where(
            col(Order.id) == order_id,
            col(Order.version) == row.version,
            col(Order.status).in_(OPEN_STATUSES),
        )
        .values(delivery=DELIVERY_SHIP, version=row.version + 1)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise DeliveryError(DeliveryRefusal.NOT_OPEN, str(order_id))
    return order_view(await _order_of(session, order_id))


async def give_address(
    session: AsyncSession,
    *,
    order_id: int,
    member_id: int,
    name: str,
    phone: str,
    address: str,
    option_id: int | None,
) -> OrderView:
    """The member's address for a delivery order (Stars or offline: asked in private), with the
    shipping option they chose, whose price joins the total while the order is unpaid. An
    invoice sent before is out of date (the version moves). Once shipped, it stays as shipped."""
    name, phone, address = check_address(name, phone, address)
    row = await _order_of(session, order_id)
    if row.member_id != member_id:
        raise DeliveryError(DeliveryRefusal.NOT_YOURS, str(order_id))
    if row.delivery != DELIVERY_SHIP:
        raise DeliveryError(DeliveryRefusal.PICKUP_ORDER, str(order_id))
    if row.shipped_at is not None:
        raise DeliveryError(DeliveryRefusal.ALREADY_SHIPPED, str(order_id))
    if row.status not in (*OPEN_STATUSES, ORDER_PAID):
        raise DeliveryError(DeliveryRefusal.NOT_OPEN, str(order_id))
    values: dict[str, object] = {
        "ship_name": name,
        "ship_phone": phone,
        "ship_address": address,
        "version": row.version + 1,
    }
    if row.status in OPEN_STATUSES:  # the cost can still join the total
        cost = 0
        if option_id is not None:
            option = await session.get(ShippingOption, option_id)
            if option is None or not option.active or option.currency != row.currency:
                raise DeliveryError(DeliveryRefusal.NO_OPTION, str(option_id))
            cost = option.price
        values |= {"shipping_option_id": option_id, "shipping_cost": cost}
    result = await session.execute(
        update(Order)
        .where(
            col(Order.id) == order_id,
            col(Order.version) == row.version,
            col(Order.shipped_at).is_(None),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise DeliveryError(DeliveryRefusal.CHANGED_MEANWHILE, str(order_id))
    return order_view(await _order_of(session, order_id))


def asked_in_invoice(order: OrderView) -> bool:
    """A delivery order paid with a provider: Telegram asks the address in its invoice."""
    return order.payment_mode == PAYMENT_TELEGRAM and order.currency != STARS


def check_tracking(carrier: str, tracking: str) -> tuple[str, str]:
    """The carrier and tracking number as kept; DeliveryError naming what to fix."""
    carrier = " ".join(carrier.split())
    if not carrier or len(carrier) > CARRIER_MAX:
        raise DeliveryError(DeliveryRefusal.CARRIER, str(CARRIER_MAX))
    if not tracking or len(tracking) > TRACKING_MAX or not _TRACKING.match(tracking):
        raise DeliveryError(DeliveryRefusal.TRACKING, str(TRACKING_MAX))
    return carrier, tracking


async def ship_order(
    session: AsyncSession,
    *,
    order_id: int,
    actor_id: int,
    carrier: str,
    tracking: str,
    now: datetime,
) -> OrderView:
    """Staff mark a paid delivery order shipped, once: with the carrier and tracking number
    (a conditional UPDATE, so two staff shipping at once ship it once)."""
    carrier, tracking = check_tracking(carrier, tracking)
    row = await _order_of(session, order_id)
    if row.delivery != DELIVERY_SHIP:
        raise DeliveryError(DeliveryRefusal.PICKUP_ORDER, str(order_id))
    if row.shipped_at is not None:
        raise DeliveryError(DeliveryRefusal.ALREADY_SHIPPED, row.tracking_number)
    if row.status in OPEN_STATUSES:
        raise DeliveryError(DeliveryRefusal.NOT_PAID, str(order_id))
    if row.status != ORDER_PAID:
        raise DeliveryError(DeliveryRefusal.NOT_OPEN, row.status)
    if not row.ship_address:
        raise DeliveryError(DeliveryRefusal.NO_ADDRESS, str(order_id))
    result = await session.execute(
        update(Order)
        .where(
            col(Order.id) == order_id,
            col(Order.status) == ORDER_PAID,
            col(Order.shipped_at).is_(None),
        )
        .values(carrier=carrier, tracking_number=tracking, shipped_by=actor_id, shipped_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise DeliveryError(DeliveryRefusal.ALREADY_SHIPPED, "")
    session.add(
        OrderEvent(
            order_id=order_id,
            from_status=ORDER_PAID,
            to_status=EVENT_SHIPPED,
            actor_id=actor_id,
            note=f"shipped {carrier} {tracking}"[:255],
            at=now,
        )
    )
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=actor_id,
        action="delivery.ship",
        allowed=True,
        now=now,
        detail=f"order {order_id}",
    )
    return order_view(await _order_of(session, order_id))


@dataclass(frozen=True, slots=True)
class ToShip:
    """A paid delivery order not shipped yet, with where it goes."""

    order: OrderView
    name: str
    phone: str
    address: str


async def orders_to_ship(session: AsyncSession, *, limit: int = 1000) -> list[ToShip]:
    """Paid delivery orders not shipped yet, oldest first (those without an address too)."""
    rows = (
        await session.execute(
            select(Order)
            .where(
                col(Order.delivery) == DELIVERY_SHIP,
                col(Order.status) == ORDER_PAID,
                col(Order.shipped_at).is_(None),
            )
            .order_by(col(Order.id))
            .limit(limit)
        )
    ).scalars()
    return [ToShip(order_view(r), r.ship_name, r.ship_phone, r.ship_address) for r in rows]


def delivery_state(order: OrderView) -> str:
    """Where a delivery order stands: "" for pickup, else one of address_in_invoice (a
    provider invoice asks it), address_needed, address_given, shipped, delivered."""
    if order.delivery == DELIVERY_PICKUP:
        return ""
    if not order.ship_address and order.status in OPEN_STATUSES and asked_in_invoice(order):
        return "address_in_invoice"
    if order.status == ORDER_FULFILLED:
        return "delivered"
    if order.shipped_at is not None:
        return "shipped"
    return "address_given" if order.ship_address else "address_needed"
