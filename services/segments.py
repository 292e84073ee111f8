"""Lifecycle segments (new, active, loyal, at risk, churned) and the care staff attach to
entering one: a message, points, a coupon.

`segment_for` is a pure rule; `move` claims a member's transition with a conditional UPDATE,
so the care for one transition is given once, whatever runs the job.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.broadcast import HOLDOUT_MAX
from models.care import CareRule
from models.member import Member
from models.order import ORDER_FULFILLED, ORDER_PAID, Order, OrderEvent
from models.segments import (
    SEGMENT_ACTIVE,
    SEGMENT_AT_RISK,
    SEGMENT_CHURNED,
    SEGMENT_LOYAL,
    SEGMENT_NEW,
    SEGMENTS,
    MemberSegment,
)
from services.db import rowcount, upsert
from services.errors import Refused

MAX_TEXT = 1024


class SegmentError(Refused):
    """A care rule that was refused; `reason` names why, for a localized message."""


class SegmentRefusal(StrEnum):
    """The reasons a SegmentError gives (its `reason`); the handlers map each to a message."""

    BAD_SEGMENT = "bad_segment"
    EMPTY = "empty"
    TOO_LONG = "too_long"
    B_WITHOUT_A = "b_without_a"
    BAD_HOLDOUT = "bad_holdout"
    BAD_POINTS = "bad_points"


@dataclass(frozen=True, slots=True)
class SegmentRules:
    new_days: int = 14
    active_days: int = 60
    churn_days: int = 120
    loyal_orders: int = 3
    loyal_window_days: int = 180


def segment_for(
    *,
    joined_at: datetime,
    last_paid_at: datetime | None,
    paid_in_window: int,
    now: datetime,
    rules: SegmentRules,
) -> str:
    """The member's segment from when they joined, their last paid order and how many they
    paid in the loyalty window."""
    if last_paid_at is None:
        age = now - joined_at
        if age <= timedelta(days=rules.new_days):
            return SEGMENT_NEW
        return SEGMENT_AT_RISK if age <= timedelta(days=rules.churn_days) else SEGMENT_CHURNED
    since = now - last_paid_at
    if since > timedelta(days=rules.churn_days):
        return SEGMENT_CHURNED
    if since > timedelta(days=rules.active_days):
        return SEGMENT_AT_RISK
    return SEGMENT_LOYAL if paid_in_window >= rules.loyal_orders else SEGMENT_ACTIVE


@dataclass(frozen=True, slots=True)
class Transition:
    member_id: int
    before: str | None  # None: the member's first segment
    after: str


@dataclass(frozen=True, slots=True)
class RuleView:
    id: int
    to_segment: str
    from_segment: str | None
    text: str
    points: int
    coupon_template_id: int | None
    text_b: str = ""  # an A/B test's second text (services/abtest.py)
    holdout_pct: int = 0  # the share of members held out of the rule, in percent


async def facts(
    session: AsyncSession, *, now: datetime, loyal_window: timedelta
) -> list[tuple[int, datetime, datetime | None, int]]:
    """(member, joined, last paid, paid orders in the window) for every human member."""
    paid = (
        select(
            col(Order.member_id).label("member_id"),
            func.max(col(OrderEvent.at)).label("last_paid"),
            func.count(col(Order.id))
            .filter(col(OrderEvent.at) >= now - loyal_window)
            .label("recent"),
        )
        .join(OrderEvent, col(OrderEvent.order_id) == col(Order.id))
        .where(
            col(OrderEvent.to_status) == ORDER_PAID,
            col(Order.status).in_((ORDER_PAID, ORDER_FULFILLED)),
        )
        .group_by(col(Order.member_id))
        .subquery()
    )
    rows = await session.execute(
        select(col(Member.id), col(Member.created_at), paid.c.last_paid, paid.c.recent)
        .outerjoin(paid, paid.c.member_id == col(Member.id))
        .where(
            col(Member.is_bot).is_(False),
            # a forgotten member leaves every segment until they come back to the bot
            or_(col(Member.forgotten_at).is_(None), col(Member.started).is_(True)),
        )
        .order_by(col(Member.id))
    )
    result = []
    for member_id, joined, last_paid, recent in rows.all():
        if last_paid is not None and last_paid.tzinfo is None:  # SQLite aggregates are naive
            last_paid = last_paid.replace(tzinfo=joined.tzinfo)
        result.append((int(member_id), joined, last_paid, int(recent or 0)))
    return result


async def move(
    session: AsyncSession, *, member_id: int, segment: str, now: datetime
) -> Transition | None:
    """Put the member in the segment; returns the transition when it changed (claimed once)."""
    current = await session.get(MemberSegment, member_id, populate_existing=True)
    if current is None:
        inserted = await session.execute(
            upsert(
                session,
                MemberSegment,
                {"member_id": member_id, "segment": segment, "since": now},
                keys=["member_id"],
            ).returning(col(MemberSegment.member_id))
        )
        return Transition(member_id, None, segment) if inserted.scalar_one_or_none() else None
    if current.segment == segment:
        return None
    before = current.segment
    moved = await session.execute(
        update(MemberSegment)
        .where(col(MemberSegment.member_id) == member_id, col(MemberSegment.segment) == before)
        .values(segment=segment, since=now)
    )
    if rowcount(moved) != 1:
        return None  # another run moved it first
    return Transition(member_id, before, segment)


def _rule(row: CareRule) -> RuleView:
    assert row.id is not None
    return RuleView(
        row.id,
        row.to_segment,
        row.from_segment,
        row.text,
        row.points,
        row.coupon_template_id,
        row.text_b,
        row.holdout_pct,
    )


async def rules_for(session: AsyncSession, transition: Transition) -> list[RuleView]:
    """The active rules that fire for a transition (a rule with no `from` fires from any)."""
    rows = await session.execute(
        select(CareRule)
        .where(col(CareRule.active), col(CareRule.to_segment) == transition.after)
        .order_by(col(CareRule.id))
    )
    return [
        _rule(r)
        for r in rows.scalars().all()
        if r.from_segment is None or r.from_segment == transition.before
    ]


async def add_rule(
    session: AsyncSession,
    *,
    to_segment: str,
    from_segment: str | None,
    text: str,
    points: int,
    coupon_template_id: int | None,
    created_by: int,
    text_b: str = "",
    holdout_pct: int = 0,
) -> RuleView:
    """A care rule, optionally an A/B test (a second text, a hold-out share in percent)."""
    if to_segment not in SEGMENTS or (from_segment is not None and from_segment not in SEGMENTS):
        raise SegmentError(SegmentRefusal.BAD_SEGMENT, f"{from_segment}->{to_segment}")
    if not text.strip() and points == 0 and coupon_template_id is None:
        raise SegmentError(SegmentRefusal.EMPTY)
    if len(text) > MAX_TEXT or len(text_b) > MAX_TEXT:
        raise SegmentError(SegmentRefusal.TOO_LONG, str(max(len(text), len(text_b))))
    if text_b.strip() and not text.strip():
        raise SegmentError(SegmentRefusal.B_WITHOUT_A)
    if not 0 <= holdout_pct <= HOLDOUT_MAX:
        raise SegmentError(SegmentRefusal.BAD_HOLDOUT, str(holdout_pct))
    if not 0 <= points <= 10**9:
        raise SegmentError(SegmentRefusal.BAD_POINTS, str(points))
    row = CareRule(
        to_segment=to_segment,
        from_segment=from_segment,
        text=text.strip(),
        points=points,
        coupon_template_id=coupon_template_id,
        created_by=created_by,
        text_b=text_b.strip(),
        holdout_pct=holdout_pct,
    )
    session.add(row)
    await session.flush()
    return _rule(row)


async def list_rules(session: AsyncSession) -> list[RuleView]:
    rows = await session.execute(
        select(CareRule).where(col(CareRule.active)).order_by(col(CareRule.id))
    )
    return [_rule(r) for r in rows.scalars().all()]


async def retire_rule(session: AsyncSession, *, rule_id: int) -> bool:
    result = await session.execute(
        update(CareRule)
        .where(col(CareRule.id) == rule_id, col(CareRule.active))
        .values(active=False)
    )
    return bool(rowcount(result))


async def segment_counts(session: AsyncSession) -> dict[str, int]:
    rows = await session.execute(
        select(col(MemberSegment.segment), func.count()).group_by(col(MemberSegment.segment))
    )
    counts = dict.fromkeys(SEGMENTS, 0)
    counts.update({segment: int(n) for segment, n in rows.all()})
    return counts
