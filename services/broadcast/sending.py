"""The sender's side of the outbox: due rows claimed under a lease (a conditional UPDATE, or
`FOR UPDATE SKIP LOCKED` on PostgreSQL), the policy re-checked at that moment, and each
outcome recorded; rows whose lease ended without one failed as interrupted (at most once).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.broadcast import (
    BROADCAST_DONE,
    BROADCAST_RUNNING,
    BROADCAST_SCHEDULED,
    CLAIMABLE,
    POST_CONTENT,
    RECIPIENT_DEFERRED,
    RECIPIENT_FAILED,
    RECIPIENT_PENDING,
    RECIPIENT_PRIVATE,
    RECIPIENT_SENDING,
    RECIPIENT_SENT,
    RECIPIENT_SKIPPED,
    VARIANT_B,
    Broadcast,
    BroadcastRecipient,
)
from models.community import Community
from models.member import Member
from services.broadcast.control import _aware
from services.broadcast.planning import _history, content_rules
from services.broadcast.reach import _reach
from services.broadcast.values import LIVE, REASON_INTERRUPTED, REASON_PACING, SLOT_TOLERANCE
from services.content import TEXT, localized
from services.db import dialect_name, rowcount
from services.pacing import PacingRules, Skip, next_slot
from services.zones import group_zone, home_group_zones, member_zone


@dataclass(frozen=True, slots=True)
class Delivery:
    """A claimed row with everything needed to send it."""

    row_id: int
    broadcast_id: int
    chat_id: int
    kind: str
    attempts: int
    text: str
    photo_file_id: str | None
    button_text: str | None
    button_url: str | None
    button_groupbuy_id: int | None
    paid: bool
    locale: str = ""  # the recipient's language (its label and Stop button are in it)


async def claim_next(
    session: AsyncSession,
    *,
    worker: str,
    now: datetime,
    lease: timedelta,
    rules: PacingRules,
    default_timezone: str,
    default_locale: str = "en",
) -> Delivery | None:
    """Claim the most overdue row of a live broadcast for sending, or None when none is due.

    The policy is checked again at this moment (a /stop, a 403 or another drop since the plan):
    a row that may not go now is deferred to its next slot or skipped, and the next is tried.
    """
    for _ in range(100):  # bounded: each pass settles one row one way or another
        found = await _most_overdue(session, now)
        if found is None:
            return None
        row, broadcast = found
        assert row.id is not None and broadcast.id is not None
        attempts = await _claim(session, row.id, worker=worker, now=now, lease=lease)
        if attempts is None:
            continue  # another worker took it between the select and the update
        verdict, locale = await _recheck(session, row, now, rules, default_timezone)
        if isinstance(verdict, Skip):
            await _settle(session, row.id, status=RECIPIENT_SKIPPED, reason=verdict.reason)
            continue
        if verdict > now + SLOT_TOLERANCE:
            await _settle(
                session,
                row.id,
                status=RECIPIENT_DEFERRED,
                reason=REASON_PACING,
                not_before=verdict,
                attempts=attempts - 1,
            )
            continue
        if broadcast.status == BROADCAST_SCHEDULED:
            await session.execute(
                update(Broadcast)
                .where(
                    col(Broadcast.id) == broadcast.id, col(Broadcast.status) == BROADCAST_SCHEDULED
                )
                .values(status=BROADCAST_RUNNING, updated_at=now)
            )
        return _delivery(row, broadcast, attempts, locale, default_locale)
    return None


async def _most_overdue(
    session: AsyncSession, now: datetime
) -> tuple[BroadcastRecipient, Broadcast] | None:
    """The claimable row of a live broadcast whose slot is the oldest, with its broadcast
    (rows other workers hold locked are skipped on PostgreSQL)."""
    query = (
        select(BroadcastRecipient, Broadcast)
        .join(Broadcast, col(Broadcast.id) == col(BroadcastRecipient.broadcast_id))
        .where(
            col(BroadcastRecipient.status).in_(CLAIMABLE),
            col(BroadcastRecipient.not_before) <= now,
            col(Broadcast.status).in_(LIVE),
        )
        .order_by(col(BroadcastRecipient.not_before), col(BroadcastRecipient.id))
        .limit(1)
    )
    if dialect_name(session) == "postgresql":
        query = query.with_for_update(of=BroadcastRecipient, skip_locked=True)
    found = (await session.execute(query)).first()
    if found is None:
        return None
    row, broadcast = found
    return row, broadcast


async def _claim(
    session: AsyncSession, row_id: int, *, worker: str, now: datetime, lease: timedelta
) -> int | None:
    """Take the row for sending under a lease (a conditional UPDATE): its attempts so far,
    this one included, or None when another worker took it first."""
    claimed = await session.execute(
        update(BroadcastRecipient)
        .where(
            col(BroadcastRecipient.id) == row_id,
            col(BroadcastRecipient.status).in_(CLAIMABLE),
        )
        .values(
            status=RECIPIENT_SENDING,
            claimed_by=worker[:64],
            claimed_until=now + lease,
            attempts=col(BroadcastRecipient.attempts) + 1,
        )
        .returning(col(BroadcastRecipient.attempts))
    )
    return claimed.scalar_one_or_none()


def _delivery(
    row: BroadcastRecipient,
    broadcast: Broadcast,
    attempts: int,
    locale: str,
    default_locale: str,
) -> Delivery:
    """What the sender sends for a claimed row."""
    assert row.id is not None and broadcast.id is not None
    # variant B of an A/B test goes as staff wrote it, in one language
    text_b = broadcast.text_b if row.variant == VARIANT_B else None
    return Delivery(
        row_id=row.id,
        broadcast_id=broadcast.id,
        chat_id=row.chat_id,
        kind=row.kind,
        attempts=attempts,
        # in the recipient's language: the group's, or the member's
        text=text_b
        or localized(broadcast.text, broadcast.translations, TEXT, locale, default_locale),
        photo_file_id=broadcast.photo_file_id,
        button_text=broadcast.button_text,
        button_url=broadcast.button_url,
        button_groupbuy_id=broadcast.button_groupbuy_id,
        paid=broadcast.paid,
        locale=locale or default_locale,
    )


async def _recheck(
    session: AsyncSession,
    row: BroadcastRecipient,
    now: datetime,
    rules: PacingRules,
    default_timezone: str,
) -> tuple[datetime | Skip, str]:
    """When the row may go (or why never) and the language of its chat."""
    broadcast = await session.get(Broadcast, row.broadcast_id)
    if broadcast is not None and broadcast.post_kind == POST_CONTENT:
        rules = content_rules(rules)
    # a row that is due now yields only to posts made or in flight; a later plan that it now
    # crowds is deferred in turn when its own time comes
    history = (
        await _history(
            session,
            [row.chat_id],
            statuses=(RECIPIENT_SENT, RECIPIENT_SENDING),
            exclude_row=row.id,
        )
    )[row.chat_id]
    private = row.kind == RECIPIENT_PRIVATE
    if private:
        member = await session.get(Member, row.chat_id)
        own = member.timezone if member else None
        group = None if own else (await home_group_zones(session, [row.chat_id])).get(row.chat_id)
        timezone = member_zone(own, group, default_timezone)
        locale = member.locale if member else ""
        reach = (await _reach(session, [row.chat_id])).get(row.chat_id)
    else:
        community = await session.get(Community, row.chat_id)
        timezone = group_zone(community.timezone if community else None, default_timezone)
        locale = community.locale if community else ""
        reach = None
    return next_slot(history, now, rules, timezone, private=private, reach=reach), locale


async def _settle(
    session: AsyncSession,
    row_id: int,
    *,
    status: str,
    reason: str | None = None,
    not_before: datetime | None = None,
    attempts: int | None = None,
    message_id: int | None = None,
    sent_at: datetime | None = None,
) -> bool:
    values: dict[str, object] = {"status": status, "reason": reason, "claimed_until": None}
    if not_before is not None:
        values["not_before"] = not_before
    if attempts is not None:
        values["attempts"] = attempts
    if message_id is not None:
        values["message_id"] = message_id
    if sent_at is not None:
        values["sent_at"] = sent_at
    result = await session.execute(
        update(BroadcastRecipient)
        .where(
            col(BroadcastRecipient.id) == row_id,
            col(BroadcastRecipient.status) == RECIPIENT_SENDING,
        )
        .values(**values)
    )
    return bool(rowcount(result))


async def mark_sent(session: AsyncSession, *, row_id: int, message_id: int, now: datetime) -> bool:
    """The send succeeded: record the message id (False if the row was no longer in flight)."""
    return await _settle(session, row_id, status=RECIPIENT_SENT, message_id=message_id, sent_at=now)


async def defer(session: AsyncSession, *, row_id: int, until: datetime, reason: str) -> bool:
    """A transient failure or a 429: try again from `until`."""
    return await _settle(
        session, row_id, status=RECIPIENT_DEFERRED, reason=reason[:64], not_before=until
    )


async def skip(session: AsyncSession, *, row_id: int, reason: str) -> bool:
    """The row will never be sent (blocked, bot removed)."""
    return await _settle(session, row_id, status=RECIPIENT_SKIPPED, reason=reason[:64])


async def fail(session: AsyncSession, *, row_id: int, reason: str) -> bool:
    """Give up on the row (bad request, retries exhausted)."""
    return await _settle(session, row_id, status=RECIPIENT_FAILED, reason=reason[:64])


async def release(session: AsyncSession, *, row_ids: Sequence[int]) -> None:
    """Hand back rows claimed but never sent (a worker stopping before their turn)."""
    if not row_ids:
        return
    await session.execute(
        update(BroadcastRecipient)
        .where(
            col(BroadcastRecipient.id).in_(row_ids),
            col(BroadcastRecipient.status) == RECIPIENT_SENDING,
        )
        .values(
            status=RECIPIENT_PENDING,
            claimed_until=None,
            attempts=col(BroadcastRecipient.attempts) - 1,
        )
    )


async def expire_interrupted(session: AsyncSession, *, now: datetime) -> int:
    """Fail rows whose lease ended mid-send: they may have been delivered, so never resend."""
    result = await session.execute(
        update(BroadcastRecipient)
        .where(
            col(BroadcastRecipient.status) == RECIPIENT_SENDING,
            col(BroadcastRecipient.claimed_until) < now,
        )
        .values(status=RECIPIENT_FAILED, reason=REASON_INTERRUPTED, claimed_until=None)
    )
    return rowcount(result)


async def finish_done(session: AsyncSession, *, now: datetime) -> list[int]:
    """Mark live broadcasts whose every row is settled as done; returns their ids."""
    open_rows = select(col(BroadcastRecipient.broadcast_id)).where(
        col(BroadcastRecipient.status).in_((*CLAIMABLE, RECIPIENT_SENDING))
    )
    result = await session.execute(
        update(Broadcast)
        .where(col(Broadcast.status).in_(LIVE), col(Broadcast.id).not_in(open_rows))
        .values(status=BROADCAST_DONE, finished_at=now, updated_at=now)
        .returning(col(Broadcast.id))
    )
    return [int(i) for i in result.scalars() if i is not None]


async def next_due(session: AsyncSession) -> datetime | None:
    """The earliest slot of a row still to send in a live broadcast (the sender's next wake)."""
    result = await session.execute(
        select(func.min(col(BroadcastRecipient.not_before)))
        .join(Broadcast, col(Broadcast.id) == col(BroadcastRecipient.broadcast_id))
        .where(col(BroadcastRecipient.status).in_(CLAIMABLE), col(Broadcast.status).in_(LIVE))
    )
    value: datetime | None = result.scalar_one_or_none()
    return _aware(value)


async def outbox_depth(session: AsyncSession) -> int:
    """Rows of live broadcasts still to send or in flight (the outbox depth operators watch)."""
    result = await session.execute(
        select(func.count())
        .select_from(BroadcastRecipient)
        .join(Broadcast, col(Broadcast.id) == col(BroadcastRecipient.broadcast_id))
        .where(
            col(BroadcastRecipient.status).in_((*CLAIMABLE, RECIPIENT_SENDING)),
            col(Broadcast.status).in_(LIVE),
        )
    )
    return int(result.scalar_one())
