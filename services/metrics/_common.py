"""Query pieces the metrics share: local weeks as a table of UTC bounds, the slice's member
filters, and the activity, join and payment events that several metrics count.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, case, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import UTCDateTime
from models.community import CommunityMember
from models.member import Member
from models.order import ORDER_PAID, Order, OrderEvent
from models.tiers import MemberTier
from services.activity import ACTIVITY_SOURCES
from services.analytics import Scope
from services.metrics.figures import Slice


def week_bounds(last: date, count: int, timezone: str) -> list[tuple[date, datetime, datetime]]:
    """`count` local Monday weeks ending with the one holding `last`: (monday, start, end)."""
    zone = ZoneInfo(timezone)
    monday = last - timedelta(days=last.weekday())
    weeks = []
    for back in range(count - 1, -1, -1):
        first = monday - timedelta(weeks=back)
        start = datetime.combine(first, datetime.min.time(), zone)
        end = datetime.combine(first + timedelta(weeks=1), datetime.min.time(), zone)
        weeks.append((first, start, end))
    return weeks


def _weeks_table(bounds: list[tuple[datetime, datetime]], name: str = "weeks") -> Any:
    """The weeks as a table (w, start, end) the database joins events against."""
    rows = [
        select(
            literal(index, Integer()).label("w"),
            literal(start, UTCDateTime()).label("ws"),
            literal(end, UTCDateTime()).label("we"),
        )
        for index, (start, end) in enumerate(bounds)
    ]
    return (union_all(*rows) if len(rows) > 1 else rows[0]).cte(name)


@dataclass(frozen=True, slots=True)
class _Weeks:
    """The weeks as the database sees them: a small table, and a CASE that puts a moment in
    its week in one pass over a table (no range join, which would scan it once per week)."""

    table: Any
    bounds: tuple[tuple[datetime, datetime], ...]

    def of(self, at: Any) -> Any:
        """The index of the week holding `at` (NULL outside the weeks)."""
        return case(
            *(
                (and_(at >= start, at < end), literal(i))
                for i, (start, end) in enumerate(self.bounds)
            )
        )

    def within(self, at: Any) -> Any:
        return and_(at >= self.bounds[0][0], at < self.bounds[-1][1])

    def start_of(self, week: Any) -> Any:
        return case(
            *(
                (week == i, literal(start, UTCDateTime()))
                for i, (start, _e) in enumerate(self.bounds)
            )
        )

    def end_of(self, week: Any) -> Any:
        return case(
            *((week == i, literal(end, UTCDateTime())) for i, (_s, end) in enumerate(self.bounds))
        )


def _weeks(bounds: list[tuple[datetime, datetime]], name: str = "weeks") -> _Weeks:
    return _Weeks(_weeks_table(bounds, name), tuple(bounds))


def _in(column: Any, scope: Scope) -> Any:
    return literal(True) if scope is None else column.in_(sorted(scope))


def _member_filter(column: Any, tier: int | None) -> Any:
    """Humans only, and in the tier when one is asked for (no tier row: the first tier)."""
    human = column.not_in(select(col(Member.id)).where(col(Member.is_bot).is_(True)))
    if tier is None:
        return human
    if tier == 0:
        other = select(col(MemberTier.member_id)).where(col(MemberTier.rank) != 0)
        return and_(human, column.not_in(other))
    return and_(
        human, column.in_(select(col(MemberTier.member_id)).where(col(MemberTier.rank) == tier))
    )


def _days_between(dialect: str, later: Any, earlier: Any) -> Any:
    """Days from `earlier` to `later` as a real number, in the dialect's date arithmetic."""
    if dialect == "sqlite":
        return func.julianday(later) - func.julianday(earlier)
    return func.extract("epoch", later - earlier) / 86400.0


def _activity(part: Slice, since: datetime, until: datetime) -> Any:
    """(member_id, at) of everything members did in the scope's groups between the bounds."""
    return union_all(
        *(
            select(member.label("member_id"), at.label("at")).where(
                at >= since, at < until, _in(chat, part.scope), _member_filter(member, part.tier)
            )
            for member, at, chat in ACTIVITY_SOURCES
        )
    ).subquery("activity")


def _joined(part: Slice) -> Any:
    """(member_id, joined): when each member was first seen in one of the scope's groups."""
    return (
        select(
            col(CommunityMember.member_id).label("member_id"),
            func.min(col(CommunityMember.first_seen_at)).label("joined"),
        )
        .where(
            _in(col(CommunityMember.community_id), part.scope),
            _member_filter(col(CommunityMember.member_id), part.tier),
        )
        .group_by(col(CommunityMember.member_id))
        .subquery("joined")
    )


def _paid(
    part: Slice,
    since: datetime | None = None,
    until: datetime | None = None,
) -> Any:
    """Orders paid in the scope (net of refunds, not wholly refunded) between the bounds:
    member, amount, when."""
    bounds = []
    if since is not None:
        bounds.append(col(OrderEvent.at) >= since)
    if until is not None:
        bounds.append(col(OrderEvent.at) < until)
    return (
        select(
            col(Order.id).label("order_id"),
            col(Order.member_id).label("member_id"),
            (col(Order.paid_amount) - col(Order.refunded_amount)).label("amount"),
            col(Order.currency).label("currency"),
            col(Order.discount).label("discount"),
            col(Order.coupon_id).label("coupon_id"),
            col(OrderEvent.at).label("paid_at"),
        )
        .join(OrderEvent, col(OrderEvent.order_id) == col(Order.id))
        .where(
            col(OrderEvent.to_status) == ORDER_PAID,
            col(Order.paid_amount) > col(Order.refunded_amount),
            _in(col(Order.chat_id), part.scope),
            _member_filter(col(Order.member_id), part.tier),
            *bounds,
        )
        .subquery("paid")
    )


async def _by_week(session: AsyncSession, query: Any) -> dict[int, tuple[Any, ...]]:
    return {int(row[0]): tuple(row[1:]) for row in (await session.execute(query)).all()}


def _median_by_week(gaps: Any) -> Any:
    """(w, median) of the `gap` column of `gaps` (w, gap) per week: the middle value, or the
    mean of the middle two."""
    ranked = select(
        gaps.c.w,
        gaps.c.gap,
        func.row_number().over(partition_by=gaps.c.w, order_by=gaps.c.gap).label("rn"),
        func.count().over(partition_by=gaps.c.w).label("n"),
    ).subquery("ranked")
    return (
        select(ranked.c.w.label("w"), func.avg(ranked.c.gap).label("median"))
        .where(
            or_(
                ranked.c.rn == (ranked.c.n + 1) // 2,
                ranked.c.rn == (ranked.c.n + 2) // 2,
            )
        )
        .group_by(ranked.c.w)
        .subquery("median")
    )
