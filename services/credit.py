"""Leader credit: the record staff read before trusting a leader with more, and the limits they
set on one leader's trade.

The record counts, in SQL, what happened under the leader: the group-buys they opened and how
each ended; the orders of their groups (orders of group-buys they opened, and orders placed in
groups they lead) that were picked up late, never picked up, or reserved and left to expire;
the refunds on those orders; the complaints against them; and the cash they owe the brand
(services/cash.py), overdue or not.

A complaint is what a member says went wrong with an order of the leader's group: a review of
1 or 2 stars of a picked-up order. NPS detractors (0-6) asked after a pickup in one of the
leader's groups are counted beside them, as a softer signal: NPS is about the brand as a whole,
so it is shown but not called a complaint.

Limits: at most N group-buys open at once (checked when one opens, under a lock on the
leader's limit row, so two opened at once cannot both pass), and the largest order the leader
may mark paid by hand (the cash the brand trusts them to hold for one order)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlmodel import col

from models.credit import LeaderLimit
from models.groupbuy import (
    GROUPBUY_CANCELLED,
    GROUPBUY_FAILED,
    GROUPBUY_FORMED,
    GROUPBUY_OPEN,
    GROUPBUY_SETTLING,
    GroupBuy,
)
from models.nps import NpsSurvey
from models.order import (
    ORDER_EXPIRED,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_REFUNDED,
    Order,
    OrderEvent,
)
from models.review import Review
from models.role import LEADER_ACTIVE, LEADER_SUSPENDED, LeaderDesignation
from services.cash import CashHolder, cash_holders
from services.db import dialect_name, rowcount, upsert
from services.errors import Refused

COMPLAINT_RATING = 2  # a review of this many stars or fewer is a complaint
DETRACTOR_SCORE = 6  # an NPS answer of this or lower is a detractor
MAX_GROUPBUYS_LIMIT = 1000  # the highest open group-buys limit staff can set

# the kinds of limit staff set with /leader_limit
LIMIT_GROUPBUYS = "groupbuys"
LIMIT_ORDER = "order"


class CreditError(Refused):
    """A limit that cannot be set; `reason` is a stable code handlers translate."""


@dataclass(frozen=True, slots=True)
class Limits:
    """What staff limit one leader to; None is no limit of that kind."""

    leader_id: int
    max_open_groupbuys: int | None
    max_cash_order: int | None  # minor units of `currency`
    currency: str
    set_by: int
    set_at: datetime


@dataclass(frozen=True, slots=True)
class LeaderRecord:
    """What happened under one leader, all time, as counts and amounts."""

    leader_id: int
    groups: tuple[tuple[int, str], ...]  # (community id, designation status) they lead
    groupbuys_run: int  # opened by them, whatever became of them
    groupbuys_open: int  # taking joins now (or closing)
    groupbuys_formed: int
    groupbuys_failed: int
    groupbuys_cancelled: int
    orders_paid: int  # orders of their groups that were ever paid
    picked_up_late: int  # picked up more than `late_days` after being paid
    never_picked_up: int  # paid, still not picked up `late_days` after being paid
    expired_unpaid: int  # pay-at-pickup reservations released unpaid
    refunds: int  # orders refunded, in full or in part
    refunded: dict[str, int]  # the amounts refunded, per currency
    complaints: int  # reviews of COMPLAINT_RATING stars or fewer
    detractors: int  # NPS answers of DETRACTOR_SCORE or lower asked in their groups
    cash: tuple[CashHolder, ...]  # cash they owe the brand, per currency (overdue flagged)
    limits: Limits | None
    late_days: int


def _limits(row: LeaderLimit) -> Limits:
    return Limits(
        leader_id=row.member_id,
        max_open_groupbuys=row.max_open_groupbuys,
        max_cash_order=row.max_cash_order,
        currency=row.currency,
        set_by=row.set_by,
        set_at=row.set_at,
    )


def _their_groups(leader_id: int) -> Any:
    """The groups the member leads, suspended or not (a subquery of community ids)."""
    return select(col(LeaderDesignation.community_id)).where(
        col(LeaderDesignation.member_id) == leader_id,
        col(LeaderDesignation.status).in_([LEADER_ACTIVE, LEADER_SUSPENDED]),
    )


def _their_orders(leader_id: int) -> Any:
    """Orders of the leader's groups: of group-buys they opened, or placed in a group they lead."""
    return or_(
        col(Order.leader_id) == leader_id,
        col(Order.chat_id).in_(_their_groups(leader_id)),
    )


