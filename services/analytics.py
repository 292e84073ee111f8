"""Staff insights: the brand's figures over a period, overall and per community.

Everything is computed from the store. Amounts are integers in minor units per currency,
rates are exact `Ratio`s (numerator over denominator), points are integers; formatting
happens at the edge (chat, dashboard, CSV). A scope is the set of group chats a reader may
see: None means the whole brand (private-chat orders included), a set means those groups
only, so a leader's figures never include another group's.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from fractions import Fraction
from typing import Any, TypeVarTuple
from zoneinfo import ZoneInfo

from sqlalchemy import Select, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import Community
from models.groupbuy import (
    GROUPBUY_FAILED,
    GROUPBUY_FORMED,
    GroupBuy,
    GroupBuyJoin,
    GroupBuyPost,
)
from models.ledger import (
    ACCOUNT_MEMBER_POINTS,
    ACCOUNT_POINTS_ISSUED,
    ACCOUNT_POINTS_REDEEMED,
    POINTS,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from models.member import Member
from models.order import ORDER_FULFILLED, ORDER_PAID, Order, OrderEvent
from models.poll import PollBallot
from models.suggestion import SUGGESTION_ADOPTED, Suggestion
from models.tiers import MemberTier
from services.activity import ACTIVITY_SOURCES
from services.nps import NpsScore, nps_report
from services.period import Period
from services.referral import StatsRow, program_stats
from services.ticket import TicketStats, ticket_stats
from services.tiers import list_tiers

Scope = frozenset[int] | None  # group chat ids a reader may see; None: the whole brand
# the columns of a query that _paid_in_period narrows
_Columns = TypeVarTuple("_Columns")

ACTIVE_WINDOWS = (7, 30)  # days of the "active members" figures, ending with the period


@dataclass(frozen=True, slots=True)
class Ratio:
    """An exact rate: numerator over denominator (undefined when the denominator is 0)."""

    numerator: int
    denominator: int

    @property
    def fraction(self) -> Fraction | None:
        return Fraction(self.numerator, self.denominator) if self.denominator else None

    @property
    def bps(self) -> int | None:
        """The rate in basis points (10000 = 100%), rounded half up; None when undefined."""
        if not self.denominator:
            return None
        return (self.numerator * 20_000 + self.denominator) // (2 * self.denominator)


@dataclass(frozen=True, slots=True)
class Funnel:
    """Group-buys opened in the period: cards posted, joins, orders paid, orders picked up."""

    cards: int
    joins: int
    paid: int
    picked_up: int


@dataclass(frozen=True, slots=True)
class PointsFigures:
    """Points over the period from the ledger, and what members hold at its end."""

    issued: int  # credited to members by the brand (awards, welcomes, rewards)
    returned: int  # taken back into the brand's source (claw-backs, expiry)
    redeemed: int  # spent by members on rewards and perks (net of reversals)
    outstanding: int  # held by members at the end of the period


@dataclass(frozen=True, slots=True)
class TierCount:
    rank: int
    code: str  # a default tier's code (its name is translated); "" for one staff named
    name: str
    members: int


@dataclass(frozen=True, slots=True)
class Referrals:
    """The referral program's figures (services.referral.program_stats) for one slice."""

    invited: int
    qualified: int
    referrers: int

    @property
    def conversion(self) -> Ratio:
        """Qualified over invited."""
        return Ratio(self.qualified, self.invited)

    @property
    def viral_coefficient(self) -> Ratio:
        """Qualified invites per referring member."""
        return Ratio(self.qualified, self.referrers)


