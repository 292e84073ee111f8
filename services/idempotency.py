"""Claiming an update, so that an update delivered twice is handled once."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.idempotency import ProcessedUpdate
from services.db import insert_in, prepared, rowcount, table_of


async def claim_update(
    session: AsyncSession, *, update_id: int, delivery: str | None = None
) -> bool:
    """Record the update as handled in the caller's transaction; False if it already was.

    `delivery` names what the update carries that is unique on Telegram's side (a callback
    query id, a chat's message id): the same tap redelivered under a new update id is refused
    too. One INSERT claims both (a conflict on either unique column inserts nothing). The row
    commits or rolls back with the handling, so a failed update can be retried.
    """
    key = hashlib.sha256(delivery.encode()).hexdigest()[:40] if delivery is not None else None
    result = await session.execute(
        _CLAIM(session), {"update_id": update_id, "delivery_key": key, "handled_at": utcnow()}
    )
    return bool(rowcount(result))


# no conflict target: a row that collides on the update id or on the delivery key is skipped
_CLAIM = prepared(
    lambda dialect: insert_in(dialect, table_of(ProcessedUpdate)).on_conflict_do_nothing()
)


async def prune_claims(session: AsyncSession, *, before: datetime) -> int:
    """Forget the claims of updates handled before this time; returns how many were removed.

    Telegram redelivers an update for a day at most, so claims older than that only grow the
    tables."""
    result = await session.execute(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.handled_at) < before)
    )
    return rowcount(result)
