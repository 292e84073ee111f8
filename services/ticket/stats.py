"""Ticket figures per group: how many, how fast answered and resolved, how many late."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.member import Member
from models.product import Product
from models.ticket import TICKET_CLOSED, TICKET_OPEN, Ticket


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