@dataclass(frozen=True, slots=True)
class Figures:
    """Every metric for one slice: a community, or the whole scope (community_id None)."""

    community_id: int | None
    title: str
    gmv: dict[str, int]  # per currency, minor units, net of refunds
    paid_orders: int
    average_order: dict[str, int]  # per currency, minor units, rounded half up
    formation: Ratio  # group-buys formed over group-buys closed
    repurchase: Ratio  # members with 2+ paid orders over members with 1+
    funnel: Funnel
    active: dict[int, int]  # days -> members active in the last `days` days of the period
    active_in_period: int
    referrals: Referrals
    participation: Ratio  # poll voters over members active in the period
    voters: int
    suggestions: Ratio  # adopted over made, of the suggestions made in the period
    nps: NpsScore
    points: PointsFigures | None  # brand-wide only: points belong to members, not groups
    tiers: tuple[TierCount, ...] | None  # brand-wide only


@dataclass(frozen=True, slots=True)
class Day:
    """One local day of the period: paid orders and GMV in the report's chart currency."""

    day: date
    orders: int
    gmv: int


@dataclass(frozen=True, slots=True)
class StatsReport:
    period: Period
    timezone: str
    currency: str | None  # the currency of `days` (the one with most paid orders)
    overall: Figures
    communities: tuple[Figures, ...]
    days: tuple[Day, ...]
    tickets: TicketStats | None = None  # after-sales tickets opened in the period, in scope
    # what sold most in the period, per product and variant (the variant beside the title)
    best_sellers: tuple[BestSeller, ...] = ()


BEST_SELLERS = 5  # lines of the best sellers in /stats


@dataclass(frozen=True, slots=True)
class BestSeller:
    """A product (and its variant, "" for none) with the units of its orders paid in the period
    and what was paid for them less refunds, in one currency."""

    title: str
    variant: str
    units: int
    currency: str
    amount: int


@dataclass(frozen=True, slots=True)
class _Paid:
    member_id: int
    currency: str
    amount: int
    at: datetime


def _in(column: Any, scope: Scope) -> Any:
    """A WHERE clause limiting a chat column to the scope (always true for the whole brand)."""
    return literal(True) if scope is None else column.in_(sorted(scope))


def _paid_in_period(query: Select[*_Columns], scope: Scope, period: Period) -> Select[*_Columns]:
    """The query limited to the scope's orders paid in the period (by their 'paid' event) that
    keep something after refunds."""
    return query.join(OrderEvent, col(OrderEvent.order_id) == col(Order.id)).where(
        col(OrderEvent.to_status) == ORDER_PAID,
        col(OrderEvent.at) >= period.start,
        col(OrderEvent.at) < period.end,
        col(Order.paid_amount) > col(Order.refunded_amount),
        _in(col(Order.chat_id), scope),
    )


async def _paid_orders(session: AsyncSession, scope: Scope, period: Period) -> list[_Paid]:
    """Orders paid in the period (by their 'paid' event), with what stays after refunds."""
    rows = await session.execute(
        _paid_in_period(
            select(
                col(Order.member_id),
                col(Order.currency),
                col(Order.paid_amount) - col(Order.refunded_amount),
                col(OrderEvent.at),
            ),
            scope,
            period,
        )
    )
    return [_Paid(int(m), str(c), int(a), at) for m, c, a, at in rows.all()]


async def best_sellers(
    session: AsyncSession, scope: Scope, period: Period, *, limit: int = BEST_SELLERS
) -> tuple[BestSeller, ...]:
    """The products and variants with the most units in orders paid in the period (by their
    'paid' event, refunded ones left out), most first."""
    units = func.sum(col(Order.quantity))
    rows = await session.execute(
        _paid_in_period(
            select(
                col(Order.title),
                col(Order.variant_name),
                col(Order.currency),
                units,
                func.sum(col(Order.paid_amount) - col(Order.refunded_amount)),
            ),
            scope,
            period,
        )
        .group_by(col(Order.title), col(Order.variant_name), col(Order.currency))
        .order_by(units.desc(), col(Order.title), col(Order.variant_name))
        .limit(limit)
    )
    return tuple(
        BestSeller(str(title), str(variant), int(count), str(currency), int(amount))
        for title, variant, currency, count, amount in rows.all()
    )


