"""Earning points: daily check-ins with streaks, and points on paid orders by tier."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from babel.numbers import get_currency_precision
from sqlalchemy import Integer, bindparam, case, func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.base import utcnow
from models.community import Community, CommunityMember
from models.loyalty import CheckIn
from models.member import Member
from models.order import ORDER_FULFILLED, Order
from models.review import Review
from models.trial import PAYMENT_TRIAL
from services.db import (
    dialect_name,
    execute_rows,
    insert_in,
    prepared,
    rowcount,
    table_of,
    upsert,
)
from services.errors import Refused
from services.points import (
    REASON_BIRTHDAY,
    REASON_CHECKIN,
    REASON_ORDER,
    REASON_REVIEW,
    award,
)
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


async def check_in_zone(
    session: AsyncSession, *, member_id: int, own: str | None, default: str
) -> str:
    """The time zone whose days a member's check-ins count in, the same wherever they check in
    (private chat, a group's command or button): the member's own when they set one (`own`, as
    the caller read the member), else that of the first group the bot saw them in, else the
    brand's default."""
    if own:
        return own
    home = (await execute_rows(session, _HOME_ZONE(session), {"member_id": member_id})).scalar()
    return home or default


_HOME_ZONE = prepared(
    lambda _dialect: (
        select(col(Community.timezone))
        .join(CommunityMember, col(CommunityMember.community_id) == col(Community.id))
        .where(col(CommunityMember.member_id) == bindparam("member_id"))
        .order_by(col(CommunityMember.first_seen_at), col(CommunityMember.community_id))
        .limit(1)
    )
)


@lru_cache(maxsize=16)
def _check_in_statement(
    dialect: str, streak_bonus: tuple[tuple[int, int], ...], capped: bool
) -> Any:
    """The check-in INSERT for a dialect and the settings' streak bonuses and cap, built once:
    the day's row (nothing on a second check-in that day), its streak continuing yesterday's,
    and its points, `(base + bonus) * times`, held under `cap`."""
    checkins = table_of(CheckIn)
    yesterday = (
        select(checkins.c.streak)
        .where(
            checkins.c.member_id == bindparam("member_id"),
            checkins.c.day == bindparam("yesterday"),
        )
        .scalar_subquery()
    )
    streak_of_day = func.coalesce(yesterday, 0) + 1
    bonus_of_day: Any = (
        case(dict(streak_bonus), value=streak_of_day, else_=0) if streak_bonus else 0
    )
    points_of_day: Any = (bindparam("base", type_=Integer) + bonus_of_day) * bindparam(
        "times", type_=Integer
    )
    if capped:
        cap = bindparam("cap", type_=Integer)
        points_of_day = case((points_of_day > cap, cap), else_=points_of_day)
    return (
        insert_in(dialect, checkins)
        .values(
            member_id=bindparam("member_id"),
            day=bindparam("day"),
            streak=streak_of_day,
            points=points_of_day,
            chat_id=bindparam("chat_id"),
            created_at=bindparam("created_at"),
        )
        .on_conflict_do_nothing(index_elements=["member_id", "day"])
        .returning(checkins.c.streak, checkins.c.points)
    )


async def check_in(
    session: AsyncSession,
    *,
    member_id: int,
    chat_id: int,
    now: datetime,
    timezone: str | None,
    base_points: int,
    streak_bonus: dict[int, int],
    cap: int | None,
    member_day: int = 0,
    default_timezone: str = "UTC",
    own_timezone: str | None = None,
) -> CheckInResult:
    """Check the member in for their local day, once; the unique (member, day) row decides.

    `timezone` None: the member's zone (see check_in_zone; `own_timezone` is the member's own,
    as the caller read it), so a check-in in private and another in a group on the same day are
    one check-in. The day's points are held under `cap` in the row itself: there is one
    check-in a day, so no daily counter is needed."""
    if timezone is None:
        timezone = await check_in_zone(
            session, member_id=member_id, own=own_timezone, default=default_timezone
        )
    day = local_day(now, timezone)
    # the tier matters only on the member day (double points for tiers that have it)
    doubled = (
        is_member_day(member_day, day)
        and (await standing(session, member_id)).tier.member_day_double
    )
    # one statement: the day's row, its streak continuing yesterday's (if any), and the points
    # it earns unless the cap cuts them
    statement = _check_in_statement(
        dialect_name(session), tuple(sorted(streak_bonus.items())), cap is not None
    )
    values = {"member_id": member_id, "day": day, "yesterday": day - timedelta(days=1)}
    values |= {"base": base_points, "times": 2 if doubled else 1, "cap": cap}
    inserted = (
        await execute_rows(session, statement, values | {"chat_id": chat_id, "created_at": now})
    ).one_or_none()
    if inserted is None:
        existing = (
            await session.execute(
                select(col(CheckIn.streak)).where(
                    col(CheckIn.member_id) == member_id, col(CheckIn.day) == day
                )
            )
        ).scalar_one()
        return CheckInResult(False, day, existing, 0, 0, False, False)
    streak, points = inserted
    bonus = streak_bonus.get(streak, 0)
    wanted = (base_points + bonus) * (2 if doubled else 1)
    grant = await award(
        session,
        member_id=member_id,
        reason=REASON_CHECKIN,
        points=points,
        key=f"checkin:{member_id}:{day.isoformat()}",
        day=day,
        memo=f"check-in {day.isoformat()}, day {streak} of a streak",
        at=now,
    )
    return CheckInResult(True, day, streak, grant.points, bonus, doubled, points < wanted)


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
        # goods only: the shipping the member paid passes to the carrier and earns nothing
        paid=max(order.paid_amount - order.shipping_cost, 0),
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
        at=now,
    )
    change = await recompute(session, member_id=order.member_id, currency=tier_currency, now=now)
    return OrderReward(points=grant.points, change=change)


