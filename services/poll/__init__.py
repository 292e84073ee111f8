"""Co-creation polls: ask every group one question and get one honest answer across them.

Non-anonymous polls hold one ballot per member per poll (a unique row updated in place), so a
member who votes in two groups, or changes their mind, counts once; a retraction removes the
ballot only when it comes from the copy that holds it. Voters are rewarded once per poll
through the points ledger. Anonymous polls only have the counts Telegram reports per copy.
Closing is claimed by a conditional UPDATE, so the scheduler and staff close a poll once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import bindparam, delete, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.poll import (
    MAX_OPTIONS,
    MIN_OPTIONS,
    POLL_CLOSED,
    POLL_OPEN,
    Poll,
    PollBallot,
    PollOption,
    PollPost,
)
from models.tiers import MemberTier
from services.community import get_community
from services.db import insert_in, prepared, rowcount, table_of
from services.errors import Refused
from services.groupbuy import GroupBuyError, parse_deadline
from services.member import get_member
from services.paging import Page, count_of, window
from services.points import REASON_VOTE, Grant, award

MAX_QUESTION = 300  # Telegram's limit for a poll question
MAX_OPTION = 100  # Telegram's limit for a poll option
MAX_POINTS_PER_VOTE = 10_000
_SPLIT = re.compile(r"\s*(?:\n|\|)\s*")


class PollError(Refused):
    """A poll operation that was refused; `reason` names why, for a localized message
    (`detail`, for bad_closing: the part that could not be read)."""


class PollRefusal(StrEnum):
    """The reasons a PollError gives (its `reason`); the handlers map each to a message."""

    BAD_QUESTION = "bad_question"
    QUESTION_TOO_LONG = "question_too_long"
    TOO_FEW_OPTIONS = "too_few_options"
    TOO_MANY_OPTIONS = "too_many_options"
    OPTION_TOO_LONG = "option_too_long"
    DUPLICATE_OPTIONS = "duplicate_options"
    BAD_POINTS = "bad_points"
    CLOSING_PAST = "closing_past"
    CLOSING_TOO_FAR = "closing_too_far"
    BAD_CLOSING = "bad_closing"
    FIRST_TOO_LONG = "first_too_long"
    ANONYMOUS_NO_VOTERS = "anonymous_no_voters"
    BAD_FIRST = "bad_first"


@dataclass(frozen=True, slots=True)
class PollView:
    """A poll as handlers see it."""

    id: int
    question: str
    options: tuple[str, ...]
    allows_multiple: bool
    anonymous: bool
    points_per_vote: int
    tier_weighted: bool
    closes_at: datetime
    status: str
    created_by: int
    chat_ids: tuple[int, ...]  # the groups it was posted in (not the ambassadors' early copies)
    presale_groupbuy_id: int | None
    first_until: datetime | None = None  # ambassadors first: when the groups get it
    held_chats: tuple[int, ...] = ()  # the groups waiting for the head start to end

    @property
    def is_open(self) -> bool:
        return self.status == POLL_OPEN


@dataclass(frozen=True, slots=True)
class PostView:
    chat_id: int
    message_id: int
    telegram_poll_id: str
    stopped: bool


@dataclass(frozen=True, slots=True)
class PollResult:
    """The cross-group result: raw votes per option, and tier-weighted ones when configured."""

    poll: PollView
    raw: tuple[int, ...]
    weighted: tuple[int, ...] | None
    voters: int  # members who voted (anonymous polls: votes summed over the copies)

    @property
    def deciding(self) -> tuple[int, ...]:
        """The figures that decide the winner: weighted when configured, raw otherwise."""
        return self.weighted if self.weighted is not None else self.raw

    @property
    def winner(self) -> int | None:
        """The winning option's position (the first of a tie), None when nobody voted."""
        figures = self.deciding
        if not figures or max(figures) == 0:
            return None
        return figures.index(max(figures))


