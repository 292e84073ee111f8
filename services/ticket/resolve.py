"""Resolving a ticket: staff claim it, then refund, give a coupon, or close it with a note,
each audited.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.order import Order
from models.ticket import (
    RESOLVED_COUPON,
    RESOLVED_DECLINED,
    RESOLVED_REFUND,
    RESOLVED_RESHIP,
    TICKET_CLOSED,
    TICKET_OPEN,
    Ticket,
)
from services.audit import record_action
from services.coupons import grant, template_by_code
from services.db import rowcount
from services.errors import Refused
from services.ledger import STARS
from services.order import OrderError, check_refund
from services.refund import refund_now
from services.ticket._common import (
    AS_STAFF,
    NOTE_LIMIT,
    Resolved,
    TicketError,
    TicketRefusal,
    _load,
    _view,
)


async def _claim(
    session: AsyncSession,
    row: Ticket,
    *,
    actor_id: int,
    resolution: str,
    now: datetime,
    amount: int = 0,
    note: str = "",
) -> None:
    """Close the ticket if nobody closed or changed it since it was read; TicketError else."""
    closed = await session.execute(
        update(Ticket)
        .where(
            col(Ticket.id) == row.id,
            col(Ticket.status) == TICKET_OPEN,
            col(Ticket.version) == row.version,
        )
        .values(
            status=TICKET_CLOSED,
            resolution=resolution,
            amount=amount,
            note=note[:NOTE_LIMIT],
            closed_at=now,
            closed_by=actor_id,
            # closing answers the member too, when nobody had yet
            answered_at=func.coalesce(col(Ticket.answered_at), now),
            answered_by=func.coalesce(col(Ticket.answered_by), actor_id),
            version=row.version + 1,
        )
        .execution_options(synchronize_session=False)
    )
    if rowcount(closed) != 1:
        raise TicketError(TicketRefusal.CHANGED_MEANWHILE, str(row.id))


async def _open_row(session: AsyncSession, ticket_id: int) -> Ticket:
    row = await _load(session, ticket_id)
    if row.status != TICKET_OPEN:
        raise TicketError(TicketRefusal.CLOSED, str(ticket_id))
    return row


async def _audit_close(
    session: AsyncSession, *, actor_id: int, role: str, ticket_id: int, detail: str, now: datetime
) -> None:
    await record_action(
        session,
        actor_id=actor_id,
        chat_id=actor_id,
        action="ticket.resolve",
        allowed=True,
        now=now,
        required_role=role,
        detail=f"ticket #{ticket_id}: {detail}",
    )


async def resolve_refund(
    session: AsyncSession,
    *,
    ticket_id: int,
    actor_id: int,
    amount: int | None,
    tier_currency: str,
    now: datetime,
) -> Resolved:
    """Close the ticket with a refund of the whole order (None) or part of what is left.

    The refund is booked as /refund books it (services/refund.py): on the ledger, and for an
    order paid in Stars as a pending refund the refunder sends back. Telegram returns a Stars
    payment only whole, so part of one is booked as owed to the member, paid back by staff."""
    row = await _open_row(session, ticket_id)
    order = await session.get(Order, row.order_id, populate_existing=True)
    assert order is not None
    remaining = order.paid_amount - order.refunded_amount
    partial = amount is not None and amount != remaining
    # Telegram sends a Stars payment back only whole: part of one, or the rest after a part,
    # is owed to the member and paid back by hand
    due_only = order.currency == STARS and (partial or order.refunded_amount > 0)
    try:
        value, _charge = await check_refund(
            session, order_id=row.order_id, amount=amount, due_only=due_only
        )
    except OrderError as exc:
        detail = f"{remaining} {order.currency}" if exc.reason == "refund_too_large" else ""
        raise TicketError(exc.reason, detail or exc.detail) from exc
    async with session.begin_nested():  # the refund or nothing: a lost race books no money
        await _claim(
            session, row, actor_id=actor_id, resolution=RESOLVED_REFUND, now=now, amount=value
        )
        try:
            outcome = await refund_now(
                session,
                order_id=row.order_id,
                actor_id=actor_id,
                amount=value,
                tier_currency=tier_currency,
                now=now,
                note=f"after-sales ticket #{ticket_id}",
                due_only=due_only,
            )
        except OrderError as exc:
            raise TicketError(exc.reason, exc.detail) from exc
    await _audit_close(
        session,
        now=now,
        actor_id=actor_id,
        role=AS_STAFF,
        ticket_id=ticket_id,
        detail=f"refund {value} {order.currency} of order #{row.order_id}",
    )
    return Resolved(_view(await _load(session, ticket_id)), refund=outcome)


async def resolve_coupon(
    session: AsyncSession, *, ticket_id: int, actor_id: int, code: str, now: datetime
) -> Resolved:
    """Close the ticket with a coupon of the template `code` given to the member (先行赔付),
    once per ticket."""
    row = await _open_row(session, ticket_id)
    template = await template_by_code(session, code)
    if template is None or not template.active:
        raise TicketError(TicketRefusal.NO_COUPON, code)
    async with session.begin_nested():
        await _claim(
            session,
            row,
            actor_id=actor_id,
            resolution=RESOLVED_COUPON,
            now=now,
            note=template.code,
        )
        try:
            await grant(
                session,
                template_id=template.id,
                member_id=row.member_id,
                source=f"ticket:{ticket_id}",
                now=now,
            )
        except Refused as exc:
            raise TicketError(f"coupon_{exc.reason}", template.code) from exc
    await _audit_close(
        session,
        now=now,
        actor_id=actor_id,
        role=AS_STAFF,
        ticket_id=ticket_id,
        detail=f"coupon {template.code}",
    )
    return Resolved(_view(await _load(session, ticket_id)), coupon_code=template.code)


async def resolve_plain(
    session: AsyncSession,
    *,
    ticket_id: int,
    actor_id: int,
    role: str,
    resolution: str,
    note: str,
    now: datetime,
) -> Resolved:
    """Close the ticket by a reship (the item sent or handed over again) or a decline with a
    reason the member is told; neither moves money."""
    if resolution not in (RESOLVED_RESHIP, RESOLVED_DECLINED):
        raise TicketError(TicketRefusal.BAD_RESOLUTION, resolution)
    note = note.strip()
    if resolution == RESOLVED_DECLINED and not note:
        raise TicketError(TicketRefusal.REASON_NEEDED)
    if len(note) > NOTE_LIMIT:
        raise TicketError(TicketRefusal.NOTE_TOO_LONG, str(NOTE_LIMIT))
    row = await _open_row(session, ticket_id)
    await _claim(session, row, actor_id=actor_id, resolution=resolution, now=now, note=note)
    await _audit_close(
        session, actor_id=actor_id, role=role, ticket_id=ticket_id, detail=resolution, now=now
    )
    return Resolved(_view(await _load(session, ticket_id)))
