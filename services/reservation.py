"""Pay-at-pickup reservations: a /buy of an offline product holds its stock until a deadline.

A member holds at most `cap` open reservations at once. The scheduler reminds the member once
before the deadline and releases what is still unpaid at it (status `expired`: the units go
back on sale, a coupon back to the member). Each reminder and each expiry is claimed by one
conditional UPDATE, so two sweeps racing (or a restart in the middle of one) do each once, and a
leader marking the order paid at the same moment either wins (the order is paid) or finds it
expired, never both.

Group-buy sign-ups are not reservations here: their units are the group-buy's, held until its
own deadline settles or releases them. Orders paid by Telegram invoice are not either.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.member import Member
from models.order import ORDER_EXPIRED, ORDER_RESERVED, Order, OrderEvent
from models.product import PAYMENT_TELEGRAM, Product
from services.db import rowcount
from services.order import (
    OrderError,
    OrderRefusal,
    OrderView,
    cancel_order,
    order_view,
    place_order,
    release_reserved,
    with_translations,
)

# how long after expiring a reservation is still named to a leader who marks the member paid
RECENTLY_EXPIRED = timedelta(days=3)


@dataclass(frozen=True, slots=True)
class ReservationRules:
    """How long a reservation holds, how many a member may hold, when they are reminded."""

    hold: timedelta | None  # None: held until paid or cancelled
    cap: int = 0  # open reservations per member; 0: no cap
    remind_before: timedelta | None = None  # None: no reminder


class ReservationCapReached(OrderError):
    """The member already holds as many open reservations as allowed (`held`, oldest first)."""

    def __init__(self, held: list[OrderView]) -> None:
        super().__init__("too_many_reservations", str(len(held)))
        self.held = held


def _is_reservation() -> tuple[Any, ...]:
    """An open pay-at-pickup reservation placed with /buy (not a group-buy's, not Telegram's)."""
    return (
        col(Order.status) == ORDER_RESERVED,
        col(Order.payment_mode) != PAYMENT_TELEGRAM,
        col(Order.groupbuy_id).is_(None),
    )


async def open_reservations(session: AsyncSession, *, member_id: int) -> list[OrderView]:
    """The member's open pay-at-pickup reservations in every group, oldest first, with their
    products' titles in other languages."""
    rows = await session.execute(
        select(Order)
        .where(col(Order.member_id) == member_id, *_is_reservation())
        .order_by(col(Order.id))
    )
    return await with_translations(session, [order_view(row) for row in rows.scalars().all()])


async def reserve(
    session: AsyncSession,
    *,
    member_id: int,
    chat_id: int,
    product_id: int,
    quantity: int,
    max_total: int,
    rules: ReservationRules,
    now: datetime,
    variant_id: int | None = None,
) -> OrderView:
    """/buy: open an order (of one variant, for a product that has some); for a pay-at-pickup
    product, a reservation that expires at now + hold, refused with ReservationCapReached when
    the member holds `cap` already. The order carries its product's titles in other languages
    (read with the product already)."""
    product = await session.get(Product, product_id)
    offline = product is not None and product.payment_mode != PAYMENT_TELEGRAM
    texts = product.translations if product is not None else None  # read before it changes
    if offline and rules.cap:
        # two /buy of one member at once queue here, so the cap holds (PostgreSQL; SQLite
        # has one writer anyway)
        await session.execute(
            select(col(Member.id)).where(col(Member.id) == member_id).with_for_update()
        )
        held = await open_reservations(session, member_id=member_id)
        if len(held) >= rules.cap:
            raise ReservationCapReached(held)
    expires_at = now + rules.hold if offline and rules.hold else None
    order = await place_order(
        session,
        member_id=member_id,
        chat_id=chat_id,
        product_id=product_id,
        quantity=quantity,
        max_total=max_total,
        expires_at=expires_at,
        variant_id=variant_id,
    )
    if expires_at is not None and (
        rules.remind_before is None or expires_at - now <= rules.remind_before
    ):
        # the member reads the deadline in the reply to /buy: a reminder would not come later
        await session.execute(
            update(Order).where(col(Order.id) == order.id).values(reminded_at=now)
        )
    return replace(order, translations=texts) if texts else order


