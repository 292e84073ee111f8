"""Opening a ticket and talking on it: reading a ticket and the reader's role on it,
opening one on an order, adding messages, and the photos attached.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.order import ORDER_REFUNDED, Order
from models.ticket import TICKET_KINDS, TICKET_OPEN, Ticket, TicketMessage
from services.audit import record_action
from services.db import rowcount
from services.role import is_leader, is_staff
from services.ticket._common import (
    _TICKETABLE,
    AS_LEADER,
    AS_MEMBER,
    AS_STAFF,
    DESCRIPTION_LIMIT,
    MessageView,
    Said,
    TicketError,
    TicketRefusal,
    TicketView,
    _load,
    _message,
    _view,
)


async def get_ticket(session: AsyncSession, ticket_id: int) -> TicketView | None:
    """The ticket with this id, if any."""
    row = await session.get(Ticket, ticket_id, populate_existing=True)
    return _view(row) if row is not None else None


async def ticket_role(
    session: AsyncSession, *, ticket: TicketView, member_id: int, owner_ids: frozenset[int]
) -> str | None:
    """How the member may act on the ticket (AS_STAFF, AS_LEADER, AS_MEMBER), or None."""
    if member_id in owner_ids or await is_staff(session, member_id):
        return AS_STAFF
    # a leader of the order's group now (a suspended or removed leader is not)
    if await is_leader(session, member_id=member_id, community_id=ticket.chat_id):
        return AS_LEADER
    if member_id == ticket.member_id:
        return AS_MEMBER
    return None


async def _open_on(session: AsyncSession, order_id: int) -> int | None:
    """The id of the order's open ticket, if it has one."""
    return await session.scalar(
        select(col(Ticket.id)).where(
            col(Ticket.order_id) == order_id, col(Ticket.status) == TICKET_OPEN
        )
    )


async def open_ticket(
    session: AsyncSession,
    *,
    order_id: int,
    member_id: int,
    kind: str,
    description: str,
    now: datetime,
    answer_within: timedelta,
    resolve_within: timedelta,
) -> TicketView:
    """Open a ticket on the member's own paid order, with both clocks started now.

    One open ticket per order, held by the database: asking again, even at the same moment,
    is refused with the open one's id."""
    if kind not in TICKET_KINDS:
        raise TicketError(TicketRefusal.BAD_KIND, kind)
    if len(description) > DESCRIPTION_LIMIT:
        raise TicketError(TicketRefusal.TOO_LONG, str(DESCRIPTION_LIMIT))
    order = await session.get(Order, order_id, populate_existing=True)
    if order is None or order.member_id != member_id:
        raise TicketError(TicketRefusal.NOT_YOUR_ORDER, str(order_id))
    if order.status == ORDER_REFUNDED:
        raise TicketError(TicketRefusal.ORDER_REFUNDED, str(order_id))
    if order.status not in _TICKETABLE:
        raise TicketError(TicketRefusal.ORDER_NOT_PAID, str(order_id))
    existing = await _open_on(session, order_id)
    if existing is not None:
        raise TicketError(TicketRefusal.ALREADY_OPEN, str(existing))
    row = Ticket(
        order_id=order_id,
        member_id=member_id,
        chat_id=order.chat_id,
        leader_id=order.leader_id,
        product_id=order.product_id,
        kind=kind,
        description=description.strip(),
        opened_at=now,
        answer_due=now + answer_within,
        resolve_due=now + resolve_within,
    )
    try:
        # the database keeps one open ticket per order (uq_ticket_open_order): of two taps
        # racing past the check above, the second fails here and is told of the first
        async with session.begin_nested():
            session.add(row)
            await session.flush()
    except IntegrityError:
        raise TicketError(
            TicketRefusal.ALREADY_OPEN, str(await _open_on(session, order_id) or "")
        ) from None
    await record_action(
        session,
        actor_id=member_id,
        chat_id=member_id,
        action="ticket.open",
        allowed=True,
        now=now,
        detail=f"ticket #{row.id} on order #{order_id}: {kind}",
    )
    return _view(row)