def _posted_in(scope: Scope) -> Any:
    """Group-buys with a card in one of the scope's groups."""
    return col(GroupBuy.id).in_(
        select(col(GroupBuyPost.groupbuy_id)).where(_in(col(GroupBuyPost.chat_id), scope))
    )


async def _formation(session: AsyncSession, scope: Scope, period: Period) -> Ratio:
    closed = await session.execute(
        select(col(GroupBuy.status), func.count())
        .where(
            col(GroupBuy.status).in_((GROUPBUY_FORMED, GROUPBUY_FAILED)),
            col(GroupBuy.settled_at) >= period.start,
            col(GroupBuy.settled_at) < period.end,
            _posted_in(scope),
        )
        .group_by(col(GroupBuy.status))
    )
    counts = {str(status): int(n) for status, n in closed.all()}
    formed = counts.get(GROUPBUY_FORMED, 0)
    return Ratio(formed, formed + counts.get(GROUPBUY_FAILED, 0))


async def _count(session: AsyncSession, query: Any) -> int:
    return int((await session.execute(query)).scalar_one() or 0)


async def _funnel(session: AsyncSession, scope: Scope, period: Period) -> Funnel:
    opened = select(col(GroupBuy.id)).where(
        col(GroupBuy.created_at) >= period.start, col(GroupBuy.created_at) < period.end
    )
    cards = select(func.count()).where(
        col(GroupBuyPost.groupbuy_id).in_(opened), _in(col(GroupBuyPost.chat_id), scope)
    )
    joins = select(func.count()).where(
        col(GroupBuyJoin.groupbuy_id).in_(opened), _in(col(GroupBuyJoin.chat_id), scope)
    )

    def orders(*statuses: str) -> Any:
        return select(func.count()).where(
            col(Order.groupbuy_id).in_(opened),
            col(Order.status).in_(statuses),
            _in(col(Order.chat_id), scope),
        )

    return Funnel(
        cards=await _count(session, cards),
        joins=await _count(session, joins),
        paid=await _count(session, orders(ORDER_PAID, ORDER_FULFILLED)),
        picked_up=await _count(session, orders(ORDER_FULFILLED)),
    )


async def _activity(
    session: AsyncSession, scope: Scope, since: datetime, end: datetime
) -> list[tuple[int, datetime]]:
    """(member, when) of everything members did: orders, group-buy joins, check-ins, poll
    votes, suggestions and NPS answers."""
    query: Any = union_all(
        *(
            select(member.label("member_id"), at.label("at")).where(
                at >= since, at < end, _in(chat, scope)
            )
            for member, at, chat in ACTIVITY_SOURCES
        )
    )
    return [(int(m), at) for m, at in (await session.execute(query)).all()]


async def _voters(session: AsyncSession, scope: Scope, period: Period) -> int:
    return await _count(
        session,
        select(func.count(func.distinct(col(PollBallot.member_id)))).where(
            col(PollBallot.updated_at) >= period.start,
            col(PollBallot.updated_at) < period.end,
            _in(col(PollBallot.chat_id), scope),
        ),
    )


async def _suggestions(session: AsyncSession, scope: Scope, period: Period) -> Ratio:
    rows = await session.execute(
        select(col(Suggestion.status), func.count())
        .where(
            col(Suggestion.created_at) >= period.start,
            col(Suggestion.created_at) < period.end,
            _in(col(Suggestion.community_id), scope),
        )
        .group_by(col(Suggestion.status))
    )
    counts = {str(status): int(n) for status, n in rows.all()}
    return Ratio(counts.get(SUGGESTION_ADOPTED, 0), sum(counts.values()))


