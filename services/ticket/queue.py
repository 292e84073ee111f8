"""Which tickets wait: the staff queue, a member's tickets, and escalating those left
unanswered.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import and_, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.ticket import ESCALATED_ANSWER, ESCALATED_RESOLVE, TICKET_OPEN, Ticket
from services.audit import record_action
from services.db import rowcount
from services.ticket._common import TicketView, _load, _view


async def ticket_queue(
    session: AsyncSession, *, communities: frozenset[int] | None, limit: int = 30
) -> list[TicketView]:
    """Open tickets, the most urgent clock first; only those of `communities` unless None
    (staff see every group's)."""
    query = select(Ticket).where(col(Ticket.status) == TICKET_OPEN)
    if communities is not None:
        query = query.where(col(Ticket.chat_id).in_(sorted(communities)))
    query = query.order_by(
        col(Ticket.answered_at).is_not(None), col(Ticket.answer_due), col(Ticket.resolve_due)
    )
    rows = await session.execute(query.limit(limit))
    return [_view(row) for row in rows.scalars()]


async def member_tickets(
    session: AsyncSession, member_id: int, limit: int = 10
) -> list[TicketView]:
    """The member's own tickets, newest first."""
    rows = await session.execute(
        select(Ticket)
        .where(col(Ticket.member_id) == member_id)
        .order_by(col(Ticket.id).desc())
        .limit(limit)
    )
    return [_view(row) for row in rows.scalars()]


async def due_escalations(session: AsyncSession, *, now: datetime) -> list[int]:
    """Open tickets whose clock ran out and whose staff were not told of it yet."""
    rows = await session.execute(
        select(col(Ticket.id))
        .where(
            col(Ticket.status) == TICKET_OPEN,
            or_(
                and_(
                    col(Ticket.escalated) < ESCALATED_ANSWER,
                    col(Ticket.answered_at).is_(None),
                    col(Ticket.answer_due) <= now,
                ),
                and_(col(Ticket.escalated) < ESCALATED_RESOLVE, col(Ticket.resolve_due) <= now),
            ),
        )
        .order_by(col(Ticket.id))
    )
    return [ticket_id for ticket_id in rows.scalars() if ticket_id is not None]


async def escalate(session: AsyncSession, *, ticket_id: int, now: datetime) -> TicketView | None:
    """Claim the escalation of one overdue ticket (the resolution clock over the answer
    clock); None when it was answered, closed or escalated meanwhile."""
    row = await _load(session, ticket_id)
    if row.status != TICKET_OPEN:
        return None
    if row.resolve_due <= now and row.escalated < ESCALATED_RESOLVE:
        level = ESCALATED_RESOLVE
    elif row.answered_at is None and row.answer_due <= now and row.escalated < ESCALATED_ANSWER:
        level = ESCALATED_ANSWER
    else:
        return None
    claimed = await session.execute(
        update(Ticket)
        .where(
            col(Ticket.id) == ticket_id,
            col(Ticket.status) == TICKET_OPEN,
            col(Ticket.escalated) == row.escalated,
        )
        .values(escalated=level)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        return None
    await record_action(
        session,
        actor_id=0,
        chat_id=None,
        action="ticket.escalate",
        allowed=True,
        now=now,
        detail=f"ticket #{ticket_id}: "
        + ("not resolved in time" if level == ESCALATED_RESOLVE else "not answered in time"),
    )
    return _view(await _load(session, ticket_id))
