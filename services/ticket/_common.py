"""What the ticket verbs share: who acts on a ticket, the refusals and errors, the views they
return, and reading a ticket row.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from models.order import ORDER_FULFILLED, ORDER_PAID
from models.ticket import TICKET_OPEN, Ticket, TicketMessage
from services.errors import Refused
from services.order import RefundOutcome

# who may act on a ticket, as `ticket_role` answers
AS_MEMBER = "member"  # the member who opened it
AS_LEADER = "leader"  # the leader of the order's group
AS_STAFF = "staff"  # the brand's staff and the owners

DESCRIPTION_LIMIT = 1000
NOTE_LIMIT = 500
# orders a ticket may be opened on: paid, picked up, or refunded in part (still paid)
_TICKETABLE = (ORDER_PAID, ORDER_FULFILLED)


class TicketError(Refused):
    """A ticket action that cannot be done; `reason` is a stable code handlers translate."""


class TicketRefusal(StrEnum):
    """The reasons a TicketError gives (its `reason`); the handlers map each to a message."""

    NOT_FOUND = "not_found"
    BAD_KIND = "bad_kind"
    TOO_LONG = "too_long"
    NOT_YOUR_ORDER = "not_your_order"
    ORDER_REFUNDED = "order_refunded"
    ORDER_NOT_PAID = "order_not_paid"
    ALREADY_OPEN = "already_open"
    EMPTY = "empty"
    CLOSED = "closed"
    CHANGED_MEANWHILE = "changed_meanwhile"
    NO_COUPON = "no_coupon"
    BAD_RESOLUTION = "bad_resolution"
    REASON_NEEDED = "reason_needed"
    NOTE_TOO_LONG = "note_too_long"
    # the refund's OrderError, passed on as it is (resolve_refund; its not_found and
    # changed_meanwhile are above)
    ALREADY_REFUNDED = "already_refunded"
    NOT_PAID = "not_paid"
    BAD_AMOUNT = "bad_amount"
    REFUND_TOO_LARGE = "refund_too_large"
    PARTIAL_STARS_REFUND = "partial_stars_refund"
    EXPIRED = "expired"
    BAD_TRANSITION = "bad_transition"
    # the coupon's grant refused: "coupon_" + its CouponError reason (resolve_coupon)
    COUPON_NO_COUPON = "coupon_no_coupon"
    COUPON_EXPIRED = "coupon_expired"
    COUPON_LIMIT_REACHED = "coupon_limit_reached"


@dataclass(frozen=True, slots=True)
class TicketView:
    """A ticket as plain values."""

    id: int
    order_id: int
    member_id: int
    chat_id: int
    leader_id: int | None
    product_id: int | None
    kind: str
    description: str
    status: str
    opened_at: datetime
    answer_due: datetime
    resolve_due: datetime
    answered_at: datetime | None
    answered_by: int | None
    closed_at: datetime | None
    closed_by: int | None
    resolution: str
    amount: int
    note: str
    escalated: int
    version: int

    @property
    def is_open(self) -> bool:
        return self.status == TICKET_OPEN

    def overdue(self, now: datetime) -> bool:
        """A clock ran out: no first answer by its time, or not resolved by its time."""
        if not self.is_open:
            return False
        return (self.answered_at is None and self.answer_due <= now) or self.resolve_due <= now


@dataclass(frozen=True, slots=True)
class MessageView:
    """A message on a ticket."""

    id: int
    author_id: int
    text: str
    photo_file_id: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Said:
    """A message added to a ticket; `first_answer` when it stopped the answer clock."""

    ticket: TicketView
    message: MessageView
    first_answer: bool


@dataclass(frozen=True, slots=True)
class Resolved:
    """A ticket closed by one resolution, with the refund it booked (if any)."""

    ticket: TicketView
    refund: RefundOutcome | None = None
    coupon_code: str = ""


def _view(row: Ticket) -> TicketView:
    assert row.id is not None
    return TicketView(
        id=row.id,
        order_id=row.order_id,
        member_id=row.member_id,
        chat_id=row.chat_id,
        leader_id=row.leader_id,
        product_id=row.product_id,
        kind=row.kind,
        description=row.description,
        status=row.status,
        opened_at=row.opened_at,
        answer_due=row.answer_due,
        resolve_due=row.resolve_due,
        answered_at=row.answered_at,
        answered_by=row.answered_by,
        closed_at=row.closed_at,
        closed_by=row.closed_by,
        resolution=row.resolution,
        amount=row.amount,
        note=row.note,
        escalated=row.escalated,
        version=row.version,
    )


def _message(row: TicketMessage) -> MessageView:
    assert row.id is not None
    return MessageView(row.id, row.author_id, row.text, row.photo_file_id, row.created_at)


async def _load(session: AsyncSession, ticket_id: int) -> Ticket:
    row = await session.get(Ticket, ticket_id, populate_existing=True)
    if row is None:
        raise TicketError(TicketRefusal.NOT_FOUND, str(ticket_id))
    return row
