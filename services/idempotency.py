"""Claiming an update id, so that an update delivered twice is handled once."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from models.base import utcnow
from models.idempotency import ProcessedUpdate
from services.db import upsert


async def claim_update(session: AsyncSession, *, update_id: int) -> bool:
    """Record the update as handled in the caller's transaction; False if it already was.

    The row commits or rolls back with the handling, so a failed update can be retried.
    """
    statement = upsert(
        session,
        ProcessedUpdate,
        {"update_id": update_id, "handled_at": utcnow()},
        keys=["update_id"],
    )
    result = await session.execute(statement)
    return bool(result.rowcount)  # type: ignore[attr-defined]
