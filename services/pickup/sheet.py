"""The leader's pickup sheet of a formed group-buy, who may run pickups, and the reminders to
pay.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.groupbuy import GroupBuy, GroupBuyPost
from models.ledger import (
    ACCOUNT_LEADER_COMMISSION,
    ACCOUNT_LEADER_COMMISSION_PENDING,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
)
from models.member import Member
from models.order import (
    DELIVERY_PICKUP,
    ORDER_AWAITING_PAYMENT,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_REFUNDED,
    ORDER_RESERVED,
    Order,
)
from models.pickup import PickupReminder
from models.product import Product
from services.content import PICKUP_POINT, PICKUP_TIME, TITLE, ReadTranslations, localized, merged
from services.db import insert_for, table_of
from services.order import OrderView, buyer_name, order_view
from services.role import is_staff, led_communities

# what the sheet lists: every order of the group-buy but those withdrawn before it formed
SHEET_STATUSES = (
    ORDER_RESERVED,
    ORDER_AWAITING_PAYMENT,
    ORDER_PAID,
    ORDER_FULFILLED,
    ORDER_REFUNDED,
)


@dataclass(frozen=True, slots=True)
class PickupLine:
    """One order on the sheet, with the member who placed it."""

    order: OrderView
    name: str

    @property
    def paid(self) -> bool:
        return self.order.status in (ORDER_PAID, ORDER_FULFILLED, ORDER_REFUNDED)

    @property
    def picked_up(self) -> bool:
        return self.order.status == ORDER_FULFILLED


@dataclass(frozen=True, slots=True)
class ProductTotal:
    """What the group-buy sold of one product: units, amount due, amount paid."""

    title: str
    units: int
    amount: int
    paid: int
    picked_up: int  # units picked up


@dataclass(frozen=True, slots=True)
class PickupSheet:
    """A formed group-buy as its leader runs pickup."""

    groupbuy_id: int
    title: str
    currency: str
    status: str
    opened_by: int
    pickup_point: str
    pickup_time: str
    lines: tuple[PickupLine, ...]
    totals: tuple[ProductTotal, ...]
    commission: int  # booked for the leader on this group-buy's paid orders (net of refunds)
    commission_expected: int  # what it will be once every unpaid order is paid
    commission_bps: int
    # the product's title and the group-buy's pickup texts in other languages
    translations: ReadTranslations = None
    # the group-buy's product: an order of another is a sign-up list's item from the catalogue
    product_id: int | None = None

    def in_language(self, locale: str, default_locale: str) -> PickupSheet:
        """The sheet as a reader of `locale` reads it: the product's title (in the totals
        too) and the pickup texts in their language (services/content.py's fallback)."""
        if not self.translations:
            return self

        def text(field: str, original: str) -> str:
            return localized(original, self.translations, field, locale, default_locale)

        title = text(TITLE, self.title)
        return replace(
            self,
            title=title,
            pickup_point=text(PICKUP_POINT, self.pickup_point),
            pickup_time=text(PICKUP_TIME, self.pickup_time),
            totals=tuple(
                replace(total, title=title) if total.title == self.title else total
                for total in self.totals
            ),
        )

    @property
    def unpaid(self) -> int:
        return sum(1 for line in self.lines if not line.paid)


@dataclass(frozen=True, slots=True)
class Reminded:
    """A member reminded to pay, with their unpaid orders of the group-buy."""

    member_id: int
    locale: str
    orders: tuple[OrderView, ...]


@dataclass(frozen=True, slots=True)
class Reminders:
    """What "Remind unpaid" did: whom it reminds now, how many had been reminded already,
    and the members who cannot be reached in private (they never started the bot)."""

    sheet: PickupSheet
    sent: tuple[Reminded, ...]
    already: int
    unreachable: tuple[str, ...]


async def _commission(session: AsyncSession, order_ids: list[int], leader_id: int) -> int:
    """The leader's commission booked on these orders, pending or released, net of reversals
    and partial-refund adjustments (payouts carry no order, so they do not count here)."""
    if not order_ids:
        return 0
    total = await session.execute(
        select(func.coalesce(func.sum(col(LedgerEntry.amount)), 0))
        .join(LedgerAccount, col(LedgerAccount.id) == col(LedgerEntry.account_id))
        .join(LedgerTransaction, col(LedgerTransaction.id) == col(LedgerEntry.transaction_id))
        .where(
            col(LedgerTransaction.order_id).in_(order_ids),
            col(LedgerAccount.owner_id) == leader_id,
            col(LedgerAccount.kind).in_(
                (ACCOUNT_LEADER_COMMISSION_PENDING, ACCOUNT_LEADER_COMMISSION)
            ),
        )
    )
    return int(total.scalar_one())


async def pickup_sheet(session: AsyncSession, groupbuy_id: int) -> PickupSheet | None:
    """The pickup sheet of a group-buy (None when there is no such group-buy)."""
    gb = await session.get(GroupBuy, groupbuy_id, populate_existing=True)
    if gb is None or gb.id is None:
        return None
    rows = await session.execute(
        select(Order, Member)
        .join(Member, col(Member.id) == col(Order.member_id), isouter=True)
        .where(
            col(Order.groupbuy_id) == groupbuy_id,
            col(Order.status).in_(SHEET_STATUSES),
            col(Order.delivery) == DELIVERY_PICKUP,  # delivered orders are shipped, not here
        )
        .order_by(col(Order.id))
        .execution_options(populate_existing=True)
    )
    lines = tuple(
        PickupLine(order_view(order), buyer_name(member, order.member_id))
        for order, member in rows.all()
    )
    totals: dict[str, list[int]] = {}
    for line in lines:
        order = line.order
        if order.status == ORDER_REFUNDED:
            continue
        figures = totals.setdefault(order.title, [0, 0, 0, 0])
        figures[0] += order.quantity
        figures[1] += order.total
        figures[2] += order.paid_amount - order.refunded_amount
        figures[3] += order.quantity if line.picked_up else 0
    earned = await _commission(session, [line.order.id for line in lines], gb.opened_by)
    product = await session.get(Product, gb.product_id) if gb.product_id else None
    expected = earned + sum(
        line.order.total * gb.commission_bps // 10_000 for line in lines if not line.paid
    )
    return PickupSheet(
        groupbuy_id=gb.id,
        title=gb.title,
        currency=gb.currency,
        status=gb.status,
        opened_by=gb.opened_by,
        pickup_point=gb.pickup_point,
        pickup_time=gb.pickup_time,
        lines=lines,
        totals=tuple(ProductTotal(title, *figures) for title, figures in totals.items()),
        commission=earned,
        commission_expected=expected,
        commission_bps=gb.commission_bps,
        translations=merged(product.translations if product else None, gb.translations) or None,
        product_id=gb.product_id,
    )


async def runs_pickups(session: AsyncSession, *, member_id: int, owner_ids: frozenset[int]) -> bool:
    """Whether the member runs any pickup: staff, the owner, or a leader of a group now."""
    if member_id in owner_ids or await is_staff(session, member_id):
        return True
    return bool(await led_communities(session, member_id=member_id))


async def may_run_pickup(
    session: AsyncSession, *, groupbuy_id: int, member_id: int, owner_ids: frozenset[int]
) -> bool:
    """Staff and the owner run any group-buy's pickup; a leader, the group-buy they opened,
    while they still lead a group it was posted in (a suspended or removed leader does not)."""
    if member_id in owner_ids or await is_staff(session, member_id):
        return True
    gb = await session.get(GroupBuy, groupbuy_id)
    if gb is None or gb.opened_by != member_id:
        return False
    chats = await session.execute(
        select(col(GroupBuyPost.chat_id)).where(col(GroupBuyPost.groupbuy_id) == groupbuy_id)
    )
    led = await led_communities(session, member_id=member_id)
    return any(chat in led for chat in chats.scalars().all())


async def sheet_order(
    session: AsyncSession, *, groupbuy_id: int, order_id: int
) -> OrderView | None:
    """The order, when it belongs to this group-buy (a button's ids can be forged)."""
    row = await session.get(Order, order_id, populate_existing=True)
    if row is None or row.groupbuy_id != groupbuy_id:
        return None
    return order_view(row)


async def remind_unpaid(
    session: AsyncSession, *, groupbuy_id: int, actor_id: int, now: datetime
) -> Reminders | None:
    """Record one reminder for each unpaid member of the group-buy who can be reached and was
    not reminded before; the unique (group-buy, member) row decides, whatever the concurrency.
    None when there is no such group-buy."""
    sheet = await pickup_sheet(session, groupbuy_id)
    if sheet is None:
        return None
    unpaid: dict[int, list[OrderView]] = {}
    names: dict[int, str] = {}
    for line in sheet.lines:
        if not line.paid:
            unpaid.setdefault(line.order.member_id, []).append(line.order)
            names[line.order.member_id] = line.name
    members = {
        row.id: row
        for row in (
            await session.execute(select(Member).where(col(Member.id).in_(list(unpaid))))
        ).scalars()
    }
    reachable = [m for m in unpaid if members.get(m) is not None and members[m].started]
    unreachable = tuple(names[m] for m in unpaid if m not in reachable)
    sent: list[Reminded] = []
    for member_id in reachable:
        inserted = await session.execute(
            insert_for(session, table_of(PickupReminder))
            .values(
                groupbuy_id=groupbuy_id, member_id=member_id, reminded_by=actor_id, reminded_at=now
            )
            .on_conflict_do_nothing(index_elements=["groupbuy_id", "member_id"])
            .returning(col(PickupReminder.id))
        )
        if inserted.first() is not None:
            sent.append(Reminded(member_id, members[member_id].locale, tuple(unpaid[member_id])))
    return Reminders(sheet, tuple(sent), len(reachable) - len(sent), unreachable)
