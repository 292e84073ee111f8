"""Waitlists: a sold-out group-buy item's waiting members, offered freed units in turn.

An offer does not hold stock: it tells the first waiting member that units are free, until a
time limit. Accepting books like a Join, by the same conditional UPDATE of the counters, so two
members accepting for the last unit never oversell: one books, the other keeps their place at
the head of the line. The scheduler (bot/waitlist.py) lapses unanswered offers and makes new
ones whenever units are free, each claimed by a conditional UPDATE of the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import GROUPBUY_FORMED, GROUPBUY_OPEN, GroupBuy
from models.waitlist import (
    WAIT_BOOKED,
    WAIT_LAPSED,
    WAIT_LEFT,
    WAIT_OFFERED,
    WAIT_WAITING,
    WaitlistEntry,
)
from services.errors import Refused
from services.groupbuy import (
    GroupBuyError,
    GroupBuyView,
    JoinResult,
    book_after_forming,
    get_groupbuy,
    set_quantity,
)
from services.member import get_member
from services.order import OrderView

LIVE = (WAIT_WAITING, WAIT_OFFERED)  # still in the line


class WaitlistError(Refused):
    """A waitlist action that cannot be done; `reason` is a code handlers translate."""


@dataclass(frozen=True, slots=True)
class Offer:
    """Freed units offered to a waiting member until `until`, in their language."""

    entry_id: int
    offer_no: int
    member_id: int
    locale: str
    groupbuy: GroupBuyView
    units: int
    until: datetime


@dataclass(frozen=True, slots=True)
class Lapsed:
    """An offer that passed unanswered: its member is told, and the next one is offered."""

    member_id: int
    locale: str
    groupbuy: GroupBuyView


@dataclass(frozen=True, slots=True)
class Accepted:
    """What accepting an offer did: booked (a join while open, an order once formed), or
    `taken` when someone else booked the units first (the member stays first in line)."""

    groupbuy: GroupBuyView
    units: int
    chat_id: int  # the group the member asked from
    joined: JoinResult | None = None
    order: OrderView | None = None
    taken: bool = False


def _sold_out(gb: GroupBuyView) -> bool:
    return gb.status in (GROUPBUY_OPEN, GROUPBUY_FORMED) and gb.units_left <= 0


async def position(session: AsyncSession, *, groupbuy_id: int, member_id: int) -> int:
    """The member's place in the group-buy's line (0: not in it)."""
    mine = (
        await session.execute(
            select(WaitlistEntry).where(
                col(WaitlistEntry.groupbuy_id) == groupbuy_id,
                col(WaitlistEntry.member_id) == member_id,
                col(WaitlistEntry.status).in_(LIVE),
            )
        )
    ).scalar_one_or_none()
    if mine is None:
        return 0
    ahead = await session.scalar(
        select(func.count())
        .select_from(WaitlistEntry)
        .where(
            col(WaitlistEntry.groupbuy_id) == groupbuy_id,
            col(WaitlistEntry.status).in_(LIVE),
            (col(WaitlistEntry.since) < mine.since)
            | ((col(WaitlistEntry.since) == mine.since) & (col(WaitlistEntry.id) <= mine.id)),
        )
    )
    return int(ahead or 0)


async def join_waitlist(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    member_id: int,
    chat_id: int,
    now: datetime,
    quantity: int = 1,
) -> int:
    """Put the member in the line of a sold-out group-buy (at its end; where they are when
    already in it); returns their place. Refused while units are left or once it closed."""
    gb = await get_groupbuy(session, groupbuy_id)
    if gb is None or gb.status not in (GROUPBUY_OPEN, GROUPBUY_FORMED):
        raise WaitlistError("closed")
    if not _sold_out(gb):
        raise WaitlistError("not_sold_out", str(gb.units_left))
    found = (
        await session.execute(
            select(WaitlistEntry).where(
                col(WaitlistEntry.groupbuy_id) == groupbuy_id,
                col(WaitlistEntry.variant_id).is_(None),
                col(WaitlistEntry.member_id) == member_id,
            )
        )
    ).scalar_one_or_none()
    if found is None:
        session.add(
            WaitlistEntry(
                groupbuy_id=groupbuy_id,
                member_id=member_id,
                chat_id=chat_id,
                quantity=quantity,
                since=now,
                updated_at=now,
            )
        )
        await session.flush()
    elif found.status not in LIVE:
        await session.execute(
            update(WaitlistEntry)
            .where(col(WaitlistEntry.id) == found.id, col(WaitlistEntry.status) == found.status)
            .values(
                status=WAIT_WAITING,
                since=now,
                chat_id=chat_id,
                quantity=quantity,
                offer_units=0,
                offer_until=None,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    return await position(session, groupbuy_id=groupbuy_id, member_id=member_id)


async def leave_waitlist(
    session: AsyncSession, *, groupbuy_id: int, member_id: int, now: datetime
) -> None:
    """Take the member out of the line (an offer they hold passes to the next)."""
    left = await session.execute(
        update(WaitlistEntry)
        .where(
            col(WaitlistEntry.groupbuy_id) == groupbuy_id,
            col(WaitlistEntry.member_id) == member_id,
            col(WaitlistEntry.status).in_(LIVE),
        )
        .values(status=WAIT_LEFT, offer_units=0, offer_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if left.rowcount == 0:  # type: ignore[attr-defined]
        raise WaitlistError("not_waiting")


async def waiting_counts(session: AsyncSession, groupbuy_ids: list[int]) -> dict[int, int]:
    """How many members wait (or hold an offer) per group-buy."""
    rows = await session.execute(
        select(col(WaitlistEntry.groupbuy_id), func.count())
        .where(
            col(WaitlistEntry.groupbuy_id).in_(groupbuy_ids),
            col(WaitlistEntry.status).in_(LIVE),
        )
        .group_by(col(WaitlistEntry.groupbuy_id))
    )
    return {int(gb): int(n) for gb, n in rows.all()}


async def lapse_offers(session: AsyncSession, *, now: datetime) -> list[Lapsed]:
    """Offers past their time limit leave the line, each claimed once; who to tell."""
    due = (
        await session.execute(
            select(WaitlistEntry).where(
                col(WaitlistEntry.status) == WAIT_OFFERED,
                col(WaitlistEntry.offer_until) <= now,
            )
        )
    ).scalars()
    lapsed: list[Lapsed] = []
    for entry in list(due):
        claimed = await session.execute(
            update(WaitlistEntry)
            .where(
                col(WaitlistEntry.id) == entry.id,
                col(WaitlistEntry.status) == WAIT_OFFERED,
                col(WaitlistEntry.offer_no) == entry.offer_no,
            )
            .values(status=WAIT_LAPSED, offer_units=0, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        who = await get_member(session, entry.member_id)
        gb = await get_groupbuy(session, entry.groupbuy_id)
        if who is not None and who.started and gb is not None:
            lapsed.append(Lapsed(who.id, who.locale, gb))
    return lapsed


async def make_offers(session: AsyncSession, *, now: datetime, minutes: int) -> list[Offer]:
    """Offer each group-buy's free units (those not already under a live offer) to its first
    waiting members, each for `minutes`; returns the offers to send once committed."""
    with_waiting = (
        await session.execute(
            select(col(WaitlistEntry.groupbuy_id))
            .join(GroupBuy, col(GroupBuy.id) == col(WaitlistEntry.groupbuy_id))
            .where(
                col(WaitlistEntry.status) == WAIT_WAITING,
                col(GroupBuy.status).in_((GROUPBUY_OPEN, GROUPBUY_FORMED)),
                col(GroupBuy.units_sold) < col(GroupBuy.stock_cap),
            )
            .distinct()
        )
    ).scalars()
    offers: list[Offer] = []
    for groupbuy_id in list(with_waiting):
        offers += await _offer_freed(session, int(groupbuy_id), now, minutes)
    return offers


async def _offer_freed(
    session: AsyncSession, groupbuy_id: int, now: datetime, minutes: int
) -> list[Offer]:
    gb = await get_groupbuy(session, groupbuy_id)
    if gb is None:
        return []
    promised = await session.scalar(
        select(func.coalesce(func.sum(col(WaitlistEntry.offer_units)), 0)).where(
            col(WaitlistEntry.groupbuy_id) == groupbuy_id,
            col(WaitlistEntry.status) == WAIT_OFFERED,
        )
    )
    free = gb.units_left - int(promised or 0)
    line = (
        await session.execute(
            select(WaitlistEntry)
            .where(
                col(WaitlistEntry.groupbuy_id) == groupbuy_id,
                col(WaitlistEntry.status) == WAIT_WAITING,
            )
            .order_by(col(WaitlistEntry.since), col(WaitlistEntry.id))
        )
    ).scalars()
    until = now + timedelta(minutes=minutes)
    offers: list[Offer] = []
    for entry in list(line):
        if free <= 0:
            break
        who = await get_member(session, entry.member_id)
        if who is None or not who.started:  # cannot be written to: out of the line
            await session.execute(
                update(WaitlistEntry)
                .where(col(WaitlistEntry.id) == entry.id)
                .values(status=WAIT_LEFT, updated_at=now)
                .execution_options(synchronize_session=False)
            )
            continue
        units = min(entry.quantity, free)
        claimed = await session.execute(
            update(WaitlistEntry)
            .where(col(WaitlistEntry.id) == entry.id, col(WaitlistEntry.status) == WAIT_WAITING)
            .values(
                status=WAIT_OFFERED,
                offer_units=units,
                offer_until=until,
                offer_no=col(WaitlistEntry.offer_no) + 1,
                updated_at=now,
            )
            .execution_options(synchronize_session=False)
        )
        if claimed.rowcount != 1:  # type: ignore[attr-defined]
            continue
        free -= units
        assert entry.id is not None
        offers.append(Offer(entry.id, entry.offer_no + 1, who.id, who.locale, gb, units, until))
    return offers


async def accept_offer(
    session: AsyncSession, *, entry_id: int, offer_no: int, member_id: int, now: datetime
) -> Accepted:
    """Book the offered units as a Join does (open) or as a new order at the final price
    (formed). Refused with "lapsed" when the offer passed (or a newer one replaced it): nothing
    is booked. When someone else took the units first, the member stays first in line."""
    read = select(WaitlistEntry).where(col(WaitlistEntry.id) == entry_id)
    if session.get_bind().dialect.name == "postgresql":
        read = read.with_for_update()
    entry = (
        await session.execute(read.execution_options(populate_existing=True))
    ).scalar_one_or_none()
    if entry is None or entry.member_id != member_id:
        raise WaitlistError("not_yours")
    if entry.offer_no != offer_no or entry.status == WAIT_LAPSED:
        raise WaitlistError("lapsed")
    if entry.status == WAIT_BOOKED:
        raise WaitlistError("booked")
    if entry.status != WAIT_OFFERED or entry.offer_until is None or entry.offer_until <= now:
        raise WaitlistError("lapsed")
    units = entry.offer_units
    claimed = await session.execute(
        update(WaitlistEntry)
        .where(
            col(WaitlistEntry.id) == entry_id,
            col(WaitlistEntry.status) == WAIT_OFFERED,
            col(WaitlistEntry.offer_no) == offer_no,
        )
        .values(status=WAIT_BOOKED, offer_units=0, offer_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        raise WaitlistError("lapsed")
    gb = await get_groupbuy(session, entry.groupbuy_id)
    if gb is None:
        raise WaitlistError("closed")
    try:
        if gb.status == GROUPBUY_FORMED:
            order = await book_after_forming(
                session,
                groupbuy_id=gb.id,
                member_id=member_id,
                chat_id=entry.chat_id,
                units=units,
                now=now,
            )
            fresh = await get_groupbuy(session, gb.id)
            return Accepted(fresh or gb, units, entry.chat_id, order=order)
        joined = await set_quantity(
            session,
            groupbuy_id=gb.id,
            member_id=member_id,
            chat_id=entry.chat_id,
            quantity=units,
            now=now,
            add=True,
        )
        return Accepted(joined.groupbuy, units, entry.chat_id, joined=joined)
    except GroupBuyError as exc:
        if exc.reason != "sold_out":
            raise
    # taken meanwhile: back in line where they were (first), to be offered the next units
    await session.execute(
        update(WaitlistEntry)
        .where(col(WaitlistEntry.id) == entry_id)
        .values(status=WAIT_WAITING, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    return Accepted(gb, units, entry.chat_id, taken=True)