@dataclass(frozen=True, slots=True)
class AnswerResult:
    """What one poll_answer did."""

    poll_id: int
    counted: bool  # False when the poll is closed or the answer was invalid: nothing changed
    points: int  # points granted by this answer (0 after the first, or when capped)
    closed: bool = False  # the answer came after the poll closed (its copy not stopped yet)


def check_question(text: str) -> str:
    """The question, stripped; 1-300 characters as Telegram allows."""
    cleaned = text.strip()
    if not cleaned or cleaned.startswith("/"):
        raise PollError(PollRefusal.BAD_QUESTION)
    if len(cleaned) > MAX_QUESTION:
        raise PollError(PollRefusal.QUESTION_TOO_LONG, str(len(cleaned)))
    return cleaned


def parse_options(text: str) -> tuple[str, ...]:
    """Options one per line or separated by |: 2-12 distinct options of 1-100 characters."""
    options = tuple(part for part in _SPLIT.split(text.strip()) if part)
    if len(options) < MIN_OPTIONS:
        raise PollError(PollRefusal.TOO_FEW_OPTIONS, str(len(options)))
    if len(options) > MAX_OPTIONS:
        raise PollError(PollRefusal.TOO_MANY_OPTIONS, str(len(options)))
    if any(len(option) > MAX_OPTION for option in options):
        raise PollError(PollRefusal.OPTION_TOO_LONG)
    if len({option.casefold() for option in options}) != len(options):
        raise PollError(PollRefusal.DUPLICATE_OPTIONS)
    return options


def parse_closing(text: str, *, now: datetime, timezone: str) -> datetime:
    """'3d', '12h', '明天晚上8点', 'friday 6pm' or '2026-11-25 20:00' in the given time zone
    (as a group-buy's deadline); future, within 30 days."""
    try:
        return parse_deadline(text, now=now, timezone=timezone)
    except GroupBuyError as exc:
        reason = {
            "deadline_past": PollRefusal.CLOSING_PAST,
            "deadline_too_far": PollRefusal.CLOSING_TOO_FAR,
        }
        raise PollError(reason.get(exc.reason, PollRefusal.BAD_CLOSING), exc.detail) from None


def parse_points(text: str) -> int:
    """Points per vote: a whole number from 0 to 10000."""
    cleaned = text.strip()
    if not cleaned.isdecimal() or len(cleaned) > 6 or int(cleaned) > MAX_POINTS_PER_VOTE:
        raise PollError(PollRefusal.BAD_POINTS, cleaned)
    return int(cleaned)


async def _options(session: AsyncSession, poll_id: int) -> tuple[str, ...]:
    rows = await session.execute(
        select(col(PollOption.text))
        .where(col(PollOption.poll_id) == poll_id)
        .order_by(col(PollOption.position))
    )
    return tuple(rows.scalars().all())


async def _chat_ids(session: AsyncSession, poll_id: int) -> tuple[int, ...]:
    rows = await session.execute(
        select(col(PollPost.chat_id))
        .where(col(PollPost.poll_id) == poll_id, ~col(PollPost.early))
        .order_by(col(PollPost.id))
    )
    return tuple(int(i) for i in rows.scalars().all())


async def get_poll(session: AsyncSession, poll_id: int) -> PollView | None:
    """The poll with its options and the groups it was posted in, read fresh."""
    row = await session.get(Poll, poll_id, populate_existing=True)
    if row is None:
        return None
    assert row.id is not None
    return PollView(
        id=row.id,
        question=row.question,
        options=await _options(session, row.id),
        allows_multiple=row.allows_multiple,
        anonymous=row.anonymous,
        points_per_vote=row.points_per_vote,
        tier_weighted=row.tier_weighted,
        closes_at=row.closes_at,
        status=row.status,
        created_by=row.created_by,
        chat_ids=await _chat_ids(session, row.id),
        presale_groupbuy_id=row.presale_groupbuy_id,
        first_until=row.first_until,
        held_chats=tuple(int(c) for c in row.held_chats or ()) if row.released_at is None else (),
    )