class BirthdayError(ValueError):
    """A birthday that is not a real month and day."""


def parse_birthday(text: str) -> tuple[int, int]:
    """'03-14', '3/14', '3.14' or '0314' -> (3, 14); never a year. BirthdayError otherwise."""
    cleaned = text.strip().replace("/", "-").replace(".", "-")
    if cleaned.isdecimal() and len(cleaned) == 4:
        cleaned = f"{cleaned[:2]}-{cleaned[2:]}"
    month_text, sep, day_text = cleaned.partition("-")
    if not sep or not (month_text + day_text).isascii():
        raise BirthdayError(text)
    if not month_text.isdecimal() or not day_text.isdecimal():
        raise BirthdayError(text)
    if len(month_text) > 2 or len(day_text) > 2:
        raise BirthdayError(text)
    month, day = int(month_text), int(day_text)
    try:
        date(2024, month, day)  # a leap year, so 02-29 is a birthday too
    except ValueError:
        raise BirthdayError(text) from None
    return month, day


async def set_birthday(
    session: AsyncSession, *, member_id: int, birthday: tuple[int, int] | None
) -> None:
    month, day = birthday if birthday else (None, None)
    await session.execute(
        update(Member)
        .where(col(Member.id) == member_id)
        .values(birthday_month=month, birthday_day=day, updated_at=utcnow())
    )


def is_birthday(month: int, day: int, today: date) -> bool:
    """On the day, or on 28 February for a 29 February birthday in a common year."""
    if (today.month, today.day) == (month, day):
        return True
    leap = today.year % 4 == 0 and (today.year % 100 != 0 or today.year % 400 == 0)
    return (month, day) == (2, 29) and not leap and (today.month, today.day) == (2, 28)


@dataclass(frozen=True, slots=True)
class BirthdayGift:
    member_id: int
    points: int
    locale: str
    started: bool


async def birthday_gifts(
    session: AsyncSession, *, now: datetime, default_timezone: str
) -> list[BirthdayGift]:
    """Grant today's birthday gifts, each member once a year (the year is claimed first)."""
    rows = (
        (
            await session.execute(
                select(Member).where(
                    col(Member.birthday_month).is_not(None), col(Member.birthday_day).is_not(None)
                )
            )
        )
        .scalars()
        .all()
    )
    gifts = []
    for member in rows:
        assert member.birthday_month is not None and member.birthday_day is not None
        today = local_day(now, member.timezone or default_timezone)
        if not is_birthday(member.birthday_month, member.birthday_day, today):
            continue
        if member.birthday_gift_year is not None and member.birthday_gift_year >= today.year:
            continue
        claimed = await session.execute(
            update(Member)
            .where(
                col(Member.id) == member.id,
                (col(Member.birthday_gift_year).is_(None))
                | (col(Member.birthday_gift_year) < today.year),
            )
            .values(birthday_gift_year=today.year)
        )
        if rowcount(claimed) != 1:
            continue  # another worker gave it
        tier = (await standing(session, member.id)).tier
        grant = await award(
            session,
            member_id=member.id,
            reason=REASON_BIRTHDAY,
            points=tier.birthday_points,
            key=f"birthday:{member.id}:{today.year}",
            day=today,
            memo=f"birthday gift {today.year}",
            at=now,
        )
        gifts.append(BirthdayGift(member.id, grant.points, member.locale, member.started))
    return gifts


class ReviewError(Refused):
    """A review that was refused; `reason` names why, for a localized message."""


class ReviewRefusal(StrEnum):
    """The reasons a ReviewError gives (its `reason`); the handlers map each to a message."""

    BAD_RATING = "bad_rating"
    NOT_YOURS = "not_yours"
    NOT_PICKED_UP = "not_picked_up"
    ALREADY = "already"


async def review_order(
    session: AsyncSession,
    *,
    order_id: int,
    member_id: int,
    rating: int,
    comment: str,
    points: int,
    cap: int | None,
    now: datetime,
) -> int:
    """Record the member's review of an order they picked up; returns the points it earned."""
    if not 1 <= rating <= 5:
        raise ReviewError(ReviewRefusal.BAD_RATING)
    order = await session.get(Order, order_id)
    if order is None or order.member_id != member_id:
        raise ReviewError(ReviewRefusal.NOT_YOURS)
    if order.status != ORDER_FULFILLED:
        raise ReviewError(ReviewRefusal.NOT_PICKED_UP)
    inserted = (
        await session.execute(
            upsert(
                session,
                Review,
                {
                    "order_id": order_id,
                    "member_id": member_id,
                    "rating": rating,
                    "comment": " ".join(comment.split())[:500],
                    "created_at": now,
                },
                keys=["order_id"],
            ).returning(col(Review.order_id))
        )
    ).scalar_one_or_none()
    if inserted is None:
        raise ReviewError(ReviewRefusal.ALREADY)
    if order.payment_mode == PAYMENT_TRIAL:  # the product was a free trial: no points for it
        return 0
    grant = await award(
        session,
        member_id=member_id,
        reason=REASON_REVIEW,
        points=points,
        key=f"review:{order_id}",
        day=now.date(),
        cap=cap,
        memo=f"review of order #{order_id}",
        at=now,
    )
    return grant.points
