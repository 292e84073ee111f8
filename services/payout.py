"""Commission paid out: a leader or referrer asks (/payout), staff approve or refuse.

Only released commission can be paid (leader_commission and member_commission: past the
refund window). An approved payout is one ledger transaction (the commission accounts ->
commission_paid_out) under the request's key; when the earner owes cash and staff choose to
net it, the part kept against the cash is a second, separate transaction settling it
(leader_cash -> brand_cash, as a hand-over would), so the books say both what was earned and
what was handed over.

A member has at most one open request (a partial unique index), a decision is a conditional
UPDATE of the request's status, and the earner's member row is locked before any balance is
read, so two taps, two staff or two requests at once pay once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.ledger import (
    ACCOUNT_COMMISSION_PAID_OUT,
    ACCOUNT_LEADER_CASH,
    ACCOUNT_LEADER_COMMISSION,
    ACCOUNT_LEADER_COMMISSION_PENDING,
    ACCOUNT_MEMBER_COMMISSION,
    ACCOUNT_MEMBER_COMMISSION_PENDING,
)
from models.payout import PAYOUT_PAID, PAYOUT_REFUSED, PAYOUT_REQUESTED, PayoutRequest
from services.cash import TX_CASH_NETTED, lock_holder, settle_cash
from services.db import rowcount
from services.errors import Refused
from services.ledger import AccountRef, Posting, balances_of_owner, post
from services.paging import Page, page_of
from services.role import is_suspended_leader

TX_COMMISSION_PAYOUT = "commission_payout"  # released commission paid out to its earner
# where released commission sits, drawn in this order by a payout
RELEASED_KINDS = (ACCOUNT_LEADER_COMMISSION, ACCOUNT_MEMBER_COMMISSION)
PENDING_KINDS = (ACCOUNT_LEADER_COMMISSION_PENDING, ACCOUNT_MEMBER_COMMISSION_PENDING)


class PayoutError(Refused):
    """A payout that cannot be done; `reason` is a stable code handlers translate."""


class PayoutRefusal(StrEnum):
    """The reasons a PayoutError gives (its `reason`); the handlers map each to a message."""

    SUSPENDED = "suspended"
    NOTHING_RELEASED = "nothing_released"
    WHICH_CURRENCY = "which_currency"
    BAD_AMOUNT = "bad_amount"
    OVER_BALANCE = "over_balance"
    BELOW_MINIMUM = "below_minimum"
    ALREADY_OPEN = "already_open"
    NOT_FOUND = "not_found"
    OWN_PAYOUT = "own_payout"
    REQUESTER_SUSPENDED = "requester_suspended"
    ALREADY_DECIDED = "already_decided"


@dataclass(frozen=True, slots=True)
class PayoutView:
    """A payout request as plain values."""

    id: int
    member_id: int
    currency: str
    amount: int
    netted: int
    status: str
    requested_at: datetime
    decided_by: int | None
    decided_at: datetime | None

    @property
    def paid_cash(self) -> int:
        """What is handed to the earner: the amount less what settled their cash."""
        return self.amount - self.netted


@dataclass(frozen=True, slots=True)
class EarnerStatement:
    """An earner's commission and cash in short, per currency: what staff see on the card."""

    released: dict[str, int] = field(default_factory=dict)
    pending: dict[str, int] = field(default_factory=dict)
    paid_out: dict[str, int] = field(default_factory=dict)
    cash_owed: dict[str, int] = field(default_factory=dict)


def _view(row: PayoutRequest) -> PayoutView:
    assert row.id is not None
    return PayoutView(
        id=row.id,
        member_id=row.member_id,
        currency=row.currency,
        amount=row.amount,
        netted=row.netted,
        status=row.status,
        requested_at=row.requested_at,
        decided_by=row.decided_by,
        decided_at=row.decided_at,
    )


def _add(into: dict[str, int], values: dict[str, int], sign: int = 1) -> None:
    for currency, value in values.items():
        into[currency] = into.get(currency, 0) + sign * value


async def earner_statement(session: AsyncSession, member_id: int) -> EarnerStatement:
    """Released, pending and paid-out commission and cash owed, from the cached balances."""
    held = await balances_of_owner(
        session,
        member_id,
        (*RELEASED_KINDS, *PENDING_KINDS, ACCOUNT_COMMISSION_PAID_OUT, ACCOUNT_LEADER_CASH),
    )
    statement = EarnerStatement()
    for kind in RELEASED_KINDS:
        _add(statement.released, held.get(kind, {}))
    for kind in PENDING_KINDS:
        _add(statement.pending, held.get(kind, {}))
    _add(statement.paid_out, held.get(ACCOUNT_COMMISSION_PAID_OUT, {}))
    _add(statement.cash_owed, held.get(ACCOUNT_LEADER_CASH, {}), sign=-1)
    for figures in (statement.released, statement.pending, statement.paid_out):
        for currency in [c for c, v in figures.items() if v == 0]:
            del figures[currency]
    for currency in [c for c, v in statement.cash_owed.items() if v <= 0]:
        del statement.cash_owed[currency]
    return statement


