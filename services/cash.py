"""Cash leaders collect for offline orders: owed to the brand until handed over.

Whoever marks an offline order paid holds its cash: the order's settlement books the revenue
as before (customer_receivable -> brand_revenue), and `collect_cash` books where the money
went (customer_receivable <- leader_cash: the member owes nothing, the collector owes the
brand). A hand-over the holder asks for and staff confirm moves it on (leader_cash ->
brand_cash); so does the part of a commission payout netted against it (services/payout.py).

The cash one holder owes is changed by one decision at a time: a decision locks the holder's
member row first, then reads what they owe, so a hand-over and a netted payout never both
settle the same cash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import case, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.ledger import (
    ACCOUNT_BRAND_CASH,
    ACCOUNT_CUSTOMER_PAYABLE,
    ACCOUNT_CUSTOMER_RECEIVABLE,
    ACCOUNT_LEADER_CASH,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from models.member import Member
from models.payout import (
    HANDOVER_CONFIRMED,
    HANDOVER_REFUSED,
    HANDOVER_REQUESTED,
    CashHandover,
)
from services.db import rowcount
from services.errors import Refused
from services.ledger import AccountRef, Posting, balances, post
from services.paging import Page, page_of

# ledger transaction kinds written here
TX_CASH_COLLECTED = "cash_collected"  # a leader took an offline order's money
TX_CASH_HANDOVER = "cash_handover"  # staff confirmed the leader handed cash over
TX_CASH_NETTED = "cash_netted"  # cash owed settled out of the holder's commission payout
# a refund owed to a member (customer_payable) paid back by hand, from the brand's cash or
# from the cash the leader who pays it holds
TX_REFUND_HANDED_BACK = "refund_handed_back"


class CashError(Refused):
    """A hand-over that cannot be done; `reason` is a stable code handlers translate."""


class CashRefusal(StrEnum):
    """The reasons a CashError gives (its `reason`); the handlers map each to a message."""

    MORE_THAN_OWED = "more_than_owed"
    NOTHING_OWED = "nothing_owed"
    WHICH_CURRENCY = "which_currency"
    BAD_AMOUNT = "bad_amount"
    ALREADY_OPEN = "already_open"
    NOT_FOUND = "not_found"
    OWN_HANDOVER = "own_handover"
    ALREADY_DECIDED = "already_decided"
    MORE_THAN_HELD = "more_than_held"


@dataclass(frozen=True, slots=True)
class HandoverView:
    """A hand-over request as plain values."""

    id: int
    holder_id: int
    currency: str
    amount: int
    status: str
    requested_at: datetime
    decided_by: int | None
    decided_at: datetime | None


@dataclass(frozen=True, slots=True)
class CashHolder:
    """Cash one person owes the brand in one currency, and since when the oldest of it."""

    holder_id: int
    currency: str
    owed: int
    oldest_at: datetime  # when the oldest collection not yet covered by hand-overs was made
    overdue: bool  # owed longer than the configured number of days


def _view(row: CashHandover) -> HandoverView:
    assert row.id is not None
    return HandoverView(
        id=row.id,
        holder_id=row.holder_id,
        currency=row.currency,
        amount=row.amount,
        status=row.status,
        requested_at=row.requested_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


def cash_account(holder_id: int) -> AccountRef:
    """The account of the cash a holder owes the brand (negative while they owe)."""
    return AccountRef(ACCOUNT_LEADER_CASH, holder_id)


async def collect_cash(
    session: AsyncSession,
    *,
    order_id: int,
    member_id: int,
    collector_id: int,
    amount: int,
    currency: str,
) -> None:
    """Book an offline order's money as held by whoever marked it paid, once per order."""
    if amount <= 0:  # a fully discounted order: no cash changed hands
        return
    await post(
        session,
        key=f"order:{order_id}:cash",
        kind=TX_CASH_COLLECTED,
        postings=[
            Posting(AccountRef(ACCOUNT_CUSTOMER_RECEIVABLE, member_id), currency, amount),
            Posting(cash_account(collector_id), currency, -amount),
        ],
        memo=f"cash for order #{order_id} collected by {collector_id}",
        actor_id=collector_id,
        order_id=order_id,
    )


async def cash_owed(session: AsyncSession, holder_id: int) -> dict[str, int]:
    """What the holder owes the brand in cash, per currency (only currencies owed)."""
    held = await balances(session, cash_account(holder_id))
    return {currency: -value for currency, value in held.items() if value < 0}


async def lock_holder(session: AsyncSession, holder_id: int) -> None:
    """Queue decisions about one holder's money on their member row (fixed order: this first)."""
    await session.execute(
        select(col(Member.id)).where(col(Member.id) == holder_id).with_for_update()
    )


