"""Placing an order (stock reserved by a conditional UPDATE, of its variant when it has some)
and cancelling an unpaid one, which gives back what it held.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.order import (
    DELIVERY_PICKUP,
    DELIVERY_SHIP,
    ORDER_CANCELLED,
    ORDER_RESERVED,
    Order,
    OrderEvent,
)
from models.product import FULFIL_DELIVERY, Product, ProductVariant
from services.coupons import release_coupon
from services.order.read import _load
from services.order.status import _move
from services.order.values import OrderError, OrderRefusal, OrderView, order_view
from services.product import (
    has_active_variants,
    restock_variant,
    take_product_stock,
    take_variant_stock,
)
from services.tiers import tier_discount


async def place_order(
    session: AsyncSession,
    *,
    member_id: int,
    chat_id: int,
    product_id: int,
    quantity: int,
    max_total: int,
    leader_id: int | None = None,
    expires_at: datetime | None = None,
    variant_id: int | None = None,
) -> OrderView:
    """Reserve stock and open an order at the product's current price, or its variant's
    (`expires_at`: when an unpaid reservation is released, see services/reservation.py). A
    product with variants is ordered by variant (OrderError choose_variant otherwise), each
    with its own stock."""
    if type(quantity) is not int or quantity <= 0:
        raise OrderError(OrderRefusal.BAD_QUANTITY)
    product = await session.get(Product, product_id)
    if product is None or not product.active:
        raise OrderError(OrderRefusal.NO_PRODUCT, str(product_id))
    variant = await _variant_to_order(session, product_id, variant_id)
    price = variant.price if variant is not None else product.price
    if quantity * price > max_total:
        raise OrderError(OrderRefusal.OVER_CEILING)
    if variant is not None:
        await _take_variant_stock(session, variant, quantity)
    elif product.stock is not None and not await take_product_stock(session, product_id, quantity):
        stock = select(col(Product.stock)).where(col(Product.id) == product_id)
        left = await session.scalar(stock)  # the refusal says what is left
        raise OrderError(OrderRefusal.OUT_OF_STOCK, str(left or 0))
    row = Order(
        member_id=member_id,
        chat_id=chat_id,
        leader_id=leader_id,
        product_id=product_id,
        title=product.title,
        variant_id=variant.id if variant is not None else None,
        variant_name=variant.name if variant is not None else "",
        quantity=quantity,
        unit_price=price,
        currency=product.currency,
        payment_mode=product.payment_mode,
        discount=await tier_discount(session, member_id=member_id, gross=quantity * price),
        expires_at=expires_at,
        # a product only delivered is delivered; one offered both ways is picked up unless
        # the member chooses delivery (services/delivery.py)
        delivery=DELIVERY_SHIP if product.fulfilment == FULFIL_DELIVERY else DELIVERY_PICKUP,
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    session.add(OrderEvent(order_id=row.id, to_status=ORDER_RESERVED, actor_id=member_id))
    return order_view(row)


async def _variant_to_order(
    session: AsyncSession, product_id: int, variant_id: int | None
) -> ProductVariant | None:
    """The variant an order names, which must be an active one of its product; None for a
    product without variants. OrderError choose_variant when the product has some and none
    (or another product's) is named."""
    if variant_id is not None:
        variant = await session.get(ProductVariant, variant_id)
        if variant is not None and variant.product_id == product_id and variant.active:
            return variant
        raise OrderError(OrderRefusal.CHOOSE_VARIANT, str(product_id))
    if await has_active_variants(session, product_id):
        raise OrderError(OrderRefusal.CHOOSE_VARIANT, str(product_id))
    return None


async def _take_variant_stock(
    session: AsyncSession, variant: ProductVariant, quantity: int
) -> None:
    """The variant's stock loses `quantity` units, or the order is refused (out_of_stock with
    what is left): one conditional UPDATE, so concurrent orders never oversell a variant."""
    if variant.stock is None:
        return
    assert variant.id is not None
    if not await take_variant_stock(session, variant.id, quantity):
        stock = select(col(ProductVariant.stock)).where(col(ProductVariant.id) == variant.id)
        left = await session.scalar(stock)
        raise OrderError(OrderRefusal.OUT_OF_STOCK, str(left or 0))


async def cancel_order(
    session: AsyncSession, *, order_id: int, actor_id: int | None, note: str = ""
) -> OrderView:
    """Withdraw an unpaid order and give its stock back."""
    row = await _load(session, order_id)
    row = await _move(session, row, ORDER_CANCELLED, actor_id=actor_id, note=note)
    await release_reserved(session, row)
    return order_view(await _load(session, order_id))


async def release_reserved(session: AsyncSession, row: Order) -> None:
    """What an unpaid order held goes back: its units to the product's stock, its coupon to
    the member (for an order just cancelled or expired; a group-buy's stock is its own)."""
    assert row.id is not None
    if row.variant_id is not None and row.groupbuy_id is None:
        await restock_variant(session, row.variant_id, row.quantity)
    elif row.product_id is not None and row.groupbuy_id is None:
        await session.execute(
            update(Product)
            .where(col(Product.id) == row.product_id, col(Product.stock).is_not(None))
            .values(stock=col(Product.stock) + row.quantity)
        )
    await release_coupon(session, order_id=row.id)