async def request_payout(
    session: AsyncSession,
    *,
    member_id: int,
    amount: int | None,
    currency: str | None,
    minimum: int,
    now: datetime,
) -> PayoutView:
    """The earner asks to be paid released commission (all of it when `amount` is None).

    At least `minimum` minor units, at most what is released, one open request at a time."""
    if await is_suspended_leader(session, member_id):
        raise PayoutError(PayoutRefusal.SUSPENDED)
    statement = await earner_statement(session, member_id)
    released = {c: v for c, v in statement.released.items() if v > 0}
    if not released:
        raise PayoutError(PayoutRefusal.NOTHING_RELEASED)
    if currency is None:
        if len(released) > 1:
            raise PayoutError(PayoutRefusal.WHICH_CURRENCY, ",".join(sorted(released)))
        currency = next(iter(released))
    available = released.get(currency, 0)
    if available <= 0:
        raise PayoutError(PayoutRefusal.NOTHING_RELEASED, currency)
    value = available if amount is None else amount
    if value <= 0:
        raise PayoutError(PayoutRefusal.BAD_AMOUNT)
    if value > available:
        raise PayoutError(PayoutRefusal.OVER_BALANCE, f"{value} > {available}")
    if value < minimum:
        raise PayoutError(PayoutRefusal.BELOW_MINIMUM, f"{value} < {minimum}")
    row = PayoutRequest(member_id=member_id, currency=currency, amount=value, requested_at=now)
    try:
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise PayoutError(PayoutRefusal.ALREADY_OPEN) from None
    return _view(row)


async def get_payout(session: AsyncSession, payout_id: int) -> PayoutView | None:
    """The payout request with this id, if any."""
    row = await session.get(PayoutRequest, payout_id, populate_existing=True)
    return _view(row) if row is not None else None


async def open_payout(session: AsyncSession, member_id: int) -> PayoutView | None:
    """The member's payout request waiting for staff, if any."""
    row = (
        await session.execute(
            select(PayoutRequest).where(
                col(PayoutRequest.member_id) == member_id,
                col(PayoutRequest.status) == PAYOUT_REQUESTED,
            )
        )
    ).scalar_one_or_none()
    return _view(row) if row is not None else None


async def open_payouts(session: AsyncSession, *, limit: int, offset: int = 0) -> Page[PayoutView]:
    """A page of the payout requests waiting for staff, oldest first, and how many wait."""
    statement = (
        select(PayoutRequest)
        .where(col(PayoutRequest.status) == PAYOUT_REQUESTED)
        .order_by(col(PayoutRequest.id))
    )
    return await page_of(session, statement, _view, limit=limit, offset=offset)


async def decide_payout(
    session: AsyncSession,
    *,
    payout_id: int,
    staff_id: int,
    approve: bool,
    net: bool,
    now: datetime,
) -> PayoutView:
    """Staff approve (booked once, netting the earner's cash owed when `net`) or refuse.

    Raises PayoutError: not_found, own_payout (staff never approve their own),
    requester_suspended (a suspended leader is paid only once reinstated), already_decided
    (another tap or staff member was first), over_balance (the commission shrank meanwhile, a
    refund took it back: the caller rolls back and nothing is booked)."""
    row = await session.get(PayoutRequest, payout_id, populate_existing=True)
    if row is None:
        raise PayoutError(PayoutRefusal.NOT_FOUND, str(payout_id))
    if row.member_id == staff_id:
        raise PayoutError(PayoutRefusal.OWN_PAYOUT, str(payout_id))
    await lock_holder(session, row.member_id)
    if approve and await is_suspended_leader(session, row.member_id):
        raise PayoutError(PayoutRefusal.REQUESTER_SUSPENDED, str(payout_id))
    decided = await session.execute(
        update(PayoutRequest)
        .where(
            col(PayoutRequest.id) == payout_id,
            col(PayoutRequest.status) == PAYOUT_REQUESTED,
        )
        .values(
            status=PAYOUT_PAID if approve else PAYOUT_REFUSED, decided_by=staff_id, decided_at=now
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(decided) != 1:
        raise PayoutError(PayoutRefusal.ALREADY_DECIDED, str(payout_id))
    if approve:
        await _pay(session, row=row, staff_id=staff_id, net=net, now=now)
    fresh = await session.get(PayoutRequest, payout_id, populate_existing=True)
    assert fresh is not None
    return _view(fresh)


async def _pay(
    session: AsyncSession, *, row: PayoutRequest, staff_id: int, net: bool, now: datetime
) -> None:
    assert row.id is not None
    held = await balances_of_owner(session, row.member_id, RELEASED_KINDS)
    available = {kind: held.get(kind, {}).get(row.currency, 0) for kind in RELEASED_KINDS}
    if row.amount > sum(max(0, value) for value in available.values()):
        raise PayoutError(PayoutRefusal.OVER_BALANCE, str(row.id))
    postings = []
    left = row.amount
    for kind in RELEASED_KINDS:  # the leader's commission first, then referral commission
        take = min(left, max(0, available[kind]))
        if take:
            postings.append(Posting(AccountRef(kind, row.member_id), row.currency, -take))
            left -= take
    postings.append(
        Posting(AccountRef(ACCOUNT_COMMISSION_PAID_OUT, row.member_id), row.currency, row.amount)
    )
    await post(
        session,
        key=f"payout:{row.id}",
        kind=TX_COMMISSION_PAYOUT,
        postings=postings,
        memo=f"commission paid out to {row.member_id} (payout #{row.id})",
        actor_id=staff_id,
        at=now,
    )
    if not net:
        return
    held_cash = await balances_of_owner(session, row.member_id, (ACCOUNT_LEADER_CASH,))
    owed = -held_cash.get(ACCOUNT_LEADER_CASH, {}).get(row.currency, 0)
    netted = min(max(0, owed), row.amount)
    if netted <= 0:
        return
    await settle_cash(
        session,
        holder_id=row.member_id,
        currency=row.currency,
        amount=netted,
        key=f"payout:{row.id}:netting",
        kind=TX_CASH_NETTED,
        memo=f"cash owed by {row.member_id} kept from payout #{row.id}",
        actor_id=staff_id,
        at=now,
    )
    await session.execute(
        update(PayoutRequest)
        .where(col(PayoutRequest.id) == row.id)
        .values(netted=netted)
        .execution_options(synchronize_session=False)
    )
