"""Relationship metrics over weeks: is the community active, growing by referral, retaining
and repurchasing, and do co-creators buy more?

Every figure is aggregated by the database (one statement per metric, grouped by week), so a
brand of 50,000 members never travels into Python. Weeks are local Monday-to-Sunday weeks in
the brand's time zone, given to the database as a small `weeks` table of UTC bounds, which
works the same on SQLite and PostgreSQL. A slice narrows the members counted: the groups in
scope (one group, a leader's groups, or the whole brand) and optionally one tier.

Rates are exact `Ratio`s; money is integer minor units of one currency.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Integer, and_, case, func, literal, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import UTCDateTime
from models.community import CommunityMember
from models.coupons import COUPON_USED, MemberCoupon
from models.groupbuy import GroupBuyJoin
from models.interaction import MemberInteraction
from models.loyalty import CheckIn
from models.member import Member
from models.nps import NpsSurvey
from models.order import ORDER_PAID, Order, OrderEvent
from models.poll import PollBallot
from models.referral import REFERRAL_REJECTED, Referral
from models.suggestion import Suggestion
from models.ticket import TICKET_CLOSED, Ticket
from models.tiers import MemberTier
from models.trial import INVITE_ACCEPTED, TrialInvite
from services.analytics import Ratio, Scope

RETENTION_WEEKS = (1, 4, 12)  # weeks after the join week at which a cohort is looked at
LTV_DAYS = (30, 90, 365)  # days after joining over which a member's spend is summed
DEFAULT_WEEKS = 12
MAX_WEEKS = 104


def N_(text: str) -> str:
    """Marks a definition for extraction; the edge translates it in the reader's locale."""
    return text


# What each metric means, shown beside it on the dashboard and in the CSV's header notes.
DEFINITIONS: dict[str, str] = {
    "active": N_(
        "Active rate: members of the group who ordered, joined a group-buy, checked in, voted,"
        " made a suggestion or answered NPS in the week, over the group's members that week."
    ),
    "fission": N_(
        "Fission rate: new members of the week who came through another member's referral,"
        " over all new members of the week."
    ),
    "referral_conversion": N_(
        "Referral conversion: of the week's new members who came by referral, the share whose"
        " first order has been paid since."
    ),
    "retention": N_(
        "Retention: of the members who joined in a week (the cohort), the share active in the"
        " 1st, 4th and 12th week after it."
    ),
    "repurchase": N_(
        "Repurchase rate: members who paid an order in the week and had paid one before,"
        " over all members who paid in the week."
    ),
    "median_gap": N_(
        "Median days between orders: the middle gap between a member's paid order in the week"
        " and their previous paid order."
    ),
    "ltv": N_(
        "Lifetime value: what a cohort's members paid (net of refunds) within 30, 90 and 365"
        " days of joining, per member; shown once the days have passed."
    ),
    "coupon_redemption": N_(
        "Coupon redemption: coupons given to members in the week that have been used since,"
        " over all coupons given in the week."
    ),
    "discount_cost": N_(
        "Discount cost: the discount on orders paid in the week that used a coupon (the order"
        " keeps one total, so a tier discount on them is included)."
    ),
    "interaction_rate": N_(
        "Interaction rate: the messages members wrote in the group and the buttons they"
        " tapped in it during the week, per member of the group that week (days are the"
        " group's local days)."
    ),
    "tickets": N_(
        "Tickets: after-sales tickets members opened in the week; the median hours until"
        " the first answer of those answered; the share of them resolved since."
    ),
    "trial_report": N_(
        "Trial report rate: of the trial places members accepted in the week, the share"
        " whose report has come in since."
    ),
    "uplift": N_(
        "Co-creator uplift: paid orders and spend per member of members who voted or made a"
        " suggestion in the period, against the group's other members, same period."
    ),
}


@dataclass(frozen=True, slots=True)
class Slice:
    """Whose figures: the groups in scope (None: the whole brand) and one tier (None: all)."""

    scope: Scope = None
    tier: int | None = None


@dataclass(frozen=True, slots=True)
class WeekFigures:
    """One local week's rates."""

    start: date  # the Monday
    members: int
    active: Ratio
    new_members: int
    fission: Ratio
    referral_conversion: Ratio
    repurchase: Ratio
    median_gap_days: float | None  # None: no repeat order in the week
    coupon_redemption: Ratio
    discount_cost: int
    # messages and button taps in the week over `members` (may exceed 1)
    interaction_rate: Ratio
    tickets_opened: int  # after-sales tickets opened in the week
    first_answer_hours: float | None  # median wait for the first answer; None: none answered
    tickets_resolved: Ratio  # of the week's tickets, those closed since
    trial_report: Ratio  # of trial places accepted in the week, those reported on since


