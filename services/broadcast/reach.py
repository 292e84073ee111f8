"""Whom a broadcast may reach: members' consent to promotions, members the bot cannot write to
any more, and the tags staff give communities to target them.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.broadcast import CommunityTag, MarketingConsent
from services.broadcast.values import TAG_PATTERN, BroadcastError
from services.db import upsert
from services.pacing import Reach


async def set_consent(
    session: AsyncSession, *, member_id: int, opted_in: bool, wording_version: str, now: datetime
) -> None:
    """Record the member's yes (opt in, reachable again) or no (/stop) to private promotions."""
    values = {
        "member_id": member_id,
        "opted_in": opted_in,
        "changed_at": now,
        "wording_version": wording_version[:32],
        "unreachable_at": None,
    }
    changes: dict[str, object] = {
        "opted_in": opted_in,
        "changed_at": now,
        "wording_version": wording_version[:32],
    }
    if opted_in:  # they talk to the bot, so it can reach them again
        changes["unreachable_at"] = None
    await session.execute(
        upsert(session, MarketingConsent, values, keys=["member_id"], update=changes)
    )


async def is_opted_in(session: AsyncSession, *, member_id: int) -> bool:
    """Whether the member currently accepts private promotions."""
    row = await session.get(MarketingConsent, member_id)
    return bool(row and row.opted_in)


async def mark_unreachable(session: AsyncSession, *, member_id: int, now: datetime) -> None:
    """Telegram answered 403 for the member: no promotion is tried again until they opt in."""
    values = {
        "member_id": member_id,
        "opted_in": False,
        "changed_at": now,
        "wording_version": "",
        "unreachable_at": now,
    }
    await session.execute(
        upsert(
            session, MarketingConsent, values, keys=["member_id"], update={"unreachable_at": now}
        )
    )


async def _reach(session: AsyncSession, member_ids: Sequence[int]) -> dict[int, Reach]:
    if not member_ids:
        return {}
    rows = await session.execute(
        select(MarketingConsent).where(col(MarketingConsent.member_id).in_(member_ids))
    )
    return {
        row.member_id: Reach(opted_in=row.opted_in, unreachable=row.unreachable_at is not None)
        for row in rows.scalars()
    }


# ---------------------------------------------------------------- community tags ------------


def parse_tags(words: Iterable[str]) -> list[str]:
    """Tags as stored (lower case); BroadcastError('tag') for anything else."""
    tags = sorted({word.strip().lower().lstrip("#") for word in words if word.strip()})
    if any(not TAG_PATTERN.match(tag) for tag in tags):
        raise BroadcastError("tag")
    return tags


async def set_community_tags(
    session: AsyncSession, *, community_id: int, tags: Sequence[str]
) -> list[str]:
    """Replace the community's tags; returns them as stored."""
    clean = parse_tags(tags)
    await session.execute(
        delete(CommunityTag).where(col(CommunityTag.community_id) == community_id)
    )
    for tag in clean:
        session.add(CommunityTag(community_id=community_id, tag=tag))
    await session.flush()
    return clean


async def community_tags(session: AsyncSession, *, community_id: int) -> list[str]:
    """The community's tags, sorted."""
    rows = await session.execute(
        select(col(CommunityTag.tag))
        .where(col(CommunityTag.community_id) == community_id)
        .order_by(col(CommunityTag.tag))
    )
    return list(rows.scalars())
