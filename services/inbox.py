"""The webhook inbox: updates acknowledged to Telegram before they are handled.

A worker writes the raw update here before it answers 200, handles it in the background, and
deletes the row once handled. A row whose lease ran out belongs to nobody: any worker's sweep
takes it with a conditional UPDATE (only one wins) and handles it. Handling stays guarded by
the claim of the update id (services/idempotency.py), so a row handled twice has one effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.inbox import InboxUpdate
from services.db import rowcount, upsert


@dataclass(frozen=True)
class Taken:
    """An inbox row a worker now holds: the update to handle and how often it was taken."""

    update_id: int
    body: str
    attempts: int


async def accept_update(
    session: AsyncSession,
    *,
    update_id: int,
    body: str,
    owner: str,
    lease_until: datetime,
    now: datetime,
) -> bool:
    """Store the update held by `owner` until `lease_until`; False if it is already in the
    inbox (another delivery of it was accepted: whoever holds it, or a sweep, handles it)."""
    statement = upsert(
        session,
        InboxUpdate,
        {
            "update_id": update_id,
            "body": body,
            "received_at": now,
            "owner": owner,
            "lease_until": lease_until,
            "attempts": 1,
        },
        keys=["update_id"],
    )
    result = await session.execute(statement)
    return bool(rowcount(result))


async def take_expired(
    session: AsyncSession, *, owner: str, now: datetime, lease: timedelta, limit: int = 50
) -> list[Taken]:
    """Take up to `limit` rows whose lease ran out (or was released), oldest first; each row
    is taken by one worker only, whoever else sweeps at the same time."""
    rows = await session.execute(
        select(col(InboxUpdate.update_id))
        .where(or_(col(InboxUpdate.lease_until).is_(None), col(InboxUpdate.lease_until) <= now))
        .order_by(col(InboxUpdate.update_id))
        .limit(limit)
    )
    taken: list[Taken] = []
    for update_id in rows.scalars().all():
        result = await session.execute(
            update(InboxUpdate)
            .where(
                col(InboxUpdate.update_id) == update_id,
                or_(col(InboxUpdate.lease_until).is_(None), col(InboxUpdate.lease_until) <= now),
            )
            .values(
                owner=owner,
                lease_until=now + lease,
                attempts=col(InboxUpdate.attempts) + 1,
            )
            .returning(col(InboxUpdate.body), col(InboxUpdate.attempts))
        )
        row = result.first()
        if row is not None:
            taken.append(Taken(update_id=update_id, body=row[0], attempts=row[1]))
    return taken


async def finish_update(session: AsyncSession, *, update_id: int) -> None:
    """The update was handled (or found handled before): it leaves the inbox."""
    await session.execute(delete(InboxUpdate).where(col(InboxUpdate.update_id) == update_id))


async def retry_later(session: AsyncSession, *, update_id: int, owner: str, when: datetime) -> None:
    """Handling failed: leave the row for a sweep at `when` (if this worker still holds it)."""
    await session.execute(
        update(InboxUpdate)
        .where(col(InboxUpdate.update_id) == update_id, col(InboxUpdate.owner) == owner)
        .values(lease_until=when)
    )


async def release_updates(session: AsyncSession, *, owner: str) -> int:
    """Give back every row this worker holds (it is stopping): the next sweep anywhere takes
    them at once. Returns how many were released."""
    result = await session.execute(
        update(InboxUpdate)
        .where(col(InboxUpdate.owner) == owner)
        .values(owner=None, lease_until=None)
    )
    return rowcount(result)


async def inbox_depth(session: AsyncSession) -> int:
    """Updates acknowledged to Telegram and not handled yet."""
    count = await session.scalar(select(func.count()).select_from(InboxUpdate))
    return int(count or 0)