@dataclass(frozen=True, slots=True)
class Cohort:
    """Members who joined in one week, how many were active k weeks later, what they paid."""

    start: date
    size: int
    retained: dict[int, int | None]  # week k -> active members; None while week k is ahead
    ltv: dict[int, int | None]  # days -> total paid by the cohort; None while days are ahead

    def retention(self, weeks: int) -> Ratio | None:
        kept = self.retained.get(weeks)
        return None if kept is None else Ratio(kept, self.size)

    def value(self, days: int) -> Ratio | None:
        """Paid per member within `days` of joining (minor units over members)."""
        paid = self.ltv.get(days)
        return None if paid is None else Ratio(paid, self.size)


@dataclass(frozen=True, slots=True)
class Uplift:
    """Co-creators (voted or suggested) against the other members, over the same period."""

    cocreators: int
    others: int
    cocreator_orders: int
    other_orders: int
    cocreator_spend: int
    other_spend: int

    @property
    def orders_per_member(self) -> tuple[Ratio, Ratio]:
        return Ratio(self.cocreator_orders, self.cocreators), Ratio(self.other_orders, self.others)

    @property
    def spend_per_member(self) -> tuple[Ratio, Ratio]:
        return Ratio(self.cocreator_spend, self.cocreators), Ratio(self.other_spend, self.others)


