"""After-sales tickets (售后): opened by a member on their paid order, answered and resolved by
staff or the order's leader within two clocks, escalated to all staff when a clock runs out.

Every change of a ticket is a conditional UPDATE on its (status, version), so two staff
resolving at once close it once, and a refund or a coupon is booked once: the resolution's
money moves only in the transaction that won the ticket. Every step is written to the audit
log by the verb that does it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.member import Member
from models.order import ORDER_FULFILLED, ORDER_PAID, ORDER_REFUNDED, Order
from models.product import Product
from models.ticket import (
    ESCALATED_ANSWER,
    ESCALATED_RESOLVE,
    RESOLVED_COUPON,
    RESOLVED_DECLINED,
    RESOLVED_REFUND,
    RESOLVED_RESHIP,
    TICKET_CLOSED,
    TICKET_KINDS,
    TICKET_OPEN,
    Ticket,
    TicketMessage,
)
from services.audit import record_action
from services.coupons import grant, template_by_code
from services.db import rowcount
from services.errors import Refused
from services.ledger import STARS
from services.order import OrderError, RefundOutcome, check_refund
from services.refund import refund_now
from services.role import is_leader, is_staff

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


async def get_ticket(session: AsyncSession, ticket_id: int) -> TicketView | None:
    """The ticket with this id, if any."""
    row = await session.get(Ticket, ticket_id, populate_existing=True)
    return _view(row) if row is not None else None


async def _load(session: AsyncSession, ticket_id: int) -> Ticket:
    row = await session.get(Ticket, ticket_id, populate_existing=True)
    if row is None:
        raise TicketError(TicketRefusal.NOT_FOUND, str(ticket_id))
    return row


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


@dataclass(frozen=True, slots=True)
class TicketGroupStats:
    """Tickets of one leader or one product."""

    key: int | None  # the leader's id or the product's id
    label: str  # the leader's name or the product's title
    opened: int
    overdue: int  # answered or resolved late (or still open past a clock)
    answer_seconds: int | None  # the mean time to the first answer
    resolve_seconds: int | None  # the mean time to resolution


@dataclass(frozen=True, slots=True)
class TicketStats:
    """Tickets opened in a period: counts, mean clocks, and the same by leader and product."""

    opened: int
    closed: int
    still_open: int
    overdue: int
    answer_seconds: int | None
    resolve_seconds: int | None
    by_leader: tuple[TicketGroupStats, ...]
    by_product: tuple[TicketGroupStats, ...]


def _mean(values: list[float]) -> int | None:
    return round(sum(values) / len(values)) if values else None


def _group(key: int | None, rows: list[Ticket], now: datetime, label: str = "") -> TicketGroupStats:
    answers = [
        (r.answered_at - r.opened_at).total_seconds() for r in rows if r.answered_at is not None
    ]
    resolves = [
        (r.closed_at - r.opened_at).total_seconds() for r in rows if r.closed_at is not None
    ]
    return TicketGroupStats(
        key=key,
        label=label,
        opened=len(rows),
        overdue=sum(1 for r in rows if _late(r, now)),
        answer_seconds=_mean(answers),
        resolve_seconds=_mean(resolves),
    )


def _late(row: Ticket, now: datetime) -> bool:
    """Whether a clock of the ticket ran out before what it waited for happened."""
    answered = row.answered_at or now
    closed = row.closed_at or now
    return answered > row.answer_due or closed > row.resolve_due


async def ticket_stats(
    session: AsyncSession,
    *,
    start: datetime | None,
    end: datetime,
    communities: frozenset[int] | None = None,
    leader_id: int | None = None,
    top: int = 5,
    now: datetime | None = None,
) -> TicketStats:
    """Tickets opened from `start` (all time when None) to `end`, in `communities` (every
    group when None), of one leader or all; the leaders and products with most tickets. An
    open ticket counts as overdue when a clock ran out before `now` (or the period's end)."""
    query = select(Ticket).where(col(Ticket.opened_at) < end)
    if start is not None:
        query = query.where(col(Ticket.opened_at) >= start)
    if communities is not None:
        query = query.where(col(Ticket.chat_id).in_(sorted(communities)))
    if leader_id is not None:
        query = query.where(col(Ticket.leader_id) == leader_id)
    rows = list((await session.execute(query.order_by(col(Ticket.id)))).scalars())
    # an open ticket is late once a clock ran out by the period's end, or by now if sooner
    cutoff = min(end, now) if now is not None else end
    whole = _group(None, rows, cutoff)
    by_leader: dict[int, list[Ticket]] = {}
    by_product: dict[int, list[Ticket]] = {}
    for row in rows:
        if row.leader_id is not None:
            by_leader.setdefault(row.leader_id, []).append(row)
        if row.product_id is not None:
            by_product.setdefault(row.product_id, []).append(row)

    def ranked(groups: dict[int, list[Ticket]]) -> list[TicketGroupStats]:
        stats = [_group(key, members, cutoff) for key, members in groups.items()]
        stats.sort(key=lambda g: (-g.opened, -g.overdue, g.key or 0))
        return stats[:top]

    leaders = []
    for group in ranked(by_leader):
        member = await session.get(Member, group.key)
        name = (member.first_name or member.username or "") if member is not None else ""
        leaders.append(replace(group, label=name or str(group.key)))
    products = []
    for group in ranked(by_product):
        product = await session.get(Product, group.key)
        products.append(replace(group, label=product.title if product else str(group.key)))
    return TicketStats(
        opened=whole.opened,
        closed=sum(1 for r in rows if r.status == TICKET_CLOSED),
        still_open=sum(1 for r in rows if r.status == TICKET_OPEN),
        overdue=whole.overdue,
        answer_seconds=whole.answer_seconds,
        resolve_seconds=whole.resolve_seconds,
        by_leader=tuple(leaders),
        by_product=tuple(products),
    )