async def create_poll(
    session: AsyncSession,
    *,
    question: str,
    options: tuple[str, ...],
    allows_multiple: bool,
    anonymous: bool,
    closes_at: datetime,
    points_per_vote: int,
    tier_weighted: bool,
    created_by: int,
    now: datetime,
    first_until: datetime | None = None,
    held_chats: Iterable[int] = (),
) -> PollView:
    """Store a new open poll; its copies are recorded with `record_post` as they are sent.
    With `first_until` (ambassadors first) the groups `held_chats` get it only then."""
    question = check_question(question)
    options = parse_options("\n".join(options))
    if closes_at <= now:
        raise PollError(PollRefusal.CLOSING_PAST)
    if first_until is not None and not now < first_until < closes_at:
        raise PollError(PollRefusal.FIRST_TOO_LONG)
    if not 0 <= points_per_vote <= MAX_POINTS_PER_VOTE:
        raise PollError(PollRefusal.BAD_POINTS, str(points_per_vote))
    # an anonymous poll says nothing about who voted, so it can neither reward nor weigh
    if anonymous and (points_per_vote or tier_weighted):
        raise PollError(PollRefusal.ANONYMOUS_NO_VOTERS)
    row = Poll(
        question=question,
        option_count=len(options),
        allows_multiple=allows_multiple,
        anonymous=anonymous,
        points_per_vote=points_per_vote,
        tier_weighted=tier_weighted,
        closes_at=closes_at,
        created_by=created_by,
        created_at=now,
        first_until=first_until,
        held_chats=list(held_chats) if first_until is not None else [],
    )
    session.add(row)
    await session.flush()
    assert row.id is not None
    session.add_all(
        PollOption(poll_id=row.id, position=i, text=text) for i, text in enumerate(options)
    )
    await session.flush()
    found = await get_poll(session, row.id)
    assert found is not None
    return found


async def record_post(
    session: AsyncSession,
    *,
    poll_id: int,
    chat_id: int,
    telegram_poll_id: str,
    message_id: int,
    early: bool = False,
) -> None:
    """Remember the native poll that carries the poll in one group (or, `early`, in an
    ambassador's private chat)."""
    option_count = len(await _options(session, poll_id))
    session.add(
        PollPost(
            poll_id=poll_id,
            chat_id=chat_id,
            telegram_poll_id=telegram_poll_id,
            message_id=message_id,
            counts=[0] * option_count,
            early=early,
        )
    )
    await session.flush()


async def posts_of(session: AsyncSession, poll_id: int) -> list[PostView]:
    """Every posted copy of the poll."""
    rows = await session.execute(
        select(PollPost).where(col(PollPost.poll_id) == poll_id).order_by(col(PollPost.id))
    )
    return [
        PostView(p.chat_id, p.message_id, p.telegram_poll_id, p.stopped)
        for p in rows.scalars().all()
    ]


async def _post_and_poll(
    session: AsyncSession, telegram_poll_id: str
) -> tuple[PollPost, Poll] | None:
    found = await session.execute(_POST_AND_POLL(session), {"telegram_poll_id": telegram_poll_id})
    row = found.first()
    return None if row is None else (row[0], row[1])


_POST_AND_POLL = prepared(
    lambda _dialect: (
        select(PollPost, Poll)
        .join(Poll, col(Poll.id) == col(PollPost.poll_id))
        .where(col(PollPost.telegram_poll_id) == bindparam("telegram_poll_id"))
    )
)


def _cast_ballot(dialect: str) -> Any:
    """A member's ballot in a poll, replacing the one they had (from any group)."""
    ballots = table_of(PollBallot)
    statement = insert_in(dialect, ballots).values(
        poll_id=bindparam("poll_id"),
        member_id=bindparam("member_id"),
        chat_id=bindparam("chat_id"),
        options=bindparam("options"),
        updated_at=bindparam("updated_at"),
    )
    return statement.on_conflict_do_update(
        index_elements=["poll_id", "member_id"],
        set_={
            "chat_id": statement.excluded.chat_id,
            "options": statement.excluded.options,
            "updated_at": statement.excluded.updated_at,
        },
    )


