"""The tables staff read and download: the dashboard shows them, and `python -m bot export`
and the dashboard's CSV links write them with the same columns.

Each table streams its rows from the store (`AsyncSession.stream` with `yield_per`), so an
export of a year of ledger entries never sits in memory at once. A `Query` carries the
reader's scope (None: the whole brand; a set of group ids: a leader's groups, so a leader never
receives another group's rows), the period, and a search text for the members table.
"""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.broadcast import (
    RECIPIENT_FAILED,
    RECIPIENT_PENDING,
    RECIPIENT_SENT,
    RECIPIENT_SKIPPED,
    Broadcast,
    BroadcastRecipient,
)
from models.community import Community, CommunityMember
from models.groupbuy import GroupBuy, GroupBuyPost
from models.ledger import (
    ACCOUNT_MEMBER_POINTS,
    POINTS,
    LedgerAccount,
    LedgerBalance,
    LedgerEntry,
    LedgerTransaction,
)
from models.member import Member
from models.order import DELIVERY_SHIP, ORDER_FULFILLED, ORDER_PAID, Order
from models.poll import Poll, PollBallot, PollOption, PollPost
from models.rewards import FULFILMENT_OPEN, Fulfilment
from models.ticket import TICKET_OPEN, Ticket
from models.tiers import MemberTier, Tier
from models.trial import Trial, TrialInvite
from services.analytics import Scope, StatsReport, stats_report
from services.nps import nps_report
from services.period import Period

BATCH = 500  # rows fetched from the database at a time
Row = tuple[object, ...]


@dataclass(frozen=True, slots=True)
class Query:
    """What a reader asks of a table."""

    scope: Scope
    period: Period
    timezone: str = "UTC"
    search: str = ""


RowSource = Callable[[AsyncSession, Query], AsyncIterator[Row]]


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    columns: tuple[str, ...]
    rows: RowSource


async def _stream(session: AsyncSession, query: Any) -> AsyncIterator[Row]:
    result = await session.stream(query.execution_options(yield_per=BATCH))
    async for row in result:
        yield tuple(row)


def _chats(column: Any, scope: Scope) -> Any:
    """A condition keeping rows of the scope's groups (always true for the whole brand)."""
    return True if scope is None else col(column).in_(sorted(scope))


ENTRY_COLUMNS = (
    "transaction_id",
    "created_at_utc",
    "idempotency_key",
    "kind",
    "memo",
    "reverses_id",
    "order_id",
    "account_kind",
    "account_owner",
    "asset",
    "amount_minor",
)


