"""Waitlists: a sold-out group-buy item's waiting members, offered freed units in turn.

An item is the group-buy itself (no variants), or one of its variants, or one item of a
sign-up list (its variants): each has its own line (`variant_id`), is offered its own freed
units, and accepting books that variant (a Join of it) or adds the item's line to the list order.

An offer does not hold stock: it tells the first waiting member that units are free, until a
time limit. Accepting books like a Join, by the same conditional UPDATE of the counters, so two
members accepting for the last unit never oversell: one books, the other keeps their place at
the head of the line. The scheduler (bot/waitlist.py) lapses unanswered offers and makes new
ones whenever units are free, each claimed by a conditional UPDATE of the entry.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import and_, func, select, update
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
from services.db import rowcount
from services.errors import Refused
from services.groupbuy import (
    GroupBuyError,
    GroupBuyRefusal,
    GroupBuyVariantView,
    GroupBuyView,
    JoinResult,
    LineChange,
    ListOrder,
    book_after_forming,
    change_lines,
    get_groupbuy,
    set_quantity,
)
from services.member import get_member
from services.order import OrderView

LIVE = (WAIT_WAITING, WAIT_OFFERED)  # still in the line


class WaitlistError(Refused):
    """A waitlist action that cannot be done; `reason` is a code handlers translate."""


class WaitlistRefusal(StrEnum):
    """The reasons a WaitlistError gives (its `reason`); the handlers map each to a message."""

    CLOSED = "closed"
    CHOOSE_VARIANT = "choose_variant"
    NOT_SOLD_OUT = "not_sold_out"
    NOT_WAITING = "not_waiting"
    NOT_YOURS = "not_yours"
    LAPSED = "lapsed"
    BOOKED = "booked"


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
    item: str = ""  # the variant or list item offered ("": the group-buy itself)
    variant_id: int | None = None


@dataclass(frozen=True, slots=True)
class Lapsed:
    """An offer that passed unanswered: its member is told, and the next one is offered."""

    member_id: int
    locale: str
    groupbuy: GroupBuyView
    item: str = ""  # the variant or list item ("": the group-buy itself)


@dataclass(frozen=True, slots=True)
class Accepted:
    """What accepting an offer did: booked (a join while open, an order once formed), or
    `taken` when someone else booked the units first (the member stays first in line)."""

    groupbuy: GroupBuyView
    units: int
    chat_id: int  # the group the member asked from
    joined: JoinResult | None = None
    order: OrderView | None = None
    lines: ListOrder | None = None  # a sign-up list: the member's order with the item added
    taken: bool = False
    item: str = ""  # the variant or list item booked


def _sold_out(gb: GroupBuyView) -> bool:
    return gb.status in (GROUPBUY_OPEN, GROUPBUY_FORMED) and gb.units_left <= 0


def _variant(gb: GroupBuyView, variant_id: int | None) -> GroupBuyVariantView | None:
    return next((v for v in gb.variants if v.variant_id == variant_id), None)


def _of_item(variant_id: int | None) -> Any:
    """The line of one item: the group-buy itself (NULL) or one of its variants."""
    if variant_id is None:
        return col(WaitlistEntry.variant_id).is_(None)
    return col(WaitlistEntry.variant_id) == variant_id


def _live_entry(groupbuy_id: int, variant_id: int | None, member_id: int) -> Any:
    """The member's entry in the line of one item while it lives (waiting or offered)."""
    return and_(
        col(WaitlistEntry.groupbuy_id) == groupbuy_id,
        _of_item(variant_id),
        col(WaitlistEntry.member_id) == member_id,
        col(WaitlistEntry.status).in_(LIVE),
    )


def _offer_stands(entry: WaitlistEntry) -> Any:
    """The entry still holds the offer it was read with: the guard of an UPDATE that lapses or
    accepts it, so only one of them (and only once) changes it."""
    return and_(
        col(WaitlistEntry.id) == entry.id,
        col(WaitlistEntry.status) == WAIT_OFFERED,
        col(WaitlistEntry.offer_no) == entry.offer_no,
    )