async def points_figures(session: AsyncSession, period: Period) -> PointsFigures:
    """Points issued, returned and redeemed in the period, and outstanding at its end."""

    def flow(kind: str, sign: int) -> Any:
        amount = col(LedgerEntry.amount) * sign
        return (
            select(func.coalesce(func.sum(amount), 0))
            .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
            .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
            .where(
                col(LedgerAccount.kind) == kind,
                col(LedgerEntry.asset) == POINTS,
                col(LedgerTransaction.created_at) >= period.start,
                col(LedgerTransaction.created_at) < period.end,
            )
        )

    issued = flow(ACCOUNT_POINTS_ISSUED, -1).where(col(LedgerEntry.amount) < 0)
    returned = flow(ACCOUNT_POINTS_ISSUED, 1).where(col(LedgerEntry.amount) > 0)
    outstanding = (
        select(func.coalesce(func.sum(col(LedgerEntry.amount)), 0))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .where(
            col(LedgerAccount.kind) == ACCOUNT_MEMBER_POINTS,
            col(LedgerEntry.asset) == POINTS,
            col(LedgerTransaction.created_at) < period.end,
        )
    )
    return PointsFigures(
        issued=await _count(session, issued),
        returned=await _count(session, returned),
        redeemed=await _count(session, flow(ACCOUNT_POINTS_REDEEMED, 1)),
        outstanding=await _count(session, outstanding),
    )


async def tier_distribution(session: AsyncSession) -> tuple[TierCount, ...]:
    """Members (bots excluded) per tier as last computed; no tier row means the first tier."""
    tiers = await list_tiers(session)
    rows = await session.execute(
        select(col(MemberTier.rank), func.count())
        .select_from(Member)
        .outerjoin(MemberTier, col(MemberTier.member_id) == col(Member.id))
        .where(col(Member.is_bot).is_(False))
        .group_by(col(MemberTier.rank))
    )
    counts: dict[int, int] = defaultdict(int)
    for rank, n in rows.all():
        counts[int(rank or 0)] += int(n)
    return tuple(TierCount(t.rank, t.code, t.name, counts.get(t.rank, 0)) for t in tiers)


def _referrals(rows: Iterable[StatsRow]) -> Referrals:
    listed = list(rows)
    return Referrals(
        invited=sum(r.invited for r in listed),
        qualified=sum(r.qualified for r in listed),
        referrers=sum(r.referrers for r in listed),
    )


def _nps(scores: Iterable[NpsScore], community_id: int | None) -> NpsScore:
    listed = list(scores)
    return NpsScore(
        community_id=community_id,
        promoters=sum(s.promoters for s in listed),
        passives=sum(s.passives for s in listed),
        detractors=sum(s.detractors for s in listed),
    )


