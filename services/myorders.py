"""A member's own orders and group-buy places, newest first, a page at a time, each with the
action it needs (pay, cancel, review); and those actions, refused for anyone but its member.

A place is a sign-up in a pay-at-pickup group-buy that has no order yet (orders are opened when
it forms); a Telegram-paid group-buy's sign-up is its prepayment order, listed as an order.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from sqlalchemy import String, Subquery, func, literal, select, union_all
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from models.community import Community
from models.groupbuy import GROUPBUY_FORMED, GROUPBUY_OPEN, GroupBuy, GroupBuyJoin
from models.order import (
    DELIVERY_SHIP,
    OPEN_STATUSES,
    ORDER_FULFILLED,
    ORDER_PAID,
    ORDER_RESERVED,
    Order,
)
from models.pickup import GroupBuyPickupPoint, PickupPoint
from models.product import PAYMENT_TELEGRAM, Product
from models.review import Review
from services.content import (
    PICKUP_POINT,
    PICKUP_TIME,
    TITLE,
    ReadTranslations,
    localized,
    merged,
)
from services.delivery import delivery_state
from services.forwhom import SETTABLE_STATUSES
from services.groupbuy import (
    GroupBuyError,
    GroupBuyRefusal,
    get_groupbuy,
    prepaid_units,
    set_quantity,
    sync_prepayment,
)
from services.ledger import STARS
from services.order import (
    OrderError,
    OrderRefusal,
    OrderView,
    cancel_order,
    order_view,
    start_invoice,
    with_variant,
)
from services.reservation import cancel_reservation

PAGE_SIZE = 5  # a phone screen: five orders with their buttons and the paging row

# MyOrder.kind values
KIND_ORDER = "order"  # an order row: `id` is the order's number
KIND_PLACE = "place"  # a sign-up in a pay-at-pickup group-buy not formed yet: `id` is the group-buy

# MyOrder.actions values: what the member can do about it now
ACTION_PAY = "pay"  # a Telegram order not paid yet: a fresh invoice
ACTION_CANCEL = "cancel"  # before its group-buy forms, or before the reservation expires
ACTION_REVIEW = "review"  # picked up and not reviewed yet
ACTION_TICKET = "ticket"  # paid or picked up: report a problem (售后)
ACTION_CODE = "code"  # paid, not picked up: the pickup code as a QR code to show the keeper
ACTION_POINT = "point"  # its group has several pickup points and the member has not chosen
ACTION_FOR = "for"  # not picked up yet: say whom it is for (代订), or change or clear it


@dataclass(frozen=True, slots=True)
class MyOrder:
    """One line of a member's orders, as plain values."""

    kind: str
    id: int
    title: str
    quantity: int
    amount: int  # what it costs (a place: at the group-buy's price now), minor units
    currency: str
    status: str  # the order's status; a place: its group-buy's status
    payment_mode: str
    at: datetime  # when it was ordered or joined
    groupbuy_id: int | None = None
    pickup_point: str = ""
    pickup_time: str = ""
    expires_at: datetime | None = None  # a pay-at-pickup reservation is released then
    deadline: datetime | None = None  # when its group-buy closes, while it is open
    actions: tuple[str, ...] = ()
    timezone: str | None = None  # the zone of the group it was ordered in, when in a group
    pickup_code: str | None = None  # shown while paid and not picked up
    # the pickup point chosen (or the group's only one): name, address, opening hours
    point_name: str = ""
    point_address: str = ""
    point_hours: str = ""
    # a delivered order: where its delivery stands (services/delivery.py delivery_state:
    # address_needed, address_given, shipped, delivered; "" for pickup), carrier and tracking
    delivery_state: str = ""
    carrier: str = ""
    tracking_number: str = ""
    for_whom: str = ""  # whom the order is for when not the member themself (代订)
    # the product's title and the group-buy's pickup texts in other languages
    translations: ReadTranslations = None
    variant: str = ""  # the variant's name ("" without variants), already in the title

    def in_language(self, locale: str, default_locale: str) -> MyOrder:
        """The line as a reader of `locale` sees it (services/content.py's fallback)."""
        if not self.translations:
            return self

        def text(original: str, field: str) -> str:
            return localized(original, self.translations, field, locale, default_locale)

        title = text(self.title, TITLE)
        if self.variant and title != self.title:  # the product's title changed language
            title = with_variant(title, self.variant)
        return replace(
            self,
            title=title,
            pickup_point=text(self.pickup_point, PICKUP_POINT),
            pickup_time=text(self.pickup_time, PICKUP_TIME),
        )


