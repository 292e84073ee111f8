"""The weekly figures: members and activity, interactions, newcomers by referral, tickets,
trial reports, repurchase and coupons, each one statement grouped by week.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from sqlalchemy import Integer, and_, case, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import CommunityMember
from models.coupons import COUPON_USED, MemberCoupon
from models.interactions import MemberInteraction
from models.referral import REFERRAL_REJECTED, Referral
from models.ticket import TICKET_CLOSED, Ticket
from models.trial import INVITE_ACCEPTED, TrialInvite
from services.metrics._common import (
    _activity,
    _by_week,
    _days_between,
    _in,
    _joined,
    _median_by_week,
    _member_filter,
    _paid,
    _Weeks,
)
from services.metrics.figures import Slice


async def _members(
    session: AsyncSession, weeks: _Weeks, part: Slice, span: tuple[datetime, datetime]
) -> dict[int, tuple[int, int]]:
    """Members in the scope's groups during each week (seen before its end, not left before
    its start), and how many of them were active in it. Two plain aggregates, so the planner
    never nests one derived table inside a scan of another."""
    # a member seen in one group of the scope is counted once without a DISTINCT; only the
    # few seen in several need one (a DISTINCT over every member-week sorts them all)
    rows = (
        select(
            col(CommunityMember.member_id).label("member_id"),
            col(CommunityMember.first_seen_at).label("first_seen_at"),
            col(CommunityMember.left_at).label("left_at"),
            func.count().over(partition_by=col(CommunityMember.member_id)).label("places"),
        )
        .where(
            _in(col(CommunityMember.community_id), part.scope),
            _member_filter(col(CommunityMember.member_id), part.tier),
        )
        .cte("places")
    )

    def during(index: int) -> Any:
        start, end = weeks.bounds[index]
        return and_(
            rows.c.first_seen_at < end,
            or_(rows.c.left_at.is_(None), rows.c.left_at >= start),
        )

    # one row of per-week counts from each kind of member: a pass over the members, with no
    # join against the weeks and nothing to sort but the few members seen in several groups
    indexes = range(len(weeks.bounds))
    present = union_all(
        select(*(func.sum(case((during(i), 1), else_=0)) for i in indexes)).where(
            rows.c.places == 1
        ),
        select(
            *(func.count(func.distinct(case((during(i), rows.c.member_id)))) for i in indexes)
        ).where(rows.c.places > 1),
    )
    activity = _activity(part, *span)
    active = (
        select(weeks.of(activity.c.at).label("w"), activity.c.member_id.label("member_id"))
        .distinct()
        .subquery("active")
    )
    member = CommunityMember.__table__.alias("seen")  # type: ignore[attr-defined]
    counted = (
        select(active.c.w, func.count())
        .where(
            select(literal(1))
            .select_from(member)
            .where(
                member.c.member_id == active.c.member_id,
                _in(member.c.community_id, part.scope),
                member.c.first_seen_at < weeks.end_of(active.c.w),
                or_(member.c.left_at.is_(None), member.c.left_at >= weeks.start_of(active.c.w)),
            )
            .exists()
        )
        .group_by(active.c.w)
    )
    seen = dict.fromkeys(indexes, 0)
    for row in (await session.execute(present)).all():
        for index, count in zip(indexes, row, strict=True):
            seen[index] += int(count or 0)
    acted = {int(row[0]): int(row[1]) for row in (await session.execute(counted)).all()}
    return {index: (seen.get(index, 0), acted.get(index, 0)) for index in seen.keys() | acted}


async def _interactions(
    session: AsyncSession, bounds: list[tuple[date, datetime, datetime]], part: Slice
) -> dict[int, int]:
    """Messages plus taps per week, of the scope's human members in the scope's groups (a
    day belongs to the week whose local Monday-to-Sunday holds it)."""
    day = col(MemberInteraction.day)
    week = case(
        *(
            (and_(day >= first, day < first + timedelta(weeks=1)), literal(i))
            for i, (first, _s, _e) in enumerate(bounds)
        )
    )
    query = (
        select(week, func.sum(col(MemberInteraction.messages) + col(MemberInteraction.taps)))
        .where(
            day >= bounds[0][0],
            day < bounds[-1][0] + timedelta(weeks=1),
            _in(col(MemberInteraction.community_id), part.scope),
            _member_filter(col(MemberInteraction.member_id), part.tier),
        )
        .group_by(week)
    )
    return {int(w): int(n or 0) for w, n in (await session.execute(query)).all()}


async def _newcomers(
    session: AsyncSession, weeks: _Weeks, part: Slice
) -> dict[int, tuple[Any, ...]]:
    """New members per week, those referred by a member, and those whose referral qualified."""
    joined = _joined(part)
    referred = and_(
        col(Referral.referrer_id).is_not(None), col(Referral.status) != REFERRAL_REJECTED
    )
    week = weeks.of(joined.c.joined)
    query = (
        select(
            week,
            func.count(),
            func.count(col(Referral.invitee_id)),
            func.count(col(Referral.qualified_at)),
        )
        .select_from(joined)
        .outerjoin(Referral, and_(col(Referral.invitee_id) == joined.c.member_id, referred))
        .where(weeks.within(joined.c.joined))
        .group_by(week)
    )
    return await _by_week(session, query)


async def _tickets(
    session: AsyncSession, weeks: _Weeks, part: Slice, dialect: str
) -> tuple[dict[int, tuple[Any, ...]], dict[int, float]]:
    """Per week: tickets opened in the scope's groups, and how many of them are resolved;
    the median hours from opening to the first answer of those answered."""
    opened = col(Ticket.opened_at)
    scoped = (
        weeks.within(opened),
        _in(col(Ticket.chat_id), part.scope),
        _member_filter(col(Ticket.member_id), part.tier),
    )
    week = weeks.of(opened)
    counts = (
        select(week, func.count(), func.count(case((col(Ticket.status) == TICKET_CLOSED, 1))))
        .where(*scoped)
        .group_by(week)
    )
    waits = (
        select(
            week.label("w"),
            (_days_between(dialect, col(Ticket.answered_at), opened) * 24).label("gap"),
        )
        .where(*scoped, col(Ticket.answered_at).is_not(None))
        .subquery("waits")
    )
    median = _median_by_week(waits)
    hours = {
        int(w): round(float(m), 1)
        for w, m in (await session.execute(select(median.c.w, median.c.median))).all()
        if m is not None
    }
    return await _by_week(session, counts), hours


async def _trial_reports(
    session: AsyncSession, weeks: _Weeks, part: Slice
) -> dict[int, tuple[Any, ...]]:
    """Per week: trial places accepted by the scope's members in it, and how many of those
    have been reported on since."""
    holders = select(col(CommunityMember.member_id)).where(
        _in(col(CommunityMember.community_id), part.scope),
        _member_filter(col(CommunityMember.member_id), part.tier),
    )
    answered = col(TrialInvite.answered_at)
    week = weeks.of(answered)
    query = (
        select(week, func.count(), func.count(col(TrialInvite.reported_at)))
        .where(
            col(TrialInvite.status) == INVITE_ACCEPTED,
            weeks.within(answered),
            col(TrialInvite.member_id).in_(holders),
        )
        .group_by(week)
    )
    return await _by_week(session, query)


async def _repurchase(
    session: AsyncSession, weeks: _Weeks, part: Slice, dialect: str, span: tuple[datetime, datetime]
) -> tuple[dict[int, tuple[Any, ...]], dict[int, float]]:
    """Per week: buyers, repeat buyers; and the median gap (days) to a previous paid order."""
    # a week's paid order's previous one is either in the window or the member's last paid
    # order before it: the window's orders and each member's last one before are all the
    # window function needs, not the buyers' whole history
    recent = _paid(part, *span).alias("recent")
    before = _paid(part, until=span[0]).alias("before")
    last_before = (
        select(before.c.member_id, func.max(before.c.paid_at).label("paid_at"))
        .group_by(before.c.member_id)
        .subquery("last_before")
    )
    history = union_all(
        select(recent.c.member_id, recent.c.paid_at, recent.c.order_id),
        select(
            last_before.c.member_id,
            last_before.c.paid_at,
            literal(None, Integer()).label("order_id"),
        ),
    ).subquery("history")
    ordered = select(
        history.c.member_id,
        history.c.paid_at,
        func.lag(history.c.paid_at)
        .over(partition_by=history.c.member_id, order_by=(history.c.paid_at, history.c.order_id))
        .label("previous"),
    ).subquery("ordered")
    in_week = (
        select(
            weeks.of(ordered.c.paid_at).label("w"),
            ordered.c.member_id,
            ordered.c.previous,
            ordered.c.paid_at,
        )
        .where(weeks.within(ordered.c.paid_at))
        .cte("in_week")
    )
    buyers = (
        select(
            in_week.c.w.label("w"),
            func.count(func.distinct(in_week.c.member_id)).label("buyers"),
            func.count(
                func.distinct(case((in_week.c.previous.is_not(None), in_week.c.member_id)))
            ).label("repeat"),
        )
        .group_by(in_week.c.w)
        .subquery("buyers")
    )
    gaps = (
        select(
            in_week.c.w.label("w"),
            _days_between(dialect, in_week.c.paid_at, in_week.c.previous).label("gap"),
        )
        .where(in_week.c.previous.is_not(None))
        .subquery("gaps")
    )
    median = _median_by_week(gaps)
    # one statement: the buyers' history is read and windowed once for both figures
    query = select(buyers.c.w, buyers.c.buyers, buyers.c.repeat, median.c.median).outerjoin(
        median, median.c.w == buyers.c.w
    )
    counts: dict[int, tuple[Any, ...]] = {}
    medians: dict[int, float] = {}
    for w, paying, repeat, middle in (await session.execute(query)).all():
        counts[int(w)] = (paying, repeat)
        if middle is not None:
            medians[int(w)] = round(float(middle), 1)
    return counts, medians


async def _coupons(
    session: AsyncSession,
    weeks: _Weeks,
    part: Slice,
    currency: str,
    span: tuple[datetime, datetime],
) -> tuple[dict[int, tuple[Any, ...]], dict[int, tuple[Any, ...]]]:
    """Coupons given per week (to members of the scope) and used since; the discount on
    orders paid in the week that used one."""
    holders = select(col(CommunityMember.member_id)).where(
        _in(col(CommunityMember.community_id), part.scope),
        _member_filter(col(CommunityMember.member_id), part.tier),
    )
    granted = weeks.of(col(MemberCoupon.granted_at))
    given = (
        select(
            granted, func.count(), func.count(case((col(MemberCoupon.status) == COUPON_USED, 1)))
        )
        .where(
            weeks.within(col(MemberCoupon.granted_at)),
            col(MemberCoupon.member_id).in_(holders),
        )
        .group_by(granted)
    )
    paid = _paid(part, *span)
    week = weeks.of(paid.c.paid_at)
    cost = (
        select(week, func.coalesce(func.sum(paid.c.discount), 0))
        .where(paid.c.coupon_id.is_not(None), paid.c.currency == currency)
        .group_by(week)
    )
    return await _by_week(session, given), await _by_week(session, cost)