def _seconds_between(session: AsyncSession, start: Any, end: Any) -> Any:
    """end - start in seconds, in SQL on either backend."""
    if dialect_name(session) == "postgresql":
        return func.extract("epoch", end - start)
    return (func.julianday(end) - func.julianday(start)) * 86_400


async def leader_record(
    session: AsyncSession,
    *,
    leader_id: int,
    now: datetime,
    late_days: int,
    overdue_days: int,
) -> LeaderRecord:
    """The leader's record: each figure counted by the database, never a table read whole."""
    groups = await session.execute(
        select(col(LeaderDesignation.community_id), col(LeaderDesignation.status))
        .where(
            col(LeaderDesignation.member_id) == leader_id,
            col(LeaderDesignation.status).in_([LEADER_ACTIVE, LEADER_SUSPENDED]),
        )
        .order_by(col(LeaderDesignation.community_id))
    )
    by_status = dict(
        (
            await session.execute(
                select(col(GroupBuy.status), func.count())
                .where(col(GroupBuy.opened_by) == leader_id)
                .group_by(col(GroupBuy.status))
            )
        ).all()
    )
    theirs = _their_orders(leader_id)
    ever_paid = (ORDER_PAID, ORDER_FULFILLED, ORDER_REFUNDED)
    orders_paid = await session.scalar(
        select(func.count()).select_from(Order).where(theirs, col(Order.paid_amount) > 0)
    )
    late, never = await _late_pickups(session, theirs, now, late_days)
    expired = await session.scalar(
        select(func.count()).select_from(Order).where(theirs, col(Order.status) == ORDER_EXPIRED)
    )
    refund_rows = (
        await session.execute(
            select(col(Order.currency), func.count(), func.sum(col(Order.refunded_amount)))
            .where(theirs, col(Order.refunded_amount) > 0, col(Order.status).in_(ever_paid))
            .group_by(col(Order.currency))
        )
    ).all()
    complaints, detractors = await _unhappy(session, leader_id, theirs)
    cash = await cash_holders(session, now=now, overdue_days=overdue_days, holder_id=leader_id)
    return LeaderRecord(
        leader_id=leader_id,
        groups=tuple((int(c), str(s)) for c, s in groups.all()),
        groupbuys_run=sum(int(n) for n in by_status.values()),
        groupbuys_open=int(by_status.get(GROUPBUY_OPEN, 0))
        + int(by_status.get(GROUPBUY_SETTLING, 0)),
        groupbuys_formed=int(by_status.get(GROUPBUY_FORMED, 0)),
        groupbuys_failed=int(by_status.get(GROUPBUY_FAILED, 0)),
        groupbuys_cancelled=int(by_status.get(GROUPBUY_CANCELLED, 0)),
        orders_paid=int(orders_paid or 0),
        picked_up_late=late,
        never_picked_up=never,
        expired_unpaid=int(expired or 0),
        refunds=sum(int(n) for _c, n, _s in refund_rows),
        refunded={str(c): int(s) for c, _n, s in refund_rows},
        complaints=complaints,
        detractors=detractors,
        cash=tuple(cash),
        limits=await get_limits(session, leader_id),
        late_days=late_days,
    )


async def _late_pickups(
    session: AsyncSession, theirs: Any, now: datetime, late_days: int
) -> tuple[int, int]:
    """How many of the leader's orders were picked up more than `late_days` after payment,
    and how many paid that long ago are still not picked up."""
    paid_event = aliased(OrderEvent)
    picked_event = aliased(OrderEvent)
    late = await session.scalar(
        select(func.count(func.distinct(col(Order.id))))
        .join(paid_event, col(paid_event.order_id) == col(Order.id))
        .join(picked_event, col(picked_event.order_id) == col(Order.id))
        .where(
            theirs,
            col(paid_event.to_status) == ORDER_PAID,
            col(picked_event.to_status) == ORDER_FULFILLED,
            _seconds_between(session, col(paid_event.at), col(picked_event.at))
            > late_days * 86_400,
        )
    )
    never = await session.scalar(
        select(func.count(func.distinct(col(Order.id))))
        .join(paid_event, col(paid_event.order_id) == col(Order.id))
        .where(
            theirs,
            col(Order.status) == ORDER_PAID,
            col(paid_event.to_status) == ORDER_PAID,
            col(paid_event.at) < now - timedelta(days=late_days),
        )
    )
    return int(late or 0), int(never or 0)


