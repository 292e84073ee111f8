"""Reading orders: one order (with what its invoice shows of its product), products' texts in
other languages, a group's pickup list and a member's orders in a chat.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.member import Member
from models.order import DELIVERY_PICKUP, ORDER_AWAITING_PAYMENT, ORDER_PAID, ORDER_RESERVED, Order
from models.product import Product
from services.content import ReadTranslations
from services.order.values import OrderError, OrderRefusal, OrderView, order_view
from services.product import ProductPhoto
from services.validation import shown


async def get_order(session: AsyncSession, order_id: int) -> OrderView | None:
    """The order with this id, if any."""
    row = await session.get(Order, order_id, populate_existing=True)
    return order_view(row) if row else None


async def _with_product(session: AsyncSession, order: OrderView) -> OrderView:
    """The order with what its invoice shows of its product: the description and photo."""
    product = await session.get(Product, order.product_id) if order.product_id else None
    if product is None:
        return order
    photo = (
        ProductPhoto(product.photo_file_id, product.photo_width, product.photo_height)
        if product.photo_file_id
        else None
    )
    return replace(
        order,
        description=product.description,
        photo=photo,
        translations=product.translations or None,
    )


async def with_translations(session: AsyncSession, orders: list[OrderView]) -> list[OrderView]:
    """The orders with their products' titles and descriptions in other languages, read in
    one statement (none when no order names a product), for a reader to pick theirs with
    OrderView.in_language."""
    ids = sorted({order.product_id for order in orders if order.product_id is not None})
    if not ids:
        return orders
    rows = await session.execute(
        select(col(Product.id), col(Product.translations)).where(col(Product.id).in_(ids))
    )
    found: dict[int, ReadTranslations] = {}
    for product_id, texts in rows.all():
        if product_id is not None and texts:
            found[product_id] = texts
    return [
        replace(order, translations=found[order.product_id]) if order.product_id in found else order
        for order in orders
    ]


async def order_for_invoice(session: AsyncSession, order_id: int) -> OrderView | None:
    """The order with this id, with what its invoice shows of the product, if any."""
    found = await get_order(session, order_id)
    return await _with_product(session, found) if found else None


async def _load(session: AsyncSession, order_id: int) -> Order:
    row = await session.get(Order, order_id, populate_existing=True)
    if row is None:
        raise OrderError(OrderRefusal.NOT_FOUND, str(order_id))
    return row


def buyer_name(row: Member | None, member_id: int) -> str:
    """How a list names a member: first name (as it may be shown), else @username, else the
    id."""
    if row is None:
        return str(member_id)
    return shown(row.first_name) or (f"@{row.username}" if row.username else str(member_id))


@dataclass(frozen=True, slots=True)
class PickupPage:
    """A page of a group's pickup list: its orders, the buyers' names, how many are open."""

    orders: tuple[OrderView, ...]
    names: dict[int, str]
    total: int  # orders of the chat not yet picked up


_PICKUP_OPEN = (ORDER_RESERVED, ORDER_AWAITING_PAYMENT, ORDER_PAID)


async def pickup_page(
    session: AsyncSession,
    *,
    chat_id: int,
    offset: int,
    limit: int,
    ids: list[int] | None = None,
) -> PickupPage:
    """The chat's orders not yet picked up, oldest first, `limit` from `offset`; or, with
    `ids`, exactly those orders of the chat in that order, whatever their status now (a page
    shown again after a tap keeps its rows)."""
    if ids:
        found = await session.execute(
            select(Order)
            .where(col(Order.chat_id) == chat_id, col(Order.id).in_(ids))
            .execution_options(populate_existing=True)
        )
        by_id = {row.id: row for row in found.scalars().all()}
        rows = [by_id[i] for i in ids if i in by_id]
    else:
        found = await session.execute(
            select(Order)
            .where(
                col(Order.chat_id) == chat_id,
                col(Order.status).in_(_PICKUP_OPEN),
                col(Order.delivery) == DELIVERY_PICKUP,  # delivered orders are shipped, not here
            )
            .order_by(col(Order.id))
            .offset(max(offset, 0))
            .limit(limit)
            .execution_options(populate_existing=True)
        )
        rows = list(found.scalars().all())
    total = await session.execute(
        select(func.count())
        .select_from(Order)
        .where(
            col(Order.chat_id) == chat_id,
            col(Order.status).in_(_PICKUP_OPEN),
            col(Order.delivery) == DELIVERY_PICKUP,
        )
    )
    members = await session.execute(
        select(Member).where(col(Member.id).in_({row.member_id for row in rows}))
    )
    names = {m.id: buyer_name(m, m.id) for m in members.scalars().all()}
    return PickupPage(tuple(order_view(row) for row in rows), names, int(total.scalar_one()))


async def orders_of_member_in_chat(
    session: AsyncSession, *, chat_id: int, member_id: int, statuses: tuple[str, ...]
) -> list[OrderView]:
    """A member's orders in a chat with one of the statuses, oldest first."""
    rows = await session.execute(
        select(Order)
        .where(
            col(Order.chat_id) == chat_id,
            col(Order.member_id) == member_id,
            col(Order.status).in_(statuses),
        )
        .order_by(col(Order.id))
    )
    return [order_view(row) for row in rows.scalars().all()]
