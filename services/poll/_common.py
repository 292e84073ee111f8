"""What the poll verbs share: limits, refusals, the views they return, reading what staff
type for a poll, and reading a poll and its posts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.poll import MAX_OPTIONS, MIN_OPTIONS, POLL_OPEN, Poll, PollOption, PollPost
from services.errors import Refused
from services.groupbuy import GroupBuyError, parse_deadline

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


async def posts_of(session: AsyncSession, poll_id: int) -> list[PostView]:
    """Every posted copy of the poll."""
    rows = await session.execute(
        select(PollPost).where(col(PollPost.poll_id) == poll_id).order_by(col(PollPost.id))
    )
    return [
        PostView(p.chat_id, p.message_id, p.telegram_poll_id, p.stopped)
        for p in rows.scalars().all()
    ]