_CAST_BALLOT = prepared(_cast_ballot)


def _mask(option_ids: list[int]) -> int:
    mask = 0
    for i in option_ids:
        mask |= 1 << i
    return mask


async def record_answer(
    session: AsyncSession,
    *,
    telegram_poll_id: str,
    member_id: int,
    option_ids: list[int],
    now: datetime,
    points_cap: int | None,
) -> AnswerResult | None:
    """A member's answer in one posted copy (empty = retracted); None for a poll not ours.

    The ballot is upserted on (poll, member), so answers from several groups, changed votes
    and concurrent deliveries leave one ballot. The first non-empty answer earns the poll's
    points once (key vote:<poll>:<member>), under the daily cap.
    """
    found = await _post_and_poll(session, telegram_poll_id)
    if found is None:
        return None
    post, poll = found
    assert poll.id is not None
    if poll.status != POLL_OPEN or now >= poll.closes_at:
        return AnswerResult(poll.id, counted=False, points=0, closed=True)
    if poll.anonymous:
        return AnswerResult(poll.id, counted=False, points=0)
    valid = len(set(option_ids)) == len(option_ids) and all(
        0 <= i < poll.option_count for i in option_ids
    )
    if not valid or (len(option_ids) > 1 and not poll.allows_multiple):
        return AnswerResult(poll.id, counted=False, points=0)
    if not option_ids:
        # a retraction in a copy whose ballot was since replaced from another group changes nothing
        await session.execute(
            delete(PollBallot).where(
                col(PollBallot.poll_id) == poll.id,
                col(PollBallot.member_id) == member_id,
                col(PollBallot.chat_id) == post.chat_id,
            )
        )
        return AnswerResult(poll.id, counted=True, points=0)
    ballot: dict[str, Any] = {"poll_id": poll.id, "member_id": member_id, "chat_id": post.chat_id}
    ballot |= {"options": _mask(option_ids), "updated_at": now}
    await session.execute(_CAST_BALLOT(session), ballot)
    points = 0
    if poll.points_per_vote > 0:
        grant: Grant = await award(
            session,
            member_id=member_id,
            reason=REASON_VOTE,
            points=poll.points_per_vote,
            key=f"vote:{poll.id}:{member_id}",
            day=now.date(),
            cap=points_cap,
            memo=f"poll #{poll.id}",
            at=now,
        )
        points = grant.points if grant.created else 0
    return AnswerResult(poll.id, counted=True, points=points)


async def record_counts(
    session: AsyncSession, *, telegram_poll_id: str, counts: list[int], final: bool = False
) -> bool:
    """The per-option counts Telegram reports for an anonymous copy; False when not recorded.

    Once the poll is closed only the final counts (from stopPoll, `final`) are taken.
    """
    found = await _post_and_poll(session, telegram_poll_id)
    if found is None:
        return False
    post, poll = found
    if not poll.anonymous or len(counts) != poll.option_count:
        return False
    if poll.status != POLL_OPEN and not final:
        return False
    if any(c < 0 for c in counts):
        return False
    await session.execute(
        update(PollPost).where(col(PollPost.id) == post.id).values(counts=list(counts))
    )
    return True


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


def _words(text: str) -> str:
    return " ".join(text.casefold().split())


def offers_option(product_title: str, option: str) -> bool:
    """Whether a product is what a poll's option names: its title is the option, or contains
    it ("Osmanthus oolong 250 g" for the option "Osmanthus oolong"), case and spacing aside."""
    wanted = _words(option)
    return bool(wanted) and wanted in _words(product_title)


