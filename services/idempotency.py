"""Claiming an update, so that an update delivered twice is handled once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, literal
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.base import utcnow
from models.idempotency import ProcessedUpdate
from services.db import bookkeeping, execute_rows, insert_in, prepared, rowcount, table_of


@dataclass(frozen=True, slots=True)
class Claim:
    """An update to claim: its id, and what it carries that is unique on Telegram's side (a
    callback query id, a chat's message id), so the same tap redelivered under a new update id
    is refused too."""

    update_id: int
    delivery: str | None = None

    def values(self) -> dict[str, Any]:
        """The bound values of the claim's INSERT (`_claim_insert`)."""
        key = None
        if self.delivery is not None:
            key = hashlib.sha256(self.delivery.encode()).hexdigest()[:40]
        return {"update_id": self.update_id, "delivery_key": key, "handled_at": utcnow()}


async def claim_update(
    session: AsyncSession, *, update_id: int, delivery: str | None = None
) -> bool:
    """Record the update as handled in the caller's transaction; False if it already was.

    One INSERT claims both the update id and the `delivery` (see `Claim`; a conflict on either
    unique column inserts nothing). The row commits or rolls back with the handling, so a
    failed update can be retried. (On PostgreSQL an update's own claim rides on the context
    middleware's read instead: `claimed_cte`.)
    """
    result = await execute_rows(session, _CLAIM(session), Claim(update_id, delivery).values())
    return bool(rowcount(result))


def _claim_insert(dialect: str) -> Any:
    # no conflict target: a row that collides on the update id or on the delivery key is skipped
    values: dict[str, Any] = {
        name: bindparam(name) for name in ("update_id", "delivery_key", "handled_at")
    }
    return insert_in(dialect, table_of(ProcessedUpdate)).values(values).on_conflict_do_nothing()


_CLAIM = prepared(lambda dialect: bookkeeping(_claim_insert(dialect)))


def claimed_cte() -> Any:
    """The claim as a PostgreSQL common table expression that yields one row if it inserted
    (none if the update was claimed before), for a SELECT to count in the same statement:
    `Claim.values()` are its parameters. (SQLite has no INSERT inside WITH.)"""
    return _claim_insert("postgresql").returning(literal(1).label("one")).cte("claimed")


async def prune_claims(session: AsyncSession, *, before: datetime) -> int:
    """Forget the claims of updates handled before this time; returns how many were removed.

    Telegram redelivers an update for a day at most, so claims older than that only grow the
    tables."""
    result = await session.execute(
        delete(ProcessedUpdate).where(col(ProcessedUpdate.handled_at) < before)
    )
    return rowcount(result)