def _ledger(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Every entry of the transactions created in the period, oldest first; a leader sees the
    entries of their groups' orders."""
    statement = (
        select(
            col(LedgerTransaction.id),
            col(LedgerTransaction.created_at),
            col(LedgerTransaction.idempotency_key),
            col(LedgerTransaction.kind),
            col(LedgerTransaction.memo),
            col(LedgerTransaction.reverses_id),
            col(LedgerTransaction.order_id),
            col(LedgerAccount.kind),
            col(LedgerAccount.owner_id),
            col(LedgerEntry.asset),
            col(LedgerEntry.amount),
        )
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .where(
            col(LedgerTransaction.created_at) >= query.period.start,
            col(LedgerTransaction.created_at) < query.period.end,
        )
        .order_by(col(LedgerTransaction.id), col(LedgerEntry.id))
    )
    if query.scope is not None:
        in_scope = select(col(Order.id)).where(_chats(Order.chat_id, query.scope))
        statement = statement.where(col(LedgerTransaction.order_id).in_(in_scope))
    return _stream(session, statement)


ORDER_COLUMNS = (
    "order_id",
    "created_at_utc",
    "member_id",
    "chat_id",
    "product_id",
    "groupbuy_id",
    "title",
    "variant",
    "quantity",
    "unit_price_minor",
    "shipping_minor",
    "total_minor",
    "currency",
    "payment_mode",
    "status",
    "paid_minor",
    "refunded_minor",
    "for_whom",  # whom the order is for when not the member (代订), "" for the member
)


def _orders(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Orders created in the period, oldest first."""
    statement = (
        select(
            col(Order.id),
            col(Order.created_at),
            col(Order.member_id),
            col(Order.chat_id),
            col(Order.product_id),
            col(Order.groupbuy_id),
            col(Order.title),
            col(Order.variant_name),
            col(Order.quantity),
            col(Order.unit_price),
            col(Order.shipping_cost),
            # what the member pays: the goods less the discount, plus the shipping
            col(Order.quantity) * col(Order.unit_price)
            - col(Order.discount)
            + col(Order.shipping_cost),
            col(Order.currency),
            col(Order.payment_mode),
            col(Order.status),
            col(Order.paid_amount),
            col(Order.refunded_amount),
            col(Order.for_whom),
        )
        .where(
            col(Order.created_at) >= query.period.start,
            col(Order.created_at) < query.period.end,
            _chats(Order.chat_id, query.scope),
        )
        .order_by(col(Order.id))
    )
    return _stream(session, statement)


COMMUNITY_COLUMNS = (
    "community_id",
    "title",
    "currency",
    "gmv_minor",
    "paid_orders",
    "average_order_minor",
    "groupbuys_formed",
    "groupbuys_closed",
    "repeat_buyers",
    "buyers",
    "cards_posted",
    "joins",
    "orders_paid",
    "orders_picked_up",
    "active_7d",
    "active_30d",
    "referrals_qualified",
    "poll_voters",
    "suggestions_adopted",
    "suggestions_made",
    "nps",
    "nps_answers",
)


async def _communities(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Each group's figures over the period (one row per group and currency it sold in)."""
    report = await stats_report(
        session, period=query.period, timezone=query.timezone, scope=query.scope
    )
    for row in community_rows(report):
        yield row


def community_rows(report: StatsReport) -> Iterator[Row]:
    """The communities table of a report already computed (the dashboard's page has one)."""
    for f in report.communities:
        rest = (
            f.formation.numerator,
            f.formation.denominator,
            f.repurchase.numerator,
            f.repurchase.denominator,
            f.funnel.cards,
            f.funnel.joins,
            f.funnel.paid,
            f.funnel.picked_up,
            f.active[7],
            f.active[30],
            f.referrals.qualified,
            f.voters,
            f.suggestions.numerator,
            f.suggestions.denominator,
            f.nps.score if f.nps.total else None,
            f.nps.total,
        )
        currencies: list[str | None] = [*sorted(f.gmv)] or [None]
        for currency in currencies:
            paid = f.paid_orders if currency is None or len(currencies) == 1 else None
            yield (
                f.community_id,
                f.title,
                currency,
                f.gmv.get(currency, 0) if currency else 0,
                paid if paid is not None else "",
                f.average_order.get(currency, 0) if currency else 0,
                *rest,
            )


GROUPBUY_COLUMNS = (
    "groupbuy_id",
    "created_at_utc",
    "title",
    "status",
    "communities",
    "min_kind",
    "min_count",
    "participants",
    "units_sold",
    "stock_cap",
    "unit_price_minor",
    "final_price_minor",
    "currency",
    "deadline_utc",
    "settled_at_utc",
)


async def _posted_in(session: AsyncSession, ids: Sequence[int]) -> dict[int, list[int]]:
    chats: dict[int, list[int]] = defaultdict(list)
    if ids:
        rows = await session.execute(
            select(col(GroupBuyPost.groupbuy_id), col(GroupBuyPost.chat_id))
            .where(col(GroupBuyPost.groupbuy_id).in_(ids))
            .order_by(col(GroupBuyPost.chat_id))
        )
        for groupbuy_id, chat_id in rows.all():
            chats[int(groupbuy_id)].append(int(chat_id))
    return chats


async def _groupbuys(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Group-buys opened in the period, newest first, with the groups they were posted in (a
    leader sees those posted in their groups, and only their own groups among the posts)."""
    statement = (
        select(
            col(GroupBuy.id),
            col(GroupBuy.created_at),
            col(GroupBuy.title),
            col(GroupBuy.status),
            col(GroupBuy.min_kind),
            col(GroupBuy.min_count),
            col(GroupBuy.participants),
            col(GroupBuy.units_sold),
            col(GroupBuy.stock_cap),
            col(GroupBuy.unit_price),
            col(GroupBuy.final_price),
            col(GroupBuy.currency),
            col(GroupBuy.deadline),
            col(GroupBuy.settled_at),
        )
        .where(
            col(GroupBuy.created_at) >= query.period.start,
            col(GroupBuy.created_at) < query.period.end,
        )
        .order_by(col(GroupBuy.id).desc())
    )
    if query.scope is not None:
        posted = select(col(GroupBuyPost.groupbuy_id)).where(
            _chats(GroupBuyPost.chat_id, query.scope)
        )
        statement = statement.where(col(GroupBuy.id).in_(posted))
    batch: list[Row] = []
    async for row in _stream(session, statement):
        batch.append(row)
        if len(batch) >= BATCH:
            for out in await _with_posts(session, batch, query.scope):
                yield out
            batch = []
    for out in await _with_posts(session, batch, query.scope):
        yield out


async def _with_posts(session: AsyncSession, batch: list[Row], scope: Scope) -> list[Row]:
    posts = await _posted_in(session, [int(str(row[0])) for row in batch])
    out = []
    for row in batch:
        chats = [c for c in posts.get(int(str(row[0])), []) if scope is None or c in scope]
        out.append((*row[:4], " ".join(str(c) for c in chats), *row[4:]))
    return out


MEMBER_COLUMNS = (
    "member_id",
    "first_name",
    "last_name",
    "username",
    "locale",
    "tier_rank",
    "tier",
    "points",
    "paid_orders",
    "first_seen_utc",
)
MAX_SEARCH = 64


def search_condition(text: str) -> Any:
    """Members whose id is the text, or whose name or username contains it (any case)."""
    text = text.strip().lstrip("@")[:MAX_SEARCH]
    if not text:
        return True
    pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    matches: list[Any] = [
        func.lower(col(Member.first_name)).like(pattern, escape="\\"),
        func.lower(func.coalesce(col(Member.last_name), "")).like(pattern, escape="\\"),
        func.lower(func.coalesce(col(Member.username), "")).like(pattern, escape="\\"),
    ]
    if text.isascii() and text.isdigit() and len(text) < 19:  # not '²', which int() refuses
        matches.append(col(Member.id) == int(text))
    return or_(*matches)


def _members(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Members (not bots, not erased), newest first, matching the search; a leader sees the
    members the bot has seen in their groups."""
    paid = (
        select(col(Order.member_id), func.count().label("paid"))
        .where(col(Order.status).in_((ORDER_PAID, ORDER_FULFILLED)))
        .group_by(col(Order.member_id))
        .subquery()
    )
    points = (
        select(col(LedgerAccount.owner_id).label("owner"), col(LedgerBalance.balance))
        .join(LedgerBalance, col(LedgerBalance.account_id) == col(LedgerAccount.id))
        .where(col(LedgerAccount.kind) == ACCOUNT_MEMBER_POINTS, col(LedgerBalance.asset) == POINTS)
        .subquery()
    )
    statement = (
        select(
            col(Member.id),
            col(Member.first_name),
            col(Member.last_name),
            col(Member.username),
            col(Member.locale),
            func.coalesce(col(MemberTier.rank), 0),
            col(Tier.name),
            func.coalesce(points.c.balance, 0),
            func.coalesce(paid.c.paid, 0),
            col(Member.created_at),
        )
        .outerjoin(MemberTier, col(MemberTier.member_id) == col(Member.id))
        .outerjoin(Tier, col(Tier.rank) == func.coalesce(col(MemberTier.rank), 0))
        .outerjoin(points, points.c.owner == col(Member.id))
        .outerjoin(paid, paid.c.member_id == col(Member.id))
        .where(
            col(Member.is_bot).is_(False),
            col(Member.forgotten_at).is_(None),
            search_condition(query.search),
        )
        .order_by(col(Member.created_at).desc(), col(Member.id).desc())
    )
    if query.scope is not None:
        seen = select(col(CommunityMember.member_id)).where(
            _chats(CommunityMember.community_id, query.scope)
        )
        statement = statement.where(col(Member.id).in_(seen))
    return _stream(session, statement)


BROADCAST_COLUMNS = (
    "broadcast_id",
    "created_at_utc",
    "scheduled_at_utc",
    "status",
    "targets",
    "paid",
    "recipients",
    "sent",
    "pending",
    "skipped",
    "failed",
    "finished_at_utc",
    "text",
)


def _count_of(status: str) -> Any:
    return func.sum(case((col(BroadcastRecipient.status) == status, 1), else_=0))


def _broadcasts(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Broadcasts scheduled in the period, newest first, with their rows counted by status; a
    leader sees the broadcasts posted in their groups, counted there only."""
    in_scope: Any = (
        True if query.scope is None else col(BroadcastRecipient.chat_id).in_(sorted(query.scope))
    )
    counts = (
        select(
            col(BroadcastRecipient.broadcast_id).label("broadcast_id"),
            func.count().label("recipients"),
            _count_of(RECIPIENT_SENT).label("sent"),
            _count_of(RECIPIENT_PENDING).label("pending"),
            _count_of(RECIPIENT_SKIPPED).label("skipped"),
            _count_of(RECIPIENT_FAILED).label("failed"),
        )
        .where(in_scope)
        .group_by(col(BroadcastRecipient.broadcast_id))
        .subquery()
    )
    join = counts.c.broadcast_id == col(Broadcast.id)
    statement = select(
        col(Broadcast.id),
        col(Broadcast.created_at),
        col(Broadcast.scheduled_at),
        col(Broadcast.status),
        col(Broadcast.targets),
        col(Broadcast.paid),
        func.coalesce(counts.c.recipients, 0),
        func.coalesce(counts.c.sent, 0),
        func.coalesce(counts.c.pending, 0),
        func.coalesce(counts.c.skipped, 0),
        func.coalesce(counts.c.failed, 0),
        col(Broadcast.finished_at),
        col(Broadcast.text),
    ).where(
        col(Broadcast.scheduled_at) >= query.period.start,
        col(Broadcast.scheduled_at) < query.period.end,
    )
    statement = (
        statement.outerjoin(counts, join)
        if query.scope is None
        else statement.join(counts, join)  # a leader: only broadcasts with rows in their groups
    )
    return _stream(session, statement.order_by(col(Broadcast.id).desc()))


POLL_COLUMNS = (
    "poll_id",
    "created_at_utc",
    "question",
    "status",
    "closes_at_utc",
    "anonymous",
    "voters",
    "option",
    "option_text",
    "votes",
)


async def _polls(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Co-creation polls created in the period, newest first, one row per option with its
    votes; a leader sees the polls posted in their groups, counted from their groups' copies."""
    statement = (
        select(
            col(Poll.id),
            col(Poll.created_at),
            col(Poll.question),
            col(Poll.status),
            col(Poll.closes_at),
            col(Poll.anonymous),
            col(Poll.option_count),
        )
        .where(
            col(Poll.created_at) >= query.period.start,
            col(Poll.created_at) < query.period.end,
        )
        .order_by(col(Poll.id).desc())
    )
    if query.scope is not None:
        posted = select(col(PollPost.poll_id)).where(_chats(PollPost.chat_id, query.scope))
        statement = statement.where(col(Poll.id).in_(posted))
    polls = [row async for row in _stream(session, statement)]
    for poll_id, created, question, status, closes, anonymous, size in polls:
        votes, voters = await _votes(
            session, int(str(poll_id)), int(str(size)), bool(anonymous), query.scope
        )
        options = await session.execute(
            select(col(PollOption.position), col(PollOption.text))
            .where(col(PollOption.poll_id) == poll_id)
            .order_by(col(PollOption.position))
        )
        for position, text in options.all():
            index = int(position)
            yield (
                poll_id,
                created,
                question,
                status,
                closes,
                anonymous,
                voters,
                index + 1,
                text,
                votes[index] if index < len(votes) else 0,
            )


async def _votes(
    session: AsyncSession, poll_id: int, size: int, anonymous: bool, scope: Scope
) -> tuple[list[int], int]:
    """Votes per option and voters, from the copies in the scope."""
    votes = [0] * size
    if anonymous:
        rows = await session.execute(
            select(col(PollPost.counts)).where(
                col(PollPost.poll_id) == poll_id, _chats(PollPost.chat_id, scope)
            )
        )
        for counts in rows.scalars().all():
            for i, count in enumerate(list(counts)[:size]):
                votes[i] += int(count)
        return votes, sum(votes)
    ballots = await session.execute(
        select(col(PollBallot.options)).where(
            col(PollBallot.poll_id) == poll_id, _chats(PollBallot.chat_id, scope)
        )
    )
    voters = 0
    for mask in ballots.scalars().all():
        voters += 1
        for i in range(size):
            if int(mask) >> i & 1:
                votes[i] += 1
    return votes, voters


NPS_COLUMNS = ("community_id", "title", "promoters", "passives", "detractors", "answers", "nps")


async def _nps(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """NPS over the period per group (and, for the whole brand, overall first)."""
    report = await nps_report(session, since=query.period.start, until=query.period.end, comments=0)
    rows = await session.execute(select(col(Community.id), col(Community.title)))
    titles = {int(group): str(title) for group, title in rows.all()}
    scores = list(report.communities)
    if query.scope is None:
        scores.insert(0, report.overall)
    for score in scores:
        if query.scope is not None and score.community_id not in query.scope:
            continue
        yield (
            score.community_id,
            titles.get(score.community_id, "") if score.community_id is not None else "",
            score.promoters,
            score.passives,
            score.detractors,
            score.total,
            score.score if score.total else None,
        )


TRIAL_COLUMNS = (
    "trial_id",
    "title",
    "due_at_utc",
    "member_id",
    "first_name",
    "status",
    "order_id",
    "ratings",
    "report",
    "photos",
    "reported_at_utc",
    "good",
    "shared_at_utc",
)


async def _trials(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Product trials (体验官) due in the period: every invitation with its report, for the
    whole brand only (a trial belongs to no group)."""
    if query.scope is not None:
        return
    statement = (
        select(
            col(Trial.id),
            col(Trial.title),
            col(Trial.due_at),
            col(TrialInvite.member_id),
            col(Member.first_name),
            col(TrialInvite.status),
            col(TrialInvite.order_id),
            col(TrialInvite.ratings),
            col(TrialInvite.report),
            col(TrialInvite.photos),
            col(TrialInvite.reported_at),
            col(TrialInvite.good),
            col(TrialInvite.shared_at),
        )
        .join(Trial, col(Trial.id) == col(TrialInvite.trial_id))
        .join(Member, col(Member.id) == col(TrialInvite.member_id))
        .where(col(Trial.due_at) >= query.period.start, col(Trial.due_at) < query.period.end)
        .order_by(col(Trial.id), col(TrialInvite.member_id))
    )
    async for row in _stream(session, statement):
        ratings = row[7] if isinstance(row[7], dict) else {}
        yield (*row[:7], ";".join(f"{k}={v}" for k, v in ratings.items()), *row[8:])


FULFILMENT_COLUMNS = (
    "fulfilment_id",
    "redeemed_at_utc",
    "member_id",
    "first_name",
    "username",
    "title",
    "status",
)


async def _fulfilments(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Physical rewards waiting to be handed over, oldest first, whenever they were redeemed
    (a task stays on the list until it is done, so the period does not apply). Staff only: a
    leader's scope holds no rewards, which are the brand's."""
    if query.scope is not None:
        return
    statement = (
        select(
            col(Fulfilment.id),
            col(Fulfilment.created_at),
            col(Fulfilment.member_id),
            col(Member.first_name),
            col(Member.username),
            col(Fulfilment.title),
            col(Fulfilment.status),
        )
        .join(Member, col(Member.id) == col(Fulfilment.member_id))
        .where(col(Fulfilment.status) == FULFILMENT_OPEN)
        .order_by(col(Fulfilment.id))
    )
    async for row in _stream(session, statement):
        yield row


TICKET_COLUMNS = (
    "ticket_id",
    "opened_at_utc",
    "chat_id",
    "order_id",
    "member_id",
    "first_name",
    "kind",
    "status",
    "answer_due_utc",
    "answered_at_utc",
    "resolve_due_utc",
    "closed_at_utc",
    "resolution",
)


async def _tickets(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """After-sales tickets of the scope's groups: every open one whenever it was opened (a
    ticket stays on the queue until it is closed), then those opened in the period; the most
    urgent open ticket first."""
    statement = (
        select(
            col(Ticket.id),
            col(Ticket.opened_at),
            col(Ticket.chat_id),
            col(Ticket.order_id),
            col(Ticket.member_id),
            col(Member.first_name),
            col(Ticket.kind),
            col(Ticket.status),
            col(Ticket.answer_due),
            col(Ticket.answered_at),
            col(Ticket.resolve_due),
            col(Ticket.closed_at),
            col(Ticket.resolution),
        )
        .join(Member, col(Member.id) == col(Ticket.member_id))
        .where(
            _chats(Ticket.chat_id, query.scope),
            or_(
                col(Ticket.status) == TICKET_OPEN,
                and_(
                    col(Ticket.opened_at) >= query.period.start,
                    col(Ticket.opened_at) < query.period.end,
                ),
            ),
        )
        .order_by(
            col(Ticket.status) != TICKET_OPEN,
            col(Ticket.answered_at).is_not(None),
            col(Ticket.answer_due),
            col(Ticket.resolve_due),
            col(Ticket.id),
        )
    )
    async for row in _stream(session, statement):
        yield row


# where a delivery order stands, as the deliveries table says it
SHIP_WAITING = "to_ship"  # paid, not shipped yet
SHIP_SHIPPED = "shipped"  # on its way, with a tracking number
SHIP_DELIVERED = "delivered"  # handed over (the order is fulfilled)

DELIVERY_COLUMNS = (
    "order_id",
    "created_at_utc",
    "chat_id",
    "member_id",
    "first_name",
    "title",
    "quantity",
    "delivery_state",
    "address_given",
    "carrier",
    "tracking_number",
    "shipped_at_utc",
)


def _delivery_state() -> Any:
    return case(
        (col(Order.status) == ORDER_FULFILLED, SHIP_DELIVERED),
        (col(Order.shipped_at).is_not(None), SHIP_SHIPPED),
        else_=SHIP_WAITING,
    )


async def _deliveries(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Delivery orders of the scope's groups, without addresses (leaders read it too): every
    paid one still to ship whenever it was paid, then those shipped or delivered in the
    period; to ship first, oldest first."""
    state = _delivery_state()
    statement = (
        select(
            col(Order.id),
            col(Order.created_at),
            col(Order.chat_id),
            col(Order.member_id),
            col(Member.first_name),
            col(Order.title),
            col(Order.quantity),
            state,
            col(Order.ship_address) != "",
            col(Order.carrier),
            col(Order.tracking_number),
            col(Order.shipped_at),
        )
        .join(Member, col(Member.id) == col(Order.member_id))
        .where(
            col(Order.delivery) == DELIVERY_SHIP,
            _chats(Order.chat_id, query.scope),
            or_(
                and_(col(Order.status) == ORDER_PAID, col(Order.shipped_at).is_(None)),
                and_(
                    col(Order.status).in_((ORDER_PAID, ORDER_FULFILLED)),
                    col(Order.shipped_at) >= query.period.start,
                    col(Order.shipped_at) < query.period.end,
                ),
            ),
        )
        .order_by(col(Order.shipped_at).is_not(None), state == SHIP_DELIVERED, col(Order.id))
    )
    async for row in _stream(session, statement):
        yield row


SHIPLIST_COLUMNS = (
    "order_id",
    "chat_id",
    "title",
    "quantity",
    "ship_name",
    "ship_phone",
    "ship_address",
    "shipping_option_id",
    "shipping_minor",
    "currency",
)
# tables that hold members' addresses: staff only, whatever the reader's groups
STAFF_TABLES = frozenset({"shiplist"})


async def _shiplist(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """The ship list: paid delivery orders not shipped yet, with where they go, oldest first
    (staff only: it holds addresses)."""
    statement = (
        select(
            col(Order.id),
            col(Order.chat_id),
            col(Order.title),
            col(Order.quantity),
            col(Order.ship_name),
            col(Order.ship_phone),
            col(Order.ship_address),
            col(Order.shipping_option_id),
            col(Order.shipping_cost),
            col(Order.currency),
        )
        .where(
            col(Order.delivery) == DELIVERY_SHIP,
            col(Order.status) == ORDER_PAID,
            col(Order.shipped_at).is_(None),
            _chats(Order.chat_id, query.scope),
        )
        .order_by(col(Order.id))
    )
    async for row in _stream(session, statement):
        yield row


TABLES: dict[str, Table] = {
    table.name: table
    for table in (
        Table("communities", COMMUNITY_COLUMNS, _communities),
        Table("groupbuys", GROUPBUY_COLUMNS, _groupbuys),
        Table("members", MEMBER_COLUMNS, _members),
        Table("orders", ORDER_COLUMNS, _orders),
        Table("ledger", ENTRY_COLUMNS, _ledger),
        Table("broadcasts", BROADCAST_COLUMNS, _broadcasts),
        Table("polls", POLL_COLUMNS, _polls),
        Table("nps", NPS_COLUMNS, _nps),
        Table("fulfilment", FULFILMENT_COLUMNS, _fulfilments),
        Table("tickets", TICKET_COLUMNS, _tickets),
        Table("deliveries", DELIVERY_COLUMNS, _deliveries),
        Table("shiplist", SHIPLIST_COLUMNS, _shiplist),
        Table("trials", TRIAL_COLUMNS, _trials),
    )
}


def safe_cell(value: object) -> str:
    """A CSV cell that a spreadsheet will show as text, never run as a formula."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat()
    if isinstance(value, bool):
        return "true" if value else "false"
    text = "" if value is None else str(value)
    if text and text[0] in "=+-@\t\r" and not text.lstrip("-").isdigit():
        return "'" + text
    return text


def csv_header(columns: Sequence[str]) -> bytes:
    """The first chunk of a CSV file: a BOM, so spreadsheet apps read Chinese text right, and
    the column names."""
    return "\ufeff".encode() + csv_lines([columns])


def csv_lines(rows: Iterable[Sequence[object]]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    for row in rows:
        writer.writerow([safe_cell(value) for value in row])
    return buffer.getvalue().encode("utf-8")


async def csv_chunks(
    session: AsyncSession, table: Table, query: Query, *, chunk_rows: int = BATCH
) -> AsyncIterator[tuple[bytes, int]]:
    """The table as CSV in chunks of about `chunk_rows` rows, each with its row count."""
    yield csv_header(table.columns), 0
    pending: list[Row] = []
    async for row in table.rows(session, query):
        pending.append(row)
        if len(pending) >= chunk_rows:
            yield csv_lines(pending), len(pending)
            pending = []
    if pending:
        yield csv_lines(pending), len(pending)


Write = Callable[[bytes], Awaitable[object]]


async def write_csv(session: AsyncSession, table: Table, query: Query, write: Write) -> int:
    """Stream the table as CSV through `write`; returns the number of rows."""
    count = 0
    async for chunk, rows in csv_chunks(session, table, query):
        await write(chunk)
        count += rows
    return count
