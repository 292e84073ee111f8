"""Promotion attribution: what a broadcast or a care rule earned against its hold-out.

A broadcast's recipients are its private outbox rows that were sent; each converted when
they paid an order (an `order_event` to paid) within `WINDOW` (48 hours) of the moment their
message was sent. Its hold-out are the eligible members held out of the test: their window
starts at the slot they would have had. Groups are not counted (a group post reaches
everyone in it, so no member in it is held out).

A care rule's exposures (`care_exposure`) are the members it acted on or held out, each time
they entered its segment; one is won back when they paid an order within `days` of it. Only
exposures whose days have all passed are counted, so early and late members weigh the same.

The members of each arm are counted in the database; their paid orders come back only when
they fall between the earliest start and the latest end of the windows, and each is then
checked against its member's own window here (the window arithmetic stays portable across
SQLite and PostgreSQL).
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import and_, case, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.abtest import CareExposure
from models.broadcast import (
    BROADCAST_CANCELLED,
    BROADCAST_DONE,
    RECIPIENT_FAILED,
    RECIPIENT_PRIVATE,
    RECIPIENT_SENT,
    RECIPIENT_SKIPPED,
    VARIANT_A,
    VARIANT_HOLDOUT,
    Broadcast,
    BroadcastRecipient,
)
from models.care import CareRule
from models.coupons import COUPON_USED, MemberCoupon
from models.order import ORDER_PAID, Order, OrderEvent
from services.abtest import Arm, Verdict, verdict
from services.db import rowcount, upsert

WINDOW = timedelta(hours=48)  # a broadcast's orders count this long after its message


@dataclass
class ArmResult:
    """One arm: its members, those who paid an order in their window, and what they paid."""

    members: int = 0
    converted: int = 0
    orders: int = 0
    revenue: dict[str, int] = field(default_factory=dict)  # currency -> minor units, net

    @property
    def arm(self) -> Arm:
        return Arm(self.members, self.converted)


@dataclass
class PromotionResult:
    """A promotion's arms, how long their windows run, and the verdict."""

    kind: str  # "broadcast" or "care"
    ident: int
    created_by: int
    arms: dict[str, ArmResult]
    window: timedelta
    holdout_pct: int = 0
    has_b: bool = False
    # the end of the last window (None: nobody in it yet); complete once it has passed
    closes_at: datetime | None = None
    complete: bool = False
    # broadcast: private rows still to send; care: exposures whose days have not passed
    pending: int = 0
    reported_at: datetime | None = None
    # care rules: what the rule cost
    points: int = 0
    coupons_granted: int = 0
    coupons_used: int = 0
    coupon_discount: dict[str, int] = field(default_factory=dict)

    @property
    def is_test(self) -> bool:
        return self.has_b or self.holdout_pct > 0

    @property
    def verdict(self) -> Verdict:
        return verdict({name: arm.arm for name, arm in self.arms.items() if arm.members})


