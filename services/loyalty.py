"""Earning points: daily check-ins with streaks, and points on paid orders by tier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.community import Community
from models.order import Order
from models.perks import CheckIn
from services.db import upsert
from services.points import REASON_CHECKIN, REASON_ORDER, award
from services.tiers import TierChange, TierView, recompute, standing


@dataclass(frozen=True, slots=True)
class CheckInResult:
    """One check-in attempt: `new` is False when the member had checked in that day already."""

    new: bool
    day: date
    streak: int
    points: int  # what this check-in earned (0 when repeated, or when the cap was reached)
    bonus: int  # the streak bonus included in points (before doubling)
    doubled: bool  # member day double points applied
    capped: bool


def local_day(now: datetime, timezone: str) -> date:
    return now.astimezone(ZoneInfo(timezone)).date()


def is_member_day(member_day: int, day: date) -> bool:
    return member_day > 0 and day.day == member_day


async def current_streak(session: AsyncSession, *, member_id: int, today: date) -> int:
    """The streak a member holds today: their last check-in's, if it was today or yesterday."""
    row = (
        await session.execute(
            select(CheckIn)
            .where(col(CheckIn.member_id) == member_id)
            .order_by(col(CheckIn.day).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if row is None or row.day < today - timedelta(days=1):
        return 0
    return row.streak


async def check_in(
    session: AsyncSession,
    *,
    member_id: int,
    chat_id: int,
    now: datetime,
    timezone: str,
    base_points: int,
    streak_bonus: dict[int, int],
    cap: int | None,
    member_day: int = 0,
) -> CheckInResult:
    """Check the member in for their local day, once; the unique (member, day) row decides."""
    day = local_day(now, timezone)
    yesterday = (
        await session.execute(
            select(col(CheckIn.streak)).where(
                col(CheckIn.member_id) == member_id, col(CheckIn.day) == day - timedelta(days=1)
            )
        )
    ).scalar_one_or_none()
    streak = (yesterday or 0) + 1
    inserted = (
        await session.execute(
            upsert(
                session,
                CheckIn,
                {
                    "member_id": member_id,
                    "day": day,
                    "streak": streak,
                    "points": 0,
                    "chat_id": chat_id,
                    "created_at": now,
                },
                keys=["member_id", "day"],
            ).returning(col(CheckIn.id))
        )
    ).scalar_one_or_none()
    if inserted is None:
        existing = (
            await session.execute(
                select(CheckIn).where(col(CheckIn.member_id) == member_id, col(CheckIn.day) == day)
            )
        ).scalar_one()
        return CheckInResult(False, day, existing.streak, 0, 0, False, False)
    bonus = streak_bonus.get(streak, 0)
    tier = (await standing(session, member_id)).tier
    doubled = tier.member_day_double and is_member_day(member_day, day)
    wanted = (base_points + bonus) * (2 if doubled else 1)
    grant = await award(
        session,
        member_id=member_id,
        reason=REASON_CHECKIN,
        points=wanted,
        key=f"checkin:{member_id}:{day.isoformat()}",
        day=day,
        cap=cap,
        memo=f"check-in {day.isoformat()}, day {streak} of a streak",
    )
    await session.execute(
        update(CheckIn).where(col(CheckIn.id) == inserted).values(points=grant.points)
    )
    return CheckInResult(True, day, streak, grant.points, bonus, doubled, grant.capped)


def order_points(
    *, paid: int, currency: str, points_per_unit: int, tier: TierView, doubled: bool
) -> int:
    """Points for money paid: whole units times the rate, the tier multiplier, member day x2."""
    units = paid // 10 ** get_currency_precision(currency) if currency != "XTR" else paid
    points = units * points_per_unit * tier.multiplier_pct // 100
    return points * 2 if doubled else points


@dataclass(frozen=True, slots=True)
class OrderReward:
    points: int
    change: TierChange


async def reward_paid_order(
    session: AsyncSession,
    *,
    order_id: int,
    points_per_unit: int,
    tier_currency: str,
    now: datetime,
) -> OrderReward:
    """After an order is paid: grant its points once (at the tier held when paying), then
    recompute the member's tier. A full refund claws the points back (services.order)."""
    order = await session.get(Order, order_id)
    if order is None:
        raise ValueError(f"no order {order_id}")
    tier = (await standing(session, order.member_id)).tier
    community = await session.get(Community, order.chat_id)
    member_day = community.member_day if community else 0
    timezone = community.timezone if community else "UTC"
    day = local_day(now, timezone)
    doubled = tier.member_day_double and is_member_day(member_day, day)
    points = order_points(
        paid=order.paid_amount,
        currency=order.currency,
        points_per_unit=points_per_unit,
        tier=tier,
        doubled=doubled,
    )
    grant = await award(
        session,
        member_id=order.member_id,
        reason=REASON_ORDER,
        points=points,
        key=f"order:{order_id}:points",
        day=day,
        memo=f"order #{order_id}" + (" (member day x2)" if doubled else ""),
        order_id=order_id,
    )
    change = await recompute(session, member_id=order.member_id, currency=tier_currency, now=now)
    return OrderReward(points=grant.points, change=change)
