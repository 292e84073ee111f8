"""The tables about members and what reached them: members (with search), broadcasts,
polls, NPS and trials.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import case, func, or_, select
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
from models.ledger import ACCOUNT_MEMBER_POINTS, POINTS, LedgerAccount, LedgerBalance
from models.member import Member
from models.order import ORDER_FULFILLED, ORDER_PAID, Order
from models.poll import Poll, PollBallot, PollOption, PollPost
from models.tiers import MemberTier, Tier
from models.trial import Trial, TrialInvite
from services.analytics import Scope
from services.nps import nps_report
from services.tables._common import Query, Row, _chats, _stream

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
