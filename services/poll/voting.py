"""Creating a poll, posting it in the groups, and recording the answers: one ballot per
member for a non-anonymous poll, the counts Telegram reports for an anonymous one.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import bindparam, delete, update
from sqlalchemy import select as sa_select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.poll import POLL_OPEN, Poll, PollBallot, PollOption, PollPost
from services.db import execute_rows, insert_in, prepared, table_of
from services.points import REASON_VOTE, Grant, award
from services.poll._common import (
    MAX_POINTS_PER_VOTE,
    AnswerResult,
    PollError,
    PollRefusal,
    PollView,
    _options,
    check_question,
    get_poll,
    parse_options,
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


class _Answered(NamedTuple):
    """What an answer needs of its poll."""

    id: int
    status: str
    closes_at: datetime
    anonymous: bool
    option_count: int
    allows_multiple: bool
    points_per_vote: int


def _answered_in() -> Any:
    """The poll of a posted copy (found by its Telegram id), and the copy's group."""
    polls, posts = table_of(Poll), table_of(PollPost)
    return (
        sa_select(*(polls.c[name] for name in _Answered._fields), posts.c.chat_id)
        .join(polls, polls.c.id == posts.c.poll_id)
        .where(posts.c.telegram_poll_id == bindparam("telegram_poll_id"))
    )


_ANSWERED_IN = prepared(lambda _dialect: _answered_in())


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
    found = (
        await execute_rows(session, _ANSWERED_IN(session), {"telegram_poll_id": telegram_poll_id})
    ).first()
    if found is None:
        return None
    poll, chat_id = _Answered(*found[:-1]), found[-1]
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
                col(PollBallot.chat_id) == chat_id,
            )
        )
        return AnswerResult(poll.id, counted=True, points=0)
    ballot: dict[str, Any] = {"poll_id": poll.id, "member_id": member_id, "chat_id": chat_id}
    ballot |= {"options": _mask(option_ids), "updated_at": now}
    await execute_rows(session, _CAST_BALLOT(session), ballot)
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
