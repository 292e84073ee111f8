"""Telegram payments of orders: the invoice, the pre-checkout answer, the successful payment
(settled once per charge id; money that cannot settle an order is owed back) and the Stars
charges behind refunds.
"""

from __future__ import annotations

import re

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.order import (
    OPEN_STATUSES,
    ORDER_AWAITING_PAYMENT,
    ORDER_CANCELLED,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_RESERVED,
    PAYMENT_RECEIVED,
    PAYMENT_REFUND_DUE,
    PAYMENT_REFUNDED_BACK,
    Order,
    Payment,
)
from models.product import PAYMENT_TELEGRAM
from services.ledger import STARS, Posting, post
from services.order.booking import _customer, _payable, _settle
from services.order.read import _load, _with_product, get_order
from services.order.status import _move
from services.order.values import (
    TX_PAYMENT_UNMATCHED,
    TX_REFUND_PAID,
    OrderError,
    OrderRefusal,
    OrderView,
    PaymentOutcome,
    order_view,
)
from services.shipping import ShippingGiven, shipping_for_payment

_PAYLOAD = re.compile(r"^order:(\d{1,18}):v(\d{1,9})$")


async def start_invoice(session: AsyncSession, *, order_id: int, member_id: int) -> OrderView:
    """Move an order to awaiting_payment for a Telegram invoice (again, if one was lost); the
    order comes with what the invoice shows of its product."""
    row = await _load(session, order_id)
    if row.member_id != member_id:
        raise OrderError(OrderRefusal.NOT_YOURS, str(order_id))
    if row.payment_mode != PAYMENT_TELEGRAM:
        raise OrderError(OrderRefusal.OFFLINE_ORDER, str(order_id))
    if row.status == ORDER_AWAITING_PAYMENT:  # a fresh invoice supersedes the old one
        row = await _move(session, row, ORDER_RESERVED, actor_id=member_id, note="new invoice")
    moved = await _move(session, row, ORDER_AWAITING_PAYMENT, actor_id=member_id)
    return await _with_product(session, order_view(moved))


async def _by_payload(session: AsyncSession, payload: str) -> tuple[Order | None, int | None]:
    match = _PAYLOAD.match(payload)
    if match is None:
        return None, None
    row = await session.get(Order, int(match.group(1)), populate_existing=True)
    return row, int(match.group(2))


async def check_pre_checkout(
    session: AsyncSession,
    *,
    payload: str,
    member_id: int,
    currency: str,
    total_amount: int,
    shipping: ShippingGiven | None = None,
) -> str | None:
    """None when Telegram may take the money; otherwise why not (a stable reason code). A
    delivery order's total includes the shipping option the member chose in the invoice."""
    row, version = await _by_payload(session, payload)
    if row is None or row.member_id != member_id:
        return "unknown_order"
    if row.status == ORDER_CANCELLED:
        return "cancelled"
    if row.status in (ORDER_PAID, ORDER_FULFILLED, ORDER_REFUNDED):
        return "already_paid"
    if row.status != ORDER_AWAITING_PAYMENT or version != row.version:
        return "stale_invoice"
    delivery = await shipping_for_payment(session, row, shipping)
    if delivery is None:
        return "no_shipping"
    if row.currency != currency or row.total + delivery[0] != total_amount:
        return "price_changed"
    return None


async def record_telegram_payment(
    session: AsyncSession,
    *,
    payload: str,
    member_id: int,
    currency: str,
    amount: int,
    charge_id: str,
    provider_charge_id: str = "",
    shipping: ShippingGiven | None = None,
) -> PaymentOutcome:
    """Settle the order a successful payment is for, once per charge id.

    Money for an order that can no longer take it (cancelled meanwhile, already paid, unknown)
    is never lost: it is booked as owed back to the member, for the handler to refund.
    """
    existing = (
        await session.execute(select(Payment).where(col(Payment.telegram_charge_id) == charge_id))
    ).scalar_one_or_none()
    if existing is not None:
        order = await get_order(session, existing.order_id) if existing.order_id else None
        return PaymentOutcome(
            order, existing.status, existing.amount, existing.currency, charge_id, created=False
        )
    row, _version = await _by_payload(session, payload)
    # a delivery order paid with a provider: the option and address come with the payment
    delivery = await shipping_for_payment(session, row, shipping) if row is not None else None
    valid = (
        row is not None
        and delivery is not None
        and row.member_id == member_id
        and row.status in OPEN_STATUSES
        and row.currency == currency
        and row.total + delivery[0] == amount
    )
    if valid and row is not None and delivery is not None:
        row = await _move(
            session,
            row,
            ORDER_PAID,
            actor_id=member_id,
            note="telegram",
            paid_amount=amount,
            extra=delivery[1],
        )
        await _settle(session, row, actor_id=member_id)
        status = PAYMENT_RECEIVED
    else:
        status = PAYMENT_REFUNDED_BACK if currency == STARS else PAYMENT_REFUND_DUE
        await post(
            session,
            key=f"payment:{charge_id}:unmatched",
            kind=TX_PAYMENT_UNMATCHED,
            postings=[
                Posting(_customer(member_id), currency, -amount),
                Posting(_payable(member_id), currency, amount),
            ],
            memo=f"payment for {payload[:60]} could not settle it",
            actor_id=member_id,
            order_id=row.id if row is not None else None,
        )
    session.add(
        Payment(
            telegram_charge_id=charge_id,
            provider_charge_id=provider_charge_id,
            order_id=row.id if row is not None else None,
            member_id=member_id,
            amount=amount,
            currency=currency,
            status=status,
        )
    )
    await session.flush()
    return PaymentOutcome(
        order_view(row) if row is not None else None, status, amount, currency, charge_id, True
    )


async def refund_paid_back(
    session: AsyncSession, *, member_id: int, currency: str, amount: int, charge_id: str
) -> None:
    """The money owed to the member went back through Telegram (refundStarPayment succeeded)."""
    await post(
        session,
        key=f"payment:{charge_id}:refunded",
        kind=TX_REFUND_PAID,
        postings=[
            Posting(_payable(member_id), currency, -amount),
            Posting(_customer(member_id), currency, amount),
        ],
        memo="refund sent",
    )


async def star_charge_id(session: AsyncSession, order_id: int) -> str | None:
    """The Telegram charge id that paid the order in Stars, if it was paid that way."""
    result = await session.execute(
        select(col(Payment.telegram_charge_id)).where(
            col(Payment.order_id) == order_id,
            col(Payment.status) == PAYMENT_RECEIVED,
            col(Payment.currency) == STARS,
        )
    )
    return result.scalar_one_or_none()


async def mark_refund_due(session: AsyncSession, *, charge_id: str) -> None:
    """Telegram would not send the money back automatically: staff must do it by hand."""
    await session.execute(
        update(Payment)
        .where(col(Payment.telegram_charge_id) == charge_id)
        .values(status=PAYMENT_REFUND_DUE)
    )
