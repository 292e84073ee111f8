"""What an order books on the ledger: its payment and the leader's pending commission, that
commission scaled after a partial refund or released after the refund window, and what a
full refund reverses (points clawed back as far as the member still holds them).
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.ledger import (
    ACCOUNT_BRAND_COMMISSION_EXPENSE,
    ACCOUNT_BRAND_REVENUE,
    ACCOUNT_BRAND_SHIPPING,
    ACCOUNT_CUSTOMER_PAYABLE,
    ACCOUNT_CUSTOMER_RECEIVABLE,
    ACCOUNT_LEADER_COMMISSION,
    ACCOUNT_LEADER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_POINTS,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from models.order import Order
from services.cash import TX_CASH_COLLECTED, TX_REFUND_HANDED_BACK
from services.commission import CommissionHold, release_held
from services.ledger import AccountRef, Posting, find_transaction, post, reverse
from services.order.values import (
    TX_CLAWBACK,
    TX_COMMISSION,
    TX_COMMISSION_RELEASE,
    TX_ORDER_PAID,
    TX_ORDER_POINTS,
    TX_ORDER_REFUND,
    TX_PAYMENT_UNMATCHED,
    TX_REFUND_PAID,
)
from services.points import claw_back
from services.referral import (
    TX_COMMISSION_ADJUST,
    TX_REFERRAL_COMMISSION,
    TX_REFERRAL_COMMISSION_RELEASE,
    TX_REFERRAL_POINTS,
)
from services.role import is_leader, is_suspended_leader

# transaction kinds of the order's own settlement, which a refund does not reverse (the cash a
# leader collected stays owed to the brand: the refund is owed to the member beside it)
_SETTLEMENT_KINDS = (
    TX_ORDER_PAID,
    TX_ORDER_REFUND,
    TX_REFUND_PAID,
    TX_PAYMENT_UNMATCHED,
    TX_CASH_COLLECTED,
    TX_REFUND_HANDED_BACK,
)


def _customer(member_id: int) -> AccountRef:
    return AccountRef(ACCOUNT_CUSTOMER_RECEIVABLE, member_id)


def _payable(member_id: int) -> AccountRef:
    return AccountRef(ACCOUNT_CUSTOMER_PAYABLE, member_id)


async def _earns(session: AsyncSession, row: Order) -> bool:
    """Whether the order's leader earns its commission now: only while appointed and not
    suspended, in the order's group (staff's decision stops the earning of open group-buys)."""
    assert row.leader_id is not None
    if row.chat_id < 0:  # a group
        return await is_leader(session, member_id=row.leader_id, community_id=row.chat_id)
    return not await is_suspended_leader(session, row.leader_id)


async def _settle(session: AsyncSession, row: Order, *, actor_id: int | None) -> None:
    """Book the order's payment: the member's money becomes brand revenue, and the leader's
    commission is booked as pending until the refund window ends."""
    assert row.id is not None
    commission = (row.total - row.shipping_cost) * row.commission_bps // 10_000
    if row.leader_id is not None and commission > 0 and await _earns(session, row):
        await post(
            session,
            key=f"order:{row.id}:commission",
            kind=TX_COMMISSION,
            postings=[
                Posting(AccountRef(ACCOUNT_BRAND_COMMISSION_EXPENSE), row.currency, -commission),
                Posting(
                    AccountRef(ACCOUNT_LEADER_COMMISSION_PENDING, row.leader_id),
                    row.currency,
                    commission,
                ),
            ],
            memo=f"commission on order #{row.id}",
            actor_id=actor_id,
            order_id=row.id,
        )
    await post(
        session,
        key=f"order:{row.id}:paid",
        kind=TX_ORDER_PAID,
        postings=[
            Posting(_customer(row.member_id), row.currency, -row.total),
            Posting(AccountRef(ACCOUNT_BRAND_REVENUE), row.currency, row.total - row.shipping_cost),
            *(
                [Posting(AccountRef(ACCOUNT_BRAND_SHIPPING), row.currency, row.shipping_cost)]
                if row.shipping_cost
                else []
            ),
        ],
        memo=f"order #{row.id} {row.title} x{row.quantity}",
        actor_id=actor_id,
        order_id=row.id,
    )


_COMMISSION_RELEASES = {
    ACCOUNT_LEADER_COMMISSION_PENDING: TX_COMMISSION_RELEASE,
    ACCOUNT_MEMBER_COMMISSION_PENDING: TX_REFERRAL_COMMISSION_RELEASE,
}


async def _scale_commissions(
    session: AsyncSession, *, row: Order, sequence: int, actor_id: int
) -> None:
    """After a partial refund, bring the order's pending commissions (the leader's and each
    referrer's) down to their share of what is still paid, rounded down, so nobody earns
    commission on money given back. Commission already released is left alone."""
    assert row.id is not None and row.paid_amount > 0
    remaining = row.paid_amount - row.refunded_amount
    found = await session.execute(
        select(
            col(LedgerTransaction.kind),
            col(LedgerAccount.kind),
            col(LedgerAccount.owner_id),
            col(LedgerEntry.asset),
            func.sum(col(LedgerEntry.amount)),
        )
        .join(LedgerEntry, col(LedgerEntry.transaction_id) == col(LedgerTransaction.id))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .where(
            col(LedgerTransaction.order_id) == row.id,
            col(LedgerAccount.kind).in_(tuple(_COMMISSION_RELEASES)),
        )
        .group_by(
            col(LedgerTransaction.kind),
            col(LedgerAccount.kind),
            col(LedgerAccount.owner_id),
            col(LedgerEntry.asset),
        )
    )
    booked: dict[tuple[str, int, str], int] = {}
    adjusted: dict[tuple[str, int, str], int] = {}
    released: set[str] = set()
    for tx_kind, account_kind, owner, asset, amount in found.all():
        key = (str(account_kind), int(owner), str(asset))
        if tx_kind in (TX_COMMISSION, TX_REFERRAL_COMMISSION):
            booked[key] = booked.get(key, 0) + int(amount)
        elif tx_kind == TX_COMMISSION_ADJUST:
            adjusted[key] = adjusted.get(key, 0) + int(amount)
        elif tx_kind == _COMMISSION_RELEASES[str(account_kind)]:
            released.add(str(account_kind))
    postings: list[Posting] = []
    given_back: dict[str, int] = {}
    for (account_kind, owner, asset), original in sorted(booked.items()):
        if account_kind in released or original <= 0:
            continue
        target = original * remaining // row.paid_amount
        excess = original + adjusted.get((account_kind, owner, asset), 0) - target
        if excess > 0:
            postings.append(Posting(AccountRef(account_kind, owner), asset, -excess))
            given_back[asset] = given_back.get(asset, 0) + excess
    if not postings:
        return
    postings += [
        Posting(AccountRef(ACCOUNT_BRAND_COMMISSION_EXPENSE), asset, amount)
        for asset, amount in sorted(given_back.items())
    ]
    await post(
        session,
        key=f"order:{row.id}:commission-adjust:{sequence}",
        kind=TX_COMMISSION_ADJUST,
        postings=postings,
        memo=f"commission on order #{row.id} scaled to what is still paid",
        actor_id=actor_id,
        order_id=row.id,
    )


_COMMISSION_KINDS = frozenset(
    {
        TX_COMMISSION,
        TX_COMMISSION_ADJUST,
        TX_COMMISSION_RELEASE,
        TX_REFERRAL_COMMISSION,
        TX_REFERRAL_COMMISSION_RELEASE,
    }
)


async def _reverse_side_effects(session: AsyncSession, *, order_id: int, actor_id: int) -> None:
    """Reverse every transaction the order created other than its own settlement."""
    reversed_ids = select(col(LedgerTransaction.reverses_id)).where(
        col(LedgerTransaction.reverses_id).is_not(None)
    )
    rows = await session.execute(
        select(col(LedgerTransaction.id), col(LedgerTransaction.kind))
        .where(
            col(LedgerTransaction.order_id) == order_id,
            col(LedgerTransaction.kind).not_in((*_SETTLEMENT_KINDS, "reversal", TX_CLAWBACK)),
            col(LedgerTransaction.id).not_in(reversed_ids),
        )
        .order_by(col(LedgerTransaction.id))
    )
    found = rows.all()
    # commission released after the refund window stays earned: the brand bears a later refund
    # (its leader may have been paid it already); before the release it is taken back
    released = {TX_COMMISSION_RELEASE, TX_REFERRAL_COMMISSION_RELEASE} & {k for _i, k in found}
    for tx_id, kind in found:
        assert tx_id is not None
        if released and kind in _COMMISSION_KINDS:
            continue
        if kind in (TX_ORDER_POINTS, TX_REFERRAL_POINTS):
            # the member may have spent them: take back what is left, never below zero
            await claw_back_order_points(
                session,
                order_id=order_id,
                transaction_id=tx_id,
                key=None if kind == TX_ORDER_POINTS else f"order:{order_id}:clawback:{tx_id}",
            )
            continue
        await reverse(
            session,
            transaction_id=tx_id,
            key=f"order:{order_id}:refund-reverses:{tx_id}",
            memo=f"order #{order_id} refunded",
            actor_id=actor_id,
        )


async def claw_back_order_points(
    session: AsyncSession, *, order_id: int, transaction_id: int, key: str | None = None
) -> int:
    """Take back the points an order granted, as far as the member still holds them
    (`key`: for points other than the order's own, such as a referral reward)."""
    tx = await session.get(LedgerTransaction, transaction_id)
    assert tx is not None
    view = await find_transaction(session, tx.idempotency_key)
    assert view is not None
    for posting in view.postings:
        if posting.account.kind == ACCOUNT_MEMBER_POINTS and posting.amount > 0:
            return await claw_back(
                session,
                member_id=posting.account.owner_id,
                points=posting.amount,
                key=key or f"order:{order_id}:points-clawback",
                order_id=order_id,
            )
    return 0


LEADER_HOLD = CommissionHold(
    booked=(TX_COMMISSION, TX_COMMISSION_ADJUST),
    pending=ACCOUNT_LEADER_COMMISSION_PENDING,
    earned=ACCOUNT_LEADER_COMMISSION,
    release=TX_COMMISSION_RELEASE,
    key="commission-release",
    label="commission",
)


async def release_commissions(session: AsyncSession, *, now: datetime, window: timedelta) -> int:
    """Release the pending commission of orders paid longer ago than the refund window and
    not refunded; each release is posted once (its key is the order's). Returns how many."""
    return await release_held(session, LEADER_HOLD, now=now, window=window)