async def hold_presale(session: AsyncSession, *, poll_id: int) -> bool:
    """Lock a closed poll's pre-sale slot for this transaction; False when it is taken.

    The no-op UPDATE takes the row (PostgreSQL) or the database (SQLite) write lock, so a
    concurrent staff member waits here and then finds the slot filled.
    """
    moved = await session.execute(
        update(Poll)
        .where(
            col(Poll.id) == poll_id,
            col(Poll.status) == POLL_CLOSED,
            col(Poll.presale_groupbuy_id).is_(None),
        )
        .values(presale_groupbuy_id=col(Poll.presale_groupbuy_id))
    )
    return rowcount(moved) == 1


async def claim_presale(session: AsyncSession, *, poll_id: int, groupbuy_id: int) -> bool:
    """Link the pre-sale opened from a closed poll, once; False when one was linked already."""
    moved = await session.execute(
        update(Poll)
        .where(
            col(Poll.id) == poll_id,
            col(Poll.status) == POLL_CLOSED,
            col(Poll.presale_groupbuy_id).is_(None),
        )
        .values(presale_groupbuy_id=groupbuy_id)
    )
    return rowcount(moved) == 1


# ------------------------------------------------------------------ ambassadors first -------

FIRST_WHO = frozenset({"ambassadors", "ambassador", "体验官", "體驗官"})
MIN_HEAD_START = timedelta(minutes=10)
MAX_HEAD_START = timedelta(days=7)
_HEAD_START = re.compile(
    r"^(\d{1,4})\s*(m|min|mins|分钟|分鐘|分|h|hr|hrs|小时|小時|时|時|d|day|days|天)$"
)
_UNIT = {"m": 1, "min": 1, "mins": 1, "分钟": 1, "分鐘": 1, "分": 1, "d": 1440, "day": 1440}
_UNIT |= {"days": 1440, "天": 1440}


def parse_first(text: str) -> timedelta:
    """`ambassadors:2h` (or 体验官：2小时): how long the tagged trial ambassadors vote before the
    groups get the poll, 10 minutes to 7 days; PollError bad_first naming the text."""
    who, _sep, length = text.replace("：", ":").partition(":")
    found = _HEAD_START.match(length.strip().lower())
    if who.strip().lower() not in FIRST_WHO or found is None:
        raise PollError(PollRefusal.BAD_FIRST, text)
    head_start = timedelta(minutes=int(found.group(1)) * _UNIT.get(found.group(2), 60))
    if not MIN_HEAD_START <= head_start <= MAX_HEAD_START:
        raise PollError(PollRefusal.BAD_FIRST, text)
    return head_start


async def held_polls(session: AsyncSession) -> list[tuple[int, datetime]]:
    """Open polls whose groups still wait for the ambassadors' head start to end, with when."""
    rows = await session.execute(
        select(col(Poll.id), col(Poll.first_until)).where(
            col(Poll.status) == POLL_OPEN,
            col(Poll.first_until).is_not(None),
            col(Poll.released_at).is_(None),
        )
    )
    return [(int(i), when) for i, when in rows.all() if i is not None and when is not None]


async def due_releases(session: AsyncSession, *, now: datetime) -> list[int]:
    """Polls whose head start is over and whose groups have not got them yet."""
    return [poll_id for poll_id, when in await held_polls(session) if when <= now]


async def release_poll(session: AsyncSession, *, poll_id: int, now: datetime) -> PollView | None:
    """Claim the end of a poll's head start (a conditional UPDATE, so the groups get it once);
    the poll with the groups to post it in (`held_chats`), or None when not due or claimed."""
    row = await session.get(Poll, poll_id, populate_existing=True)
    if row is None or row.first_until is None:
        return None
    held = tuple(int(c) for c in row.held_chats or ())
    claimed = await session.execute(
        update(Poll)
        .where(
            col(Poll.id) == poll_id,
            col(Poll.status) == POLL_OPEN,
            col(Poll.released_at).is_(None),
            col(Poll.first_until) <= now,
        )
        .values(released_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    found = await get_poll(session, poll_id)
    assert found is not None
    return replace(found, held_chats=held)
