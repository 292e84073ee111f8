"""The order's status machine: every move is one conditional UPDATE on (status, version), with
its event row; paid offline (the cash then owed by the leader who took it) and picked up.
A paid order gets its pickup code here.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.order import (
    OPEN_STATUSES,
    ORDER_EXPIRED,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_TRANSITIONS,
    Order,
    OrderEvent,
)
from models.product import PAYMENT_OFFLINE
from services.cash import collect_cash
from services.credit import cash_order_limit_reached
from services.db import rowcount
from services.order.booking import _settle
from services.order.read import _load
from services.order.values import OrderError, OrderRefusal, OrderView, order_view

# pickup codes (核销码): read aloud or typed from a phone, so no 0/O, 1/I; random, so the
# next order's code cannot be guessed from this one's; 32^6 (about a billion) codes
PICKUP_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"
PICKUP_CODE_LENGTH = 6


async def new_pickup_code(session: AsyncSession) -> str:
    """A random pickup code no order holds yet (the unique constraint stays the last word)."""
    while True:
        code = "".join(secrets.choice(PICKUP_ALPHABET) for _ in range(PICKUP_CODE_LENGTH))
        taken = await session.scalar(select(col(Order.id)).where(col(Order.pickup_code) == code))
        if taken is None:
            return code


async def _move(
    session: AsyncSession,
    row: Order,
    to: str,
    *,
    actor_id: int | None,
    note: str = "",
    paid_amount: int | None = None,
    at: datetime | None = None,
    extra: dict[str, object] | None = None,
) -> Order:
    """Change the status if the machine allows it and nobody changed the order meanwhile
    (`at`: when, by the domain's clock; now when not given; `extra`: more columns to set in
    the same conditional UPDATE). A paid order gets its pickup code here."""
    at = at or utcnow()
    before, version = row.status, row.version
    if before == ORDER_EXPIRED:  # its stock is back on sale: the member orders again
        raise OrderError(OrderRefusal.EXPIRED, str(row.id))
    if to not in ORDER_TRANSITIONS.get(before, ()):
        raise OrderError(OrderRefusal.BAD_TRANSITION, f"{before} -> {to}")
    values: dict[str, object] = {"status": to, "version": version + 1, "updated_at": at}
    if paid_amount is not None:
        values["paid_amount"] = paid_amount
    if to == ORDER_PAID and row.pickup_code is None:
        values["pickup_code"] = await new_pickup_code(session)
    values.update(extra or {})
    result = await session.execute(
        update(Order)
        .where(
            col(Order.id) == row.id,
            col(Order.status) == before,
            col(Order.version) == version,
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if rowcount(result) != 1:
        raise OrderError(OrderRefusal.CHANGED_MEANWHILE, str(row.id))
    assert row.id is not None
    session.add(
        OrderEvent(
            order_id=row.id, from_status=before, to_status=to, actor_id=actor_id, note=note, at=at
        )
    )
    return await _load(session, row.id)


async def mark_paid_offline(
    session: AsyncSession, *, order_id: int, actor_id: int, now: datetime | None = None
) -> OrderView:
    """The leader collected the money at pickup or by transfer: only for an offline order,
    and never by the member who placed it. The cash is then owed to the brand by whoever
    marked it received (their leader_cash account) until they hand it over."""
    row = await _load(session, order_id)
    if row.status == ORDER_PAID:
        raise OrderError(OrderRefusal.ALREADY_PAID, str(order_id))
    if row.payment_mode != PAYMENT_OFFLINE:  # an invoice order is paid in Telegram, only
        raise OrderError(OrderRefusal.PAID_IN_TELEGRAM, str(order_id))
    if row.member_id == actor_id:
        raise OrderError(OrderRefusal.OWN_ORDER, str(order_id))
    # staff may cap the order one leader takes cash for by hand (services/credit.py)
    limits = await cash_order_limit_reached(
        session, leader_id=actor_id, amount=row.total, currency=row.currency
    )
    if limits is not None:  # the detail names the limit: "<minor units> <currency>"
        raise OrderError(OrderRefusal.OVER_CASH_LIMIT, f"{limits.max_cash_order} {limits.currency}")
    row = await _move(
        session, row, ORDER_PAID, actor_id=actor_id, note="offline", paid_amount=row.total, at=now
    )
    await _settle(session, row, actor_id=actor_id)
    assert row.id is not None
    await collect_cash(
        session,
        order_id=row.id,
        member_id=row.member_id,
        collector_id=actor_id,
        amount=row.total,
        currency=row.currency,
    )
    return order_view(row)


async def mark_fulfilled(
    session: AsyncSession,
    *,
    order_id: int,
    actor_id: int,
    now: datetime | None = None,
    point_id: int | None = None,
    note: str = "",
) -> OrderView:
    """The member picked the order up (only after it was paid); never marked by that member,
    whose word alone would close their own order. Who and when are kept on the order, and
    the point it was picked up at when known (`point_id`)."""
    row = await _load(session, order_id)
    if row.status in OPEN_STATUSES:
        raise OrderError(OrderRefusal.NOT_PAID, str(order_id))
    if row.member_id == actor_id:
        raise OrderError(OrderRefusal.OWN_PICKUP, str(order_id))
    at = now or utcnow()
    extra: dict[str, object] = {"picked_up_by": actor_id, "picked_up_at": at}
    if point_id is not None:
        extra["pickup_point_id"] = point_id
    moved = await _move(
        session, row, ORDER_FULFILLED, actor_id=actor_id, at=at, note=note, extra=extra
    )
    return order_view(moved)
