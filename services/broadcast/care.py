"""Lifecycle care's messages through the outbox: a care rule's broadcast, each member who
enters its segment added to it, and the reminder of a selling group-buy.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from models.broadcast import (
    BROADCAST_SCHEDULED,
    RECIPIENT_PENDING,
    RECIPIENT_PRIVATE,
    RECIPIENT_SKIPPED,
    Broadcast,
    BroadcastRecipient,
)
from services.broadcast.planning import _history
from services.broadcast.reach import _reach
from services.broadcast.values import TARGET_CARE
from services.db import upsert
from services.pacing import PacingRules, Skip, next_slot


async def care_broadcast(session: AsyncSession, *, rule_id: int, text: str, now: datetime) -> int:
    """A broadcast carrying a care rule's message to one member (add them with
    `add_care_recipient` in the same transaction, so a broadcast is never left empty).

    Care goes through the same outbox as any promotion, so consent, caps, gaps and quiet
    hours hold for it too.
    """
    return await _one_member_broadcast(
        session, targets=f"{TARGET_CARE}:{rule_id}", text=text, now=now
    )


async def _one_member_broadcast(
    session: AsyncSession, *, targets: str, text: str, now: datetime
) -> int:
    """A care broadcast row, due now, its recipient still to be added; its id."""
    broadcast = Broadcast(
        text=text,
        targets=targets,
        scheduled_at=now,
        status=BROADCAST_SCHEDULED,
        created_by=0,
    )
    session.add(broadcast)
    await session.flush()
    assert broadcast.id is not None
    return broadcast.id


async def add_care_recipient(
    session: AsyncSession,
    *,
    broadcast_id: int,
    member_id: int,
    timezone: str,
    now: datetime,
    rules: PacingRules,
    variant: str | None = None,
) -> datetime | Skip:
    """One member's row in a care broadcast, at the first slot the pacing policy allows (or
    skipped with the reason, e.g. not opted in); a member is in a broadcast at most once.
    `variant`: the arm of the care rule's A/B test the member is in."""
    history = await _history(session, [member_id])
    reach = await _reach(session, [member_id])
    slot = next_slot(
        history[member_id], now, rules, timezone, private=True, reach=reach.get(member_id)
    )
    skip = slot if isinstance(slot, Skip) else None
    await session.execute(
        upsert(
            session,
            BroadcastRecipient,
            {
                "broadcast_id": broadcast_id,
                "chat_id": member_id,
                "kind": RECIPIENT_PRIVATE,
                "status": RECIPIENT_SKIPPED if skip else RECIPIENT_PENDING,
                "not_before": now if skip else slot,
                "reason": skip.reason if skip else None,
                "attempts": 0,
                "variant": variant,
            },
            keys=["broadcast_id", "chat_id"],
        )
    )
    return slot


async def selling_reminder(
    session: AsyncSession,
    *,
    member_id: int,
    topic: str,
    text: str,
    timezone: str,
    now: datetime,
    rules: PacingRules,
) -> datetime | Skip:
    """A reminder that sells ("an order of ... keeps your tier"), already in the member's
    language, as a one-member promotion through the outbox: consent, the member's cap and
    quiet hours hold, and it carries the ad label and the Stop button. Returns its slot, or
    why it never goes (e.g. not opted in)."""
    broadcast_id = await _one_member_broadcast(
        session, targets=f"{TARGET_CARE}:{topic}"[:80], text=text, now=now
    )
    return await add_care_recipient(
        session,
        broadcast_id=broadcast_id,
        member_id=member_id,
        timezone=timezone,
        now=now,
        rules=rules,
    )
