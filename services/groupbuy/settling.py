"""Closing a group-buy: settled exactly once at its deadline (formed or failed), cancelled by
staff, and the closing story of who is told what, in which language.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import (
    GROUPBUY_CANCELLED,
    GROUPBUY_FAILED,
    GROUPBUY_FORMED,
    GROUPBUY_OPEN,
    GROUPBUY_SETTLING,
    GroupBuy,
)
from models.order import REFUND_GROUPBUY
from models.product import PAYMENT_TELEGRAM
from models.waitlist import WAIT_LEFT, WAIT_OFFERED, WAIT_WAITING, WaitlistEntry
from services.community import get_community
from services.db import rowcount
from services.groupbuy.cards import posts
from services.groupbuy.lists import formed_items, list_lines
from services.groupbuy.prepay import (
    PREPAY_OPEN,
    _id,
    _member_orders,
    _new_order,
    _price_difference,
    _reprice,
    _unwind,
)
from services.groupbuy.read import _must, participants
from services.groupbuy.stock import _release_stock, _release_variant_stock, groupbuy_variants
from services.groupbuy.values import (
    Closing,
    GroupBuyError,
    GroupBuyRefusal,
    GroupBuyView,
    GroupNotice,
    MemberNotice,
    OwedBack,
    Participant,
    Settlement,
    UnreachedLeader,
)
from services.ledger import STARS
from services.member import get_member
from services.order import OrderView, get_order, refund_order, start_invoice
from services.pickup import pickup_sheet
from services.refund import refund_now
from services.role import led_communities


async def settle(
    session: AsyncSession, *, groupbuy_id: int, now: datetime, early: bool = False
) -> Settlement | None:
    """Close a due group-buy exactly once: formed -> orders at the final tier price; failed ->
    every reservation released. None when it is not due or another worker closed it first.

    `early` closes an open group-buy before its deadline (a leader's "close now").
    """
    due = or_(
        col(GroupBuy.deadline) <= now,
        col(GroupBuy.units_sold) >= col(GroupBuy.stock_cap),
    )
    claimed = await session.execute(
        update(GroupBuy)
        .where(
            col(GroupBuy.id) == groupbuy_id,
            col(GroupBuy.status) == GROUPBUY_OPEN,
            *(() if early else (due,)),
        )
        .values(status=GROUPBUY_SETTLING)
    )
    if rowcount(claimed) != 1:
        return None
    found = await _must(session, groupbuy_id)
    listed = tuple(await participants(session, groupbuy_id))
    if found.multi:
        return await _settle_list(session, found, listed, now)
    formed = found.reached
    orders: list[OrderView] = []
    differences: list[tuple[int, int, int]] = []
    to_refund: tuple[int, ...] = ()
    if formed:
        price = found.current_price
        orders, differences = await _orders_at_price(session, found, listed, price)
        await _release_stock(session, found, found.stock_cap - found.units_sold)
        ended: tuple[int, ...] = ()
        if found.units_left > 0 or found.with_variants:  # a variant's line: only while open
            ended = await _end_waitlist(session, groupbuy_id, now)
        status, final = GROUPBUY_FORMED, price
    else:
        to_refund = await _unwind(session, found, listed)
        await _release_stock(session, found, found.stock_cap)
        ended = await _end_waitlist(session, groupbuy_id, now)  # nothing will be freed now
        status, final = GROUPBUY_FAILED, None
    await session.execute(
        update(GroupBuy)
        .where(col(GroupBuy.id) == groupbuy_id)
        .values(status=status, final_price=final, settled_at=now)
    )
    return Settlement(
        await _must(session, groupbuy_id),
        formed,
        tuple(orders),
        listed,
        differences=tuple(differences),
        to_refund=to_refund,
        waitlist_ended=ended,
    )


async def _orders_at_price(
    session: AsyncSession, found: GroupBuyView, listed: tuple[Participant, ...], price: int
) -> tuple[list[OrderView], list[tuple[int, int, int]]]:
    """A formed group-buy's orders at its final `price`: each participant's unpaid order
    repriced, a paid one above the price booked as owed back (the differences: member, order,
    amount), and a new order for units no order covers (at their variant's price)."""
    orders: list[OrderView] = []
    differences: list[tuple[int, int, int]] = []
    offered = {v.variant_id: v for v in await groupbuy_variants(session, found.id)}
    for entry in listed:
        covered = 0
        for row in await _member_orders(session, found.id, entry.member_id):
            covered += row.quantity
            if row.status in PREPAY_OPEN:
                orders.append(await _reprice(session, row, price))
                continue
            owed = await _price_difference(session, row, price)
            if owed > 0:
                await refund_order(
                    session,
                    order_id=_id(row),
                    actor_id=0,
                    amount=owed,
                    note=f"group-buy #{found.id} formed at a lower price",
                    due_only=True,
                )
                differences.append((entry.member_id, _id(row), owed))
        if entry.quantity > covered:
            variant = offered.get(entry.variant_id) if entry.variant_id else None
            orders.append(
                await _new_order(
                    session,
                    found,
                    member_id=entry.member_id,
                    chat_id=entry.chat_id,
                    quantity=entry.quantity - covered,
                    price=variant.unit_price if variant else price,
                    variant=variant,
                )
            )
    return orders, differences


async def _end_waitlist(session: AsyncSession, groupbuy_id: int, now: datetime) -> tuple[int, ...]:
    """A group-buy formed with units left gave them back to its product, where they are for
    sale: its waitlist has nothing more to wait for, and an offer made of them is void (else
    the waitlist would book a unit the product sells too). A group-buy with variants and a
    sign-up list end theirs when they close: an item's units freed later (a refund) go back
    on the shelf (services/order/refunds.py). One that failed or was cancelled ends its
    waitlist too. Returns the members whose place ended (each once), to be told."""
    ended = await session.execute(
        update(WaitlistEntry)
        .where(
            col(WaitlistEntry.groupbuy_id) == groupbuy_id,
            col(WaitlistEntry.status).in_((WAIT_WAITING, WAIT_OFFERED)),
        )
        .values(status=WAIT_LEFT, offer_units=0, offer_until=None, updated_at=now)
        .returning(col(WaitlistEntry.member_id))
        .execution_options(synchronize_session=False)
    )
    return tuple(sorted(set(ended.scalars())))


async def cancel_groupbuy(session: AsyncSession, *, groupbuy_id: int, now: datetime) -> Settlement:
    """Cancel an open group-buy: every reservation released, nothing ordered."""
    claimed = await session.execute(
        update(GroupBuy)
        .where(col(GroupBuy.id) == groupbuy_id, col(GroupBuy.status) == GROUPBUY_OPEN)
        .values(status=GROUPBUY_CANCELLED, settled_at=now)
    )
    if rowcount(claimed) != 1:
        raise GroupBuyError(GroupBuyRefusal.CLOSED, str(groupbuy_id))
    found = await _must(session, groupbuy_id)
    listed = tuple(await participants(session, groupbuy_id))
    to_refund = await _unwind(session, found, listed)
    await _release_stock(session, found, found.stock_cap)
    ended = await _end_waitlist(session, groupbuy_id, now)
    return Settlement(found, False, (), listed, to_refund=to_refund, waitlist_ended=ended)


async def settle_groupbuy(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    now: datetime,
    tier_currency: str,
    default_locale: str,
    default_timezone: str,
    early: bool = False,
) -> Closing | None:
    """Close a due group-buy as one story: settled once (see `settle`), prepayments above the
    final price or of a group-buy that did not form refunded, invoices opened for what members
    now owe, and who is to be told what. None when it is not due or was closed meanwhile.

    `early` closes an open group-buy before its deadline (a leader's "close now")."""
    settlement = await settle(session, groupbuy_id=groupbuy_id, now=now, early=early)
    if settlement is None:
        return None
    return await _closing(
        session,
        settlement,
        now=now,
        tier_currency=tier_currency,
        default_locale=default_locale,
        default_timezone=default_timezone,
    )


async def call_off_groupbuy(
    session: AsyncSession,
    *,
    groupbuy_id: int,
    now: datetime,
    tier_currency: str,
    default_locale: str,
    default_timezone: str,
) -> Closing:
    """Cancel an open group-buy as one story: reservations released, prepayments refunded,
    and who is to be told. Raises GroupBuyError("closed") when it is not open any more."""
    settlement = await cancel_groupbuy(session, groupbuy_id=groupbuy_id, now=now)
    return await _closing(
        session,
        settlement,
        now=now,
        tier_currency=tier_currency,
        default_locale=default_locale,
        default_timezone=default_timezone,
    )


async def _closing(
    session: AsyncSession,
    settlement: Settlement,
    *,
    now: datetime,
    tier_currency: str,
    default_locale: str,
    default_timezone: str,
) -> Closing:
    """The closing story of a settlement: its groups, the participants to tell (with the
    invoices they now owe), prepayments owed back or refunded, and the opener's pickup sheet."""
    gb = settlement.groupbuy
    groups = await _group_notices(session, gb.id, default_locale, default_timezone)
    members, locales = await _member_notices(session, settlement, groups)
    owed = [
        OwedBack(member_id, locales[member_id], order_id, amount, whole=False)
        for member_id, order_id, amount in settlement.differences
        if member_id in locales
    ]
    stars = await _refund_prepaid(session, settlement, owed, now=now, tier_currency=tier_currency)
    sheet, sheet_locale, unreached = None, "", None
    opener = await get_member(session, gb.opened_by) if settlement.formed else None
    if opener is not None and opener.started:
        sheet, sheet_locale = await pickup_sheet(session, gb.id), opener.locale
    elif opener is not None:
        led = await led_communities(session, member_id=opener.id)
        where = tuple(g for g in groups if g.chat_id in led) or tuple(groups[:1])
        unreached = UnreachedLeader(opener.id, opener.display_name, where)
    return Closing(
        settlement,
        tuple(groups),
        tuple(members),
        tuple(owed),
        stars,
        sheet,
        sheet_locale,
        unreached,
        await _waiting_notices(session, settlement),
    )


async def _waiting_notices(
    session: AsyncSession, settlement: Settlement
) -> tuple[tuple[int, str], ...]:
    """The members whose waitlist place ended with the group-buy and who can be told (they
    started the bot), in their language; a participant hears how it closed instead."""
    joined = {entry.member_id for entry in settlement.participants}
    told = []
    for member_id in settlement.waitlist_ended:
        who = await get_member(session, member_id)
        if who is not None and who.started and member_id not in joined:
            told.append((member_id, who.locale))
    return tuple(told)


async def _group_notices(
    session: AsyncSession, groupbuy_id: int, default_locale: str, default_timezone: str
) -> list[GroupNotice]:
    """Each group the group-buy was posted in, with its card, language and time zone."""
    groups = []
    for post in await posts(session, groupbuy_id):
        community = await get_community(session, post.chat_id)
        groups.append(
            GroupNotice(
                post.chat_id,
                post.message_id,
                community.locale if community else default_locale,
                community.timezone if community else default_timezone,
                post.photo,
                post.pickup,
            )
        )
    return groups


async def _member_notices(
    session: AsyncSession, settlement: Settlement, groups: list[GroupNotice]
) -> tuple[list[MemberNotice], dict[int, str]]:
    """The participants who can be told (they started the bot), each with their orders and
    the invoice to send, and the language of each (by member id)."""
    gb = settlement.groupbuy
    orders: dict[int, list[OrderView]] = {}  # a sign-up list's member has one per line
    for made in settlement.orders:
        orders.setdefault(made.member_id, []).append(made)
    members = []
    locales: dict[int, str] = {}  # participants who can be told, in their language
    for entry in settlement.participants:
        who = await get_member(session, entry.member_id)
        if who is None or not who.started:
            continue
        locales[who.id] = who.locale
        mine = orders.get(who.id, [])
        order = mine[0] if mine else None
        invoice = None
        if order is not None and order.payment_mode == PAYMENT_TELEGRAM:
            invoice = await start_invoice(session, order_id=order.id, member_id=who.id)
        pickup = next((g.pickup for g in groups if g.chat_id == entry.chat_id), "")
        lines = tuple(mine) if gb.multi else ()
        members.append(MemberNotice(who.id, who.locale, order, invoice, pickup, lines))
    return members, locales


async def _refund_prepaid(
    session: AsyncSession,
    settlement: Settlement,
    owed: list[OwedBack],
    *,
    now: datetime,
    tier_currency: str,
) -> bool:
    """Refund in full the paid prepayments of a group-buy that did not form: Stars for the
    refunder to send back (True when there are some), anything else booked as owed back and
    added to `owed` for a member who can be told."""
    stars = False
    for order_id in settlement.to_refund:
        row = await get_order(session, order_id)
        if row is None:
            continue
        refund = await refund_now(
            session,
            order_id=order_id,
            actor_id=0,
            amount=None,
            tier_currency=tier_currency,
            now=now,
            note=f"group-buy #{settlement.groupbuy.id} closed",
            due_only=row.currency != STARS,
            reason=REFUND_GROUPBUY,
        )
        if refund.star_charge_id is not None:
            stars = True  # the refunder sends them back and tells the member
            continue
        who = await get_member(session, row.member_id)
        if who is not None and who.started:
            owed.append(OwedBack(who.id, who.locale, order_id, refund.amount, whole=True))
    return stars


async def _settle_list(
    session: AsyncSession, found: GroupBuyView, listed: tuple[Participant, ...], now: datetime
) -> Settlement:
    """A sign-up list closes: an order per line of each item that formed, at the item's
    price; what the items did not sell (all of an item that did not form) back to stock."""
    forming = formed_items(found)
    lines = await list_lines(session, found.id)
    by_id = {item.variant_id: item for item in found.variants}
    orders: list[OrderView] = []
    for entry in listed:
        for line in lines.get(entry.member_id, ()):
            if line.variant_id not in forming:
                continue
            orders.append(
                await _new_order(
                    session,
                    found,
                    member_id=entry.member_id,
                    chat_id=entry.chat_id,
                    quantity=line.quantity,
                    price=line.unit_price,
                    variant=by_id[line.variant_id],
                )
            )
    await _release_variant_stock(session, found.id, all_of_it=False, kept=forming)
    ended = await _end_waitlist(session, found.id, now)  # an item's line: only while open
    formed = bool(forming)
    await session.execute(
        update(GroupBuy)
        .where(col(GroupBuy.id) == found.id)
        .values(
            status=GROUPBUY_FORMED if formed else GROUPBUY_FAILED,
            final_price=found.unit_price if formed else None,
            settled_at=now,
        )
    )
    return Settlement(
        await _must(session, found.id), formed, tuple(orders), listed, waitlist_ended=ended
    )