async def _unhappy(session: AsyncSession, leader_id: int, theirs: Any) -> tuple[int, int]:
    """Complaints (low reviews of the leader's orders) and NPS detractors in their groups."""
    complaints = await session.scalar(
        select(func.count())
        .select_from(Review)
        .join(Order, col(Order.id) == col(Review.order_id))
        .where(theirs, col(Review.rating) <= COMPLAINT_RATING)
    )
    detractors = await session.scalar(
        select(func.count())
        .select_from(NpsSurvey)
        .where(
            col(NpsSurvey.community_id).in_(_their_groups(leader_id)),
            col(NpsSurvey.score).is_not(None),
            col(NpsSurvey.score) <= DETRACTOR_SCORE,
        )
    )
    return int(complaints or 0), int(detractors or 0)


async def get_limits(session: AsyncSession, leader_id: int) -> Limits | None:
    """The leader's limits, or None when staff set none."""
    row = await session.get(LeaderLimit, leader_id, populate_existing=True)
    if row is None or (row.max_open_groupbuys is None and row.max_cash_order is None):
        return None
    return _limits(row)


async def set_limit(
    session: AsyncSession,
    *,
    leader_id: int,
    kind: str,
    value: int,
    currency: str,
    staff_id: int,
    now: datetime,
) -> Limits:
    """Set one of the leader's limits (the other stays as it was); the limits now.

    Raises CreditError `not_leader` (they lead no group), `bad_value`, `bad_kind`."""
    led = await session.scalar(
        select(func.count()).select_from(_their_groups(leader_id).subquery())
    )
    if not led:
        raise CreditError("not_leader", str(leader_id))
    if kind == LIMIT_GROUPBUYS:
        if not 0 <= value <= MAX_GROUPBUYS_LIMIT:
            raise CreditError("bad_value", str(value))
        changed: dict[str, Any] = {"max_open_groupbuys": value}
    elif kind == LIMIT_ORDER:
        if value <= 0:
            raise CreditError("bad_value", str(value))
        changed = {"max_cash_order": value, "currency": currency}
    else:
        raise CreditError("bad_kind", kind)
    stamp = {"set_by": staff_id, "set_at": now}
    await session.execute(
        upsert(
            session,
            LeaderLimit,
            {"member_id": leader_id, "currency": currency, **changed, **stamp},
            keys=["member_id"],
            update={**changed, **stamp},
        )
    )
    found = await get_limits(session, leader_id)
    assert found is not None
    return found


async def clear_limits(session: AsyncSession, *, leader_id: int) -> bool:
    """Lift every limit of the leader; False when there was none."""
    removed = await session.execute(
        delete(LeaderLimit).where(col(LeaderLimit.member_id) == leader_id)
    )
    return bool(rowcount(removed))


async def groupbuys_limit_reached(session: AsyncSession, *, leader_id: int) -> int | None:
    """The leader's open group-buys limit when one more would go over it, else None.

    Locks the leader's limit row first, so two group-buys opened at once are counted one after
    the other (the second sees the first once it committed); call it inside the transaction
    that opens the group-buy, before it is added."""
    limit = (
        await session.execute(
            select(col(LeaderLimit.max_open_groupbuys))
            .where(col(LeaderLimit.member_id) == leader_id)
            .with_for_update()
        )
    ).scalar_one_or_none()
    if limit is None:
        return None
    open_now = await session.scalar(
        select(func.count())
        .select_from(GroupBuy)
        .where(
            col(GroupBuy.opened_by) == leader_id,
            col(GroupBuy.status).in_([GROUPBUY_OPEN, GROUPBUY_SETTLING]),
        )
    )
    return int(limit) if int(open_now or 0) >= limit else None


async def cash_order_limit_reached(
    session: AsyncSession, *, leader_id: int, amount: int, currency: str
) -> Limits | None:
    """The leader's limits when an order of `amount` is more than they may mark paid by hand
    (or in another currency than their limit's), else None."""
    limits = await get_limits(session, leader_id)
    if limits is None or limits.max_cash_order is None:
        return None
    if currency != limits.currency or amount > limits.max_cash_order:
        return limits
    return None