@dataclass(frozen=True, slots=True)
class MetricsReport:
    timezone: str
    currency: str
    slice: Slice
    weeks: tuple[WeekFigures, ...]
    cohorts: tuple[Cohort, ...]
    uplift: Uplift
    definitions: dict[str, str] = field(default_factory=lambda: dict(DEFINITIONS))


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
    sources = (
        (col(Order.member_id), col(Order.created_at), col(Order.chat_id)),
        (col(GroupBuyJoin.member_id), col(GroupBuyJoin.joined_at), col(GroupBuyJoin.chat_id)),
        (col(CheckIn.member_id), col(CheckIn.created_at), col(CheckIn.chat_id)),
        (col(PollBallot.member_id), col(PollBallot.updated_at), col(PollBallot.chat_id)),
        (col(Suggestion.member_id), col(Suggestion.created_at), col(Suggestion.community_id)),
        (col(NpsSurvey.member_id), col(NpsSurvey.answered_at), col(NpsSurvey.community_id)),
    )
    return union_all(
        *(
            select(member.label("member_id"), at.label("at")).where(
                at >= since, at < until, _in(chat, part.scope), _member_filter(member, part.tier)
            )
            for member, at, chat in sources
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


async def _cohorts(
    session: AsyncSession,
    weeks: _Weeks,
    part: Slice,
    dialect: str,
    bounds: list[tuple[date, datetime, datetime]],
    currency: str,
    now: datetime,
    sizes: dict[int, int],
) -> list[Cohort]:
    """Each week's joiners (`sizes`: how many): active k weeks after, and paid within N days
    of joining."""
    joined = _joined(part)
    cohort = (
        select(weeks.of(joined.c.joined).label("w"), joined.c.member_id, joined.c.joined)
        .where(weeks.within(joined.c.joined))
        .subquery("cohort")
    )
    retained: dict[tuple[int, int], int] = {}
    # one pass over the activity since the first week for every k: a cohort member counts for
    # k when they acted in the k-th week after their cohort's (the weeks ended by now are the
    # window's first ones, so an index in `later` is its cohort's)
    kept = []
    first_later: datetime | None = None
    for k in RETENTION_WEEKS:
        ahead = [
            (start + timedelta(weeks=k), end + timedelta(weeks=k))
            for _first, start, end in bounds
            if end + timedelta(weeks=k) <= now
        ]
        if ahead:
            later = _weeks(ahead, f"later{k}")
            kept.append((k, later))
            first_later = min(first_later or ahead[0][0], ahead[0][0])
    if kept and first_later is not None:
        activity = _activity(part, first_later, now)
        query = (
            select(
                cohort.c.w,
                *(
                    func.count(
                        func.distinct(
                            case((later.of(activity.c.at) == cohort.c.w, activity.c.member_id))
                        )
                    )
                    for _k, later in kept
                ),
            )
            .select_from(activity)
            .join(cohort, cohort.c.member_id == activity.c.member_id)
            .group_by(cohort.c.w)
        )
        for w, *counts in (await session.execute(query)).all():
            for (k, _later), count in zip(kept, counts, strict=True):
                retained[(int(w), k)] = int(count)
    paid = _paid(part, bounds[0][1], bounds[-1][2] + timedelta(days=max(LTV_DAYS)))
    ltv: dict[tuple[int, int], int] = {}
    age = _days_between(dialect, paid.c.paid_at, cohort.c.joined)
    query = (
        select(
            cohort.c.w,
            *(
                func.coalesce(func.sum(case((age < days, paid.c.amount), else_=0)), 0)
                for days in LTV_DAYS
            ),
        )
        .join(paid, paid.c.member_id == cohort.c.member_id)
        .where(paid.c.currency == currency, age >= 0, age < max(LTV_DAYS))
        .group_by(cohort.c.w)
    )
    for w, *totals in (await session.execute(query)).all():
        for days, total in zip(LTV_DAYS, totals, strict=True):
            ltv[(int(w), days)] = int(total)
    cohorts = []
    for index, (first, _start, end) in enumerate(bounds):
        size = int(sizes.get(index, 0))
        cohorts.append(
            Cohort(
                start=first,
                size=size,
                retained={
                    k: retained.get((index, k), 0) if end + timedelta(weeks=k) <= now else None
                    for k in RETENTION_WEEKS
                },
                ltv={
                    # the whole cohort has had `days` days once its last joiner has
                    d: ltv.get((index, d), 0) if end + timedelta(days=d) <= now else None
                    for d in LTV_DAYS
                },
            )
        )
    return cohorts


async def _uplift(session: AsyncSession, part: Slice, start: datetime, end: datetime) -> Uplift:
    """Co-creators of the period against the other members of the scope, same period."""
    voters: Any = select(col(PollBallot.member_id).label("member_id")).where(
        col(PollBallot.updated_at) >= start,
        col(PollBallot.updated_at) < end,
        _in(col(PollBallot.chat_id), part.scope),
    )
    suggesters: Any = select(col(Suggestion.member_id).label("member_id")).where(
        col(Suggestion.created_at) >= start,
        col(Suggestion.created_at) < end,
        _in(col(Suggestion.community_id), part.scope),
    )
    cocreators = union_all(voters, suggesters).subquery("cocreators")
    members = (
        select(col(CommunityMember.member_id).label("member_id"))
        .where(
            _in(col(CommunityMember.community_id), part.scope),
            _member_filter(col(CommunityMember.member_id), part.tier),
            col(CommunityMember.first_seen_at) < end,
            or_(col(CommunityMember.left_at).is_(None), col(CommunityMember.left_at) >= start),
        )
        .distinct()
        .subquery("members")
    )
    paid = _paid(part, start, end)
    spent = (
        select(
            paid.c.member_id,
            func.count().label("orders"),
            func.sum(paid.c.amount).label("spend"),
        )
        .where(paid.c.paid_at >= start, paid.c.paid_at < end)
        .group_by(paid.c.member_id)
        .subquery("spent")
    )
    is_cocreator = members.c.member_id.in_(select(cocreators.c.member_id))
    query = (
        select(
            is_cocreator,
            func.count(),
            func.coalesce(func.sum(spent.c.orders), 0),
            func.coalesce(func.sum(spent.c.spend), 0),
        )
        .select_from(members)
        .outerjoin(spent, spent.c.member_id == members.c.member_id)
        .group_by(is_cocreator)
    )
    rows = {bool(flag): (int(n), int(o), int(s)) for flag, n, o, s in await session.execute(query)}
    yes, no = rows.get(True, (0, 0, 0)), rows.get(False, (0, 0, 0))
    return Uplift(yes[0], no[0], yes[1], no[1], yes[2], no[2])


async def metrics_report(
    session: AsyncSession,
    *,
    now: datetime,
    timezone: str,
    currency: str,
    part: Slice = Slice(),
    weeks: int = DEFAULT_WEEKS,
) -> MetricsReport:
    """The slice's weekly rates, join cohorts and co-creator uplift over the last `weeks`
    local weeks (the current one included); money in `currency`."""
    count = max(1, min(weeks, MAX_WEEKS))
    last = now.astimezone(ZoneInfo(timezone)).date()
    bounds = week_bounds(last, count, timezone)
    table = _weeks([(s, e) for _f, s, e in bounds])
    dialect = (await session.connection()).dialect.name
    span = (bounds[0][1], bounds[-1][2])
    members = await _members(session, table, part, span)
    newcomers = await _newcomers(session, table, part)
    buyers, medians = await _repurchase(session, table, part, dialect, span)
    given, cost = await _coupons(session, table, part, currency, span)
    interactions = await _interactions(session, bounds, part)
    tickets, answer_hours = await _tickets(session, table, part, dialect)
    trials = await _trial_reports(session, table, part)
    figures = []
    for index, (first, _start, _end) in enumerate(bounds):
        present, active = members.get(index, (0, 0))
        new, referred, qualified = newcomers.get(index, (0, 0, 0))
        paying, repeat = buyers.get(index, (0, 0))
        coupons, used = given.get(index, (0, 0))
        opened, resolved = tickets.get(index, (0, 0))
        accepted, reported = trials.get(index, (0, 0))
        figures.append(
            WeekFigures(
                start=first,
                members=int(present),
                active=Ratio(int(active), int(present)),
                new_members=int(new),
                fission=Ratio(int(referred), int(new)),
                referral_conversion=Ratio(int(qualified), int(referred)),
                repurchase=Ratio(int(repeat), int(paying)),
                median_gap_days=medians.get(index),
                coupon_redemption=Ratio(int(used), int(coupons)),
                discount_cost=int(cost.get(index, (0,))[0]),
                interaction_rate=Ratio(interactions.get(index, 0), int(present)),
                tickets_opened=int(opened),
                first_answer_hours=answer_hours.get(index),
                tickets_resolved=Ratio(int(resolved), int(opened)),
                trial_report=Ratio(int(reported), int(accepted)),
            )
        )
    # a cohort is the week's new members (one referral row at most per newcomer)
    sizes = {index: int(row[0]) for index, row in newcomers.items()}
    cohorts = await _cohorts(session, table, part, dialect, bounds, currency, now, sizes)
    uplift = await _uplift(session, part, bounds[0][1], bounds[-1][2])
    return MetricsReport(
        timezone=timezone,
        currency=currency,
        slice=part,
        weeks=tuple(figures),
        cohorts=tuple(cohorts),
        uplift=uplift,
    )


CSV_COLUMNS = ("week", "metric", "numerator", "denominator", "value")
RATE_METRICS = (
    "active",
    "fission",
    "referral_conversion",
    "repurchase",
    "coupon_redemption",
)


def metric_rows(report: MetricsReport) -> list[tuple[str, str, int | str, int | str, str]]:
    """Every metric over time as (week, metric, numerator, denominator, value) rows: rates as
    fractions to 4 places, money in minor units, cohort figures under their join week."""

    def rate(ratio: Ratio) -> str:
        fraction = ratio.fraction
        return "" if fraction is None else f"{float(fraction):.4f}"

    rows: list[tuple[str, str, int | str, int | str, str]] = []
    for week in report.weeks:
        first = week.start.isoformat()
        for name in RATE_METRICS:
            ratio: Ratio = getattr(week, name)
            rows.append((first, name, ratio.numerator, ratio.denominator, rate(ratio)))
        gap = "" if week.median_gap_days is None else f"{week.median_gap_days:.1f}"
        rows.append((first, "median_gap_days", "", "", gap))
        rows.append((first, f"discount_cost_{report.currency}", "", "", str(week.discount_cost)))
        rows.append(
            (
                first,
                "interaction_rate",
                week.interaction_rate.numerator,
                week.interaction_rate.denominator,
                rate(week.interaction_rate),
            )
        )
        rows.append((first, "tickets_opened", "", "", str(week.tickets_opened)))
        hours = "" if week.first_answer_hours is None else f"{week.first_answer_hours:.1f}"
        rows.append((first, "first_answer_hours", "", "", hours))
        for name in ("tickets_resolved", "trial_report"):
            ratio = getattr(week, name)
            rows.append((first, name, ratio.numerator, ratio.denominator, rate(ratio)))
    for cohort in report.cohorts:
        first = cohort.start.isoformat()
        rows.append((first, "cohort_size", "", "", str(cohort.size)))
        for k in RETENTION_WEEKS:
            kept = cohort.retention(k)
            if kept is not None:
                rows.append(
                    (first, f"retention_w{k}", kept.numerator, kept.denominator, rate(kept))
                )
        for days in LTV_DAYS:
            value = cohort.value(days)
            if value is not None:
                average = "" if value.fraction is None else str(round(value.fraction))
                rows.append(
                    (
                        first,
                        f"ltv_{days}d_{report.currency}",
                        value.numerator,
                        value.denominator,
                        average,
                    )
                )
    period = f"{report.weeks[0].start.isoformat()}/{report.weeks[-1].start.isoformat()}"
    up = report.uplift
    co_orders, other_orders = up.orders_per_member
    co_spend, other_spend = up.spend_per_member
    for name, per_member in (
        ("cocreator_orders_per_member", co_orders),
        ("other_orders_per_member", other_orders),
        (f"cocreator_spend_per_member_{report.currency}", co_spend),
        (f"other_spend_per_member_{report.currency}", other_spend),
    ):
        text = rate(per_member)
        if "spend" in name and per_member.fraction is not None:
            text = str(round(per_member.fraction))  # minor units per member
        rows.append((period, name, per_member.numerator, per_member.denominator, text))
    return rows


def metrics_csv(report: MetricsReport) -> bytes:
    """The report as CSV (UTF-8 with a BOM, as the dashboard's other CSVs, for spreadsheets)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    writer.writerows(metric_rows(report))
    return ("\ufeff" + buffer.getvalue()).encode()
