"""The fulfilment tables: pickups and deliveries to fulfil, tickets, deliveries and the ship
list.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

from sqlalchemy import and_, case, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.member import Member
from models.order import DELIVERY_SHIP, ORDER_FULFILLED, ORDER_PAID, Order
from models.rewards import FULFILMENT_OPEN, Fulfilment
from models.ticket import TICKET_OPEN, Ticket
from services.tables._common import Query, Row, _chats, _stream

FULFILMENT_COLUMNS = (
    "fulfilment_id",
    "redeemed_at_utc",
    "member_id",
    "first_name",
    "username",
    "title",
    "status",
)


async def _fulfilments(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Physical rewards waiting to be handed over, oldest first, whenever they were redeemed
    (a task stays on the list until it is done, so the period does not apply). Staff only: a
    leader's scope holds no rewards, which are the brand's."""
    if query.scope is not None:
        return
    statement = (
        select(
            col(Fulfilment.id),
            col(Fulfilment.created_at),
            col(Fulfilment.member_id),
            col(Member.first_name),
            col(Member.username),
            col(Fulfilment.title),
            col(Fulfilment.status),
        )
        .join(Member, col(Member.id) == col(Fulfilment.member_id))
        .where(col(Fulfilment.status) == FULFILMENT_OPEN)
        .order_by(col(Fulfilment.id))
    )
    async for row in _stream(session, statement):
        yield row


TICKET_COLUMNS = (
    "ticket_id",
    "opened_at_utc",
    "chat_id",
    "order_id",
    "member_id",
    "first_name",
    "kind",
    "status",
    "answer_due_utc",
    "answered_at_utc",
    "resolve_due_utc",
    "closed_at_utc",
    "resolution",
)


async def _tickets(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """After-sales tickets of the scope's groups: every open one whenever it was opened (a
    ticket stays on the queue until it is closed), then those opened in the period; the most
    urgent open ticket first."""
    statement = (
        select(
            col(Ticket.id),
            col(Ticket.opened_at),
            col(Ticket.chat_id),
            col(Ticket.order_id),
            col(Ticket.member_id),
            col(Member.first_name),
            col(Ticket.kind),
            col(Ticket.status),
            col(Ticket.answer_due),
            col(Ticket.answered_at),
            col(Ticket.resolve_due),
            col(Ticket.closed_at),
            col(Ticket.resolution),
        )
        .join(Member, col(Member.id) == col(Ticket.member_id))
        .where(
            _chats(Ticket.chat_id, query.scope),
            or_(
                col(Ticket.status) == TICKET_OPEN,
                and_(
                    col(Ticket.opened_at) >= query.period.start,
                    col(Ticket.opened_at) < query.period.end,
                ),
            ),
        )
        .order_by(
            col(Ticket.status) != TICKET_OPEN,
            col(Ticket.answered_at).is_not(None),
            col(Ticket.answer_due),
            col(Ticket.resolve_due),
            col(Ticket.id),
        )
    )
    async for row in _stream(session, statement):
        yield row


# where a delivery order stands, as the deliveries table says it
SHIP_WAITING = "to_ship"  # paid, not shipped yet
SHIP_SHIPPED = "shipped"  # on its way, with a tracking number
SHIP_DELIVERED = "delivered"  # handed over (the order is fulfilled)

DELIVERY_COLUMNS = (
    "order_id",
    "created_at_utc",
    "chat_id",
    "member_id",
    "first_name",
    "title",
    "quantity",
    "delivery_state",
    "address_given",
    "carrier",
    "tracking_number",
    "shipped_at_utc",
)


def _delivery_state() -> Any:
    return case(
        (col(Order.status) == ORDER_FULFILLED, SHIP_DELIVERED),
        (col(Order.shipped_at).is_not(None), SHIP_SHIPPED),
        else_=SHIP_WAITING,
    )


async def _deliveries(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """Delivery orders of the scope's groups, without addresses (leaders read it too): every
    paid one still to ship whenever it was paid, then those shipped or delivered in the
    period; to ship first, oldest first."""
    state = _delivery_state()
    statement = (
        select(
            col(Order.id),
            col(Order.created_at),
            col(Order.chat_id),
            col(Order.member_id),
            col(Member.first_name),
            col(Order.title),
            col(Order.quantity),
            state,
            col(Order.ship_address) != "",
            col(Order.carrier),
            col(Order.tracking_number),
            col(Order.shipped_at),
        )
        .join(Member, col(Member.id) == col(Order.member_id))
        .where(
            col(Order.delivery) == DELIVERY_SHIP,
            _chats(Order.chat_id, query.scope),
            or_(
                and_(col(Order.status) == ORDER_PAID, col(Order.shipped_at).is_(None)),
                and_(
                    col(Order.status).in_((ORDER_PAID, ORDER_FULFILLED)),
                    col(Order.shipped_at) >= query.period.start,
                    col(Order.shipped_at) < query.period.end,
                ),
            ),
        )
        .order_by(col(Order.shipped_at).is_not(None), state == SHIP_DELIVERED, col(Order.id))
    )
    async for row in _stream(session, statement):
        yield row


SHIPLIST_COLUMNS = (
    "order_id",
    "chat_id",
    "title",
    "quantity",
    "ship_name",
    "ship_phone",
    "ship_address",
    "shipping_option_id",
    "shipping_minor",
    "currency",
)


async def _shiplist(session: AsyncSession, query: Query) -> AsyncIterator[Row]:
    """The ship list: paid delivery orders not shipped yet, with where they go, oldest first
    (staff only: it holds addresses)."""
    statement = (
        select(
            col(Order.id),
            col(Order.chat_id),
            col(Order.title),
            col(Order.quantity),
            col(Order.ship_name),
            col(Order.ship_phone),
            col(Order.ship_address),
            col(Order.shipping_option_id),
            col(Order.shipping_cost),
            col(Order.currency),
        )
        .where(
            col(Order.delivery) == DELIVERY_SHIP,
            col(Order.status) == ORDER_PAID,
            col(Order.shipped_at).is_(None),
            _chats(Order.chat_id, query.scope),
        )
        .order_by(col(Order.id))
    )
    async for row in _stream(session, statement):
        yield row
