"""After-sales tickets (售后工单): a member's problem with a paid order, the messages exchanged
on it, and its two clocks (the first answer, the resolution)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Column, ForeignKey, Index, text
from sqlmodel import Field, SQLModel

from models.base import SurrogateKey, TelegramId, UTCDateTime, utcnow

# Ticket.kind: what the member says is wrong
TICKET_MISSING = "missing"  # an item of the order is missing
TICKET_DAMAGED = "damaged"  # arrived damaged (photos welcome)
TICKET_WRONG = "wrong"  # a different item than ordered
TICKET_QUALITY = "quality"  # the item is not as good as it should be
TICKET_REFUND = "refund"  # the member wants their money back
TICKET_EXCHANGE = "exchange"  # the member wants another item instead
TICKET_KINDS = (
    TICKET_MISSING,
    TICKET_DAMAGED,
    TICKET_WRONG,
    TICKET_QUALITY,
    TICKET_REFUND,
    TICKET_EXCHANGE,
)

# Ticket.status
TICKET_OPEN = "open"  # waiting for staff or the leader: answered or not, not resolved
TICKET_CLOSED = "closed"  # resolved (see `resolution`); nothing more happens on it

# Ticket.resolution, set when it is closed
RESOLVED_REFUND = "refund"  # money back through the ledger (whole or part of what was paid)
RESOLVED_RESHIP = "reship"  # the item is sent or handed over again
RESOLVED_COUPON = "coupon"  # a coupon as compensation (先行赔付)
RESOLVED_DECLINED = "declined"  # nothing is owed, with the reason the member is told

# Ticket.escalated: which overdue clock staff were already told about
ESCALATED_NONE = 0
ESCALATED_ANSWER = 1  # no first answer in time
ESCALATED_RESOLVE = 2  # not resolved in time


class Ticket(SQLModel, table=True):
    """One after-sales ticket on one order; changed only by conditional updates on `version`."""

    __tablename__ = "ticket"
    __table_args__ = (
        # one open ticket per order, whatever the concurrency: a second one fails to insert
        Index(
            "uq_ticket_open_order",
            "order_id",
            unique=True,
            sqlite_where=text("status = 'open'"),
            postgresql_where=text("status = 'open'"),
        ),
    )

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    order_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("orders.id", name="fk_ticket_order"),
            nullable=False,
            index=True,
        )
    )
    member_id: int = Field(
        sa_column=Column(
            TelegramId,
            ForeignKey("member.id", name="fk_ticket_member"),
            nullable=False,
            index=True,
        )
    )
    chat_id: int = Field(sa_type=TelegramId)  # the order's group
    leader_id: int | None = Field(default=None, sa_type=TelegramId)  # the order's leader
    product_id: int | None = Field(default=None, sa_type=SurrogateKey)
    kind: str = Field(max_length=16)
    description: str = Field(default="", max_length=1000)
    status: str = Field(default=TICKET_OPEN, max_length=16, index=True)
    opened_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
    answer_due: datetime = Field(sa_type=UTCDateTime, nullable=False)
    resolve_due: datetime = Field(sa_type=UTCDateTime, nullable=False)
    answered_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    answered_by: int | None = Field(default=None, sa_type=TelegramId)
    closed_at: datetime | None = Field(default=None, sa_type=UTCDateTime)
    closed_by: int | None = Field(default=None, sa_type=TelegramId)
    resolution: str = Field(default="", max_length=16)
    amount: int = 0  # refunded, in the order's currency's minor units
    note: str = Field(default="", max_length=500)  # the decline reason, the coupon's code
    escalated: int = ESCALATED_NONE
    version: int = 0


class TicketMessage(SQLModel, table=True):
    """A message on a ticket: the member's, staff's or the leader's, with an optional photo."""

    __tablename__ = "ticket_message"

    id: int | None = Field(default=None, sa_column=Column(SurrogateKey, primary_key=True))
    ticket_id: int = Field(
        sa_column=Column(
            SurrogateKey,
            ForeignKey("ticket.id", name="fk_ticket_message_ticket"),
            nullable=False,
            index=True,
        )
    )
    author_id: int = Field(
        sa_column=Column(
            TelegramId,
            ForeignKey("member.id", name="fk_ticket_message_author"),
            nullable=False,
            index=True,
        )
    )
    text: str = Field(default="", max_length=1000)
    photo_file_id: str = Field(default="", max_length=256)
    created_at: datetime = Field(default_factory=utcnow, sa_type=UTCDateTime, nullable=False)
