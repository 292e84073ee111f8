"""Tallying and closing polls (claimed once, by the scheduler or staff), the copies to stop,
and the polls open or due.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.poll import POLL_CLOSED, POLL_OPEN, Poll, PollBallot, PollPost
from models.tiers import MemberTier
from services.community import get_community
from services.db import rowcount
from services.member import get_member
from services.paging import Page, count_of, window
from services.poll._common import PollResult, PollView, PostView, get_poll, posts_of
from services.poll.voting import record_counts


async def tally(session: AsyncSession, poll: PollView) -> PollResult:
    """Count the poll across every group: ballots once per member, or the copies' counts."""
    size = len(poll.options)
    raw = [0] * size
    if poll.anonymous:
        rows = await session.execute(
            select(col(PollPost.counts)).where(col(PollPost.poll_id) == poll.id)
        )
        for counts in rows.scalars().all():
            for i, count in enumerate(list(counts)[:size]):
                raw[i] += int(count)
        return PollResult(poll=poll, raw=tuple(raw), weighted=None, voters=sum(raw))
    weighted = [0] * size
    ballots = await session.execute(
        select(col(PollBallot.options), col(MemberTier.rank))
        .outerjoin(MemberTier, col(MemberTier.member_id) == col(PollBallot.member_id))
        .where(col(PollBallot.poll_id) == poll.id)
    )
    voters = 0
    for mask, rank in ballots.all():
        voters += 1
        for i in range(size):
            if int(mask) >> i & 1:
                raw[i] += 1
                weighted[i] += 1 + int(rank or 0)  # weight = 1 + tier rank
    return PollResult(
        poll=poll,
        raw=tuple(raw),
        weighted=tuple(weighted) if poll.tier_weighted else None,
        voters=voters,
    )


@dataclass(frozen=True, slots=True)
class StoppedCopy:
    """A copy of the poll that Telegram stopped, with the final counts it reported."""

    chat_id: int
    telegram_poll_id: str
    # per option, as Telegram counted them when it stopped the copy; None when it had been
    # stopped before (a closer that died midway): the counts it reported then stand
    counts: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class ClosedPoll:
    """What closing a poll did: its result, and who is to be told in which language."""

    result: PollResult
    groups: tuple[tuple[int, str], ...]  # (chat id, locale) of every group it was posted in
    author: tuple[int, str] | None  # (member id, locale) of its author, when they can be told


async def copies_to_stop(session: AsyncSession, poll_id: int) -> list[PostView]:
    """The copies of an open poll still to stop on Telegram before it closes (none once it is
    closed: the copies are stopped before the closing is claimed, see `close_poll`)."""
    poll = await session.get(Poll, poll_id, populate_existing=True)
    if poll is None or poll.status != POLL_OPEN:
        return []
    return [post for post in await posts_of(session, poll_id) if not post.stopped]


async def close_poll(
    session: AsyncSession,
    *,
    poll_id: int,
    now: datetime,
    stopped: Iterable[StoppedCopy] = (),
    default_locale: str = "en",
) -> ClosedPoll | None:
    """Close the poll once, as one story: the final counts of the copies just stopped
    recorded, the poll claimed open -> closed, counted across groups. None when it was not
    open (another closer won).

    The copies are stopped on Telegram before this runs, while the poll is still open here: a
    process that dies in between leaves it open, and the counts Telegram then reports for the
    stopped copies are still taken, so the final counts of anonymous copies are never lost."""
    moved = await session.execute(
        update(Poll)
        .where(col(Poll.id) == poll_id, col(Poll.status) == POLL_OPEN)
        .values(status=POLL_CLOSED, closed_at=now)
    )
    if rowcount(moved) != 1:
        return None
    for copy in stopped:
        if copy.counts is not None:
            await record_counts(
                session,
                telegram_poll_id=copy.telegram_poll_id,
                counts=list(copy.counts),
                final=True,
            )
        await mark_stopped(session, poll_id=poll_id, chat_id=copy.chat_id)
    poll = await get_poll(session, poll_id)
    assert poll is not None
    groups = []
    for chat_id in poll.chat_ids:
        community = await get_community(session, chat_id)
        groups.append((chat_id, community.locale if community else default_locale))
    author = await get_member(session, poll.created_by)
    return ClosedPoll(
        result=await tally(session, poll),
        groups=tuple(groups),
        author=(author.id, author.locale) if author is not None and author.started else None,
    )


async def mark_stopped(session: AsyncSession, *, poll_id: int, chat_id: int) -> None:
    await session.execute(
        update(PollPost)
        .where(col(PollPost.poll_id) == poll_id, col(PollPost.chat_id) == chat_id)
        .values(stopped=True)
    )


async def due_polls(session: AsyncSession, *, now: datetime) -> list[int]:
    """Open polls whose closing time has come: the closing job's work."""
    rows = await session.execute(
        select(col(Poll.id))
        .where(col(Poll.status) == POLL_OPEN, col(Poll.closes_at) <= now)
        .order_by(col(Poll.closes_at))
    )
    return [int(i) for i in rows.scalars().all() if i is not None]


async def open_polls(session: AsyncSession) -> list[tuple[int, datetime]]:
    """Every open poll with its closing time, so the scheduler can rebuild its jobs."""
    rows = await session.execute(
        select(col(Poll.id), col(Poll.closes_at)).where(col(Poll.status) == POLL_OPEN)
    )
    return [(int(i or 0), d) for i, d in rows.all()]


async def poll_page(session: AsyncSession, *, limit: int, offset: int = 0) -> Page[PollView]:
    """A page of the polls, newest first, and how many there are."""
    limit, offset = window(limit, offset)
    statement = select(col(Poll.id)).order_by(col(Poll.id).desc())
    total = await count_of(session, statement)
    rows = await session.execute(statement.limit(limit).offset(offset))
    views = [await get_poll(session, int(i or 0)) for i in rows.scalars().all()]
    return Page([v for v in views if v is not None], offset, total)