def _aware(value: datetime) -> datetime:
    """SQLite hands back naive UTC times from expressions (a CASE), PostgreSQL aware ones."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def _convert(
    session: AsyncSession,
    starts: Any,
    arms: dict[str, ArmResult],
    window: timedelta,
) -> datetime | None:
    """Count each arm's members (from `starts`: member, arm, start) and the orders they paid
    within `window` of their start; returns the end of the last window."""
    starts = starts.subquery()
    counted = await session.execute(
        select(
            starts.c.arm, func.count(), func.min(starts.c.start), func.max(starts.c.start)
        ).group_by(starts.c.arm)
    )
    first: datetime | None = None
    last: datetime | None = None
    for arm, members, earliest, latest in counted.all():
        arms.setdefault(str(arm), ArmResult()).members = int(members)
        earliest, latest = _aware(earliest), _aware(latest)
        first = earliest if first is None else min(first, earliest)
        last = latest if last is None else max(last, latest)
    if first is None or last is None:
        return None
    paid = await session.execute(
        select(
            starts.c.member_id,
            starts.c.arm,
            starts.c.start,
            col(Order.id),
            col(OrderEvent.at),
            col(Order.paid_amount) - col(Order.refunded_amount),
            col(Order.currency),
        )
        .join(Order, col(Order.member_id) == starts.c.member_id)
        .join(OrderEvent, col(OrderEvent.order_id) == col(Order.id))
        .where(
            col(OrderEvent.to_status) == ORDER_PAID,
            col(OrderEvent.at) >= starts.c.start,
            col(OrderEvent.at) < last + window,
        )
    )
    converted: dict[str, set[tuple[int, datetime]]] = defaultdict(set)
    orders: set[tuple[str, int, datetime, int]] = set()
    for member_id, arm, start, order_id, at, net, currency in paid.all():
        start = _aware(start)
        if _aware(at) >= start + window:
            continue
        key = (str(arm), int(member_id), start, int(order_id))
        if key in orders:  # paid twice (a payment reversed and made again): one order
            continue
        orders.add(key)
        converted[str(arm)].add((int(member_id), start))
        result = arms[str(arm)]
        result.orders += 1
        result.revenue[currency] = result.revenue.get(currency, 0) + int(net)
    for arm, members in converted.items():
        arms[arm].converted = len(members)
    return last + window


async def broadcast_result(
    session: AsyncSession, *, broadcast_id: int, now: datetime, window: timedelta = WINDOW
) -> PromotionResult | None:
    """A broadcast's conversion per arm (A, B, hold-out) within `window` of each message."""
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return None
    rows = col(BroadcastRecipient.broadcast_id) == broadcast_id
    private = col(BroadcastRecipient.kind) == RECIPIENT_PRIVATE
    sent = col(BroadcastRecipient.status) == RECIPIENT_SENT
    held = and_(
        col(BroadcastRecipient.status) == RECIPIENT_SKIPPED,
        col(BroadcastRecipient.variant) == VARIANT_HOLDOUT,
    )
    starts = select(
        col(BroadcastRecipient.chat_id).label("member_id"),
        func.coalesce(col(BroadcastRecipient.variant), VARIANT_A).label("arm"),
        case(
            (sent, col(BroadcastRecipient.sent_at)), else_=col(BroadcastRecipient.not_before)
        ).label("start"),
    ).where(rows, private, or_(sent, held))
    arms: dict[str, ArmResult] = {}
    closes = await _convert(session, starts, arms, window)
    still = await session.execute(
        select(func.count()).where(
            rows,
            private,
            col(BroadcastRecipient.status).not_in(
                (RECIPIENT_SENT, RECIPIENT_SKIPPED, RECIPIENT_FAILED)
            ),
        )
    )
    finished = broadcast.status in (BROADCAST_DONE, BROADCAST_CANCELLED)
    return PromotionResult(
        kind="broadcast",
        ident=broadcast_id,
        created_by=broadcast.created_by,
        arms=arms,
        window=window,
        holdout_pct=broadcast.holdout_pct,
        has_b=bool(broadcast.text_b),
        closes_at=closes,
        complete=finished and (closes is None or closes <= now),
        pending=int(still.scalar_one()),
        reported_at=broadcast.reported_at,
    )


async def due_reports(
    session: AsyncSession, *, now: datetime, window: timedelta = WINDOW
) -> list[int]:
    """Broadcasts with an A/B test, finished at least `window` ago, not reported yet."""
    found = await session.execute(
        select(col(Broadcast.id))
        .where(
            or_(col(Broadcast.text_b).is_not(None), col(Broadcast.holdout_pct) > 0),
            col(Broadcast.reported_at).is_(None),
            col(Broadcast.status).in_((BROADCAST_DONE, BROADCAST_CANCELLED)),
            col(Broadcast.finished_at) <= now - window,
        )
        .order_by(col(Broadcast.id))
    )
    return [int(i) for i in found.scalars() if i is not None]


async def recent_tests(session: AsyncSession, *, limit: int = 10) -> list[int]:
    """The newest broadcasts with an A/B test (the dashboard's broadcast page)."""
    found = await session.execute(
        select(col(Broadcast.id))
        .where(or_(col(Broadcast.text_b).is_not(None), col(Broadcast.holdout_pct) > 0))
        .order_by(col(Broadcast.id).desc())
        .limit(limit)
    )
    return [int(i) for i in found.scalars() if i is not None]


async def claim_report(session: AsyncSession, *, broadcast_id: int, now: datetime) -> bool:
    """Mark the test's report as sent; False when another process already did."""
    result = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.reported_at).is_(None))
        .values(reported_at=now)
    )
    return bool(rowcount(result))


