"""Staff's control of a broadcast (pause, resume, cancel) and its progress as they read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.broadcast import (
    BROADCAST_CANCELLED,
    BROADCAST_PAUSED,
    BROADCAST_RUNNING,
    BROADCAST_SCHEDULED,
    CLAIMABLE,
    RECIPIENT_FAILED,
    RECIPIENT_SENDING,
    RECIPIENT_SENT,
    RECIPIENT_SKIPPED,
    Broadcast,
    BroadcastRecipient,
)
from services.broadcast.values import LIVE, REASON_CANCELLED, TARGET_CARE, BroadcastError
from services.db import rowcount
from services.paging import Page, count_of, window

# what staff may do to a broadcast in each status
TRANSITIONS = {
    "pause": ({BROADCAST_SCHEDULED, BROADCAST_RUNNING}, BROADCAST_PAUSED),
    "resume": ({BROADCAST_PAUSED}, BROADCAST_RUNNING),
    "cancel": ({BROADCAST_SCHEDULED, BROADCAST_RUNNING, BROADCAST_PAUSED}, BROADCAST_CANCELLED),
}


async def control(session: AsyncSession, *, broadcast_id: int, action: str, now: datetime) -> str:
    """Pause, resume or cancel; returns the new status. BroadcastError('state') otherwise.

    Cancelling skips every row not yet sent; a row in flight finishes its send.
    """
    allowed, target = TRANSITIONS[action]
    result = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.id) == broadcast_id, col(Broadcast.status).in_(allowed))
        .values(status=target, updated_at=now)
    )
    if not rowcount(result):
        if await session.get(Broadcast, broadcast_id) is None:
            raise BroadcastError("not_found")
        raise BroadcastError("state")
    if target == BROADCAST_CANCELLED:
        await session.execute(
            update(BroadcastRecipient)
            .where(
                col(BroadcastRecipient.broadcast_id) == broadcast_id,
                col(BroadcastRecipient.status).in_(CLAIMABLE),
            )
            .values(status=RECIPIENT_SKIPPED, reason=REASON_CANCELLED)
        )
        await session.execute(
            update(Broadcast).where(col(Broadcast.id) == broadcast_id).values(finished_at=now)
        )
    return target


@dataclass(frozen=True, slots=True)
class Progress:
    """Where a broadcast stands."""

    id: int
    status: str
    targets: str
    scheduled_at: datetime
    counts: dict[str, int] = field(default_factory=dict)
    next_slot: datetime | None = None  # earliest row still to send
    last_slot: datetime | None = None  # latest row still to send
    finished_at: datetime | None = None
    paid: bool = False  # sent with allow_paid_broadcast
    is_test: bool = False  # an A/B test: variant B and/or a hold-out

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def settled(self) -> int:
        return sum(
            self.counts.get(s, 0) for s in (RECIPIENT_SENT, RECIPIENT_SKIPPED, RECIPIENT_FAILED)
        )

    def estimated_finish(self, now: datetime, per_second: float) -> datetime | None:
        """When the last row should be out: its slot, or the queue at the sending rate."""
        if self.finished_at is not None:
            return self.finished_at
        remaining = self.total - self.settled
        if remaining == 0 or self.last_slot is None:
            return None
        start = max(now, self.next_slot or now)
        by_rate = start + timedelta(seconds=remaining / per_second)
        return max(by_rate, self.last_slot)


async def progress(session: AsyncSession, *, broadcast_id: int) -> Progress | None:
    """Counts per row status and the remaining window of one broadcast."""
    broadcast = await session.get(Broadcast, broadcast_id)
    if broadcast is None:
        return None
    counts = {
        status: int(n)
        for status, n in (
            await session.execute(
                select(col(BroadcastRecipient.status), func.count())
                .where(col(BroadcastRecipient.broadcast_id) == broadcast_id)
                .group_by(col(BroadcastRecipient.status))
            )
        ).all()
    }
    slots = (
        await session.execute(
            select(
                func.min(col(BroadcastRecipient.not_before)),
                func.max(col(BroadcastRecipient.not_before)),
            ).where(
                col(BroadcastRecipient.broadcast_id) == broadcast_id,
                col(BroadcastRecipient.status).in_((*CLAIMABLE, RECIPIENT_SENDING)),
            )
        )
    ).one()
    first, last = (_aware(value) for value in slots)
    return Progress(
        id=broadcast_id,
        status=broadcast.status,
        targets=broadcast.targets,
        scheduled_at=broadcast.scheduled_at,
        counts=counts,
        next_slot=first,
        last_slot=last,
        finished_at=broadcast.finished_at,
        paid=broadcast.paid,
        is_test=broadcast.is_test,
    )


def _aware(value: datetime | None) -> datetime | None:
    """An aggregate (min, max) skips the column type: SQLite hands back a naive UTC time."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


async def broadcast_page(session: AsyncSession, *, limit: int, offset: int = 0) -> Page[Progress]:
    """A page of the broadcasts staff composed, newest first, with their progress, and how
    many there are (care messages, one per member, are counted in /care instead)."""
    limit, offset = window(limit, offset)
    statement = (
        select(col(Broadcast.id))
        .where(col(Broadcast.targets).not_like(f"{TARGET_CARE}:%"))
        .order_by(col(Broadcast.id).desc())
    )
    total = await count_of(session, statement)
    ids = (await session.execute(statement.limit(limit).offset(offset))).scalars()
    found = [await progress(session, broadcast_id=int(i)) for i in list(ids) if i is not None]
    return Page([p for p in found if p is not None], offset, total)


async def latest_running(session: AsyncSession) -> int | None:
    """The newest broadcast still live or paused (for the CLI without an id)."""
    return (
        await session.execute(
            select(col(Broadcast.id))
            .where(col(Broadcast.status).in_((*LIVE, BROADCAST_PAUSED)))
            .order_by(col(Broadcast.id).desc())
            .limit(1)
        )
    ).scalar_one_or_none()