async def cancel_reservation(session: AsyncSession, *, order_id: int, member_id: int) -> OrderView:
    """The member gives up their own reservation: the stock goes back on sale at once."""
    row = await session.get(Order, order_id, populate_existing=True)
    if row is None or row.member_id != member_id:
        raise OrderError(OrderRefusal.NOT_YOURS, str(order_id))
    if row.status == ORDER_EXPIRED:
        raise OrderError(OrderRefusal.EXPIRED, str(order_id))
    if (
        row.status != ORDER_RESERVED
        or row.groupbuy_id is not None
        or row.payment_mode == PAYMENT_TELEGRAM
    ):
        raise OrderError(OrderRefusal.NOT_RESERVED, str(order_id))
    return await cancel_order(
        session, order_id=order_id, actor_id=member_id, note="cancelled by the member"
    )


async def hold_unheld(session: AsyncSession, *, now: datetime, hold: timedelta) -> int:
    """Give reservations without a deadline (placed before reservations expired, or while
    they did not) the full hold from now; returns how many. Idempotent."""
    result = await session.execute(
        update(Order)
        .where(*_is_reservation(), col(Order.expires_at).is_(None))
        .values(expires_at=now + hold)
        .execution_options(synchronize_session=False)
    )
    return rowcount(result)


def _reminder_due(now: datetime, lead: timedelta) -> tuple[Any, ...]:
    return (
        *_is_reservation(),
        col(Order.reminded_at).is_(None),
        col(Order.expires_at) > now,
        col(Order.expires_at) <= now + lead,
    )


async def due_reminders(session: AsyncSession, *, now: datetime, lead: timedelta) -> list[int]:
    """Reservations expiring within `lead` whose member was not reminded yet, oldest first."""
    rows = await session.execute(
        select(col(Order.id)).where(*_reminder_due(now, lead)).order_by(col(Order.id))
    )
    return [int(order_id) for order_id in rows.scalars().all() if order_id is not None]


async def claim_reminder(
    session: AsyncSession, *, order_id: int, now: datetime, lead: timedelta
) -> OrderView | None:
    """Claim the reminder of one reservation; None when it is not due or already claimed."""
    claimed = await session.execute(
        update(Order)
        .where(col(Order.id) == order_id, *_reminder_due(now, lead))
        .values(reminded_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    row = await session.get(Order, order_id, populate_existing=True)
    if row is None:
        return None
    return (await with_translations(session, [order_view(row)]))[0]


async def due_expiries(session: AsyncSession, *, now: datetime) -> list[int]:
    """Reservations whose deadline passed unpaid, oldest first."""
    rows = await session.execute(
        select(col(Order.id))
        .where(*_is_reservation(), col(Order.expires_at) <= now)
        .order_by(col(Order.id))
    )
    return [int(order_id) for order_id in rows.scalars().all() if order_id is not None]


async def expire_reservation(
    session: AsyncSession, *, order_id: int, now: datetime
) -> OrderView | None:
    """Release one reservation whose deadline passed unpaid: claimed by a conditional UPDATE
    (still reserved, deadline passed), then its stock and coupon go back. None when it was not
    due, or was paid, cancelled or expired meanwhile."""
    claimed = await session.execute(
        update(Order)
        .where(col(Order.id) == order_id, *_is_reservation(), col(Order.expires_at) <= now)
        .values(status=ORDER_EXPIRED, version=col(Order.version) + 1, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    row = await session.get(Order, order_id, populate_existing=True)
    assert row is not None
    session.add(
        OrderEvent(
            order_id=order_id,
            from_status=ORDER_RESERVED,
            to_status=ORDER_EXPIRED,
            note="reservation expired unpaid",
            at=now,
        )
    )
    await release_reserved(session, row)
    return (await with_translations(session, [order_view(row)]))[0]


async def recently_expired(
    session: AsyncSession, *, chat_id: int, member_id: int, now: datetime
) -> list[OrderView]:
    """The member's reservations in the chat that expired in the last few days, newest first
    (what a leader marking the member paid is told about)."""
    rows = await session.execute(
        select(Order)
        .where(
            col(Order.chat_id) == chat_id,
            col(Order.member_id) == member_id,
            col(Order.status) == ORDER_EXPIRED,
            col(Order.expires_at) >= now - RECENTLY_EXPIRED,
        )
        .order_by(col(Order.id).desc())
    )
    return [order_view(row) for row in rows.scalars().all()]