async def settle_cash(
    session: AsyncSession,
    *,
    holder_id: int,
    currency: str,
    amount: int,
    key: str,
    kind: str,
    memo: str,
    actor_id: int,
    at: datetime | None = None,
) -> None:
    """Book cash the holder owed as now the brand's (call under `lock_holder`).

    Raises CashError("more_than_owed") when it is more than they owe now."""
    owed = (await cash_owed(session, holder_id)).get(currency, 0)
    if amount > owed:
        raise CashError(CashRefusal.MORE_THAN_OWED, f"{amount} > {owed}")
    await post(
        session,
        key=key,
        kind=kind,
        postings=[
            Posting(cash_account(holder_id), currency, amount),
            Posting(AccountRef(ACCOUNT_BRAND_CASH), currency, -amount),
        ],
        memo=memo,
        actor_id=actor_id,
        at=at,
    )


async def request_handover(
    session: AsyncSession,
    *,
    holder_id: int,
    amount: int | None,
    currency: str | None,
    now: datetime,
) -> HandoverView:
    """The holder says they handed cash over (all they owe when `amount` is None): a request
    staff confirm. One open request per holder; never more than they owe."""
    owed = await cash_owed(session, holder_id)
    if not owed:
        raise CashError(CashRefusal.NOTHING_OWED)
    if currency is None:
        if len(owed) > 1:
            raise CashError(CashRefusal.WHICH_CURRENCY, ",".join(sorted(owed)))
        currency = next(iter(owed))
    owed_here = owed.get(currency, 0)
    if owed_here <= 0:
        raise CashError(CashRefusal.NOTHING_OWED, currency)
    value = owed_here if amount is None else amount
    if value <= 0:
        raise CashError(CashRefusal.BAD_AMOUNT)
    if value > owed_here:
        raise CashError(CashRefusal.MORE_THAN_OWED, f"{value} > {owed_here}")
    row = CashHandover(holder_id=holder_id, currency=currency, amount=value, requested_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise CashError(CashRefusal.ALREADY_OPEN) from None
    return _view(row)


async def get_handover(session: AsyncSession, handover_id: int) -> HandoverView | None:
    """The hand-over request with this id, if any."""
    row = await session.get(CashHandover, handover_id, populate_existing=True)
    return _view(row) if row is not None else None


async def open_handover(session: AsyncSession, holder_id: int) -> HandoverView | None:
    """The holder's hand-over waiting for staff, if any."""
    row = (
        await session.execute(
            select(CashHandover).where(
                col(CashHandover.holder_id) == holder_id,
                col(CashHandover.status) == HANDOVER_REQUESTED,
            )
        )
    ).scalar_one_or_none()
    return _view(row) if row is not None else None


async def decide_handover(
    session: AsyncSession, *, handover_id: int, staff_id: int, confirm: bool, now: datetime
) -> HandoverView:
    """Staff confirm (booked leader_cash -> brand_cash, once) or refuse a hand-over request.

    Never by the holder themselves; a request decided already is refused, so two taps at once
    book it once."""
    row = await session.get(CashHandover, handover_id, populate_existing=True)
    if row is None:
        raise CashError(CashRefusal.NOT_FOUND, str(handover_id))
    if row.holder_id == staff_id:
        raise CashError(CashRefusal.OWN_HANDOVER, str(handover_id))
    await lock_holder(session, row.holder_id)
    decided = await session.execute(
        update(CashHandover)
        .where(
            col(CashHandover.id) == handover_id,
            col(CashHandover.status) == HANDOVER_REQUESTED,
        )
        .values(
            status=HANDOVER_CONFIRMED if confirm else HANDOVER_REFUSED,
            decided_by=staff_id,
            decided_at=now,
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(decided) != 1:
        raise CashError(CashRefusal.ALREADY_DECIDED, str(handover_id))
    if confirm:
        await settle_cash(
            session,
            holder_id=row.holder_id,
            currency=row.currency,
            amount=row.amount,
            key=f"cash-handover:{handover_id}",
            kind=TX_CASH_HANDOVER,
            memo=f"cash handed over by {row.holder_id} (hand-over #{handover_id})",
            actor_id=staff_id,
            at=now,
        )
    fresh = await session.get(CashHandover, handover_id, populate_existing=True)
    assert fresh is not None
    return _view(fresh)


async def open_handovers(
    session: AsyncSession, *, limit: int, offset: int = 0
) -> Page[HandoverView]:
    """A page of the hand-overs waiting for staff, oldest first, and how many wait."""
    statement = (
        select(CashHandover)
        .where(col(CashHandover.status) == HANDOVER_REQUESTED)
        .order_by(col(CashHandover.id))
    )
    return await page_of(session, statement, _view, limit=limit, offset=offset)


async def cash_holders(
    session: AsyncSession, *, now: datetime, overdue_days: int, holder_id: int | None = None
) -> list[CashHolder]:
    """Everyone who owes the brand cash (or only `holder_id`): how much per currency and since
    when, oldest first.

    The oldest unsettled date is first-in, first-out: hand-overs settle the oldest collections
    first, so it is the date of the first collection the hand-overs so far do not cover."""
    amount = col(LedgerEntry.amount)
    whose = [] if holder_id is None else [col(LedgerAccount.owner_id) == holder_id]
    on_cash = (
        select(
            col(LedgerAccount.owner_id).label("holder"),
            col(LedgerEntry.asset).label("asset"),
            col(LedgerTransaction.created_at).label("at"),
            func.sum(-amount)
            .over(
                partition_by=(col(LedgerEntry.account_id), col(LedgerEntry.asset)),
                order_by=col(LedgerEntry.id),
            )
            .label("running"),
        )
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .where(col(LedgerAccount.kind) == ACCOUNT_LEADER_CASH, amount < 0, *whose)
        .subquery()
    )
    settled = (
        select(
            col(LedgerAccount.owner_id).label("holder"),
            col(LedgerEntry.asset).label("asset"),
            func.sum(amount).label("settled"),
        )
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .where(col(LedgerAccount.kind) == ACCOUNT_LEADER_CASH, amount > 0, *whose)
        .group_by(col(LedgerAccount.owner_id), col(LedgerEntry.asset))
        .subquery()
    )
    covered = func.coalesce(settled.c.settled, 0)
    rows = await session.execute(
        select(
            on_cash.c.holder,
            on_cash.c.asset,
            func.max(on_cash.c.running) - func.max(covered),
            func.min(on_cash.c.at),
        )
        .select_from(on_cash)
        .outerjoin(
            settled,
            (settled.c.holder == on_cash.c.holder) & (settled.c.asset == on_cash.c.asset),
        )
        .where(on_cash.c.running > covered)
        .group_by(on_cash.c.holder, on_cash.c.asset)
        .order_by(func.min(on_cash.c.at), on_cash.c.holder)
    )
    limit = timedelta(days=overdue_days)
    return [
        CashHolder(
            holder_id=int(holder),
            currency=str(asset),
            owed=int(owed),
            oldest_at=oldest,
            overdue=now - oldest > limit,
        )
        for holder, asset, owed, oldest in rows.all()
        if int(owed) > 0
    ]


@dataclass(frozen=True, slots=True)
class HandedBack:
    """A refund owed on an order, now paid back to its member by hand."""

    order_id: int
    member_id: int
    currency: str
    amount: int
    from_leader_cash: bool  # paid out of the cash the payer held for the brand
    booked: bool  # False when another request at the same moment booked it first


async def refund_owed_on_order(session: AsyncSession, order_id: int) -> dict[str, int]:
    """What the brand still owes the order's member in refunds of it, per currency: the
    entries on the member's payable account booked against the order (only currencies owed)."""
    return {
        asset: owed for asset, (owed, _booked) in (await _payable_on(session, order_id)).items()
    }


async def _payable_on(session: AsyncSession, order_id: int) -> dict[str, tuple[int, int]]:
    """Per currency still owed on the order's refunds: (owed now, ever booked as owed)."""
    amount = col(LedgerEntry.amount)
    owed = await session.execute(
        select(
            col(LedgerEntry.asset),
            func.sum(amount),
            func.sum(case((amount > 0, amount), else_=0)),
        )
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .where(
            col(LedgerTransaction.order_id) == order_id,
            col(LedgerAccount.kind) == ACCOUNT_CUSTOMER_PAYABLE,
        )
        .group_by(col(LedgerEntry.asset))
    )
    return {
        asset: (int(total), int(booked))
        for asset, total, booked in owed.all()
        if total and total > 0
    }


async def hand_back_refund(
    session: AsyncSession,
    *,
    order_id: int,
    member_id: int,
    payer_id: int,
    from_leader_cash: bool,
    at: datetime | None = None,
) -> HandedBack:
    """Book the refund owed on an order as paid back to its member by `payer_id`: out of the
    brand's cash, or (`from_leader_cash`) out of the cash the payer holds for the brand, which
    lowers what they owe. Twice at once books once: the key carries what was owed.

    Raises CashError: nothing_owed, more_than_held (a leader paying more than the cash they
    hold: staff pay it)."""
    if from_leader_cash:
        await lock_holder(session, payer_id)
    owed = await _payable_on(session, order_id)
    if not owed:
        raise CashError(CashRefusal.NOTHING_OWED, str(order_id))
    currency, (amount, booked) = sorted(owed.items())[0]  # an order has one currency
    if from_leader_cash:
        held = (await cash_owed(session, payer_id)).get(currency, 0)
        if amount > held:
            raise CashError(CashRefusal.MORE_THAN_HELD, f"{amount} > {held}")
    source = cash_account(payer_id) if from_leader_cash else AccountRef(ACCOUNT_BRAND_CASH)
    posted = await post(
        session,
        # what was ever owed on the order only grows with each refund: a second tap at once
        # finds the first's key, a later refund gets its own
        key=f"order:{order_id}:refund_handed_back:{booked}",
        kind=TX_REFUND_HANDED_BACK,
        postings=[
            Posting(AccountRef(ACCOUNT_CUSTOMER_PAYABLE, member_id), currency, -amount),
            Posting(source, currency, amount),
        ],
        memo=f"refund of order #{order_id} paid back by {payer_id}",
        actor_id=payer_id,
        order_id=order_id,
        at=at,
    )
    return HandedBack(order_id, member_id, currency, amount, from_leader_cash, posted.created)