@dataclass(frozen=True, slots=True)
class MyOrdersPage:
    """A page of the member's orders and how many there are in all."""

    items: tuple[MyOrder, ...]
    total: int
    offset: int
    limit: int

    @property
    def has_more(self) -> bool:
        return self.offset + len(self.items) < self.total


@dataclass(frozen=True, slots=True)
class Cancelled:
    """What a member's cancel did: the order withdrawn, or the group-buy place given up."""

    order_id: int | None
    groupbuy_id: int | None  # its card shows one place fewer


def _listing(member_id: int) -> Subquery:
    """Every order and place of the member as (kind, id, when), one table to page through."""
    return union_all(
        select(
            literal(KIND_ORDER, String(8)).label("kind"),
            col(Order.id).label("id"),
            col(Order.created_at).label("at"),
        ).where(col(Order.member_id) == member_id),
        select(
            literal(KIND_PLACE, String(8)).label("kind"),
            col(GroupBuyJoin.groupbuy_id).label("id"),
            col(GroupBuyJoin.joined_at).label("at"),
        )
        .join(GroupBuy, col(GroupBuy.id) == col(GroupBuyJoin.groupbuy_id))
        .where(
            col(GroupBuyJoin.member_id) == member_id,
            col(GroupBuyJoin.quantity) > 0,
            col(GroupBuy.payment_mode) != PAYMENT_TELEGRAM,
            col(GroupBuy.status) != GROUPBUY_FORMED,  # formed: its orders stand for it
        ),
    ).subquery("mine")


