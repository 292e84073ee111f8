"""Stars refunds that survive failures: committed as a pending row in the transaction that
decides them, then sent to Telegram by a refunder (bot/refunds.py) outside any transaction,
and booked once Telegram has answered.

The steps, each its own short transaction:
1. `queue_star_refund` in the deciding transaction (a /refund, a payment that can no longer
   settle its order, a group-buy that did not form);
2. `claim_due_refunds` takes due rows with a lease, so two refunders never ask at once;
3. the refunder calls refundStarPayment;
4. `refund_done` books the money as paid back (an idempotent ledger key) and closes the row,
   `refund_retry` puts it back with a backoff, `refund_refused` leaves it owed for staff.

Telegram answers CHARGE_ALREADY_REFUNDED for a charge it refunded before, which is how a
refunder killed between steps 3 and 4 finishes the work once after a restart.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.order import (
    PAYMENT_REFUND_DUE,
    REFUND_BY_STAFF,
    STAR_REFUND_FAILED,
    STAR_REFUND_PENDING,
    STAR_REFUND_SENT,
    Payment,
    StarRefund,
)
from services.db import rowcount
from services.order import RefundOutcome, refund_order, refund_paid_back
from services.tiers import recompute

# backoff between attempts: 5 s, 10 s, 20 s ... at most 10 minutes
FIRST_RETRY = timedelta(seconds=5)
LONGEST_RETRY = timedelta(minutes=10)


@dataclass(frozen=True, slots=True)
class DueRefund:
    """A pending refund claimed by one refunder until `lease_until`."""

    id: int
    charge_id: str
    member_id: int
    order_id: int | None
    amount: int
    currency: str
    reason: str
    attempts: int


def _due(row: StarRefund) -> DueRefund:
    assert row.id is not None
    return DueRefund(
        row.id,
        row.charge_id,
        row.member_id,
        row.order_id,
        row.amount,
        row.currency,
        row.reason,
        row.attempts,
    )


async def queue_star_refund(
    session: AsyncSession,
    *,
    charge_id: str,
    member_id: int,
    order_id: int | None,
    amount: int,
    currency: str,
    reason: str,
) -> bool:
    """Commit to sending a charge's Stars back (once per charge); False when already queued."""
    existing = (
        await session.execute(
            select(col(StarRefund.id)).where(col(StarRefund.charge_id) == charge_id)
        )
    ).scalar_one_or_none()
    if existing is not None:
        return False
    session.add(
        StarRefund(
            charge_id=charge_id,
            member_id=member_id,
            order_id=order_id,
            amount=amount,
            currency=currency,
            reason=reason,
        )
    )
    await session.flush()
    return True


async def refund_now(
    session: AsyncSession,
    *,
    order_id: int,
    actor_id: int,
    amount: int | None,
    tier_currency: str,
    now: datetime,
    note: str = "",
    due_only: bool = False,
    reason: str = REFUND_BY_STAFF,
) -> RefundOutcome:
    """Refund a paid order (see services.order.refund_order) as one story: booked on the
    ledger, the member's tier recomputed from the lower spend (a move down is not announced),
    and Stars committed as a pending refund for the refunder to send back."""
    outcome = await refund_order(
        session, order_id=order_id, actor_id=actor_id, amount=amount, note=note, due_only=due_only
    )
    order = outcome.order
    await recompute(session, member_id=order.member_id, currency=tier_currency, now=now)
    if outcome.star_charge_id is not None:
        await queue_star_refund(
            session,
            charge_id=outcome.star_charge_id,
            member_id=order.member_id,
            order_id=order_id,
            amount=outcome.amount,
            currency=order.currency,
            reason=reason,
        )
    return outcome


async def claim_due_refunds(
    session: AsyncSession, *, now: datetime, lease: timedelta, limit: int = 20
) -> list[DueRefund]:
    """Take up to `limit` pending refunds that are due and not leased by another refunder."""
    candidates = (
        await session.execute(
            select(StarRefund)
            .where(
                col(StarRefund.status) == STAR_REFUND_PENDING,
                col(StarRefund.not_before) <= now,
                or_(col(StarRefund.lease_until).is_(None), col(StarRefund.lease_until) < now),
            )
            .order_by(col(StarRefund.id))
            .limit(limit)
        )
    ).scalars()
    claimed = []
    for row in list(candidates):
        taken = await session.execute(
            update(StarRefund)
            .where(
                col(StarRefund.id) == row.id,
                col(StarRefund.status) == STAR_REFUND_PENDING,
                or_(col(StarRefund.lease_until).is_(None), col(StarRefund.lease_until) < now),
            )
            .values(lease_until=now + lease, attempts=StarRefund.attempts + 1)
            .execution_options(synchronize_session=False)
        )
        if rowcount(taken) == 1:
            row.attempts += 1
            claimed.append(_due(row))
    return claimed


async def refund_done(session: AsyncSession, *, refund: DueRefund, now: datetime) -> bool:
    """Telegram sent the Stars back: book them as paid to the member and close the row.

    False when the row was closed already (the booking is keyed by the charge, so it is made
    once either way)."""
    closed = await session.execute(
        update(StarRefund)
        .where(col(StarRefund.id) == refund.id, col(StarRefund.status) == STAR_REFUND_PENDING)
        .values(status=STAR_REFUND_SENT, done_at=now, lease_until=None, last_error="")
        .execution_options(synchronize_session=False)
    )
    if rowcount(closed) != 1:
        return False
    await refund_paid_back(
        session,
        member_id=refund.member_id,
        currency=refund.currency,
        amount=refund.amount,
        charge_id=refund.charge_id,
    )
    return True


async def refund_retry(
    session: AsyncSession, *, refund: DueRefund, now: datetime, error: str
) -> datetime:
    """Telegram did not answer (or answered 5xx / 429): ask again later; returns when."""
    wait = min(FIRST_RETRY * 2 ** max(refund.attempts - 1, 0), LONGEST_RETRY)
    when = now + wait
    await session.execute(
        update(StarRefund)
        .where(col(StarRefund.id) == refund.id, col(StarRefund.status) == STAR_REFUND_PENDING)
        .values(not_before=when, lease_until=None, last_error=error[:200])
        .execution_options(synchronize_session=False)
    )
    return when


async def refund_refused(
    session: AsyncSession, *, refund: DueRefund, now: datetime, error: str
) -> bool:
    """Telegram refused for good: the money stays owed to the member on the ledger and the
    payment is marked for staff to pay back by hand. False when the row was closed already."""
    closed = await session.execute(
        update(StarRefund)
        .where(col(StarRefund.id) == refund.id, col(StarRefund.status) == STAR_REFUND_PENDING)
        .values(status=STAR_REFUND_FAILED, done_at=now, lease_until=None, last_error=error[:200])
        .execution_options(synchronize_session=False)
    )
    if rowcount(closed) != 1:
        return False
    await session.execute(
        update(Payment)
        .where(col(Payment.telegram_charge_id) == refund.charge_id)
        .values(status=PAYMENT_REFUND_DUE)
    )
    return True


async def next_refund_due(session: AsyncSession) -> datetime | None:
    """When the earliest pending refund may be asked for (None when nothing is pending)."""
    row = (
        await session.execute(
            select(col(StarRefund.not_before), col(StarRefund.lease_until))
            .where(col(StarRefund.status) == STAR_REFUND_PENDING)
            .order_by(col(StarRefund.not_before))
            .limit(1)
        )
    ).first()
    if row is None:
        return None
    not_before, lease_until = row
    return max(not_before, lease_until) if lease_until is not None else not_before
