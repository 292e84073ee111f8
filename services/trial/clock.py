"""The trial programme's clock: reminders before and after a report is due, each claimed once,
and trials closed past their due date (the units of places nobody took go back to stock).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from models.member import Member
from models.trial import INVITE_ACCEPTED, TRIAL_CLOSED, TRIAL_OPEN, Trial, TrialInvite
from services.db import rowcount
from services.trial.creating import _return_stock
from services.trial.read import get_trial_view
from services.trial.values import TrialView


@dataclass(frozen=True, slots=True)
class Reminder:
    """A reminder to send: the trial, the ambassador, before (`late` False) or after the due
    date."""

    trial: TrialView
    member_id: int
    locale: str
    started: bool
    late: bool


async def due_reminders(
    session: AsyncSession, *, now: datetime, lead: timedelta, late_after: timedelta
) -> list[tuple[int, int, bool]]:
    """(trial, member, late) of ambassadors without a report whose reminder is due: `lead`
    before the due date, and once `late_after` past it."""
    base = (
        select(col(TrialInvite.trial_id), col(TrialInvite.member_id))
        .join(Trial, col(Trial.id) == col(TrialInvite.trial_id))
        .where(col(TrialInvite.status) == INVITE_ACCEPTED, col(TrialInvite.reported_at).is_(None))
    )
    early = await session.execute(
        base.where(
            col(TrialInvite.reminded_at).is_(None),
            col(Trial.due_at) <= now + lead,
            col(Trial.due_at) > now,
        )
    )
    late = await session.execute(
        base.where(
            col(TrialInvite.late_reminded_at).is_(None), col(Trial.due_at) <= now - late_after
        )
    )
    return [(int(t), int(m), False) for t, m in early.all()] + [
        (int(t), int(m), True) for t, m in late.all()
    ]


async def claim_reminder(
    session: AsyncSession, *, trial_id: int, member_id: int, late: bool, now: datetime
) -> Reminder | None:
    """Claim one reminder (a conditional UPDATE, so it is sent once); None when it was sent or
    the report came meanwhile."""
    column = col(TrialInvite.late_reminded_at) if late else col(TrialInvite.reminded_at)
    claimed = await session.execute(
        update(TrialInvite)
        .where(
            col(TrialInvite.trial_id) == trial_id,
            col(TrialInvite.member_id) == member_id,
            column.is_(None),
            col(TrialInvite.reported_at).is_(None),
        )
        .values({"late_reminded_at" if late else "reminded_at": now})
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    member = await session.get(Member, member_id)
    return Reminder(
        trial=await get_trial_view(session, trial_id),
        member_id=member_id,
        locale=member.locale if member is not None else "",
        started=bool(member is not None and member.started),
        late=late,
    )


async def close_due_trials(session: AsyncSession, *, now: datetime) -> list[int]:
    """Close the trials past their due date (a conditional UPDATE each): no more acceptances,
    and the units of places nobody took go back to the stock. Returns the trials closed."""
    due = (
        (
            await session.execute(
                select(Trial).where(col(Trial.status) == TRIAL_OPEN, col(Trial.due_at) <= now)
            )
        )
        .scalars()
        .all()
    )
    closed = []
    for trial in due:
        done = await session.execute(
            update(Trial)
            .where(col(Trial.id) == trial.id, col(Trial.status) == TRIAL_OPEN)
            .values(status=TRIAL_CLOSED)
            .returning(col(Trial.taken))
        )
        taken = done.scalar_one_or_none()
        if taken is None:
            continue
        await _return_stock(session, trial, trial.places - int(taken))
        assert trial.id is not None
        closed.append(trial.id)
    return closed