async def position(
    session: AsyncSession, *, groupbuy_id: int, member_id: int, variant_id: int | None = None
) -> int:
    """The member's place in the line of the group-buy's item (0: not in it)."""
    mine = (
        await session.execute(
            select(WaitlistEntry)
            .where(_live_entry(groupbuy_id, variant_id, member_id))
            # a member who came back was moved to the end by an UPDATE: read where it put them
            .execution_options(populate_existing=True)
        )
    ).scalar_one_or_none()
    if mine is None:
        return 0
    ahead = await session.scalar(
        select(func.count())
        .select_from(WaitlistEntry)
        .where(
            col(WaitlistEntry.groupbuy_id) == groupbuy_id,
            _of_item(variant_id),
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
    variant_id: int | None = None,
) -> int:
    """Put the member in the line of a sold-out item (at its end; where they are when already
    in it); returns their place. A group-buy with variants (or a sign-up list) has a line per
    variant (item): `variant_id` says which, and only that variant needs to be sold out; a
    variant's line is kept while the group-buy is open. Refused while units are left, for a
    variant it does not offer, or once it closed."""
    gb = await get_groupbuy(session, groupbuy_id)
    if gb is None or gb.status not in (GROUPBUY_OPEN, GROUPBUY_FORMED):
        raise WaitlistError(WaitlistRefusal.CLOSED)
    if gb.variants:
        variant = _variant(gb, variant_id)
        if variant is None:
            raise WaitlistError(WaitlistRefusal.CHOOSE_VARIANT)
        if gb.status != GROUPBUY_OPEN:
            raise WaitlistError(WaitlistRefusal.CLOSED)
        if variant.units_left > 0:
            raise WaitlistError(WaitlistRefusal.NOT_SOLD_OUT, str(variant.units_left))
    else:
        variant_id = None
        if not _sold_out(gb):
            raise WaitlistError(WaitlistRefusal.NOT_SOLD_OUT, str(gb.units_left))
    found = (
        await session.execute(
            select(WaitlistEntry).where(
                col(WaitlistEntry.groupbuy_id) == groupbuy_id,
                _of_item(variant_id),
                col(WaitlistEntry.member_id) == member_id,
            )
        )
    ).scalar_one_or_none()
    if found is None:
        session.add(
            WaitlistEntry(
                groupbuy_id=groupbuy_id,
                variant_id=variant_id,
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
    return await position(
        session, groupbuy_id=groupbuy_id, member_id=member_id, variant_id=variant_id
    )


async def leave_waitlist(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    member_id: int,
    now: datetime,
    variant_id: int | None = None,
) -> None:
    """Take the member out of the item's line (an offer they hold passes to the next)."""
    left = await session.execute(
        update(WaitlistEntry)
        .where(_live_entry(groupbuy_id, variant_id, member_id))
        .values(status=WAIT_LEFT, offer_units=0, offer_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(left) == 0:
        raise WaitlistError(WaitlistRefusal.NOT_WAITING)


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
            .where(_offer_stands(entry))
            .values(status=WAIT_LAPSED, offer_units=0, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        if rowcount(claimed) != 1:
            continue
        who = await get_member(session, entry.member_id)
        gb = await get_groupbuy(session, entry.groupbuy_id)
        if who is not None and who.started and gb is not None:
            variant = _variant(gb, entry.variant_id)
            lapsed.append(Lapsed(who.id, who.locale, gb, variant.name if variant else ""))
    return lapsed


async def make_offers(session: AsyncSession, *, now: datetime, minutes: int) -> list[Offer]:
    """Offer each item's free units (those not already under a live offer) to its first
    waiting members, each for `minutes`; returns the offers to send once committed. A
    variant's (a list item's) units are offered while its group-buy is open."""
    with_waiting = (
        await session.execute(
            select(col(WaitlistEntry.groupbuy_id), col(WaitlistEntry.variant_id))
            .join(GroupBuy, col(GroupBuy.id) == col(WaitlistEntry.groupbuy_id))
            .where(
                col(WaitlistEntry.status) == WAIT_WAITING,
                col(GroupBuy.status).in_((GROUPBUY_OPEN, GROUPBUY_FORMED)),
                (
                    col(WaitlistEntry.variant_id).is_(None)
                    & (col(GroupBuy.units_sold) < col(GroupBuy.stock_cap))
                )
                | (
                    col(WaitlistEntry.variant_id).is_not(None)
                    & (col(GroupBuy.status) == GROUPBUY_OPEN)
                ),
            )
            .distinct()
        )
    ).all()
    offers: list[Offer] = []
    for groupbuy_id, variant_id in sorted(with_waiting, key=lambda r: (r[0], r[1] or 0)):
        offers += await _offer_freed(session, int(groupbuy_id), variant_id, now, minutes)
    return offers


async def _offer_freed(
    session: AsyncSession, groupbuy_id: int, variant_id: int | None, now: datetime, minutes: int
) -> list[Offer]:
    gb = await get_groupbuy(session, groupbuy_id)
    if gb is None:
        return []
    variant = _variant(gb, variant_id)
    if variant_id is not None and variant is None:
        return []
    promised = await session.scalar(
        select(func.coalesce(func.sum(col(WaitlistEntry.offer_units)), 0)).where(
            col(WaitlistEntry.groupbuy_id) == groupbuy_id,
            _of_item(variant_id),
            col(WaitlistEntry.status) == WAIT_OFFERED,
        )
    )
    left = variant.units_left if variant is not None else gb.units_left
    free = left - int(promised or 0)
    line = (
        await session.execute(
            select(WaitlistEntry)
            .where(
                col(WaitlistEntry.groupbuy_id) == groupbuy_id,
                _of_item(variant_id),
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
        if rowcount(claimed) != 1:
            continue
        free -= units
        assert entry.id is not None
        name = variant.name if variant is not None else ""
        offer_no = entry.offer_no + 1
        offers.append(
            Offer(entry.id, offer_no, who.id, who.locale, gb, units, until, name, variant_id)
        )
    return offers


async def accept_offer(
    session: AsyncSession, *, entry_id: int, offer_no: int, member_id: int, now: datetime
) -> Accepted:
    """Book the offered units as a Join does (open) or as a new order at the final price
    (formed); a variant's offer joins that variant, a list item's adds the item's line to the
    member's list order. Refused with "lapsed" when the offer passed (or a newer one replaced
    it): nothing is booked. When someone else took the units first, the member stays first in
    line. Any other refusal (closed, over the limit, another variant held) takes the claim
    back too: the offer stays theirs until it lapses."""
    read = select(WaitlistEntry).where(col(WaitlistEntry.id) == entry_id)
    if session.get_bind().dialect.name == "postgresql":
        read = read.with_for_update()
    entry = (
        await session.execute(read.execution_options(populate_existing=True))
    ).scalar_one_or_none()
    if entry is None or entry.member_id != member_id:
        raise WaitlistError(WaitlistRefusal.NOT_YOURS)
    if entry.offer_no != offer_no or entry.status == WAIT_LAPSED:
        raise WaitlistError(WaitlistRefusal.LAPSED)
    if entry.status == WAIT_BOOKED:
        raise WaitlistError(WaitlistRefusal.BOOKED)
    if entry.status != WAIT_OFFERED or entry.offer_until is None or entry.offer_until <= now:
        raise WaitlistError(WaitlistRefusal.LAPSED)
    units = entry.offer_units
    try:
        async with session.begin_nested():  # a refusal takes the claim back with the booking
            return await _claim_and_book(session, entry, units, now)
    except GroupBuyError as exc:
        if exc.reason not in ("sold_out", "item_sold_out"):
            raise
    # taken meanwhile: back in line where they were (first), to be offered the next units
    await session.execute(
        update(WaitlistEntry)
        .where(col(WaitlistEntry.id) == entry_id, col(WaitlistEntry.offer_no) == offer_no)
        .values(status=WAIT_WAITING, offer_units=0, offer_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    gb = await get_groupbuy(session, entry.groupbuy_id)
    if gb is None:
        raise WaitlistError(WaitlistRefusal.CLOSED)
    variant = _variant(gb, entry.variant_id)
    return Accepted(gb, units, entry.chat_id, taken=True, item=variant.name if variant else "")


async def _claim_and_book(
    session: AsyncSession, entry: WaitlistEntry, units: int, now: datetime
) -> Accepted:
    assert entry.id is not None
    claimed = await session.execute(
        update(WaitlistEntry)
        .where(_offer_stands(entry))
        .values(status=WAIT_BOOKED, offer_units=0, offer_until=None, updated_at=now)
        .execution_options(synchronize_session=False)
    )
    if rowcount(claimed) != 1:
        raise WaitlistError(WaitlistRefusal.LAPSED)
    gb = await get_groupbuy(session, entry.groupbuy_id)
    if gb is None:
        raise WaitlistError(WaitlistRefusal.CLOSED)
    member_id, chat_id = entry.member_id, entry.chat_id
    variant = _variant(gb, entry.variant_id)
    if entry.variant_id is not None:
        if variant is None or gb.status != GROUPBUY_OPEN:
            raise GroupBuyError(GroupBuyRefusal.CLOSED)
        if gb.multi:
            number = gb.variants.index(variant) + 1
            lines = await change_lines(
                session,
                groupbuy_id=gb.id,
                member_id=member_id,
                chat_id=chat_id,
                changes=[LineChange(number, units, add=True)],
                now=now,
            )
            return Accepted(lines.groupbuy, units, chat_id, lines=lines, item=variant.name)
    elif gb.status == GROUPBUY_FORMED:
        order = await book_after_forming(
            session,
            groupbuy_id=gb.id,
            member_id=member_id,
            chat_id=chat_id,
            units=units,
            now=now,
        )
        fresh = await get_groupbuy(session, gb.id)
        return Accepted(fresh or gb, units, chat_id, order=order)
    joined = await set_quantity(
        session,
        groupbuy_id=gb.id,
        member_id=member_id,
        chat_id=chat_id,
        quantity=units,
        now=now,
        add=True,
        variant_id=entry.variant_id,
    )
    name = variant.name if variant is not None else ""
    return Accepted(joined.groupbuy, units, chat_id, joined=joined, item=name)