async def add_message(
    session: AsyncSession,
    *,
    ticket_id: int,
    author_id: int,
    role: str,
    text: str,
    photo_file_id: str = "",
    now: datetime,
) -> Said:
    """Add a message to an open ticket. The first message of staff or the leader is the
    first answer: it stops the answer clock, once (a conditional update)."""
    if len(text) > DESCRIPTION_LIMIT:
        raise TicketError(TicketRefusal.TOO_LONG, str(DESCRIPTION_LIMIT))
    if not text.strip() and not photo_file_id:
        raise TicketError(TicketRefusal.EMPTY)
    row = await _load(session, ticket_id)
    if row.status != TICKET_OPEN:
        raise TicketError(TicketRefusal.CLOSED, str(ticket_id))
    message = TicketMessage(
        ticket_id=ticket_id,
        author_id=author_id,
        text=text.strip(),
        photo_file_id=photo_file_id[:256],
        created_at=now,
    )
    session.add(message)
    await session.flush()
    first = False
    if role in (AS_STAFF, AS_LEADER):
        answered = await session.execute(
            update(Ticket)
            .where(
                col(Ticket.id) == ticket_id,
                col(Ticket.status) == TICKET_OPEN,
                col(Ticket.answered_at).is_(None),
            )
            .values(answered_at=now, answered_by=author_id, version=Ticket.version + 1)
            .execution_options(synchronize_session=False)
        )
        first = rowcount(answered) == 1
    await record_action(
        session,
        actor_id=author_id,
        chat_id=author_id,
        action="ticket.answer" if first else "ticket.message",
        allowed=True,
        now=now,
        required_role=role if role != AS_MEMBER else "",
        detail=f"ticket #{ticket_id}" + (" (photo)" if photo_file_id else ""),
    )
    return Said(_view(await _load(session, ticket_id)), _message(message), first)


async def ticket_messages(session: AsyncSession, ticket_id: int) -> list[MessageView]:
    """The messages on a ticket, oldest first."""
    rows = await session.execute(
        select(TicketMessage)
        .where(col(TicketMessage.ticket_id) == ticket_id)
        .order_by(col(TicketMessage.id))
    )
    return [_message(row) for row in rows.scalars()]


@dataclass(frozen=True, slots=True)
class TicketPhoto:
    """A photo sent on a ticket (as a Telegram file id, never shown as such outside the bot)."""

    ticket_id: int
    message_id: int
    chat_id: int  # the ticket's group
    file_id: str
    created_at: datetime


async def ticket_photos(
    session: AsyncSession, *, communities: frozenset[int] | None, limit: int = 60
) -> list[TicketPhoto]:
    """Photos on open tickets, newest first; only those of `communities` unless None. A
    photo erased (/forgetme, its retention) is gone from here too."""
    query = (
        select(TicketMessage, col(Ticket.chat_id))
        .join(Ticket, col(Ticket.id) == col(TicketMessage.ticket_id))
        .where(col(Ticket.status) == TICKET_OPEN, col(TicketMessage.photo_file_id) != "")
    )
    if communities is not None:
        query = query.where(col(Ticket.chat_id).in_(sorted(communities)))
    rows = await session.execute(query.order_by(col(TicketMessage.id).desc()).limit(limit))
    return [
        TicketPhoto(m.ticket_id, m.id or 0, chat_id, m.photo_file_id, m.created_at)
        for m, chat_id in rows.all()
    ]


async def ticket_photo(session: AsyncSession, message_id: int) -> TicketPhoto | None:
    """The photo of one ticket message, with its ticket's group; None when it has none (any
    more)."""
    row = (
        await session.execute(
            select(TicketMessage, col(Ticket.chat_id))
            .join(Ticket, col(Ticket.id) == col(TicketMessage.ticket_id))
            .where(col(TicketMessage.id) == message_id, col(TicketMessage.photo_file_id) != "")
        )
    ).first()
    if row is None:
        return None
    message, chat_id = row
    return TicketPhoto(
        message.ticket_id, message_id, chat_id, message.photo_file_id, message.created_at
    )