async def my_orders(
    session: AsyncSession, *, member_id: int, now: datetime, offset: int = 0, limit: int = PAGE_SIZE
) -> MyOrdersPage:
    """The member's orders and group-buy places, newest first, `limit` from `offset` on."""
    offset = max(0, offset)
    listing = _listing(member_id)
    total = int((await session.execute(select(func.count()).select_from(listing))).scalar_one())
    if offset >= total:  # a page past the end (the list shrank): the last page instead
        offset = max(0, (total - 1) // limit * limit)
    keys = (
        await session.execute(
            select(listing.c.kind, listing.c.id)
            .order_by(
                listing.c.at.desc(),
                listing.c.kind,
                listing.c.id.desc(),
            )
            .limit(limit)
            .offset(offset)
        )
    ).all()
    order_ids = [int(i) for kind, i in keys if kind == KIND_ORDER]
    place_ids = [int(i) for kind, i in keys if kind == KIND_PLACE]
    found = {(KIND_ORDER, item.id): item for item in await _orders(session, order_ids, now)} | {
        (KIND_PLACE, item.id): item for item in await _places(session, member_id, place_ids, now)
    }
    items = tuple(found[(kind, int(i))] for kind, i in keys if (kind, int(i)) in found)
    return MyOrdersPage(items, total, offset, limit)


async def _orders(session: AsyncSession, ids: list[int], now: datetime) -> list[MyOrder]:
    if not ids:
        return []
    rows = await session.execute(
        select(
            Order,
            col(GroupBuy.status),
            col(GroupBuy.deadline),
            col(GroupBuy.pickup_point),
            col(GroupBuy.pickup_time),
            col(Review.order_id),
            col(GroupBuy.translations),
            col(Product.translations),
            col(Community.timezone),
        )
        .outerjoin(GroupBuy, col(GroupBuy.id) == col(Order.groupbuy_id))
        .outerjoin(Product, col(Product.id) == col(Order.product_id))
        .outerjoin(Review, col(Review.order_id) == col(Order.id))
        .outerjoin(Community, col(Community.id) == col(Order.chat_id))
        .where(col(Order.id).in_(ids))
    )
    found = rows.all()
    points, many = await _points(session, [row for row, *_rest in found])
    items = []
    for row, gb_status, deadline, point, time, reviewed, gb_texts, product_texts, zone in found:
        assert row.id is not None
        where = points.get(row.id)
        actions = _order_actions(row, gb_status, deadline, reviewed is not None, now)
        shipped = row.delivery == DELIVERY_SHIP
        if shipped:  # delivered, never picked up: no code, no point; no address, no invoice
            where = None
            if not row.ship_address and row.currency == STARS:
                actions = tuple(a for a in actions if a != ACTION_PAY)
        if (
            row.status == ORDER_PAID
            and row.pickup_code
            and gb_status != GROUPBUY_OPEN
            and not shipped
        ):
            actions += (ACTION_CODE,)
        if (
            where is None
            and row.status in (*OPEN_STATUSES, ORDER_PAID)
            and row.id in many
            and not shipped
        ):
            actions += (ACTION_POINT,)
        if row.status in SETTABLE_STATUSES:
            actions += (ACTION_FOR,)
        items.append(
            MyOrder(
                kind=KIND_ORDER,
                id=row.id,
                title=with_variant(row.title, row.variant_name),
                variant=row.variant_name,
                quantity=row.quantity,
                amount=row.total,
                currency=row.currency,
                status=row.status,
                payment_mode=row.payment_mode,
                at=row.created_at,
                groupbuy_id=row.groupbuy_id,
                pickup_point=point or "",
                pickup_time=time or "",
                expires_at=row.expires_at if row.status == ORDER_RESERVED else None,
                deadline=deadline if gb_status == GROUPBUY_OPEN else None,
                actions=actions,
                pickup_code=row.pickup_code if ACTION_CODE in actions else None,
                point_name=where.name if where else "",
                point_address=where.address if where else "",
                point_hours=where.hours if where else "",
                delivery_state=delivery_state(order_view(row)),
                carrier=row.carrier,
                tracking_number=row.tracking_number,
                for_whom=row.for_whom,
                translations=merged(product_texts, gb_texts) or None,
                timezone=zone,
            )
        )
    return items


async def _points(
    session: AsyncSession, rows: list[Order]
) -> tuple[dict[int, PickupPoint], frozenset[int]]:
    """Each order's pickup point (chosen, or the only one it is offered) by order id, and the
    orders offered several (whose member, if they have not chosen, is asked to)."""
    chats = {row.chat_id for row in rows}
    chosen = {row.pickup_point_id for row in rows if row.pickup_point_id is not None}
    found = await session.execute(
        select(PickupPoint).where(
            (col(PickupPoint.community_id).in_(chats) & col(PickupPoint.active).is_(True))
            | col(PickupPoint.id).in_(chosen)
        )
    )
    by_id = {point.id: point for point in found.scalars().all()}
    by_group: dict[int, list[PickupPoint]] = {}
    for point in sorted(by_id.values(), key=lambda p: p.id or 0):
        if point.active:
            by_group.setdefault(point.community_id, []).append(point)
    groupbuys = {row.groupbuy_id for row in rows if row.groupbuy_id is not None}
    offers: dict[int, set[int]] = {}
    if groupbuys:
        links = await session.execute(
            select(GroupBuyPickupPoint).where(col(GroupBuyPickupPoint.groupbuy_id).in_(groupbuys))
        )
        for link in links.scalars().all():
            offers.setdefault(link.groupbuy_id, set()).add(link.point_id)
    points: dict[int, PickupPoint] = {}
    several: set[int] = set()
    for row in rows:
        assert row.id is not None
        group = by_group.get(row.chat_id, [])
        picked = offers.get(row.groupbuy_id, set()) if row.groupbuy_id is not None else set()
        offered = [p for p in group if p.id in picked] or group
        if row.pickup_point_id is not None and row.pickup_point_id in by_id:
            points[row.id] = by_id[row.pickup_point_id]
        elif len(offered) == 1:
            points[row.id] = offered[0]
        elif len(offered) > 1:
            several.add(row.id)
    return points, frozenset(several)


def _order_actions(
    row: Order, gb_status: str | None, deadline: datetime | None, reviewed: bool, now: datetime
) -> tuple[str, ...]:
    actions: list[str] = []
    unpaid = row.status in OPEN_STATUSES
    gb_open = gb_status == GROUPBUY_OPEN and deadline is not None and deadline > now
    if (
        unpaid
        and row.payment_mode == PAYMENT_TELEGRAM
        and (row.groupbuy_id is None or gb_open or gb_status == GROUPBUY_FORMED)
    ):
        actions.append(ACTION_PAY)
    if unpaid:
        if row.groupbuy_id is None:
            held = row.expires_at is None or row.expires_at > now
            if row.payment_mode == PAYMENT_TELEGRAM or (row.status == ORDER_RESERVED and held):
                actions.append(ACTION_CANCEL)
        elif gb_open:
            actions.append(ACTION_CANCEL)
    if row.status == ORDER_FULFILLED and not reviewed:
        actions.append(ACTION_REVIEW)
    if row.status == ORDER_FULFILLED or (row.status == ORDER_PAID and gb_status != GROUPBUY_OPEN):
        actions.append(ACTION_TICKET)
    return tuple(actions)


async def _places(
    session: AsyncSession, member_id: int, ids: list[int], now: datetime
) -> list[MyOrder]:
    if not ids:
        return []
    rows = await session.execute(
        select(GroupBuyJoin, col(Community.timezone))
        .outerjoin(Community, col(Community.id) == col(GroupBuyJoin.chat_id))
        .where(col(GroupBuyJoin.member_id) == member_id, col(GroupBuyJoin.groupbuy_id).in_(ids))
    )
    items = []
    for join, zone in rows.all():
        gb = await get_groupbuy(session, join.groupbuy_id)  # its tiers price the place
        if gb is None:
            continue
        open_ = gb.status == GROUPBUY_OPEN and gb.deadline > now
        items.append(
            MyOrder(
                kind=KIND_PLACE,
                id=gb.id,
                title=gb.title,
                quantity=join.quantity,
                amount=join.quantity * gb.current_price,
                currency=gb.currency,
                status=gb.status,
                payment_mode=gb.payment_mode,
                at=join.joined_at,
                groupbuy_id=gb.id,
                pickup_point=gb.pickup_point,
                pickup_time=gb.pickup_time,
                deadline=gb.deadline,
                actions=(ACTION_CANCEL,) if open_ else (),
                translations=gb.translations,
                timezone=zone,
            )
        )
    return items


async def invoice_mine(session: AsyncSession, *, order_id: int, member_id: int) -> OrderView:
    """A fresh invoice for the member's own unpaid Telegram order (the older one goes stale);
    refused with a reason for someone else's order or one that cannot be paid now."""
    row = await session.get(Order, order_id, populate_existing=True)
    if row is None or row.member_id != member_id:
        raise OrderError(OrderRefusal.NOT_YOURS, str(order_id))
    if row.status not in OPEN_STATUSES:
        raise OrderError(OrderRefusal.NOT_OPEN, row.status)
    if row.payment_mode != PAYMENT_TELEGRAM:
        raise OrderError(OrderRefusal.OFFLINE_ORDER, str(order_id))
    if row.groupbuy_id is not None:
        gb = await session.get(GroupBuy, row.groupbuy_id)
        if gb is None or gb.status not in (GROUPBUY_OPEN, GROUPBUY_FORMED):
            raise OrderError(OrderRefusal.NOT_OPEN, "closing")
    return await start_invoice(session, order_id=order_id, member_id=member_id)


async def cancel_mine(
    session: AsyncSession, *, kind: str, item_id: int, member_id: int, now: datetime
) -> Cancelled:
    """The member withdraws their own unpaid order or group-buy place: a pay-at-pickup
    reservation before it expires, an unpaid Telegram order, or a place (and its unpaid
    prepayment) before the group-buy closes. Paid units stay: those go through a refund."""
    if kind == KIND_PLACE:
        await _leave(session, groupbuy_id=item_id, member_id=member_id, now=now)
        return Cancelled(None, item_id)
    row = await session.get(Order, item_id, populate_existing=True)
    if row is None or row.member_id != member_id:
        raise OrderError(OrderRefusal.NOT_YOURS, str(item_id))
    if row.groupbuy_id is not None:
        if row.status not in OPEN_STATUSES:
            raise OrderError(OrderRefusal.NOT_RESERVED, str(item_id))
        await _leave(session, groupbuy_id=row.groupbuy_id, member_id=member_id, now=now)
        return Cancelled(item_id, row.groupbuy_id)
    if row.payment_mode != PAYMENT_TELEGRAM:
        if row.expires_at is not None and row.expires_at <= now:
            raise OrderError(OrderRefusal.EXPIRED, str(item_id))
        order = await cancel_reservation(session, order_id=item_id, member_id=member_id)
        return Cancelled(order.id, None)
    if row.status not in OPEN_STATUSES:
        raise OrderError(OrderRefusal.NOT_RESERVED, str(item_id))
    order = await cancel_order(
        session, order_id=item_id, actor_id=member_id, note="cancelled by the member"
    )
    return Cancelled(order.id, None)


async def _leave(session: AsyncSession, *, groupbuy_id: int, member_id: int, now: datetime) -> None:
    """Give up what the member joined beyond what they paid (as the card's Leave does)."""
    join = (
        await session.execute(
            select(GroupBuyJoin).where(
                col(GroupBuyJoin.groupbuy_id) == groupbuy_id,
                col(GroupBuyJoin.member_id) == member_id,
            )
        )
    ).scalar_one_or_none()
    if join is None or join.quantity == 0:
        raise GroupBuyError(GroupBuyRefusal.NOT_JOINED)
    paid = await prepaid_units(session, groupbuy_id=groupbuy_id, member_id=member_id)
    if join.quantity <= paid:
        raise GroupBuyError(GroupBuyRefusal.PREPAID, str(paid))
    await set_quantity(
        session,
        groupbuy_id=groupbuy_id,
        member_id=member_id,
        chat_id=join.chat_id,
        quantity=paid,
        now=now,
    )
    await sync_prepayment(
        session, groupbuy_id=groupbuy_id, member_id=member_id, chat_id=join.chat_id
    )
