"""Claiming an update, so that an update delivered twice is handled once."""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import delete, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.idempotency import ProcessedDelivery, ProcessedUpdate
from services.db import dialect_name, insert_for, table_of, upsert


async def claim_update(
    session: AsyncSession, *, update_id: int, delivery: str | None = None
) -> bool:
    """Record the update as handled in the caller's transaction; False if it already was.

    `delivery` names what the update carries that is unique on Telegram's side (a callback
    query id, a chat's message id): the same tap redelivered under a new update id is refused
    too. The rows commit or roll back with the handling, so a failed update can be retried.
    """
    now = utcnow()
    key = hashlib.sha256(delivery.encode()).hexdigest()[:40] if delivery is not None else None
    if key is not None and dialect_name(session) == "postgresql":
        return await _claim_both(session, update_id=update_id, key=key, now=now)
    statement = upsert(
        session, ProcessedUpdate, {"update_id": update_id, "handled_at": now}, keys=["update_id"]
    )
    result = await session.execute(statement)
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    if key is None:
        return True
    statement = upsert(session, ProcessedDelivery, {"key": key, "handled_at": now}, keys=["key"])
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]


async def _claim_both(session: AsyncSession, *, update_id: int, key: str, now: datetime) -> bool:
    """Both claims in one statement (PostgreSQL: a data-modifying CTE); the delivery is claimed
    only when the update id was, as in two statements."""
    claimed_update = (
        upsert(
            session,
            ProcessedUpdate,
            {"update_id": update_id, "handled_at": now},
            keys=["update_id"],
        )
        .returning(col(ProcessedUpdate.update_id))
        .cte("claimed_update")
    )
    deliveries = table_of(ProcessedDelivery)
    claimed_delivery = (
        insert_for(session, deliveries)
        .from_select(
            ["key", "handled_at"],
            select(
                literal(key, deliveries.c.key.type), literal(now, deliveries.c.handled_at.type)
            ).select_from(claimed_update),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(deliveries.c.key)
        .cte("claimed_delivery")
    )
    claimed = await session.execute(select(func.count()).select_from(claimed_delivery))
    return bool(claimed.scalar_one())


async def prune_claims(session: AsyncSession, *, before: datetime) -> int:
    """Forget the claims of updates handled before this time; returns how many were removed.

    Telegram redelivers an update for a day at most, so claims older than that only grow the
    tables."""
    removed = 0
    for table in (ProcessedUpdate, ProcessedDelivery):
        result = await session.execute(delete(table).where(col(table.handled_at) < before))
        removed += result.rowcount or 0  # type: ignore[attr-defined]
    return removed