def _average(gmv: dict[str, int], counts: dict[str, int]) -> dict[str, int]:
    return {c: (2 * gmv[c] + counts[c]) // (2 * counts[c]) for c in gmv if counts[c]}


async def _figures(
    session: AsyncSession,
    *,
    scope: Scope,
    community_id: int | None,
    title: str,
    period: Period,
    referrals: Referrals,
    nps: NpsScore,
) -> tuple[Figures, list[_Paid]]:
    paid = await _paid_orders(session, scope, period)
    gmv: dict[str, int] = defaultdict(int)
    counts: dict[str, int] = defaultdict(int)
    per_member: dict[int, int] = defaultdict(int)
    for order in paid:
        gmv[order.currency] += order.amount
        counts[order.currency] += 1
        per_member[order.member_id] += 1
    longest = max(ACTIVE_WINDOWS)
    since = min(period.start, period.end - timedelta(days=longest))
    activity = await _activity(session, scope, since, period.end)

    def active(start: datetime) -> int:
        return len({member for member, at in activity if at >= start})

    in_period = active(period.start)
    voters = await _voters(session, scope, period)
    brand = scope is None
    figures = Figures(
        community_id=community_id,
        title=title,
        gmv=dict(gmv),
        paid_orders=len(paid),
        average_order=_average(gmv, counts),
        formation=await _formation(session, scope, period),
        repurchase=Ratio(sum(1 for n in per_member.values() if n >= 2), len(per_member)),
        funnel=await _funnel(session, scope, period),
        active={days: active(period.end - timedelta(days=days)) for days in ACTIVE_WINDOWS},
        active_in_period=in_period,
        referrals=referrals,
        participation=Ratio(voters, in_period),
        voters=voters,
        suggestions=await _suggestions(session, scope, period),
        nps=nps,
        points=await points_figures(session, period) if brand else None,
        tiers=await tier_distribution(session) if brand else None,
    )
    return figures, paid


def _days(paid: list[_Paid], period: Period, timezone: str, currency: str | None) -> list[Day]:
    zone = ZoneInfo(timezone)
    orders: dict[date, int] = defaultdict(int)
    gmv: dict[date, int] = defaultdict(int)
    for order in paid:
        if order.currency != currency:
            continue
        day = order.at.astimezone(zone).date()
        orders[day] += 1
        gmv[day] += order.amount
    span = (period.last - period.first).days + 1
    return [
        Day(day, orders[day], gmv[day])
        for day in (period.first + timedelta(days=n) for n in range(span))
    ]


async def communities_in(session: AsyncSession, scope: Scope) -> list[tuple[int, str]]:
    """(id, title) of the groups in the scope, by title: every group the bot has served for
    the whole brand."""
    query = select(col(Community.id), col(Community.title)).order_by(
        col(Community.title), col(Community.id)
    )
    if scope is not None:
        query = query.where(col(Community.id).in_(sorted(scope)))
    return [(int(i), str(t)) for i, t in (await session.execute(query)).all()]


async def stats_report(
    session: AsyncSession,
    *,
    period: Period,
    timezone: str,
    scope: Scope,
    now: datetime | None = None,
    default_currency: str | None = None,
) -> StatsReport:
    """Every metric over the period for the scope as a whole and for each of its groups
    (`now`: when open after-sales tickets are judged overdue, the period's end if None); the
    report's currency is the one most orders were paid in, else `default_currency` (the
    brand's, so an empty period still reads "¥0.00", not a bare "0")."""
    total, _campaigns, by_group = await program_stats(session, start=period.start, end=period.end)
    group_referrals = {row.key: row for row in by_group}
    nps = await nps_report(session, since=period.start, until=period.end, comments=0)
    group_nps = {score.community_id: score for score in nps.communities}
    groups = await communities_in(session, scope)
    in_scope = [group_nps[g] for g, _title in groups if g in group_nps]
    overall, paid = await _figures(
        session,
        scope=scope,
        community_id=None,
        title="",
        period=period,
        referrals=(
            _referrals([total])
            if scope is None
            else _referrals(group_referrals[g] for g, _t in groups if g in group_referrals)
        ),
        nps=nps.overall if scope is None else _nps(in_scope, None),
    )
    communities = []
    for group, title in groups:
        figures, _paid = await _figures(
            session,
            scope=frozenset({group}),
            community_id=group,
            title=title,
            period=period,
            referrals=_referrals([group_referrals[group]] if group in group_referrals else []),
            nps=_nps([group_nps[group]] if group in group_nps else [], group),
        )
        communities.append(figures)
    by_currency: dict[str, int] = defaultdict(int)
    for order in paid:
        by_currency[order.currency] += 1
    currency = (
        min(by_currency, key=lambda c: (-by_currency[c], c)) if by_currency else default_currency
    )
    return StatsReport(
        period=period,
        timezone=timezone,
        currency=currency,
        overall=overall,
        communities=tuple(communities),
        days=tuple(_days(paid, period, timezone, currency)),
        tickets=await ticket_stats(
            session, start=period.start, end=period.end, communities=scope, now=now
        ),
        best_sellers=await best_sellers(session, scope, period),
    )
