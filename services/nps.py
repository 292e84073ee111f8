"""Net Promoter Score: a 0-10 question at most once per interval, with an optional comment.

NPS = % promoters (9-10) − % detractors (0-6), from −100 to +100; passives (7-8) count only
in the total. An answer is recorded once (a conditional UPDATE on an unanswered survey).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.broadcast import MarketingConsent
from models.community import Community
from models.nps import MAX_COMMENT, NpsAsked, NpsSurvey
from models.order import ORDER_FULFILLED, Order
from services.db import insert_for, rowcount, table_of
from services.errors import Refused


class NpsError(Refused):
    """An NPS answer that was refused; `reason` names why, for a localized message."""


class NpsRefusal(StrEnum):
    """The reasons a NpsError gives (its `reason`); the handlers map each to a message."""

    BAD_SCORE = "bad_score"
    ANSWERED = "answered"
    EMPTY = "empty"
    TOO_LONG = "too_long"


@dataclass(frozen=True, slots=True)
class NpsScore:
    """The answers of one community (None: every community together)."""

    community_id: int | None
    promoters: int
    passives: int
    detractors: int

    @property
    def total(self) -> int:
        return self.promoters + self.passives + self.detractors

    @property
    def score(self) -> int:
        """Promoters minus detractors, as a whole percentage of all answers (−100..100)."""
        if not self.total:
            return 0
        return round(100 * (self.promoters - self.detractors) / self.total)


@dataclass(frozen=True, slots=True)
class NpsReport:
    overall: NpsScore
    communities: list[NpsScore]
    # per community (None: no group), its latest comments as (score, comment), newest first
    comments: dict[int | None, list[tuple[int, str]]]


async def _claim_asking(
    session: AsyncSession, *, member_id: int, now: datetime, interval: timedelta
) -> bool:
    """Move the member's last-asked time to now if the interval has passed (or they were never
    asked); False when it has not. One conditional upsert on the member's row: of two
    concurrent claims the second waits for the first and then finds the interval not passed."""
    table = table_of(NpsAsked)
    statement = (
        insert_for(session, table)
        .values(member_id=member_id, asked_at=now)
        .on_conflict_do_update(
            index_elements=["member_id"],
            set_={"asked_at": now},
            where=table.c.asked_at <= now - interval,
        )
        .returning(table.c.member_id)
    )
    return (await session.execute(statement)).first() is not None


async def start_survey(
    session: AsyncSession,
    *,
    member_id: int,
    community_id: int | None,
    now: datetime,
    interval: timedelta,
) -> int | None:
    """A new survey for the member, or None when they were asked within the interval."""
    if not await _claim_asking(session, member_id=member_id, now=now, interval=interval):
        return None
    row = NpsSurvey(member_id=member_id, community_id=community_id, asked_at=now)
    session.add(row)
    await session.flush()
    assert row.id is not None
    return row.id


async def home_community(session: AsyncSession, member_id: int) -> int | None:
    """The group an answer not prompted by a pickup counts for: that of the member's latest
    picked-up order, else of their latest order; None when they never ordered in a group."""
    chat = (
        await session.execute(
            select(col(Order.chat_id))
            .join(Community, col(Community.id) == col(Order.chat_id))
            .where(col(Order.member_id) == member_id)
            # picked-up orders first (False sorts before True), then the newest
            .order_by(col(Order.status) != ORDER_FULFILLED, col(Order.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    return None if chat is None else int(chat)


async def opted_in_members(session: AsyncSession) -> list[int]:
    """Members who accept messages from the brand (the same consent as promotions)."""
    rows = await session.execute(
        select(col(MarketingConsent.member_id))
        .where(col(MarketingConsent.opted_in).is_(True))
        .order_by(col(MarketingConsent.member_id))
    )
    return [int(i) for i in rows.scalars().all()]


async def record_score(
    session: AsyncSession, *, survey_id: int, member_id: int, score: int, now: datetime
) -> None:
    """The member's 0-10 answer, once."""
    if not 0 <= score <= 10:
        raise NpsError(NpsRefusal.BAD_SCORE)
    moved = await session.execute(
        update(NpsSurvey)
        .where(
            col(NpsSurvey.id) == survey_id,
            col(NpsSurvey.member_id) == member_id,
            col(NpsSurvey.score).is_(None),
        )
        .values(score=score, answered_at=now)
    )
    if rowcount(moved) != 1:
        raise NpsError(NpsRefusal.ANSWERED)


async def record_comment(
    session: AsyncSession, *, survey_id: int, member_id: int, comment: str
) -> None:
    """The optional comment after the score, once, at most 500 characters."""
    cleaned = comment.strip()
    if not cleaned:
        raise NpsError(NpsRefusal.EMPTY)
    if len(cleaned) > MAX_COMMENT:
        raise NpsError(NpsRefusal.TOO_LONG)
    moved = await session.execute(
        update(NpsSurvey)
        .where(
            col(NpsSurvey.id) == survey_id,
            col(NpsSurvey.member_id) == member_id,
            col(NpsSurvey.score).is_not(None),
            col(NpsSurvey.comment) == "",
        )
        .values(comment=cleaned)
    )
    if rowcount(moved) != 1:
        raise NpsError(NpsRefusal.ANSWERED)


def _score(community_id: int | None, scores: list[int]) -> NpsScore:
    return NpsScore(
        community_id=community_id,
        promoters=sum(1 for s in scores if s >= 9),
        passives=sum(1 for s in scores if 7 <= s <= 8),
        detractors=sum(1 for s in scores if s <= 6),
    )


async def nps_report(
    session: AsyncSession, *, since: datetime, until: datetime | None = None, comments: int = 5
) -> NpsReport:
    """NPS overall and per community from the answers in [since, until), with each community's
    latest comments (at most `comments` of them)."""
    query = (
        select(col(NpsSurvey.community_id), col(NpsSurvey.score), col(NpsSurvey.comment))
        .where(col(NpsSurvey.score).is_not(None), col(NpsSurvey.answered_at) >= since)
        .order_by(col(NpsSurvey.answered_at).desc(), col(NpsSurvey.id).desc())
    )
    if until is not None:
        query = query.where(col(NpsSurvey.answered_at) < until)
    rows = (await session.execute(query)).all()
    by_community: dict[int | None, list[int]] = defaultdict(list)
    said: dict[int | None, list[tuple[int, str]]] = defaultdict(list)
    for community_id, score, comment in rows:
        by_community[community_id].append(int(score or 0))
        if comment and len(said[community_id]) < comments:
            said[community_id].append((int(score or 0), str(comment)))
    return NpsReport(
        overall=_score(None, [int(r[1] or 0) for r in rows]),
        communities=[
            _score(c, scores)
            for c, scores in sorted(by_community.items(), key=lambda i: (i[0] is None, i[0] or 0))
        ],
        comments=dict(said),
    )
