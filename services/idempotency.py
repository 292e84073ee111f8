"""Claiming an update, so that an update delivered twice is handled once."""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.idempotency import ProcessedDelivery, ProcessedUpdate
from services.db import dialect_name, insert_in, prepared, table_of


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
        claimed = await session.execute(
            _CLAIM_BOTH(session), {"update_id": update_id, "key": key, "handled_at": now}
        )
        return bool(claimed.scalar_one())
    result = await session.execute(
        _CLAIM_UPDATE(session), {"update_id": update_id, "handled_at": now}
    )
    if not result.rowcount:  # type: ignore[attr-defined]
        return False
    if key is None:
        return True
    result = await session.execute(_CLAIM_DELIVERY(session), {"key": key, "handled_at": now})
    return bool(result.rowcount)  # type: ignore[attr-defined]


_CLAIM_UPDATE = prepared(
    lambda dialect: insert_in(dialect, table_of(ProcessedUpdate)).on_conflict_do_nothing(
        index_elements=["update_id"]
    )
)
_CLAIM_DELIVERY = prepared(
    lambda dialect: insert_in(dialect, table_of(ProcessedDelivery)).on_conflict_do_nothing(
        index_elements=["key"]
    )
)


def _claim_both_statement(dialect: str) -> Any:
    """Both claims in one statement (PostgreSQL: a data-modifying CTE); the delivery is claimed
    only when the update id was, as in two statements."""
    updates, deliveries = table_of(ProcessedUpdate), table_of(ProcessedDelivery)
    handled_at = bindparam("handled_at", type_=updates.c.handled_at.type)
    claimed_update = (
        insert_in(dialect, updates)
        .values(update_id=bindparam("update_id"), handled_at=handled_at)
        .on_conflict_do_nothing(index_elements=["update_id"])
        .returning(updates.c.update_id)
        .cte("claimed_update")
    )
    claimed_delivery = (
        insert_in(dialect, deliveries)
        .from_select(
            ["key", "handled_at"],
            select(bindparam("key", type_=deliveries.c.key.type), handled_at).select_from(
                claimed_update
            ),
        )
        .on_conflict_do_nothing(index_elements=["key"])
        .returning(deliveries.c.key)
        .cte("claimed_delivery")
    )
    return select(func.count()).select_from(claimed_delivery)


_CLAIM_BOTH = prepared(_claim_both_statement)


async def prune_claims(session: AsyncSession, *, before: datetime) -> int:
    """Forget the claims of updates handled before this time; returns how many were removed.

    Telegram redelivers an update for a day at most, so claims older than that only grow the
    tables."""
    removed = 0
    for table in (ProcessedUpdate, ProcessedDelivery):
        result = await session.execute(delete(table).where(col(table.handled_at) < before))
        removed += result.rowcount or 0  # type: ignore[attr-defined]
    return removed
