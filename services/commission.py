"""Commission held until the refund window ends: the leader's on their group's orders and the
referrers' up the chain are booked into a pending account and released by one query, each
kind described by a `CommissionHold` (services/order/ and services/referral/ own theirs).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.ledger import LedgerAccount, LedgerEntry, LedgerTransaction
from models.order import ORDER_FULFILLED, ORDER_PAID, Order, OrderEvent
from services.ledger import AccountRef, Posting, post


@dataclass(frozen=True, slots=True)
class CommissionHold:
    """One kind of commission held pending on an order: where it waits, where it goes."""

    booked: tuple[str, ...]  # the transaction kinds that book it or scale it after a refund
    pending: str  # the account kind it waits in, one account per earner
    earned: str  # the account kind it is released to, the earner's own
    release: str  # the release's transaction kind (one release per order)
    key: str  # the release's idempotency key is order:<id>:<key>
    label: str  # the release's memo reads "<label> on order #<id> released"


async def release_held(
    session: AsyncSession, hold: CommissionHold, *, now: datetime, window: timedelta
) -> int:
    """Release the held commission of orders paid longer ago than the refund window and not
    refunded: each earner's pending net of adjustments, in one transaction per order posted
    once and dated `now` (the job's clock). Returns how many orders were released."""
    paid_before = (
        select(col(OrderEvent.order_id))
        .where(col(OrderEvent.to_status) == ORDER_PAID, col(OrderEvent.at) <= now - window)
        .scalar_subquery()
    )
    released = select(col(LedgerTransaction.order_id)).where(
        col(LedgerTransaction.kind) == hold.release
    )
    net = func.sum(col(LedgerEntry.amount))  # the commission less partial-refund adjustments
    rows = await session.execute(
        select(
            col(LedgerTransaction.order_id),
            col(LedgerAccount.owner_id),
            col(LedgerEntry.asset),
            net,
        )
        .join(LedgerEntry, col(LedgerEntry.transaction_id) == col(LedgerTransaction.id))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(Order, col(Order.id) == col(LedgerTransaction.order_id))
        .where(
            col(LedgerTransaction.kind).in_(hold.booked),
            col(LedgerAccount.kind) == hold.pending,
            col(Order.status).in_((ORDER_PAID, ORDER_FULFILLED)),
            col(Order.id).in_(paid_before),
            col(Order.id).not_in(released),
        )
        .group_by(
            col(LedgerTransaction.order_id), col(LedgerAccount.owner_id), col(LedgerEntry.asset)
        )
        .having(net > 0)
        .order_by(col(LedgerTransaction.order_id), col(LedgerAccount.owner_id))
    )
    pending: dict[int, list[Posting]] = defaultdict(list)
    for order_id, owner, asset, amount in rows.all():
        if order_id is None:
            continue
        pending[int(order_id)] += [
            Posting(AccountRef(hold.pending, int(owner)), asset, -int(amount)),
            Posting(AccountRef(hold.earned, int(owner)), asset, int(amount)),
        ]
    for order_id, postings in pending.items():
        await post(
            session,
            key=f"order:{order_id}:{hold.key}",
            kind=hold.release,
            postings=postings,
            memo=f"{hold.label} on order #{order_id} released",
            order_id=order_id,
            at=now,
        )
    return len(pending)