async def record_exposure(
    session: AsyncSession,
    *,
    rule_id: int,
    member_id: int,
    arm: str,
    at: datetime,
    key: str,
    points: int = 0,
    coupon_id: int | None = None,
) -> None:
    """Note that a care rule acted on the member (or held them out); once per `key`."""
    await session.execute(
        upsert(
            session,
            CareExposure,
            {
                "rule_id": rule_id,
                "member_id": member_id,
                "arm": arm,
                "at": at,
                "key": key[:96],
                "points": points,
                "coupon_id": coupon_id,
            },
            keys=["key"],
        )
    )


async def care_result(
    session: AsyncSession, *, rule_id: int, now: datetime, days: int
) -> PromotionResult | None:
    """A care rule's return: members won back (a paid order within `days` of its care) per
    arm against its hold-out, and the points and coupons it gave."""
    rule = await session.get(CareRule, rule_id)
    if rule is None:
        return None
    window = timedelta(days=days)
    mine = col(CareExposure.rule_id) == rule_id
    mature = col(CareExposure.at) <= now - window
    starts: Any = select(
        col(CareExposure.member_id).label("member_id"),
        col(CareExposure.arm).label("arm"),
        col(CareExposure.at).label("start"),
    ).where(mine, mature)
    arms: dict[str, ArmResult] = {}
    closes = await _convert(session, starts, arms, window)
    totals = (
        await session.execute(
            select(
                func.coalesce(func.sum(col(CareExposure.points)), 0),
                func.count(col(CareExposure.coupon_id)),
                func.count().filter(~mature),
            ).where(mine)
        )
    ).one()
    coupons = select(col(CareExposure.coupon_id)).where(
        mine, col(CareExposure.coupon_id).is_not(None)
    )
    used = (
        await session.execute(
            select(func.count()).where(
                col(MemberCoupon.id).in_(coupons), col(MemberCoupon.status) == COUPON_USED
            )
        )
    ).scalar_one()
    discounts = await session.execute(
        select(col(Order.currency), func.sum(col(Order.discount)))
        .where(col(Order.coupon_id).in_(coupons), col(Order.paid_amount) > 0)
        .group_by(col(Order.currency))
    )
    return PromotionResult(
        kind="care",
        ident=rule_id,
        created_by=rule.created_by,
        arms=arms,
        window=window,
        holdout_pct=rule.holdout_pct,
        has_b=bool(rule.text_b),
        closes_at=closes,
        complete=False,
        pending=int(totals[2]),
        points=int(totals[0]),
        coupons_granted=int(totals[1]),
        coupons_used=int(used),
        coupon_discount={str(c): int(v) for c, v in discounts.all() if v},
    )


AB_CSV_COLUMNS = (
    "broadcast_id",
    "complete",
    "arm",
    "members",
    "converted",
    "conversion",
    "ci95_low",
    "ci95_high",
    "orders",
    "verdict",
    "winner",
)


def ab_tests_csv(results: list[PromotionResult]) -> bytes:
    """The A/B tests' arms as CSV (UTF-8 with a BOM, as the dashboard's other CSVs): one row
    per test and arm, rates as fractions to 4 places, then what each arm paid per currency
    (`revenue_<currency>`, minor units, net of refunds)."""
    currencies = sorted({c for r in results for arm in r.arms.values() for c in arm.revenue})
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow((*AB_CSV_COLUMNS, *(f"revenue_{c}" for c in currencies)))
    for result in results:
        found = result.verdict
        for name, arm in sorted(result.arms.items()):
            bps, interval = arm.arm.bps, arm.arm.interval
            writer.writerow(
                (
                    result.ident,
                    "yes" if result.complete else "no",
                    name,
                    arm.members,
                    arm.converted,
                    "" if bps is None else f"{bps / 10_000:.4f}",
                    "" if interval is None else f"{interval.low / 10_000:.4f}",
                    "" if interval is None else f"{interval.high / 10_000:.4f}",
                    arm.orders,
                    found.code,
                    found.winner or "",
                    *(arm.revenue.get(c, 0) for c in currencies),
                )
            )
    return ("\ufeff" + buffer.getvalue()).encode()
