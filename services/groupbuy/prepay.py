"""Prepayment of Telegram-paid group-buys: the member's unpaid order kept in line with what they
joined, orders made, repriced, withdrawn or refunded as a group-buy forms or fails, and units
freed after forming booked for the waitlist.

A Telegram-paid group-buy takes payment when members join: each member has at most one
unpaid order covering what they joined beyond what they already paid. At formation unpaid
orders are repriced to the final tier price, and paid ones above it get the difference owed
back; when it fails or is cancelled, unpaid orders are withdrawn and paid ones refunded.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.groupbuy import GROUPBUY_FORMED, GroupBuy, GroupBuyJoin
from models.order import (
    DELIVERY_PICKUP,
    DELIVERY_SHIP,
    ORDER_AWAITING_PAYMENT,
    ORDER_CANCELLED,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_RESERVED,
    Order,
    OrderEvent,
)
from models.product import FULFIL_DELIVERY, PAYMENT_TELEGRAM
from services.coupons import release_coupon
from services.db import rowcount
from services.groupbuy.read import _must
from services.groupbuy.values import (
    GroupBuyError,
    GroupBuyRefusal,
    GroupBuyVariantView,
    GroupBuyView,
    Participant,
)
from services.order import OrderView, order_view
from services.tiers import tier_discount

PREPAY_OPEN = (ORDER_RESERVED, ORDER_AWAITING_PAYMENT)
PREPAY_PAID = (ORDER_PAID, ORDER_FULFILLED)


def _id(row: Order) -> int:
    assert row.id is not None
    return row.id


async def _member_orders(session: AsyncSession, groupbuy_id: int, member_id: int) -> list[Order]:
    rows = await session.execute(
        select(Order)
        .where(
            col(Order.groupbuy_id) == groupbuy_id,
            col(Order.member_id) == member_id,
            col(Order.status).in_((*PREPAY_OPEN, *PREPAY_PAID)),
        )
        .order_by(col(Order.id))
        .execution_options(populate_existing=True)
    )
    return list(rows.scalars().all())


async def prepayment_due(
    session: AsyncSession, *, groupbuy_id: int, member_id: int, chat_id: int
) -> OrderView | None:
    """The member's unpaid order of a Telegram-paid group-buy, in line with their place, to
    invoice now: a member who joined before starting the bot is invoiced when they do."""
    created = await sync_prepayment(
        session, groupbuy_id=groupbuy_id, member_id=member_id, chat_id=chat_id
    )
    if created is not None:
        return created
    unpaid = [
        row
        for row in await _member_orders(session, groupbuy_id, member_id)
        if row.status in PREPAY_OPEN
    ]
    return order_view(unpaid[0]) if unpaid else None


async def prepaid_units(session: AsyncSession, *, groupbuy_id: int, member_id: int) -> int:
    """Units the member already paid for in this group-buy (they cannot go below them)."""
    rows = await _member_orders(session, groupbuy_id, member_id)
    return sum(row.quantity for row in rows if row.status in PREPAY_PAID)


async def _new_order(
    session: AsyncSession,
    found: GroupBuyView,
    *,
    member_id: int,
    chat_id: int,
    quantity: int,
    price: int,
    variant: GroupBuyVariantView | None = None,
) -> OrderView:
    """An order for the group-buy's units (its stock was taken when the group-buy opened), of
    the member's variant if any; delivered when the group-buy (or, without a mode of its own,
    its product) is only delivered: its invoice then asks the address, or the member gives it
    in private. A sign-up list's item put from the catalogue is an order of that product (and
    its variant, if it has some), so its stats and reviews count it."""
    sells = variant if variant is not None and variant.product_id is not None else None
    row = Order(
        member_id=member_id,
        chat_id=chat_id,
        leader_id=found.opened_by,
        product_id=sells.product_id if sells else found.product_id,
        groupbuy_id=found.id,
        title=sells.product_title if sells else found.title,
        variant_id=variant.variant_id if variant else None,
        variant_name=sells.variant_name if sells else variant.name if variant else "",
        quantity=quantity,
        unit_price=price,
        currency=found.currency,
        payment_mode=found.payment_mode,
        status=ORDER_RESERVED,
        commission_bps=found.commission_bps,
        discount=await tier_discount(session, member_id=member_id, gross=quantity * price),
        delivery=DELIVERY_SHIP if found.fulfilment == FULFIL_DELIVERY else DELIVERY_PICKUP,
    )
    session.add(row)
    await session.flush()
    session.add(
        OrderEvent(order_id=_id(row), to_status=ORDER_RESERVED, note=f"group-buy #{found.id}")
    )
    return order_view(row)


async def _withdraw(session: AsyncSession, row: Order, note: str) -> None:
    """Cancel an unpaid group-buy order without giving stock to the product (the units are
    the group-buy's); a coupon on it goes back to the member."""
    moved = await session.execute(
        update(Order)
        .where(
            col(Order.id) == row.id,
            col(Order.status).in_(PREPAY_OPEN),
            col(Order.version) == row.version,
        )
        .values(status=ORDER_CANCELLED, version=row.version + 1, updated_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if rowcount(moved) != 1:
        raise GroupBuyError(GroupBuyRefusal.CHANGED_MEANWHILE, str(row.id))
    session.add(
        OrderEvent(
            order_id=_id(row), from_status=row.status, to_status=ORDER_CANCELLED, note=note[:255]
        )
    )
    await release_coupon(session, order_id=_id(row))


async def _reprice(session: AsyncSession, row: Order, price: int) -> OrderView:
    """An unpaid order moved to the final price: a new version, so an older invoice fails."""
    await release_coupon(session, order_id=_id(row))
    discount = await tier_discount(session, member_id=row.member_id, gross=row.quantity * price)
    moved = await session.execute(
        update(Order)
        .where(col(Order.id) == row.id, col(Order.status).in_(PREPAY_OPEN))
        .values(
            unit_price=price,
            discount=discount,
            status=ORDER_RESERVED,
            version=col(Order.version) + 1,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(moved) != 1:
        raise GroupBuyError(GroupBuyRefusal.CHANGED_MEANWHILE, str(row.id))
    fresh = await session.get(Order, _id(row), populate_existing=True)
    assert fresh is not None
    return order_view(fresh)


async def _price_difference(session: AsyncSession, row: Order, price: int) -> int:
    """What a paid order paid above the final price (after the member's tier discount)."""
    gross = row.quantity * price
    final_total = gross - await tier_discount(session, member_id=row.member_id, gross=gross)
    final_total += row.shipping_cost  # the delivery paid with it is not a price difference
    return max(0, row.paid_amount - row.refunded_amount - final_total)


async def _unwind(
    session: AsyncSession, found: GroupBuyView, listed: tuple[Participant, ...]
) -> tuple[int, ...]:
    """A group-buy that failed or was cancelled: unpaid orders withdrawn; returns the paid
    ones, which the caller refunds in full."""
    paid: list[int] = []
    for entry in listed:
        for row in await _member_orders(session, found.id, entry.member_id):
            if row.status in PREPAY_OPEN:
                await _withdraw(session, row, f"group-buy #{found.id} closed")
            else:
                paid.append(_id(row))
    return tuple(paid)


async def sync_prepayment(
    session: AsyncSession, *, groupbuy_id: int, member_id: int, chat_id: int
) -> OrderView | None:
    """After a join or change in a Telegram-paid group-buy: the member's one unpaid order
    covers what they joined beyond what they paid. Returns a new order to invoice, or None."""
    found = await _must(session, groupbuy_id)
    if found.payment_mode != PAYMENT_TELEGRAM:
        return None
    joined = (
        await session.execute(
            select(col(GroupBuyJoin.quantity)).where(
                col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
                col(GroupBuyJoin.member_id) == member_id,
            )
        )
    ).scalar_one_or_none() or 0
    rows = await _member_orders(session, groupbuy_id, member_id)
    paid = sum(row.quantity for row in rows if row.status in PREPAY_PAID)
    unpaid = [row for row in rows if row.status in PREPAY_OPEN]
    wanted = joined - paid
    if len(unpaid) == 1 and unpaid[0].quantity == wanted:
        return None
    for row in unpaid:
        await _withdraw(session, row, "quantity changed")
    if wanted <= 0:
        return None
    return await _new_order(
        session,
        found,
        member_id=member_id,
        chat_id=chat_id,
        quantity=wanted,
        price=found.current_price,
    )


async def book_after_forming(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    units: int,
    now: datetime,
) -> OrderView:
    """Units freed in a formed group-buy (a refund before pickup) booked for a member from its
    waitlist: the counters take them by a conditional UPDATE (never past the stock), the
    member's join row grows under the per-member limit, and an order opens at the final price.
    Refused with "sold_out" when someone else took them first."""
    found = await _must(session, groupbuy_id)
    if found.status != GROUPBUY_FORMED or found.final_price is None:
        raise GroupBuyError(GroupBuyRefusal.CLOSED)
    held = (
        await session.execute(
            select(col(GroupBuyJoin.quantity)).where(
                col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
                col(GroupBuyJoin.member_id) == member_id,
            )
        )
    ).scalar_one_or_none()
    old = int(held or 0)
    if old + units > found.per_member_limit:
        raise GroupBuyError(GroupBuyRefusal.OVER_LIMIT, str(found.per_member_limit))
    counted = await session.execute(
        update(GroupBuy)
        .where(
            col(GroupBuy.id) == groupbuy_id,
            col(GroupBuy.status) == GROUPBUY_FORMED,
            col(GroupBuy.units_sold) + units <= col(GroupBuy.stock_cap),
        )
        .values(
            units_sold=col(GroupBuy.units_sold) + units,
            participants=col(GroupBuy.participants) + (1 if old == 0 else 0),
        )
    )
    if rowcount(counted) != 1:
        raise GroupBuyError(GroupBuyRefusal.SOLD_OUT, "0")
    if held is None:
        session.add(
            GroupBuyJoin(
                groupbuy_id=groupbuy_id,
                member_id=member_id,
                chat_id=chat_id,
                quantity=units,
                joined_at=now,
                updated_at=now,
            )
        )
        await session.flush()
    else:
        await session.execute(
            update(GroupBuyJoin)
            .where(
                col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
                col(GroupBuyJoin.member_id) == member_id,
            )
            .values(quantity=col(GroupBuyJoin.quantity) + units, updated_at=now)
        )
    return await _new_order(
        session,
        found,
        member_id=member_id,
        chat_id=chat_id,
        quantity=units,
        price=found.final_price,
    )
