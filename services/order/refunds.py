"""Refunding a paid order, fully or in part, and what a refund before pickup frees in a formed
group-buy (units for its waitlist, or back on the shelf).
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.groupbuy import GROUPBUY_FORMED, GroupBuy, GroupBuyJoin, GroupBuyLine, GroupBuyVariant
from models.ledger import ACCOUNT_BRAND_REFUNDS
from models.order import ORDER_FULFILLED, ORDER_PAID, ORDER_REFUNDED, Order
from models.product import Product, ProductVariant
from models.waitlist import WAIT_OFFERED, WAIT_WAITING, WaitlistEntry
from services.db import rowcount
from services.ledger import STARS, AccountRef, Posting, post
from services.order.booking import _payable, _reverse_side_effects, _scale_commissions
from services.order.paying import star_charge_id
from services.order.read import _load
from services.order.status import _move
from services.order.values import (
    TX_ORDER_REFUND,
    OrderError,
    OrderRefusal,
    RefundOutcome,
    order_view,
)
from services.referral import order_refunded


async def check_refund(
    session: AsyncSession, *, order_id: int, amount: int | None = None, due_only: bool = False
) -> tuple[int, str | None]:
    """The amount a refund would return and the Stars charge to refund, or OrderError.

    Lets the handler ask Telegram for a Stars refund before anything is booked. `due_only`
    books the refund as owed to the member (paid back by staff), never through Telegram, which
    is how part of a Stars payment can be given back.
    """
    row = await _load(session, order_id)
    if row.status == ORDER_REFUNDED:
        raise OrderError(OrderRefusal.ALREADY_REFUNDED, str(order_id))
    if row.status not in (ORDER_PAID, ORDER_FULFILLED):
        raise OrderError(OrderRefusal.NOT_PAID, str(order_id))
    remaining = row.paid_amount - row.refunded_amount
    value = remaining if amount is None else amount
    if type(value) is not int or value <= 0:
        raise OrderError(OrderRefusal.BAD_AMOUNT)
    if value > remaining:
        raise OrderError(OrderRefusal.REFUND_TOO_LARGE, f"{value} > {remaining}")
    if due_only:
        return value, None
    charge = await star_charge_id(session, order_id) if row.currency == STARS else None
    # Telegram sends a whole Stars payment back: after part of it was refunded (owed, paid
    # back by hand), sending the charge back would return more than is left
    if row.currency == STARS and (value != remaining or row.refunded_amount > 0):
        raise OrderError(OrderRefusal.PARTIAL_STARS_REFUND)
    return value, charge


async def refund_order(
    session: AsyncSession,
    *,
    order_id: int,
    actor_id: int,
    amount: int | None = None,
    note: str = "",
    due_only: bool = False,
) -> RefundOutcome:
    """Refund a paid order fully (amount None) or partly, and book it on the ledger.

    A full refund also reverses what the order created besides its payment (points,
    commission); a partial one scales the pending commissions to what is still paid. Stars
    can only be refunded whole through Telegram, as Telegram refunds a whole payment;
    `due_only` books any refund as owed to the member instead (see check_refund).
    """
    value, charge = await check_refund(session, order_id=order_id, amount=amount, due_only=due_only)
    row = await _load(session, order_id)
    grown = await session.execute(
        update(Order)
        .where(
            col(Order.id) == order_id,
            col(Order.refunded_amount) == row.refunded_amount,
            col(Order.version) == row.version,
        )
        .values(refunded_amount=row.refunded_amount + value, updated_at=utcnow())
    )
    if rowcount(grown) != 1:
        raise OrderError(OrderRefusal.CHANGED_MEANWHILE, str(order_id))
    sequence = row.refunded_amount + value  # unique per refund of this order
    await post(
        session,
        key=f"order:{order_id}:refund:{sequence}",
        kind=TX_ORDER_REFUND,
        postings=[
            Posting(AccountRef(ACCOUNT_BRAND_REFUNDS), row.currency, -value),
            Posting(_payable(row.member_id), row.currency, value),
        ],
        memo=note[:200] or f"refund of order #{order_id}",
        actor_id=actor_id,
        order_id=order_id,
    )
    row = await _load(session, order_id)
    if row.refunded_amount == row.paid_amount:
        before_pickup = row.status == ORDER_PAID
        row = await _move(session, row, ORDER_REFUNDED, actor_id=actor_id, note=note[:200])
        if before_pickup:
            await _free_groupbuy_units(session, row)
        await _reverse_side_effects(session, order_id=order_id, actor_id=actor_id)
        await order_refunded(session, order_id=order_id)
    else:
        await _scale_commissions(session, row=row, sequence=sequence, actor_id=actor_id)
    return RefundOutcome(
        order=order_view(row),
        amount=value,
        star_charge_id=charge,
        refund_due=charge is None,
    )


async def _free_groupbuy_units(session: AsyncSession, row: Order) -> None:
    """A formed group-buy's order refunded before pickup: its units are free again and the
    member's share shrinks. A group-buy of one product whose sold-out waitlist still has
    members waiting keeps them for that line (services/waitlist.py offers them); otherwise
    (nobody waiting, or a variant or sign-up list item, whose lines are served only while
    open) they leave the group-buy and go back on the shelf: the product's or variant's stock,
    where the shop sells them."""
    if row.groupbuy_id is None:
        return
    waiting = row.variant_id is None and await _has_waiting(session, row.groupbuy_id)
    shelved = 0 if waiting else row.quantity  # the group-buy's cap shrinks by what it gives back
    freed = await session.execute(
        update(GroupBuy)
        .where(
            col(GroupBuy.id) == row.groupbuy_id,
            col(GroupBuy.status) == GROUPBUY_FORMED,
            col(GroupBuy.units_sold) >= row.quantity,
        )
        .values(
            units_sold=col(GroupBuy.units_sold) - row.quantity,
            stock_cap=col(GroupBuy.stock_cap) - shelved,
        )
        .returning(col(GroupBuy.product_id))
    )
    product_id = freed.scalar_one_or_none()
    if product_id is None:
        return
    left = (
        await session.execute(
            update(GroupBuyJoin)
            .where(
                col(GroupBuyJoin.groupbuy_id) == row.groupbuy_id,
                col(GroupBuyJoin.member_id) == row.member_id,
                col(GroupBuyJoin.quantity) >= row.quantity,
            )
            .values(quantity=col(GroupBuyJoin.quantity) - row.quantity)
            .returning(col(GroupBuyJoin.quantity))
        )
    ).scalar_one_or_none()
    if left == 0:  # nothing of theirs is left in it: one participant fewer
        await session.execute(
            update(GroupBuy)
            .where(col(GroupBuy.id) == row.groupbuy_id, col(GroupBuy.participants) >= 1)
            .values(participants=col(GroupBuy.participants) - 1)
        )
    if row.variant_id is None:
        if shelved:
            await _shelve(session, Product, int(product_id), shelved)
        return
    await _free_item_units(session, row, shelved)


async def _free_item_units(session: AsyncSession, row: Order, shelved: int) -> None:
    """The refunded order was of a variant (or a sign-up list's item): its own counter gives
    back the units (its cap shrinks by `shelved`), and the member's line of it shrinks; what
    is shelved goes back on the variant's stock, or a catalogue product's own."""
    assert row.groupbuy_id is not None and row.variant_id is not None
    item = (
        await session.execute(
            update(GroupBuyVariant)
            .where(
                col(GroupBuyVariant.groupbuy_id) == row.groupbuy_id,
                col(GroupBuyVariant.variant_id) == row.variant_id,
                col(GroupBuyVariant.units_sold) >= row.quantity,
            )
            .values(
                units_sold=col(GroupBuyVariant.units_sold) - row.quantity,
                stock_cap=col(GroupBuyVariant.stock_cap) - shelved,
            )
            .returning(col(GroupBuyVariant.product_id))
            .execution_options(synchronize_session=False)
        )
    ).one_or_none()
    await session.execute(
        update(GroupBuyLine)
        .where(
            col(GroupBuyLine.groupbuy_id) == row.groupbuy_id,
            col(GroupBuyLine.member_id) == row.member_id,
            col(GroupBuyLine.variant_id) == row.variant_id,
            col(GroupBuyLine.quantity) >= row.quantity,
        )
        .values(quantity=col(GroupBuyLine.quantity) - row.quantity)
        .execution_options(synchronize_session=False)
    )
    if item is None:
        return
    sells = item[0]  # a catalogue product on a list: a product without variants keeps its own
    variant = await session.get(ProductVariant, row.variant_id)
    if sells is not None and (variant is None or variant.product_id != sells):
        await _shelve(session, Product, int(sells), shelved)
    else:
        await _shelve(session, ProductVariant, row.variant_id, shelved)


async def _has_waiting(session: AsyncSession, groupbuy_id: int) -> bool:
    """Whether members wait in the group-buy's waitlist (of the whole group-buy, not a variant)."""
    found = await session.execute(
        select(col(WaitlistEntry.id))
        .where(
            col(WaitlistEntry.groupbuy_id) == groupbuy_id,
            col(WaitlistEntry.variant_id).is_(None),
            col(WaitlistEntry.status).in_((WAIT_WAITING, WAIT_OFFERED)),
        )
        .limit(1)
    )
    return found.first() is not None


async def _shelve(
    session: AsyncSession, model: type[Product] | type[ProductVariant], row_id: int, units: int
) -> None:
    """Units a group-buy gives back go on sale again: onto the product's or variant's stock
    (none when it is not counted)."""
    if units <= 0:
        return
    await session.execute(
        update(model)
        .where(col(model.id) == row_id, col(model.stock).is_not(None))
        .values(stock=col(model.stock) + units)
        .execution_options(synchronize_session=False)
    )
