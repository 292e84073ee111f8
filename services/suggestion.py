"""The suggestion box: members send ideas, staff adopt or decline them with a short reply.

A decision is claimed with a conditional UPDATE on the `new` status, so two staff members
deciding at once decide once; an adopted suggestion earns its author points through the
ledger, once per suggestion (key suggestion:<id>).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.member import Member
from models.suggestion import (
    MAX_REPLY,
    MAX_SUGGESTION,
    SUGGESTION_ADOPTED,
    SUGGESTION_DECLINED,
    SUGGESTION_NEW,
    Suggestion,
)
from services.db import dialect_name, rowcount
from services.errors import Refused
from services.paging import Page, page_of
from services.points import REASON_SUGGESTION, award

MAX_PER_DAY = 5  # suggestions one member may send in 24 hours


class SuggestionError(Refused):
    """A suggestion that was refused; `reason` names why, for a localized message."""


class SuggestionRefusal(StrEnum):
    """The reasons a SuggestionError gives (its `reason`); the handlers map each to a message."""

    EMPTY = "empty"
    TOO_LONG = "too_long"
    REPEATED = "repeated"
    TOO_MANY = "too_many"
    REPLY_TOO_LONG = "reply_too_long"
    NOT_FOUND = "not_found"
    DECIDED = "decided"


@dataclass(frozen=True, slots=True)
class SuggestionView:
    id: int
    member_id: int
    community_id: int | None
    text: str
    status: str
    reply: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Decision:
    suggestion: SuggestionView
    points: int  # points the author earned (adopted only)


@dataclass(frozen=True, slots=True)
class SuggestionStats:
    """Suggestions made and adopted in one community (None: private chat) and month."""

    community_id: int | None
    month: str  # YYYY-MM
    made: int
    adopted: int


def _view(row: Suggestion) -> SuggestionView:
    assert row.id is not None
    return SuggestionView(
        id=row.id,
        member_id=row.member_id,
        community_id=row.community_id,
        text=row.text,
        status=row.status,
        reply=row.reply,
        created_at=row.created_at,
    )


def _normal(text: str) -> str:
    return " ".join(text.split()).casefold()


async def submit(
    session: AsyncSession, *, member_id: int, community_id: int | None, text: str, now: datetime
) -> SuggestionView:
    """Store a member's suggestion; refuses empty, over-long, repeated or too frequent ones."""
    cleaned = text.strip()
    if not cleaned:
        raise SuggestionError(SuggestionRefusal.EMPTY)
    if len(cleaned) > MAX_SUGGESTION:
        raise SuggestionError(SuggestionRefusal.TOO_LONG, str(len(cleaned)))
    if dialect_name(session) == "postgresql":
        # one member's suggestions queue on their member row, so the repeat and daily checks
        # below see every one committed before (SQLite transactions are serialised anyway)
        await session.execute(
            select(col(Member.id)).where(col(Member.id) == member_id).with_for_update()
        )
    last = (
        await session.execute(
            select(Suggestion)
            .where(col(Suggestion.member_id) == member_id)
            .order_by(col(Suggestion.created_at).desc(), col(Suggestion.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
    if last is not None and _normal(last.text) == _normal(cleaned):
        raise SuggestionError(SuggestionRefusal.REPEATED)
    recent = (
        await session.execute(
            select(func.count())
            .select_from(Suggestion)
            .where(
                col(Suggestion.member_id) == member_id,
                col(Suggestion.created_at) > now - timedelta(days=1),
            )
        )
    ).scalar_one()
    if int(recent) >= MAX_PER_DAY:
        raise SuggestionError(SuggestionRefusal.TOO_MANY)
    row = Suggestion(member_id=member_id, community_id=community_id, text=cleaned, created_at=now)
    session.add(row)
    await session.flush()
    return _view(row)


async def new_suggestions(
    session: AsyncSession, *, limit: int, offset: int = 0
) -> Page[SuggestionView]:
    """A page of the suggestions still waiting for staff, oldest first, and how many wait."""
    statement = (
        select(Suggestion)
        .where(col(Suggestion.status) == SUGGESTION_NEW)
        .order_by(col(Suggestion.id))
    )
    return await page_of(session, statement, _view, limit=limit, offset=offset)


async def get_suggestion(session: AsyncSession, suggestion_id: int) -> SuggestionView | None:
    row = await session.get(Suggestion, suggestion_id, populate_existing=True)
    return None if row is None else _view(row)


async def decide(
    session: AsyncSession,
    *,
    suggestion_id: int,
    adopt: bool,
    reply: str,
    staff_id: int,
    now: datetime,
    points: int,
    points_cap: int | None,
) -> Decision:
    """Adopt or decline a new suggestion once, with a short reply; adopting rewards the author."""
    reply = reply.strip()
    if len(reply) > MAX_REPLY:
        raise SuggestionError(SuggestionRefusal.REPLY_TOO_LONG, str(len(reply)))
    moved = await session.execute(
        update(Suggestion)
        .where(col(Suggestion.id) == suggestion_id, col(Suggestion.status) == SUGGESTION_NEW)
        .values(
            status=SUGGESTION_ADOPTED if adopt else SUGGESTION_DECLINED,
            reply=reply,
            decided_by=staff_id,
            decided_at=now,
        )
    )
    if rowcount(moved) != 1:
        found = await get_suggestion(session, suggestion_id)
        raise SuggestionError(
            SuggestionRefusal.NOT_FOUND if found is None else SuggestionRefusal.DECIDED,
            str(suggestion_id),
        )
    found = await get_suggestion(session, suggestion_id)
    assert found is not None
    granted = 0
    if adopt and points > 0:
        grant = await award(
            session,
            member_id=found.member_id,
            reason=REASON_SUGGESTION,
            points=points,
            key=f"suggestion:{suggestion_id}",
            day=now.date(),
            cap=points_cap,
            memo=f"suggestion #{suggestion_id} adopted",
            actor_id=staff_id,
            at=now,
        )
        granted = grant.points
    return Decision(suggestion=found, points=granted)


async def suggestion_stats(session: AsyncSession, *, since: datetime) -> list[SuggestionStats]:
    """Made and adopted per community and month since a time, newest month first."""
    rows = await session.execute(
        select(
            col(Suggestion.community_id), col(Suggestion.created_at), col(Suggestion.status)
        ).where(col(Suggestion.created_at) >= since)
    )
    made: dict[tuple[int | None, str], int] = defaultdict(int)
    adopted: dict[tuple[int | None, str], int] = defaultdict(int)
    for community_id, created_at, status in rows.all():
        key = (community_id, created_at.strftime("%Y-%m"))
        made[key] += 1
        if status == SUGGESTION_ADOPTED:
            adopted[key] += 1
    ordered = sorted(made, key=lambda k: (k[1], k[0] is not None, k[0] or 0), reverse=True)
    return [SuggestionStats(k[0], k[1], made[k], adopted[k]) for k in ordered]
